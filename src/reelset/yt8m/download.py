"""YouTube-8M's official downloader (``download.py``), same configuration and files, made parallel and resumable.

:func:`download_partition` is ``reelset yt8m download`` as a library call. What it keeps from the official script
(``curl data.yt8m.org/download.py | shard=1,1000 partition=2/frame/train mirror=us python``), to the letter:

- the configuration: environment variables ``partition`` (``<version>/<level>/<split>``), ``mirror`` (us, eu, asia)
  and ``shard`` (``X,Y``), validated with the same messages (:func:`config_from_environment`);
- the plan ``{plan base}/{version}/download_plans/{level}_{split}.json``, saved in the output folder as
  ``partition.replace('/', '_') + '_download_plan.json'`` with the layout ``{"files": {"<remote name>": "<md5>"}}``;
  after each verified file its entry is deleted and the plan rewritten as ``json.dumps(plan)``, so the official script
  resumes from a plan written here and this command resumes from one it wrote;
- the shard rule: a remote name (``traindw.tfrecord``) is in shard X of Y when ``int(md5(name), 16) % Y == X - 1``;
- the local names: split + the ``%04d`` position of the two-character code in a-z A-Z 0-9 order
  (``traindw.tfrecord`` -> ``train0208.tfrecord``), fetched from ``{data base}/{partition}/{remote name}``;
- the messages (``Starting fresh download ...``, ``>> Downloading <url> 100.0%``, ``Succesfully downloaded <file> N
  bytes.``, ``Resuming download ...``, ``Files remaining N``, ``Error downloading <f>. MD5 does not match!``,
  ``All done. No more files to download.``), each on one plain line.

What it does better: ``jobs`` files at a time (the plan has one writer, this function's thread, and every rewrite is
atomic); an interrupted file resumes from its ``.part`` with an HTTP ``Range`` request; a file whose md5 does not
match is downloaded once more, then reported by name while the run goes on, and it never takes its final name (the
official script leaves it in place: a deliberate change); a free-disk check before the first byte; a progress bar
with bytes and ETA on a terminal; a dry run. Unlike the official script, "All done" is printed only when nothing
failed: otherwise :meth:`DownloadSummary.check` raises an error that names the files left in the plan.

Each file is one task (:func:`download_task` of a :class:`FileTask`) run by an executor (:mod:`reelset.scale`):
``jobs`` threads here, or the workers of a Dask cluster (``executor=``, ``--scheduler ADDRESS`` or
``$REELSET_SCHEDULER``). A task downloads the file to a ``.part`` of its own
(``.<local name>.<attempt>.part``, taking over, by an atomic rename, the longest partial download of that file left
by an earlier run or by an attempt whose worker died, then resuming it with ``Range``), checks the md5 and renames it
to its final name, so each file has one writer at a time; it returns the outcome as a value (:class:`FetchResult`,
failures included). This process receives the outcomes as they finish (:meth:`reelset.scale.Executor.map_unordered`)
and alone prints the lines above and rewrites the plan; the dry run, the plan, the sizes (HEAD) and the free-disk
check stay here too. A worker that dies mid-file has its task rerun elsewhere by the scheduler, which resumes from
what the dead one wrote (the md5 check stands behind that: a partial file some other writer still appends to fails
it and is downloaded again from scratch). A failed or interrupted attempt leaves its partial file as
``<local name>.part``. So the folder and the plan are the same wherever the tasks ran; only tasks in this process
report their bytes as they come (on a terminal: a bar per file). What must be
shared: the output folder, on a file system every worker mounts at the same absolute path (the tasks get absolute
paths, made here; a worker that does not see the folder fails the file rather than write elsewhere), and the
workers need network access to the data host; the plan and its lock stay with this process.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import string
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelset.core.atomic import atomic_write_bytes, atomic_write_text, check_output, fsync_dir, is_temp_path
from reelset.core.errors import ReelsetError, one_line
from reelset.core.locks import exclusive_lock
from reelset.core.http import ChecksumError, HttpError, content_length, download_file, fetch_bytes, part_path
from reelset.core.progress import Reporter
from reelset.scale import Executor, executor_for
from reelset.yt8m.constants import DATA_BASE_URL, MIRRORS, PLAN_BASE_URL

LEVELS = ("video_level", "frame_level", "video", "frame")
SPLITS = ("train", "validate", "test")
ALPHABET = string.ascii_lowercase + string.ascii_uppercase + string.digits
FILE_CODES = tuple(first + second for first in ALPHABET for second in ALPHABET)  # 3,844, in the official order
_CODE_INDEX = {code: index for index, code in enumerate(FILE_CODES)}

# The official script's words, to the letter (its typos included: people and scripts search for them).
MISSING_PARTITION = 'Must provide environment variable "partition". e.g. 0/video_level/train'
MISSING_MIRROR = 'Must provide environment variable "mirror". e.g. "us"'
SHARD_WITHOUT_COMMA = (
    'Optional environment variable "shards" must be "X,Y" if set, where the integer X, Y are used for sharding. '
    "The files will be deterministically sharded Y-way and the X-th shard will be downloaded. It must be 1 <= X <= Y"
)
FRESH_DOWNLOAD = "Starting fresh download in this directory. Please make sure you have >2TB of free disk space!"
RESUMING = "Resuming download ..."
ALL_DONE = "All done. No more files to download."

_VERSION = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
# A plan key becomes a URL path segment and a file name: letters and digits, one dot, nothing else.
_REMOTE_NAME = re.compile(r"(?P<prefix>[A-Za-z0-9_-]+)(?P<code>[A-Za-z0-9]{2})(?:\.(?P<ext>[A-Za-z0-9]+))?")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_HEAD_THREADS = 16
_ATTEMPT_DIGITS = 12  # hex digits naming a cluster attempt's own partial file: .<local name>.<digits>.part


class ConfigError(ReelsetError):
    """The partition, mirror or shard is missing or invalid (the official script's messages where it has one).

    ``setting`` is the one at fault (``"partition"``, ``"mirror"`` or ``"shard"``: the environment variable's name,
    and the flag's without its ``--``) when :func:`config_from_environment` knows it; ``source`` says where its
    value came from: ``"missing"`` (neither given nor set), ``"environment"`` or ``"argument"``.
    """

    def __init__(self, message: str, *, setting: str | None = None, source: str | None = None):
        super().__init__(message)
        self.setting = setting
        self.source = source


@dataclass(frozen=True)
class Partition:
    """``<version>/<level>/<split>``, e.g. ``2/frame/train``; ``str()`` gives the text back unchanged."""

    version: str
    level: str
    split: str

    @classmethod
    def parse(cls, text: str) -> Partition:
        parts = text.split("/")
        if len(parts) != 3 or not _VERSION.fullmatch(parts[0]) or parts[1] not in LEVELS or parts[2] not in SPLITS:
            raise ConfigError(
                f'Invalid partition "{text}": must be <version>/<level>/<split> with level one of '
                f"{', '.join(LEVELS)} and split one of {', '.join(SPLITS)} (e.g. 2/frame/train)"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.version}/{self.level}/{self.split}"

    @property
    def plan_filename(self) -> str:
        """The local plan's name, as the official script names it: ``2_frame_train_download_plan.json``."""
        return str(self).replace("/", "_") + "_download_plan.json"

    def plan_url(self, base: str = PLAN_BASE_URL) -> str:
        return f"{base.rstrip('/')}/{self.version}/download_plans/{self.level}_{self.split}.json"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (1-based, the official ``X,Y``); the default 1,1 is the whole partition."""

    index: int = 1
    count: int = 1

    @classmethod
    def parse(cls, text: str) -> Shard:
        if "," not in text:
            raise ConfigError(SHARD_WITHOUT_COMMA)
        try:
            index, count = (int(part) for part in text.split(","))
        except ValueError:
            index = count = 0
        if not 1 <= index <= count:
            raise ConfigError(f'Invalid shard "{text}": must be X,Y with integers 1 <= X <= Y (e.g. 1,1000)')
        return cls(index, count)

    def __str__(self) -> str:
        return f"{self.index},{self.count}"

    def __contains__(self, remote_name: str) -> bool:
        """Whether a plan entry (``traindw.tfrecord``: the md5 is of the whole name) belongs to this shard."""
        return int(hashlib.md5(remote_name.encode("utf-8")).hexdigest(), 16) % self.count == self.index - 1


def local_name(remote_name: str) -> str:
    """The official local name of a remote file: ``traindw.tfrecord`` -> ``train0208.tfrecord``, ``test99`` ->
    ``test3843`` (the two-character code's position in a-z A-Z 0-9 order, on four digits)."""
    match = _REMOTE_NAME.fullmatch(remote_name)
    if match is None or match["code"] not in _CODE_INDEX:
        raise ReelsetError(f"{remote_name!r}: not a YouTube-8M file name (<split><two of a-z A-Z 0-9>.tfrecord)")
    suffix = f".{match['ext']}" if match["ext"] else ""
    return f"{match['prefix']}{_CODE_INDEX[match['code']]:04d}{suffix}"


def select_files(plan: Mapping[str, Any], shard: Shard) -> list[str]:
    """The plan's remote names in ``shard``, in the plan's order (the order the official script downloads them)."""
    return [name for name in plan["files"] if name in shard]


def parse_plan(data: bytes, source: str) -> dict[str, Any]:
    """Parse and check a download plan (``{"files": {name: md5}}``; other keys are kept as they are).

    Raises:
        ReelsetError: naming ``source`` and what is wrong with it.
    """
    try:
        plan = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReelsetError(f"{source}: not a download plan (not JSON: {exc}); delete it to start fresh") from exc
    files = plan.get("files") if isinstance(plan, dict) else None
    if not isinstance(files, dict):
        raise ReelsetError(f'{source}: not a download plan (no "files" object); delete it to start fresh')
    for name, md5 in files.items():
        if not isinstance(md5, str) or not _MD5.fullmatch(md5):
            raise ReelsetError(f"{source}: entry {name!r} has no md5 (got {md5!r})")
        local_name(name)  # a name that cannot be a local file name is refused before anything is written
    return plan


def read_plan(path: Path) -> dict[str, Any]:
    return parse_plan(Path(path).read_bytes(), str(path))


def write_plan(path: Path, plan: Mapping[str, Any]) -> None:
    """Rewrite a plan atomically, byte for byte as the official script writes it (``json.dumps(plan)``)."""
    atomic_write_text(Path(path), json.dumps(plan))


def file_md5(path: Path) -> str:
    from reelset.core.digest import file_digest  # here, not at the top: the imports are being rewritten

    return file_digest(path, "md5")


def free_bytes(folder: Path) -> int:
    """Free space in ``folder`` for this user (a function of its own so that tests can stand in for a full disk)."""
    return shutil.disk_usage(folder).free


@dataclass(frozen=True)
class DownloadConfig:
    """One run's settings; :func:`config_from_environment` builds it as the CLI does (flags over environment).

    Attributes:
        out_dir: where the plan and the files go (the official script uses the current folder).
        jobs: files downloaded at the same time.
        dry_run: print the selected local names (and their total size when the server says) and download nothing
            but the plan, which is not saved.
        plan_base_url / data_base_url: the two hosts; ``{mirror}`` in the data base is replaced by the mirror.
        timeout, retries, backoff: per request, as in :func:`reelset.core.http.download_file`.
    """

    partition: Partition
    mirror: str
    shard: Shard = Shard()
    out_dir: Path = Path(".")
    jobs: int = 4
    dry_run: bool = False
    plan_base_url: str = PLAN_BASE_URL
    data_base_url: str = DATA_BASE_URL
    timeout: float = 30.0
    retries: int = 4
    backoff: float = 1.0

    @property
    def plan_path(self) -> Path:
        return Path(self.out_dir) / self.partition.plan_filename

    @property
    def plan_url(self) -> str:
        return self.partition.plan_url(self.plan_base_url)

    def data_url(self, remote_name: str) -> str:
        base = self.data_base_url.replace("{mirror}", self.mirror).rstrip("/")
        return f"{base}/{self.partition}/{remote_name}"


def parse_mirror(text: str) -> str:
    if text not in MIRRORS:
        raise ConfigError(f'Invalid mirror "{text}": must be one of {", ".join(MIRRORS)}')
    return text


def config_from_environment(
    *,
    partition: str | Partition | None = None,
    mirror: str | None = None,
    shard: str | Shard | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> DownloadConfig:
    """Settle partition, mirror and shard as the official script does, the arguments overriding ``environ``.

    ``environ`` (default ``os.environ``) is read for ``partition``, ``mirror`` and ``shard``; ``options`` are the
    other :class:`DownloadConfig` fields.

    Raises:
        ConfigError: with the official message for a missing partition or mirror and a shard without a comma, its
            ``setting`` and ``source`` set.
    """
    environ = os.environ if environ is None else environ
    given = {"partition": partition, "mirror": mirror, "shard": shard}
    values = {name: value if value is not None else environ.get(name) for name, value in given.items()}
    sources = {name: "argument" if given[name] is not None else "environment" if values[name] is not None
               else "missing" for name in given}
    for name, message in (("partition", MISSING_PARTITION), ("mirror", MISSING_MIRROR)):
        if values[name] is None:
            raise ConfigError(message, setting=name, source="missing")

    def parsed(name: str, parse: Callable[[str], Any]) -> Any:
        value = values[name]
        if not isinstance(value, str):
            return value  # parsed already (the CLI's flags)
        try:
            return parse(value)
        except ConfigError as exc:
            raise ConfigError(str(exc), setting=name, source=sources[name]) from None

    return DownloadConfig(
        partition=parsed("partition", Partition.parse),
        mirror=parsed("mirror", parse_mirror),
        shard=parsed("shard", Shard.parse) or Shard(),
        **options,
    )


@dataclass(frozen=True)
class FileFailure:
    remote_name: str
    reason: str
    unreachable: bool = False  # the data host could not be reached


@dataclass
class DownloadSummary:
    """What a run did. ``selected`` are the local names of the shard's files that were left in the plan."""

    plan_path: Path
    selected: list[str] = field(default_factory=list)
    downloaded: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    bytes_downloaded: int = 0
    total_bytes: int | None = None  # of the selected files, when the server announced every size
    mirrored: bool = False  # the data host is one of the official mirrors (its base URL has {mirror})

    def check(self) -> None:
        """Raise a :class:`ReelsetError` naming the files that failed (they stay in the plan), if any did; when the
        data host of a mirror could not be reached, it says how to choose another."""
        if not self.failed:
            return
        names = ", ".join(f"{failure.remote_name} ({failure.reason})" for failure in self.failed[:5])
        more = f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        another = ""
        if self.mirrored and any(failure.unreachable for failure in self.failed):
            another = (f", or with another mirror ({', '.join(MIRRORS)}: --mirror, or the environment variable "
                       "mirror)")
        raise ReelsetError(
            f"{len(self.failed)} of {len(self.selected)} file(s) not downloaded: {names}{more}; they stay in "
            f"{self.plan_path}: run the same command again to retry them{another}"
        )


class _Cancelled(BaseException):
    """Raised from a progress callback to stop a transfer when the run is interrupted (the .part stays); a
    BaseException, like the KeyboardInterrupt it follows, so no task error handler takes it for a failure."""


_DOWNLOADED, _ALREADY_THERE, _FAILED = "downloaded", "already there", "failed"


@dataclass(frozen=True)
class FetchResult:
    """What became of one file, as a plain value (what a worker's task returns): ``outcome`` is ``"downloaded"``,
    ``"already there"`` (verified in place) or ``"failed"``, with the file's ``size`` or the failure's one-line
    ``error``; ``md5_mismatch`` marks a file whose md5 was wrong on both downloads, ``unreachable`` one whose host
    could not be reached."""

    outcome: str
    size: int = 0
    error: str | None = None
    md5_mismatch: bool = False
    unreachable: bool = False


@dataclass(frozen=True)
class FileTask:
    """One file for a task: where it comes from, its md5 (from the plan), its final path (absolute on a cluster, in
    the shared output folder), the request settings of the run, and ``progress``, called with ``(remote name, bytes
    so far, total or None)`` as data arrives (only for tasks in this process: None on a cluster)."""

    url: str
    md5: str
    destination: str
    timeout: float
    retries: int
    backoff: float
    remote_name: str = ""
    progress: Callable[[str, int, int | None], None] | None = None


def download_partition(config: DownloadConfig, reporter: Reporter | None = None, *,
                       executor: Executor | str | None = None) -> DownloadSummary:
    """Download the files of ``config.shard`` still listed in the local plan (fetching the plan on a fresh start).

    Result lines go through ``reporter``; per-file failures (md5 mismatch after a second download, HTTP errors,
    connections that keep dropping) are reported as they happen and collected in the summary, whose
    :meth:`~DownloadSummary.check` turns them into an error. A file already in place with the right md5 (from a run
    killed between its rename and the plan rewrite, or from the official script) is not downloaded again.

    Args:
        executor: where the files are downloaded (:func:`reelset.scale.executor_for`: an Executor, or a Dask
            scheduler's address, connected here at once and closed at the end, or ``distributed.Client``): a
            cluster's workers download into ``config.out_dir``, which they must see at the same absolute path (see
            the module docstring); this process keeps the plan. Default: ``config.jobs`` threads here. A dry run
            connects to nothing.

    Raises:
        ReelsetError: the output folder cannot be written, the plan cannot be fetched or read, another run holds
            this plan, the disk is too small, the scheduler cannot be reached (nothing is written when the run
            cannot start: the folder and the plan's lock are made once the plan is there).
    """
    reporter = reporter or Reporter()
    if config.dry_run:
        return _dry_run(config, reporter)
    with executor_for(executor, workers=config.jobs) as running:
        return _download(config, reporter, running)


def _download(config: DownloadConfig, reporter: Reporter, executor: Executor) -> DownloadSummary:
    out_dir = Path(config.out_dir)
    # The folder is checked first, and a fresh start fetches its plan before the folder or its lock exist: a run
    # that cannot start leaves nothing.
    check_output(out_dir, folder=True)
    fetched = None if config.plan_path.exists() else _fetch_plan(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    with _plan_lock(config.plan_path):
        _remove_plan_temps(config.plan_path)
        if config.plan_path.exists():
            reporter.line(RESUMING)
        else:
            reporter.line(FRESH_DOWNLOAD)
            data = fetched if fetched is not None else _fetch_plan(config)
            atomic_write_bytes(config.plan_path, data)
            reporter.line(f">> Downloading {config.plan_url} 100.0%")
            reporter.line(f"Succesfully downloaded {config.plan_path.name} {len(data)} bytes.")
        plan = read_plan(config.plan_path)
        remote_names = select_files(plan, config.shard)
        reporter.line(f"Files remaining {len(remote_names)}")
        summary = DownloadSummary(config.plan_path, selected=[local_name(name) for name in remote_names],
                                  mirrored="{mirror}" in config.data_base_url)
        if remote_names:
            sizes = _announced_sizes(config, remote_names)
            summary.total_bytes = None if None in sizes.values() else sum(sizes.values())
            _check_free_space(config, sizes, reporter)
            _download_all(config, plan, remote_names, sizes, summary, reporter, executor)
        if not summary.failed:
            reporter.line(ALL_DONE)
        return summary


def _fetch_plan(config: DownloadConfig) -> bytes:
    """The plan's bytes, checked; a 404 (the one failure a wrong partition gives) says where the partition is set."""
    try:
        data = fetch_bytes(config.plan_url, timeout=config.timeout, retries=config.retries, backoff=config.backoff)
    except HttpError as exc:
        hint = (f" (is partition {config.partition} right? --partition, or the environment variable partition)"
                if exc.status == 404 else "")
        raise ReelsetError(f"Could not download file list: {exc}{hint}") from exc
    parse_plan(data, config.plan_url)
    return data


def _dry_run(config: DownloadConfig, reporter: Reporter) -> DownloadSummary:
    plan_path = config.plan_path
    plan = read_plan(plan_path) if plan_path.exists() else parse_plan(_fetch_plan(config), config.plan_url)
    remote_names = select_files(plan, config.shard)
    sizes = _announced_sizes(config, remote_names)
    summary = DownloadSummary(plan_path, selected=[local_name(name) for name in remote_names])
    for name in summary.selected:
        reporter.line(name)
    known = [size for size in sizes.values() if size is not None]
    if len(known) == len(sizes):
        summary.total_bytes = sum(known)
        reporter.line(f"total: {len(sizes)} files, {summary.total_bytes} bytes")
    elif known:
        reporter.line(f"total: {len(sizes)} files, at least {sum(known)} bytes "
                      f"({len(sizes) - len(known)} sizes unknown)")
    else:
        reporter.line(f"total: {len(sizes)} files, sizes unknown")
    return summary


def _announced_sizes(config: DownloadConfig, remote_names: list[str]) -> dict[str, int | None]:
    """Each file's size as the data host announces it (HEAD), None where it does not say."""
    with ThreadPoolExecutor(max_workers=max(config.jobs, _HEAD_THREADS)) as pool:
        sizes = pool.map(lambda name: content_length(config.data_url(name), timeout=config.timeout), remote_names)
        return dict(zip(remote_names, sizes, strict=True))


def _bytes_on_disk(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _check_free_space(config: DownloadConfig, sizes: Mapping[str, int | None], reporter: Reporter) -> None:
    """Refuse to start when the announced sizes (less what is already on disk) do not fit."""
    needed = 0
    for remote_name, size in sizes.items():
        if size is None:
            continue
        final = Path(config.out_dir) / local_name(remote_name)
        if _bytes_on_disk(final) == size:
            continue  # most likely complete already: its md5 is checked before anything is downloaded
        needed += max(0, size - max(map(_bytes_on_disk, _partial_files(final))))
    unknown = sum(size is None for size in sizes.values())
    if unknown:
        reporter.warn(f"the data host did not announce the size of {unknown} of {len(sizes)} file(s): "
                      f"the free-disk check counts only the others")
    free = free_bytes(Path(config.out_dir))
    if needed > free:
        raise ReelsetError(
            f"{config.out_dir}: {_human(free)} free, {_human(needed)} needed for the {len(sizes)} file(s) of "
            f"shard {config.shard} of {config.partition}; free some space or choose a smaller shard"
        )


def _human(size: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


class _FileBars:
    """The bars of a run on a terminal: the bytes of the whole shard, and one bar per file while it downloads (fed
    by tasks in this process; a cluster's tasks report only when a file is done). Calling it after ``stop`` is set
    ends the transfer that called (its ``.part`` stays for the next run)."""

    def __init__(self, config: DownloadConfig, reporter: Reporter, sizes: Mapping[str, int | None],
                 total: int | None, stop):
        self.reporter = reporter
        self.sizes = sizes
        self.stop = stop
        self.overall = reporter.task(f"{config.partition} shard {config.shard}", total=total, unit="bytes")
        self.done_bytes = dict.fromkeys(sizes, 0)  # every key set up front: the threads only assign values
        self.bars: dict[str, Any] = {}

    def __call__(self, remote_name: str, done: int, total: int | None) -> None:
        if self.stop.is_set():
            raise _Cancelled
        bar = self.bars.get(remote_name)
        if bar is None:
            bar = self.bars[remote_name] = self.reporter.task(f"  {local_name(remote_name)}",
                                                              total=self.sizes.get(remote_name), unit="bytes")
        self.done_bytes[remote_name] = done
        bar.update(completed=done, total=total)
        self.overall.update(completed=sum(self.done_bytes.values()))

    def finished(self, remote_name: str, result: FetchResult) -> None:
        bar = self.bars.pop(remote_name, None)
        if bar is not None:
            bar.remove()
        if result.outcome != _FAILED:
            self.done_bytes[remote_name] = result.size
            self.overall.update(completed=sum(self.done_bytes.values()))


def _download_all(config: DownloadConfig, plan: dict[str, Any], remote_names: list[str],
                  sizes: Mapping[str, int | None], summary: DownloadSummary, reporter: Reporter,
                  executor: Executor) -> None:
    """Each file downloaded by a task of ``executor``; this thread alone reports and rewrites the plan, in the order
    the files finish. A Ctrl-C here cancels the tasks not started yet; tasks running in this process stop at their
    next chunk (keeping their ``.part``), a cluster's finish their file."""
    out_dir = executor.shared_path(config.out_dir)
    with reporter.live(), executor.stop_flag() as stop:
        bars = _FileBars(config, reporter, sizes, summary.total_bytes, stop)
        progress = executor.in_process(bars)
        tasks = [FileTask(config.data_url(name), plan["files"][name], str(out_dir / local_name(name)), config.timeout,
                          config.retries, config.backoff, name, progress) for name in remote_names]
        with contextlib.closing(executor.map_unordered(download_task, tasks, on_error=_task_failed)) as results:
            try:
                for index, result in results:
                    bars.finished(remote_names[index], result)
                    _record(config, plan, remote_names[index], result, summary, reporter)
            except BaseException:
                stop.set()  # before the results are closed: closing waits for the tasks in flight
                raise


def _task_failed(task: FileTask, error: BaseException) -> FetchResult:
    return FetchResult(_FAILED, error=f"task failed: {one_line(error, typed=True)}")


def download_task(task: FileTask) -> FetchResult:
    """One file downloaded (resuming what an earlier attempt left), verified and renamed to its final name, in a
    thread here or on a Dask worker; expected failures are returned, not raised (nothing retries them)."""
    return _outcome_of(lambda: _fetch(task))


def _fetch(task: FileTask) -> tuple[str, int]:
    final = Path(task.destination)
    if not final.parent.is_dir():  # never create it: a folder local to the worker would swallow the file
        raise OSError(f"{final.parent}: no such folder on worker {socket.gethostname()}; the output folder must be "
                      "on a file system every worker shares, at the same absolute path")
    size = _verified_size(final, task.md5)
    if size is not None:
        return _ALREADY_THERE, size
    attempt = final.with_name(f".{final.name}.{uuid.uuid4().hex[:_ATTEMPT_DIGITS]}")
    _claim_partial(final, part_path(attempt))
    try:
        progress = None if task.progress is None else functools.partial(task.progress, task.remote_name)
        result = download_file(task.url, attempt, expected_md5=task.md5, timeout=task.timeout,
                               retries=task.retries, backoff=task.backoff, on_progress=progress)
    except ChecksumError as exc:  # no file is left: named as the local run names it
        raise ChecksumError(str(exc).replace(attempt.name, final.name)) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):  # kept where the next run (local or not) resumes from
            os.replace(part_path(attempt), part_path(final))
        raise
    os.replace(attempt, final)
    fsync_dir(final.parent)
    return _DOWNLOADED, result.bytes


def _outcome_of(fetch: Callable[[], tuple[str, int]]) -> FetchResult:
    """``fetch()``'s ``(outcome, size)``, or its expected failure as a value; anything else is raised."""
    try:
        outcome, size = fetch()
    except ChecksumError as exc:
        return FetchResult(_FAILED, error=str(exc), md5_mismatch=True)
    except HttpError as exc:
        return FetchResult(_FAILED, error=str(exc), unreachable=exc.unreachable is not None)
    except OSError as exc:
        return FetchResult(_FAILED, error=str(exc))
    return FetchResult(outcome, size)


def _verified_size(final: Path, md5: str) -> int | None:
    """The size of ``final`` when it is in place with the right md5; one with another md5 is deleted (it does not
    keep the final name: the official script leaves it)."""
    if not final.exists():
        return None
    if file_md5(final) == md5.lower():
        return final.stat().st_size
    final.unlink(missing_ok=True)
    return None


def _partial_files(final: Path) -> list[Path]:
    """The partial downloads of ``final`` on disk: ``<name>.part`` (a local run's), ``.<name>.<attempt>.part`` (a
    cluster attempt's whose worker died) and ``.<name>.<attempt>`` (one that died between its two renames: complete,
    its md5 is checked again)."""
    attempt = f".{glob.escape(final.name)}.{'[0-9a-f]' * _ATTEMPT_DIGITS}"
    return [part_path(final), *final.parent.glob(f"{attempt}.part"), *final.parent.glob(attempt)]


def _claim_partial(final: Path, part: Path) -> None:
    """Make the longest partial download of ``final`` this attempt's ``part`` (an atomic rename: no other attempt
    starts from it), and delete the others."""
    claimed = False
    for path in sorted(_partial_files(final), key=_bytes_on_disk, reverse=True):
        with contextlib.suppress(FileNotFoundError):  # gone meanwhile (another attempt took it)
            if claimed:
                path.unlink()
            else:
                os.rename(path, part)
                claimed = True


def _record(config: DownloadConfig, plan: dict[str, Any], remote_name: str, result: FetchResult,
            summary: DownloadSummary, reporter: Reporter) -> None:
    """Report one finished file; a verified one leaves the plan, which is rewritten at once."""
    name = local_name(remote_name)
    if result.outcome == _FAILED:
        reason = "MD5 does not match!" if result.md5_mismatch else result.error
        reporter.line(f"Error downloading {remote_name}. {reason}")
        summary.failed.append(FileFailure(remote_name, result.error or "", result.unreachable))
        return
    if result.outcome == _ALREADY_THERE:
        reporter.line(f"Skipping already downloaded file {name}")
        summary.already_there.append(name)
    else:
        reporter.line(f">> Downloading {config.data_url(remote_name)} 100.0%")
        reporter.line(f"Succesfully downloaded {name} {result.size} bytes.")
        summary.downloaded.append(name)
        summary.bytes_downloaded += result.size
    del plan["files"][remote_name]
    write_plan(config.plan_path, plan)


def _plan_lock(plan_path: Path):
    """One run per plan (another partition may download into the same folder); dies with the process."""
    return exclusive_lock(plan_path.with_name(f".{plan_path.name}.lock"),
                          f"{plan_path}: another download is using this plan")


def _remove_plan_temps(plan_path: Path) -> None:
    """Remove the temporary plan files a killed run left (only this plan's: other runs may share the folder)."""
    for path in plan_path.parent.glob(f".{plan_path.name}.tmp-*"):
        if is_temp_path(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

