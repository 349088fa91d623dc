"""``reelset taste --scheduler``: a real Dask LocalCluster on 127.0.0.1 (2 worker processes, no dashboard).

The workers decode, embed, probe and thumbnail; this process tags and writes. The reference is the local run in
this process with one torch thread (a Dask worker's count: CPU convolutions sum in an order that depends on it).
Paths are given relative to the working directory, as a user would, so the tasks must get absolute ones.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.sandbox.media import make_video
from reelset.taste.run import run_taste, summary_lines
from reelset.taste.samples import make_photo_video, sample_photo
from tests.support.cluster import BusyWorkerKiller

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.slow

LIBRARY = "library"
DATASET = "taste-cluster-test"
TAGGED = 3


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """``library/``: a truncated file first in scan order (skipped), two test patterns and a real photo."""
    root = tmp_path_factory.mktemp("taste-cluster")
    videos = root / LIBRARY
    whole = make_video(videos / "whole.mp4", seconds=3, width=96, height=64, audio=None)
    (videos / "broken.mp4").write_bytes(whole.read_bytes()[:2000])  # cut before its index
    whole.unlink()
    make_video(videos / "holiday" / "beach.mp4", seconds=3, width=96, height=64, audio=None)
    make_video(videos / "holiday" / "walk.mkv", seconds=3, width=96, height=64, audio=None, pattern="smptebars")
    make_photo_video(sample_photo("coffee"), videos / "food" / "coffee.mov", seconds=3, size=(300, 200))
    return root


@pytest.fixture()
def in_workdir(workdir, monkeypatch) -> Path:
    monkeypatch.chdir(workdir)
    return workdir


@pytest.fixture(scope="module")
def reference(workdir, one_torch_thread):
    """The local run (relative paths, no cache, no dataset), with one torch thread like a Dask worker."""
    cwd = os.getcwd()
    os.chdir(workdir)
    try:
        summary = run_taste([LIBRARY], Path("local"), use_cache=False, dataset=None, top_k=3)
    finally:
        os.chdir(cwd)
    return summary, workdir / "local"


def outputs(out: Path) -> dict[str, bytes]:
    """predictions.json, predictions.csv and every thumbnail, by name."""
    files = {name: (out / name).read_bytes() for name in ("predictions.json", "predictions.csv")}
    files.update({f"thumbnails/{path.name}": path.read_bytes() for path in sorted((out / "thumbnails").iterdir())})
    return files


def report(path: Path) -> str:
    """report.html without the minute it was made."""
    return re.sub(r"made \d{4}-\d\d-\d\d \d\d:\d\d", "made", path.read_text())


def facts(summary) -> list[tuple]:
    return [(video.path, video.duration, video.frame_count, video.frame_rate, (video.width, video.height),
             video.size_bytes, video.taken, video.thumbnail.name, video.from_cache, video.warnings)
            for video in summary.videos]


def test_the_local_reference_is_what_the_checks_below_need(reference):
    summary, out = reference
    assert summary.tagged == TAGGED and [item.path for item in summary.skipped] == [f"{LIBRARY}/broken.mp4"]
    names = [Path(record["path"]).name for record in json.loads((out / "predictions.json").read_text())]
    assert names == ["coffee.mov", "beach.mp4", "walk.mkv"]  # scan order
    assert len(list((out / "thumbnails").glob("*.jpg"))) == TAGGED


def test_same_outputs_as_the_local_run(dask_client, reference, in_workdir):
    local, local_out = reference
    summary = run_taste([LIBRARY], Path("cluster"), use_cache=False, dataset=None, top_k=3, executor=dask_client)
    assert outputs(in_workdir / "cluster") == outputs(local_out)
    assert facts(summary) == facts(local)
    assert summary.skipped == local.skipped
    assert [video.thumbnail.parent for video in summary.videos] == [Path("cluster/thumbnails")] * TAGGED
    assert report(summary.report) == report(local_out / "report.html")
    assert report(summary.report).count('<article class="video"') == TAGGED


class KillingReporter(Reporter):
    """A quiet reporter whose progress bars, at the first advance where one is busy, kill a worker (SIGKILL)."""

    def __init__(self, client):
        super().__init__(interactive=False, out=io.StringIO(), err=io.StringIO())
        self.advance = BusyWorkerKiller(client)

    def task(self, description, total, *, unit=None):
        return self

    def update(self, **kwargs) -> None:
        pass


def test_a_worker_killed_mid_run_loses_nothing(dask_client, reference, in_workdir):
    local, local_out = reference
    reporter = KillingReporter(dask_client)
    summary = run_taste([LIBRARY], Path("killed"), use_cache=False, dataset=None, top_k=3, executor=dask_client,
                        reporter=reporter)
    assert reporter.advance.killed, "no busy worker to kill"
    assert outputs(in_workdir / "killed") == outputs(local_out)  # every prediction and thumbnail, once, in order
    assert (summary.tagged, len(summary.skipped)) == (TAGGED, 1)
    assert facts(summary) == facts(local)
    assert not [path.name for path in (in_workdir / "killed" / "thumbnails").iterdir() if path.name.startswith(".")]
    assert reporter.advance.replaced()  # the nanny started a new worker process


def test_scheduler_shared_cache_and_dataset(local_cluster, reference, in_workdir):
    import fiftyone as fo

    expected = json.loads((reference[1] / "predictions.json").read_text())

    def tasted():
        summary = run_taste([LIBRARY], Path("shared"), cache_dir=Path("cache"), top_k=3, dataset=DATASET,
                            executor=local_cluster.scheduler_address)
        return summary, summary_lines(summary)

    first, lines = tasted()
    assert first.tagged  # the command exits 0 when a video was tagged
    assert lines[-1].startswith(f"taste: {TAGGED} videos (0.0 hours) tagged, 1 skipped")
    assert "from cache: 0 of 4 videos" in lines
    assert json.loads((in_workdir / "shared" / "predictions.json").read_text()) == expected
    assert len(list((in_workdir / "cache" / "features").rglob("*.npz"))) == TAGGED  # written by the workers
    dataset = fo.load_dataset(DATASET)
    assert len(dataset) == TAGGED
    by_path = dict(zip(*dataset.values(["filepath", "video_tags.classifications.label"])))
    assert by_path == {str((in_workdir / record["path"]).resolve()): [label["name"] for label in record["labels"]]
                       for record in expected}
    again, lines = tasted()
    assert again.tagged
    assert "from cache: 3 of 4 videos" in lines
    assert json.loads((in_workdir / "shared" / "predictions.json").read_text()) == expected


def test_cli_takes_the_scheduler_from_the_flag_or_the_environment(in_workdir, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["taste", LIBRARY, "--out", str(tmp_path / "never"), "--no-dataset"]
    for extra, env in ((["--scheduler", f"127.0.0.1:{port}"], {"REELSET_SCHEDULER": None}),
                       ([], {"REELSET_SCHEDULER": f"127.0.0.1:{port}"})):
        result = CliRunner().invoke(cli, [*args, *extra], env=env)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        assert result.stderr.startswith(f"error: --scheduler 127.0.0.1:{port}: cannot reach the Dask scheduler")
        assert result.stderr.count("\n") == 1
    assert not (tmp_path / "never").exists()


def test_unreachable_scheduler_fails_before_anything_is_written(in_workdir, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ReelsetError, match=rf"--scheduler 127.0.0.1:{port}: cannot reach the Dask scheduler"):
        run_taste([LIBRARY], tmp_path / "never", dataset=None, executor=f"127.0.0.1:{port}")
    assert not (tmp_path / "never").exists()
