"""Getting the Action100M parquet shards onto disk, and knowing that they are all there.

``huggingface_hub.snapshot_download`` fetches the shards; what it does not do is say, offline, whether a folder is
complete (with ``HF_HUB_OFFLINE=1`` any non-empty ``local_dir`` is returned as is). So after every fetch reelset writes
a small manifest, ``<data-dir>/.reelset-manifest.json``, with the commit and the size of every shard, and checks any
later offline use against it. A folder filled by hand has no manifest: its readable shards are used and the result
says that completeness could not be checked.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import huggingface_hub.utils as hf_progress
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub import constants as hf_constants
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile

from reelset.action100m import shards as shard_io
from reelset.action100m.constants import DEFAULT_DATA_DIR, DEFAULT_REPO
from reelset.core.atomic import atomic_write_text
from reelset.core.errors import ReelsetError, network_error, one_line
from reelset.core.status import utc_now

SHARD_PATTERN = "data/*.parquet"
MANIFEST_NAME = ".reelset-manifest.json"


@dataclass
class ShardSet:
    """The local shards to read, and how much we know about their completeness."""

    data_dir: Path
    paths: list[Path]
    completeness_checked: bool
    source: str  # "hub" (fetched now), "manifest" (offline, checked), "local" (offline, unchecked)
    commit: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.paths)


def hub_offline_requested() -> bool:
    """Whether the user asked for offline mode through huggingface_hub's own ``HF_HUB_OFFLINE``."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def fetch_shards(
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    repo_id: str = DEFAULT_REPO,
    revision: str | None = None,
    endpoint: str | None = None,
    offline: bool | None = None,
    token: str | bool | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> ShardSet:
    """Make sure ``<data_dir>/data/*.parquet`` holds the dataset's shards, and return them checked.

    Online, the shards of ``revision`` (default: the main branch) are downloaded where missing or stale and a manifest
    is written. Offline (``offline=True``, ``HF_HUB_OFFLINE=1``, or the hub unreachable), the local folder is checked
    against its manifest; without one, every readable shard is accepted. In every case each shard must be a readable
    parquet file with a ``video_uid`` column. An unreachable hub is named in the notes and errors as
    ``cannot reach <host> (DNS|refused|timeout|TLS)``.

    Args:
        endpoint: the hub's base URL (default ``HF_ENDPOINT``, else https://huggingface.co).
        progress: show huggingface_hub's download bars (off when output is not a terminal: they have no line ends).
        timeout: seconds to wait for the hub's first answer (huggingface_hub itself would wait forever).

    Raises:
        ReelsetError: a shard is missing, truncated or unreadable; the hub refused the repo or revision; or there is
            nothing local to fall back on.
    """
    data_dir = Path(data_dir)
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    offline = hub_offline_requested() if offline is None else offline
    if offline:
        shard_set = _local_shards(data_dir, revision=revision, reason="offline mode")
    else:
        try:
            with _hub_progress_bars(progress):
                shard_set = _fetch_from_hub(data_dir, repo_id, revision, endpoint, token, timeout)
        except OfflineModeIsEnabled as exc:
            shard_set = _local_shards(data_dir, revision=revision, reason=one_line(exc))
        # LocalEntryNotFoundError: snapshot_download's word for a hub that went away after the first request.
        except (httpx2.TransportError, LocalEntryNotFoundError) as exc:
            shard_set = _local_shards(data_dir, revision=revision,
                                      reason=network_error(endpoint or hf_constants.ENDPOINT, exc))
    for path in shard_set.paths:
        shard_io.check_shard(path, shard_io.ID_COLUMNS)
    return shard_set


@contextlib.contextmanager
def _hub_progress_bars(enabled: bool) -> Iterator[None]:
    was_disabled = hf_progress.are_progress_bars_disabled()
    if not enabled:
        hf_progress.disable_progress_bars()
    try:
        yield
    finally:
        if not enabled and not was_disabled:
            hf_progress.enable_progress_bars()


