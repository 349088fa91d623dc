"""The files of YouTube-8M's recipes: fetched once into the model dir, verified on every use.

The video recipe (``inception-yt8m``) uses two archives, the audio recipe (``--audio vggish``) two plain files, each
from its official URL unless overridden (``urls=`` or an environment variable):

============================  ==========================================================  ===========================
archive                       official URL (override)                                     members used
============================  ==========================================================  ===========================
``inception-2015-12-05.tgz``  download.tensorflow.org (``REELSET_INCEPTION_URL``)         ``classify_image_graph_def
                                                                                          .pb``
``yt8m_pca.tgz``              data.yt8m.org (``REELSET_YT8M_PCA_URL``)                    ``mean.npy``,
                                                                                          ``eigenvals.npy``,
                                                                                          ``eigenvecs.npy``
============================  ==========================================================  ===========================

============================  ==========================================================  ===========================
plain file                    official URL (override)                                     used as
============================  ==========================================================  ===========================
``vggish_model.ckpt``         storage.googleapis.com/audioset (``REELSET_VGGISH_URL``)    the VGGish network (a V1
                                                                                          TensorFlow checkpoint)
``vggish_pca_params.npz``     storage.googleapis.com (``REELSET_VGGISH_PCA_URL``)         the AudioSet PCA
============================  ==========================================================  ===========================

The model dir (default ``$HOME/yt8m``, as the original's) ends up with the same files the original extractor leaves
there (each archive and its members side by side, the plain files as downloaded), plus :data:`CHECKSUMS_FILE`, a
small JSON file that records, at first download, the sha256 of each file and of each member taken from an archive.
Every later use hashes the files again and refuses any that changed (the message names the file and both digests);
``expected_sha256`` pins a downloaded file's digest up front (a first download must then match it; an existing record
must agree with it). A file found in the model dir without a record (left there by the original extractor, or copied
by hand) is trusted on first use like a download, and an archive's members are extracted from it again so that they
match it. A URL that is not ``http(s)://`` is refused before anything is fetched, and a downloaded plain file whose
first or last bytes say it is not what it should be (an error page served with status 200) is neither kept nor
recorded.

Extraction is deliberately narrow. The whole archive is checked before anything is written: a member with an absolute
path or a ``..`` component, or one that is not a regular file or a folder (symbolic and hard links, devices, FIFOs),
makes the archive refused with a one-line error naming that member. Then only the expected top-level members are
written, each atomically (a temporary file renamed into place); everything else in the archive is left alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from reelset.core.atomic import atomic_output, atomic_write_text
from reelset.core.digest import file_digest
from reelset.core.errors import ReelsetError, one_line
from reelset.core.http import ChecksumError, download_file
from reelset.core.locks import exclusive_lock
from reelset.features.constants import default_model_dir

CHECKSUMS_FILE = "reelset-checksums.json"
LOCK_FILE = ".reelset-model-dir.lock"
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Archive:
    """One downloaded file of a recipe: its file name, official URL, the variable that overrides it, the members
    used when it is an archive (none: a plain file, used as downloaded), and for a plain file a quick look at its
    bytes (``problem``: why it is not that kind of file, or None) before it is recorded."""

    name: str
    url: str
    url_env: str
    members: tuple[str, ...]
    problem: Callable[[Path], str | None] | None = field(default=None, compare=False)

    def resolve_url(self, urls: Mapping[str, str] | None = None) -> str:
        """``urls[name]``, else ``$<url_env>``, else the official URL."""
        return (urls or {}).get(self.name) or os.environ.get(self.url_env) or self.url


INCEPTION_ARCHIVE = Archive(
    "inception-2015-12-05.tgz",
    "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz",
    "REELSET_INCEPTION_URL",
    ("classify_image_graph_def.pb",),
)
PCA_ARCHIVE = Archive(
    "yt8m_pca.tgz",
    "http://data.yt8m.org/yt8m_pca.tgz",
    "REELSET_YT8M_PCA_URL",
    ("mean.npy", "eigenvals.npy", "eigenvecs.npy"),
)
ARCHIVES = (INCEPTION_ARCHIVE, PCA_ARCHIVE)
# reelset.formats.tf_checkpoint.TABLE_MAGIC as the file's last 8 bytes (restated: this module imports no numpy).
_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")


def _not_a_checkpoint(path: Path) -> str | None:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 8))
        return None if handle.read(8) == _TABLE_MAGIC else "not a TensorFlow V1 checkpoint (no table magic at its end)"


def _not_an_npz(path: Path) -> str | None:
    with open(path, "rb") as handle:
        return None if handle.read(2) == b"PK" else "not a NumPy .npz file (not a zip archive)"


VGGISH_CHECKPOINT = Archive(
    "vggish_model.ckpt",
    "https://storage.googleapis.com/audioset/vggish_model.ckpt",
    "REELSET_VGGISH_URL",
    (),
    _not_a_checkpoint,
)
VGGISH_PCA = Archive(
    "vggish_pca_params.npz",
    "https://storage.googleapis.com/audioset/vggish_pca_params.npz",
    "REELSET_VGGISH_PCA_URL",
    (),
    _not_an_npz,
)
VGGISH_FILES = (VGGISH_CHECKPOINT, VGGISH_PCA)


class ModelFileError(ReelsetError):
    """A model file is missing, changed since it was recorded, or an archive is unsafe or incomplete."""


@dataclass(frozen=True)
class InceptionFiles:
    """The verified files the ``inception-yt8m`` backbone loads."""

    graph: Path
    pca_mean: Path
    pca_eigenvals: Path
    pca_eigenvecs: Path
    sha256: tuple[str, ...] = ()  # the four files' digests as recorded (and just verified), in the order above


@dataclass(frozen=True)
class VggishFiles:
    """The verified files ``--audio vggish`` loads."""

    checkpoint: Path
    pca_params: Path
    sha256: tuple[str, ...] = ()  # the two files' digests as recorded (and just verified), in the order above


@dataclass(frozen=True)
class FileCheck:
    """One model file as :func:`check_model_dir` found it: ``state`` is ok, missing, changed or unrecorded."""

    path: Path
    state: str
    detail: str

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def parse_sha256_pins(value: str | Mapping[str, str] | None, names: tuple[str, ...], *,
                      option: str = "--expected-sha256", what: str = "backbone") -> dict[str, str]:
    """Pinned digests by file name, from a mapping or from ``NAME=SHA256[,NAME=SHA256...]``.

    A bare digest is accepted when there is exactly one file to pin (``names`` has one entry). ``option`` and
    ``what`` name the option and what uses the files in the messages.

    Raises:
        ReelsetError: an unknown file name, a malformed digest, or a bare digest for several files.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
        if len(items) == 1 and "=" not in items[0]:
            if len(names) != 1:
                raise ReelsetError(f"{option}: this {what} uses {len(names)} files; give NAME=SHA256 "
                                   f"pairs separated by commas, NAME one of {', '.join(names)}")
            items = [f"{names[0]}={items[0]}"]
        pairs = []
        for item in items:
            name, separator, digest = item.partition("=")
            if not separator:
                raise ReelsetError(f"{option}: expected NAME=SHA256, got {item!r}")
            pairs.append((name.strip(), digest.strip()))
    else:
        pairs = list(value.items())
    pins = {}
    for name, digest in pairs:
        if name not in names:
            raise ReelsetError(f"{option}: unknown file {name!r}; expected one of {', '.join(names)}")
        digest = digest.lower()
        if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
            raise ReelsetError(f"{option}: {name}: not a sha256 (64 hex digits): {digest!r}")
        pins[name] = digest
    return pins


