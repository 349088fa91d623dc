"""The two paths of `action100m index/search` that leave this process: the embedding tasks on a real Dask
LocalCluster (2 worker processes on 127.0.0.1), and `--open`, the real FiftyOne App on the hits' clips.

The corpus is test_search.py's hand-made rows (their captions are known, so a paraphrase has one right answer).
"""

from __future__ import annotations

import socket
import sqlite3
import urllib.request

import numpy as np
import pytest

from reelset.action100m import search_index
from reelset.action100m.app import app_url
from reelset.action100m.query import HITS_FIELD, Hit, build_search_index, open_hits, search
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import write_parquet
from tests.action100m.test_search import PARAPHRASE, TOMATO, hand_made_rows

pytestmark = pytest.mark.slow

CHUNK = 8  # texts a task: the 51 captions become 7 tasks (3 + 4), enough for both workers to get some
NAME = "test-search-open"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def captions(index) -> list[tuple]:
    with sqlite3.connect(index / search_index.INDEX_FILE) as connection:
        return connection.execute("SELECT * FROM captions ORDER BY id").fetchall()


def vectors(index) -> dict[str, np.ndarray]:
    return {path.name: np.load(path) for path in sorted((index / search_index.VECTORS_DIR).glob("*.f16.npy"))}


# ------------------------------------------------------------------------------------------------ Dask


def test_cluster_build_is_the_local_build(tmp_path, dask_client, monkeypatch):
    """``executor=`` a Dask client: the embedding tasks run on the workers, and the index is the local one."""
    distributed = pytest.importorskip("distributed")
    rows = hand_made_rows()
    write_parquet(rows[:1], tmp_path / "data" / "part-00000.parquet")
    write_parquet(rows[1:], tmp_path / "data" / "part-00001.parquet")
    # The orchestrator cuts the chunks (here): both builds send the same texts to each task.
    monkeypatch.setattr(search_index, "EMBED_CHUNK", CHUNK)
    local_index, cluster_index = tmp_path / "local-index", tmp_path / "cluster-index"
    local = build_search_index(tmp_path, index_path=local_index)
    with distributed.get_task_stream(client=dask_client) as stream:
        remote = build_search_index(tmp_path, index_path=cluster_index, executor=dask_client)

    def model_loaded() -> bool:
        from reelset.action100m import search_index as on_worker

        return on_worker._MODEL is not None

    assert (remote.captions, remote.added, remote.shards) == (local.captions, local.added, local.shards) == (51, 51, 2)
    tasks = [task for task in stream.data if task["key"].startswith("reelset-embed_texts-")]
    assert len(tasks) == 7 and {task["worker"] for task in tasks} == set(dask_client.scheduler_info()["workers"])
    assert all(dask_client.run(model_loaded).values())  # each worker process loaded the model itself
    assert remote.device.startswith("the cluster at tcp://127.0.0.1:") and "cluster" not in local.device

    assert captions(cluster_index) == captions(local_index)
    local_vectors, remote_vectors = vectors(local_index), vectors(cluster_index)
    assert local_vectors.keys() == remote_vectors.keys() and len(local_vectors) == 2
    for name, expected in local_vectors.items():
        got = remote_vectors[name]
        assert got.dtype == np.float16 and got.shape == expected.shape
        # Identical here (same machine, same torch thread count), but a worker's torch may sum in another order
        # (another thread count) and a last-bit float32 difference round to the next float16: one step allowed.
        step = np.spacing(np.maximum(np.abs(expected), np.abs(got))).astype(np.float32)
        assert np.all(np.abs(got.astype(np.float32) - expected.astype(np.float32)) <= step), name

    here = search(PARAPHRASE, data_dir=tmp_path, index_path=local_index, top_k=5, update=False)
    there = search(PARAPHRASE, data_dir=tmp_path, index_path=cluster_index, top_k=5, update=False)
    assert (here[0].video_uid, here[0].node_id) in {("toastEggs01", "t1"), ("toastEggs01", "t3")}
    assert [(hit.video_uid, hit.node_id, hit.field, hit.text) for hit in there] == [
        (hit.video_uid, hit.node_id, hit.field, hit.text) for hit in here]
    assert [hit.score for hit in there] == pytest.approx([hit.score for hit in here], abs=1e-3)


# ------------------------------------------------------------------------------------------------ --open


@pytest.fixture(scope="module")
def clips_dataset(tmp_path_factory):
    """The FiftyOne dataset of two hand-made videos with a 12 s clip each (one dataset: FiftyOne is slow)."""
    import fiftyone as fo

    from reelset.action100m.dataset import build_dataset
    from reelset.sandbox.media import make_video

    root = tmp_path_factory.mktemp("search-open")
    write_parquet(hand_made_rows(), root / "data" / "part-00001.parquet")
    for video_id in ("toastEggs01", "gardenWater"):
        make_video(root / "videos" / f"{video_id}.mp4", seconds=12, width=64, height=64, fps=10, faststart=True,
                   audio=None)
    build_dataset(root, root / "videos", name=NAME, overwrite=True)
    yield NAME
    fo.delete_dataset(NAME)


def test_open_serves_the_hits_clips(clips_dataset):
    from fiftyone.core.clips import ClipsView

    hits = [Hit("toastEggs01", "t4", 10.0, 20.0, 2, "gpt_action_brief", "a man wipes his mouth", 0.5, 1, 2),
            Hit("gardenWater", "g1", 0.0, 15.0, 1, "gpt_action_brief", TOMATO, 0.4, 2, 1),
            Hit("bikeRepair1", "b1", 0.0, 18.0, 1, "gpt_action_brief", "no clip", 0.2, 3, 3)]
    port = free_port()
    lines: list[str] = []
    session = open_hits(hits, name=clips_dataset, port=port, on_ready=lines.append, wait=False)
    try:
        assert lines == [f"app: {app_url('127.0.0.1', port)} (2 clips of 3 hits, dataset {NAME}); Ctrl-C stops it"]
        view = session.view
        assert isinstance(view, ClipsView) and view._root_dataset.name == NAME
        # 10 fps, 120 frames: [10, 20) s is frames 101..120 (clamped at the clip's end), [0, 15) s frames 1..120.
        assert [(clip.video_uid, clip.support, getattr(clip, HITS_FIELD).label, getattr(clip, HITS_FIELD).rank)
                for clip in view] == [("toastEggs01", [101, 120], "a man wipes his mouth", 1),
                                      ("gardenWater", [1, 120], TOMATO, 2)]
        with urllib.request.urlopen(app_url("127.0.0.1", port), timeout=30) as response:
            assert response.status == 200
    finally:
        session.close()
    assert not listening(port)


def test_open_without_any_hit_in_the_dataset_starts_nothing(clips_dataset):
    port = free_port()
    lines: list[str] = []
    hits = [Hit("bikeRepair1", "b1", 0.0, 18.0, 1, "gpt_action_brief", "no clip", 0.2, 1, 1)]
    with pytest.raises(ReelsetError, match=rf"^dataset '{NAME}': none of the 1 hits is inside its clips$"):
        open_hits(hits, name=clips_dataset, port=port, on_ready=lines.append, wait=False)
    assert lines == [] and not listening(port)