def _fetch_from_hub(
    data_dir: Path, repo_id: str, revision: str | None, endpoint: str | None, token: str | bool | None,
    timeout: float,
) -> ShardSet:
    api = HfApi(endpoint=endpoint, token=token)
    try:
        commit = api.dataset_info(repo_id, revision=revision, timeout=timeout).sha
        expected = {
            entry.path: entry.size
            for entry in api.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type="dataset")
            if isinstance(entry, RepoFile) and fnmatch.fnmatch(entry.path, SHARD_PATTERN)
        }
    except RevisionNotFoundError as exc:
        raise ReelsetError(f"{repo_id}: revision {revision!r} not found on the hub") from exc
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise ReelsetError(f"{repo_id}: dataset not found or not accessible on the hub ({_status(exc)})") from exc
    except HfHubHTTPError as exc:
        raise ReelsetError(f"{repo_id}: the hub answered {_status(exc)}") from exc
    if not expected:
        raise ReelsetError(f"{repo_id}@{commit}: no files match {SHARD_PATTERN}")

    data_dir.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        try:
            snapshot_download(
                repo_id,
                repo_type="dataset",
                revision=commit,
                local_dir=data_dir,
                # Keep the client's bookkeeping (refs) inside the data folder, not in the user's global cache.
                cache_dir=data_dir / ".cache" / "huggingface" / "hub",
                allow_patterns=[SHARD_PATTERN],
                endpoint=endpoint,
                token=token,
                etag_timeout=timeout,
            )
        except HfHubHTTPError as exc:
            raise ReelsetError(f"{repo_id}: download failed, the hub answered {_status(exc)}") from exc
        wrong = _size_mismatches(data_dir, expected)
        if not wrong:
            break
        # A shard changed on disk behind huggingface_hub's back (truncated, edited): fetch it again, once.
        for relative in wrong:
            (data_dir / relative).unlink(missing_ok=True)
            (data_dir / ".cache" / "huggingface" / "download" / f"{relative}.metadata").unlink(missing_ok=True)
    else:
        raise ReelsetError(f"{data_dir / wrong[0]}: size differs from the hub's after a second download")

    manifest = {
        "repo_id": repo_id,
        "revision": revision,
        "commit": commit,
        "endpoint": endpoint,
        "fetched_at": utc_now(),
        "files": dict(sorted(expected.items())),
    }
    atomic_write_text(data_dir / MANIFEST_NAME, json.dumps(manifest, indent=1) + "\n")
    paths = [data_dir / relative for relative in sorted(expected)]
    return ShardSet(data_dir, paths, completeness_checked=True, source="hub", commit=commit)


def _status(exc: HfHubHTTPError) -> str:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return f"HTTP {code}" if code else type(exc).__name__


def _size_mismatches(data_dir: Path, expected: dict[str, int]) -> list[str]:
    wrong = []
    for relative, size in sorted(expected.items()):
        path = data_dir / relative
        if not path.is_file() or path.stat().st_size != size:
            wrong.append(relative)
    return wrong


def read_manifest(data_dir: Path) -> dict | None:
    """The manifest of the last fetch into ``data_dir``, or None (never fetched, or unreadable)."""
    path = Path(data_dir) / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def _local_shards(data_dir: Path, *, revision: str | None, reason: str) -> ShardSet:
    manifest = read_manifest(data_dir)
    if manifest is not None:
        if revision and revision not in {manifest.get("revision"), manifest.get("commit")}:
            raise ReelsetError(
                f"{data_dir}: holds commit {manifest.get('commit')}, not revision {revision!r}, and the hub cannot "
                f"be used: {reason}"
            )
        files = {str(name): int(size) for name, size in manifest["files"].items()}
        for relative, size in sorted(files.items()):
            path = data_dir / relative
            if not path.is_file():
                raise ReelsetError(f"{path}: shard missing (listed in {MANIFEST_NAME}; fetch again online)")
            actual = path.stat().st_size
            if actual != size:
                raise ReelsetError(f"{path}: shard truncated or changed ({actual} bytes, expected {size})")
        paths = [data_dir / relative for relative in sorted(files)]
        note = f"{reason}: using the local shards, complete against the manifest of commit {manifest.get('commit')}"
        return ShardSet(data_dir, paths, True, "manifest", manifest.get("commit"), [note])

    paths = shard_io.list_shards(data_dir)
    if not paths:
        raise ReelsetError(f"{data_dir}: no {SHARD_PATTERN} files and the hub cannot be used: {reason}")
    note = (
        f"{reason}: using {len(paths)} local shard(s); no record of an earlier fetch, "
        "so completeness could not be checked against the hub"
    )
    return ShardSet(data_dir, paths, False, "local", None, [note])