# ------------------------------------------------------------------------------------------------ safe extraction

def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why ``member`` must not be extracted anywhere, or None."""
    path = PurePosixPath(member.name)
    if member.name.startswith(("/", "\\")) or path.is_absolute():
        return "absolute path"
    if ".." in path.parts or ".." in member.name.split("\\"):
        return "path goes up with '..'"
    if member.issym():
        return f"symbolic link to {member.linkname!r}"
    if member.islnk():
        return f"hard link to {member.linkname!r}"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    if not (member.isreg() or member.isdir()):
        return "not a regular file"
    return None


def _top_level_name(member: tarfile.TarInfo) -> str:
    """``./mean.npy`` and ``mean.npy`` both name the top-level file ``mean.npy``; ``a/mean.npy`` stays as it is."""
    return "/".join(part for part in PurePosixPath(member.name).parts if part != ".")


def safe_extract(archive: Path, members: tuple[str, ...], destination: Path) -> dict[str, str]:
    """Extract the top-level regular files ``members`` of the tar ``archive`` into ``destination``; see the module
    docstring for what is refused. Returns each member's sha256.

    Raises:
        ModelFileError: an unsafe member (named), a missing or duplicated expected member, an unreadable archive.
    """
    archive = Path(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            entries = tar.getmembers()  # reads every header: nothing is written before all are checked
            chosen: dict[str, tarfile.TarInfo] = {}
            for member in entries:
                problem = _member_problem(member)
                if problem:
                    raise ModelFileError(f"{archive}: refusing member {member.name!r}: {problem}")
                name = _top_level_name(member)
                if name in members and not member.isdir():
                    if name in chosen:
                        raise ModelFileError(f"{archive}: member {member.name!r} appears twice")
                    chosen[name] = member
            missing = [name for name in members if name not in chosen]
            if missing:
                raise ModelFileError(f"{archive}: expected member {missing[0]!r} is not in the archive")
            digests = {}
            destination.mkdir(parents=True, exist_ok=True)
            for name in members:
                digests[name] = _extract_one(tar, chosen[name], destination / name)
            return digests
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ModelFileError(f"{archive}: extraction failed ({one_line(exc, limit=200)})") from exc


def _extract_one(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> str:
    source = tar.extractfile(member)
    if source is None:  # only regular files reach here; tarfile answers None for anything else
        raise ModelFileError(f"{tar.name}: member {member.name!r} has no content")
    digest = hashlib.sha256()
    with source, atomic_output(target) as tmp, open(tmp, "wb") as out:
        for chunk in iter(lambda: source.read(_HASH_CHUNK), b""):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------ checksum record

def _read_record(model_dir: Path) -> dict:
    path = model_dir / CHECKSUMS_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path}: unreadable checksum record ({one_line(exc, limit=200)}); delete it and the "
                             "model files to download them again") from exc
    if not isinstance(record, dict):
        raise ModelFileError(f"{path}: not a checksum record (expected a JSON object)")
    return record


def _write_record(model_dir: Path, record: dict) -> None:
    atomic_write_text(model_dir / CHECKSUMS_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _changed(path: Path, recorded: str, actual: str, model_dir: Path) -> ModelFileError:
    return ModelFileError(f"{path}: sha256 is {actual} but {recorded} was recorded at first download "
                          f"({model_dir / CHECKSUMS_FILE}); the file changed: delete it to fetch it again")


# ------------------------------------------------------------------------------------------------ fetch and verify

def fetch_archive(
    archive: Archive,
    model_dir: Path,
    *,
    urls: Mapping[str, str] | None = None,
    expected_sha256: str | None = None,
    on_progress: Callable[[int, int | None], None] | None = None,
) -> dict[str, Path]:
    """Make ``archive``'s members (a plain file: the file itself) available and verified in ``model_dir``; return
    their paths by name.

    Downloads the file at first use (``download_file``: ``.part`` resume, retries, atomic rename), records its
    sha256 and an archive's members', extracts the members safely; on later uses verifies the file (an archive when
    still there) and the members against the record.

    Raises:
        ModelFileError: a file changed since it was recorded, a pin that disagrees, an unsafe archive, a URL that is
            not http(s).
        HttpError, ChecksumError: the download failed, or did not match ``expected_sha256``.
    """
    model_dir = Path(model_dir)
    entry = _read_record(model_dir).get(archive.name)
    if entry is not None and _verified(archive, model_dir, entry, expected_sha256):
        return _used(archive, model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(model_dir / LOCK_FILE, f"{model_dir}: another reelset process is fetching model files "
                                               "here; wait for it to finish"):
        record = _read_record(model_dir)  # another process may have finished while we waited for nothing
        entry = record.get(archive.name)
        if entry is not None and _verified(archive, model_dir, entry, expected_sha256):
            return _used(archive, model_dir)
        record[archive.name] = _obtain(archive, model_dir, entry, urls=urls, expected_sha256=expected_sha256,
                                       on_progress=on_progress)
        _write_record(model_dir, record)
    return _used(archive, model_dir)


def _used(archive: Archive, model_dir: Path) -> dict[str, Path]:
    return {name: model_dir / name for name in archive.members or (archive.name,)}


def _verified(archive: Archive, model_dir: Path, entry: dict, pin: str | None) -> bool:
    """True when the recorded file and all its members are present and unchanged; False when members (or a plain
    file) are missing (they can be extracted or downloaded again); raises when anything present differs from the
    record."""
    recorded = entry.get("sha256")
    if pin and recorded and pin != recorded:
        raise ModelFileError(f"{model_dir / archive.name}: the pinned sha256 {pin} differs from {recorded} recorded "
                             f"at first download ({model_dir / CHECKSUMS_FILE})")
    path = model_dir / archive.name
    if path.exists():
        actual = file_digest(path)
        if actual != recorded:
            raise _changed(path, recorded, actual, model_dir)
    elif not archive.members:
        return False  # a plain file is what is used: download it again
    members = entry.get("members") or {}
    complete = True
    for name in archive.members:
        member_path = model_dir / name
        if not member_path.exists() or name not in members:
            complete = False
            continue
        actual = file_digest(member_path)
        if actual != members[name]:
            raise _changed(member_path, members[name], actual, model_dir)
    return complete


def _obtain(archive: Archive, model_dir: Path, entry: dict | None, *, urls, expected_sha256, on_progress) -> dict:
    """Download (or adopt) the file, extract an archive's members; the new record entry."""
    path = model_dir / archive.name
    url = archive.resolve_url(urls)
    want = expected_sha256 or (entry or {}).get("sha256")
    if path.exists():
        sha256 = file_digest(path)  # already checked against a record by _verified; this is a first sighting
        if want and sha256 != want:
            raise ModelFileError(f"{path}: sha256 is {sha256} but {want} is pinned; delete it to download it again")
        source = (entry or {}).get("url", "found in the model dir")
        problem = archive.problem(path) if archive.problem else None
        if problem:
            raise ModelFileError(f"{path}: {problem}; delete it to download it again")
    else:
        if not url.lower().startswith(("http://", "https://")):
            given = "urls=" if (urls or {}).get(archive.name) else archive.url_env \
                if os.environ.get(archive.url_env) else "the official URL"
            raise ModelFileError(f"{archive.name}: {url!r} ({given}) is not an http:// or https:// URL")
        try:
            done = download_file(url, path, expected_sha256=want, on_progress=on_progress)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc} (expected sha256 {want})") from exc
        sha256, source = done.sha256, url
        problem = archive.problem(path) if archive.problem else None
        if problem:  # an error page served as the file: not kept, not recorded
            path.unlink(missing_ok=True)
            raise ModelFileError(f"{url}: the download is {problem}; nothing was kept")
    recorded = {"sha256": sha256, "bytes": path.stat().st_size, "url": source,
                "recorded_at": (entry or {}).get("recorded_at") or _now()}
    if archive.members:
        recorded["members"] = safe_extract(path, archive.members, model_dir)
    return recorded


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def fetch_inception_files(
    model_dir: Path | None = None,
    *,
    urls: Mapping[str, str] | None = None,
    expected_sha256: str | Mapping[str, str] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> InceptionFiles:
    """Both archives of the original recipe fetched and verified in ``model_dir``; see the module docstring.

    Args:
        urls: archive file name -> URL, overriding the environment variables and the official URLs.
        expected_sha256: pins, ``{"inception-2015-12-05.tgz": hex, ...}`` or ``"NAME=HEX,NAME=HEX"``.
        on_progress: called with ``(archive name, bytes so far, total or None)`` while downloading.
    """
    names = ("classify_image_graph_def.pb", "mean.npy", "eigenvals.npy", "eigenvecs.npy")
    paths, digests = _fetch_all(ARCHIVES, model_dir, urls, expected_sha256, on_progress, "backbone")
    return InceptionFiles(*(paths[name] for name in names), sha256=tuple(digests[name] for name in names))


def fetch_vggish_files(
    model_dir: Path | None = None,
    *,
    urls: Mapping[str, str] | None = None,
    expected_sha256: str | Mapping[str, str] | None = None,
    on_progress: Callable[[str, int, int | None], None] | None = None,
) -> VggishFiles:
    """The VGGish checkpoint and PCA parameters fetched and verified in ``model_dir``; see the module docstring.

    Args:
        urls: file name -> URL, overriding ``$REELSET_VGGISH_URL`` / ``$REELSET_VGGISH_PCA_URL`` and the official
            URLs.
        expected_sha256: pins, ``{"vggish_model.ckpt": hex, ...}`` or ``"NAME=HEX,NAME=HEX"``.
        on_progress: called with ``(file name, bytes so far, total or None)`` while downloading.
    """
    names = (VGGISH_CHECKPOINT.name, VGGISH_PCA.name)
    paths, digests = _fetch_all(VGGISH_FILES, model_dir, urls, expected_sha256, on_progress, "audio recipe",
                                option="--audio-expected-sha256")
    return VggishFiles(*(paths[name] for name in names), sha256=tuple(digests[name] for name in names))


def _fetch_all(files: tuple[Archive, ...], model_dir: Path | None, urls, expected_sha256, on_progress, what: str, *,
               option: str = "--expected-sha256") -> tuple[dict[str, Path], dict[str, str]]:
    """Every file of one recipe fetched and verified: the paths used and their recorded digests, by name."""
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    pins = parse_sha256_pins(expected_sha256, tuple(file.name for file in files), option=option, what=what)
    paths: dict[str, Path] = {}
    existed = model_dir.exists()
    try:
        for file in files:
            progress = (lambda done, total, name=file.name: on_progress(name, done, total)) if on_progress else None
            paths.update(fetch_archive(file, model_dir, urls=urls, expected_sha256=pins.get(file.name),
                                       on_progress=progress))
    except BaseException:
        if not existed:  # a first fetch that failed leaves no empty model dir behind
            with contextlib.suppress(OSError):
                model_dir.rmdir()
        raise
    record = _read_record(model_dir)
    digests = {}
    for file in files:
        entry = record.get(file.name) or {}
        if file.members:
            digests.update(entry.get("members") or {})
        else:
            digests[file.name] = entry.get("sha256")
    return paths, digests


def check_model_dir(model_dir: Path | None = None, files: tuple[Archive, ...] = ARCHIVES,
                    used_by: str = "--backbone inception-yt8m") -> list[FileCheck]:
    """Every file of a recipe (default: ``inception-yt8m``'s; :data:`VGGISH_FILES` for the audio) in ``model_dir``
    against the record, without downloading (for ``reelset doctor``); ``used_by`` says what fetches them."""
    model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
    try:
        record = _read_record(model_dir)
    except ModelFileError as exc:
        return [FileCheck(model_dir / CHECKSUMS_FILE, "changed", str(exc))]
    checks = []
    for archive in files:
        entry = record.get(archive.name) or {}
        expected = {archive.name: entry.get("sha256"), **(entry.get("members") or {})}
        for name in (archive.name, *archive.members):
            checks.append(_check_file(model_dir / name, expected.get(name), used_by,
                                      optional=bool(archive.members) and name == archive.name))
    return checks


def _check_file(path: Path, recorded: str | None, used_by: str, *, optional: bool) -> FileCheck:
    if not path.exists():
        if optional:
            return FileCheck(path, "ok", "not kept (its members are verified)")
        return FileCheck(path, "missing", f"not downloaded yet (fetched at first use of {used_by})")
    if recorded is None:
        return FileCheck(path, "unrecorded", "no checksum recorded (verified and recorded at next use)")
    actual = file_digest(path)
    if actual != recorded:
        return FileCheck(path, "changed", f"sha256 {actual}, recorded {recorded}")
    return FileCheck(path, "ok", f"sha256 {actual[:16]}... as recorded")
