"""The three Action100M steps in one call: :func:`build` is ``reelset action100m build`` (and the demo's core).

ids (the parquet from the hub, the valid YouTube ids) -> download (the clips) -> fiftyone (the dataset), each step
resumable, so a rerun after an interruption picks up where it stopped. A download stopped by the circuit breaker or
by environment errors ends the build before the dataset step (its clips are kept). One executor runs the heavy work
of both the download and the dataset step (:mod:`reelset.scale`): threads here, or one Dask cluster connected once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reelset.action100m.dataset import DEFAULT_NAME, IngestSummary, build_dataset
from reelset.action100m.dataset import summary_lines as dataset_summary_lines
from reelset.action100m.hub import DEFAULT_DATA_DIR, DEFAULT_REPO
from reelset.action100m.ids import DEFAULT_IDS_FILE, IdsResult, build_ids, ids_report_lines
from reelset.action100m.labels import LabelOptions
from reelset.core.progress import Reporter
from reelset.core.atomic import check_output
from reelset.fetch.download import (
    DownloadSettings,
    DownloadSummary,
    download_videos,
    prepare_download,
    read_ids,
)
from reelset.fetch.download import summary_lines as download_summary_lines
from reelset.scale import Executor, executor_for


@dataclass
class BuildSummary:
    """What :func:`build` did: each step's own summary (``dataset`` is None when the download stopped the build)."""

    ids: IdsResult
    download: DownloadSummary
    dataset: IngestSummary | None

    @property
    def exit_code(self) -> int:
        """The download's exit status (0 all done, 4 some ids to retry, 3 stopped): the dataset step raises when it
        cannot run."""
        return self.download.exit_code


def build(
    data_dir: Path = DEFAULT_DATA_DIR,
    ids_file: Path = DEFAULT_IDS_FILE,
    download: DownloadSettings | None = None,
    *,
    repo_id: str = DEFAULT_REPO,
    revision: str | None = None,
    endpoint: str | None = None,
    offline: bool | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    dataset: str = DEFAULT_NAME,
    options: LabelOptions = LabelOptions(),
    overwrite: bool = False,
    workers: int = 4,
    executor: Executor | str | None = None,
    reporter: Reporter | None = None,
) -> BuildSummary:
    """ids, download and the FiftyOne dataset, with each step's report lines on ``reporter``.

    Args:
        data_dir: where the parquet shards are (or go).
        ids_file: where the ids are written (and read back for the download).
        download: the download's settings (default: :class:`~reelset.fetch.download.DownloadSettings`, clips in
            ``videos/``); the dataset is built from ``download.out_dir``.
        repo_id, revision, endpoint, offline, limit, sample, seed: the ids step's
            (:func:`reelset.action100m.ids.build_ids`).
        dataset, options, overwrite, workers: the dataset step's
            (:func:`reelset.action100m.dataset.build_dataset`).
        executor: where the downloads and the clips' probes run (:func:`reelset.scale.executor_for`: an Executor,
            or a Dask scheduler's address, connected once before anything is written, or ``distributed.Client``).
        reporter: progress and report lines (default: a :class:`~reelset.core.progress.Reporter` on the terminal).

    Raises:
        ReelsetError: a step that cannot run (the hub unreachable, offline shards incomplete, the folder locked, a
            scheduler that cannot be reached, ...); nothing the earlier steps finished is lost. What every step
            writes (the ids file, the clips folder) and what the download needs (settings, ffmpeg, cookies) is
            checked first: a build that cannot run to the end for those reasons writes nothing.
    """
    reporter = reporter or Reporter()
    download = download or DownloadSettings()
    check_output(ids_file)
    session = prepare_download(download)
    with executor_for(executor, workers=workers) as running, reporter.live():
        listed = build_ids(data_dir, ids_file, repo_id=repo_id, revision=revision, endpoint=endpoint,
                           offline=offline, limit=limit, sample=sample, seed=seed, progress=reporter.interactive)
        for line in ids_report_lines(listed):
            reporter.line(line)
        fetched = download_videos(read_ids(ids_file), download, reporter, executor=running, session=session)
        for line in download_summary_lines(fetched):
            reporter.line(line)
        if fetched.stopped:
            return BuildSummary(listed, fetched, None)
        bar = reporter.task("fiftyone samples", total=None)
        ingested = build_dataset(data_dir, download.out_dir, name=dataset, options=options, overwrite=overwrite,
                                 workers=workers, on_problem=reporter.line, on_added=bar.advance, executor=running)
        for line in dataset_summary_lines(ingested):
            reporter.line(line)
    return BuildSummary(listed, fetched, ingested)
