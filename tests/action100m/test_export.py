"""`action100m export` end to end: real parquet rows, clips whose frames show their own numbers (keyframes every
2 s, one clip with B-frames), real ffmpeg; the shards read back with the `webdataset` package, `--to hf` with
`datasets`. Expected samples are worked out here from the rows, not by reelset's own selection code."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.action100m.export import export_segments
from reelset.action100m.segments import Selection
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet
from tests.support.counter_video import frame_numbers, has_edit_list, make_counter_clip

FPS, CLIP = 30, 10.0
GPT = {"gpt_summary_brief": ("summary", "brief"), "gpt_summary_detailed": ("summary", "detailed"),
       "gpt_action_brief": ("action", "brief"), "gpt_action_detailed": ("action", "detailed"),
       "gpt_action_actor": ("action", "actor")}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    rows = make_sample_rows(6, seed=11, video_seconds=(20, 40), max_depths=(5, 6))
    write_parquet(rows, root / "data" / "data" / "part-00000.parquet", row_group_size=2)
    videos = root / "videos"
    for i, row in enumerate(rows[:4]):
        make_counter_clip(videos / f"{row['video_uid']}.mp4", seconds=CLIP, fps=FPS, b_frames=2 if i == 1 else 0)
    (videos / f"{rows[4]['video_uid']}.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom broken")
    make_counter_clip(videos / "NoRowForMe1.mp4", seconds=2, fps=FPS)
    return root, rows


def expected_samples(rows: list[dict], *, min_seconds: float = 4.0, plm: bool = False) -> dict[str, dict]:
    """Key -> (row, node) of every node with gpt (or plm) captions that starts in a clip and lasts min_seconds
    once cut."""
    found = {}
    for row in rows[:4]:
        parents = {node["parent_id"] for node in row["nodes"]}
        for node in row["nodes"]:
            captioned = node["gpt"] is not None or plm and (node["plm_caption"] or node["plm_action"])
            if captioned and node["start"] < CLIP and min(node["end"], CLIP) - node["start"] >= min_seconds:
                tier = "root" if node["parent_id"] is None else "mid" if node["node_id"] in parents else "leaf"
                found[f"{row['video_uid']}_{node['node_id']}"] = dict(row=row, node=node, tier=tier)
    return found


@pytest.fixture(scope="module")
def webdataset_export(corpus, tmp_path_factory):
    root, rows = corpus
    out = tmp_path_factory.mktemp("wds") / "segments"
    summary = export_segments(root / "data", root / "videos", out, shard_size=8, workers=2)
    return out, summary


def _read_shards(out: Path) -> list[dict]:
    import webdataset as wds

    shards = sorted(str(path) for path in out.glob("shard-*.tar"))
    return list(wds.WebDataset(shards, shardshuffle=False))


def _check_sample(key: str, data: dict, clip_path: Path, tmp: Path, expected: dict) -> None:
    node, row = expected["node"], expected["row"]
    first = math.floor(node["start"] * FPS + 1e-6)
    stop = math.ceil(min(node["end"], CLIP) * FPS - 1e-6)
    assert frame_numbers(clip_path) == list(range(first, stop)), f"{key}: exactly the segment's frames"
    assert data["frames"] == stop - first
    assert data["seconds"] == pytest.approx((stop - first) / FPS, abs=1e-6)
    assert data["clip_start"] == pytest.approx(first / FPS, abs=1e-6)
    assert data["clip_end"] == pytest.approx(stop / FPS, abs=1e-6)
    assert (data["video_uid"], data["node_id"], data["parent_id"], data["level"], data["tier"]) == (
        row["video_uid"], node["node_id"], node["parent_id"], node["level"], expected["tier"])
    assert data["start"] == pytest.approx(node["start"], abs=1e-5)
    assert data["end"] == pytest.approx(node["end"], abs=1e-5)
    assert data["crosses_clip_end"] == (node["end"] > CLIP)
    for name, (group, field) in GPT.items():
        assert data[name] == (node["gpt"][group][field] if node["gpt"] else None)
    assert data["title"] == row["metadata"]["title"]
    assert not has_edit_list(clip_path)


def test_webdataset_shards_hold_exactly_each_segment(corpus, webdataset_export, tmp_path):
    root, rows = corpus
    out, summary = webdataset_export
    expected = expected_samples(rows)
    samples = _read_shards(out)
    keys = [sample["__key__"] for sample in samples]
    assert sorted(keys) == sorted(expected) and len(set(keys)) == len(keys)
    assert summary.samples == len(expected) and summary.videos == 4 and summary.no_row == 1
    assert [line.split(":")[0] for line in summary.broken] == [rows[4]["video_uid"]]
    assert summary.how["copy"] > 0 and summary.how["copy"] < summary.samples, "some cuts fall between keyframes"
    for sample in samples:
        path = tmp_path / f"{sample['__key__']}.mp4"
        path.write_bytes(sample["mp4"])
        _check_sample(sample["__key__"], json.loads(sample["json"]), path, tmp_path, expected[sample["__key__"]])
    manifest = json.loads((out / "export.json").read_text())
    assert [shard["name"] for shard in manifest["shards"]] == sorted(p.name for p in out.glob("shard-*.tar"))
    assert sum(shard["samples"] for shard in manifest["shards"]) == len(expected)
    for shard in manifest["shards"]:  # a video's samples are never split between shards
        with tarfile.open(out / shard["name"]) as tar:
            assert {name[:11] for name in tar.getnames()} == set(shard["videos"])  # ids are 11 characters
    assert not (out / ".staging").exists() and not [p for p in out.iterdir() if ".tmp-" in p.name]


def test_a_rerun_adds_nothing_and_new_clips_go_to_new_shards(corpus, webdataset_export, tmp_path):
    root, rows = corpus
    out, first = webdataset_export
    before = {path.name: path.stat().st_mtime_ns for path in out.glob("shard-*.tar")}
    again = export_segments(root / "data", root / "videos", out, shard_size=8)
    assert again.samples == 0 and again.already == 4 and again.total_samples == first.samples
    assert {path.name: path.stat().st_mtime_ns for path in out.glob("shard-*.tar")} == before


def test_hf_folder_loads_with_datasets(corpus, tmp_path):
    import datasets

    root, rows = corpus
    out = tmp_path / "hf"
    summary = export_segments(root / "data", root / "videos", out, to="hf", shard_size=5,
                              selection=Selection(fields=("gpt", "plm", "transcript")))
    loaded = datasets.load_dataset(str(out), split="train")
    expected = expected_samples(rows, plm=True)
    assert len(expected) > len(expected_samples(rows)), "plm captions add segments without gpt"
    assert loaded.num_rows == summary.samples == len(expected)
    assert sorted(loaded["key"]) == sorted(expected)
    for record in loaded.select(range(0, loaded.num_rows, 5)):
        clip = out / record["video"]
        assert clip.is_file() and clip.parent.parent.name == "videos"
        _check_sample(record["key"], record, clip, tmp_path, expected[record["key"]])
        assert record["plm_caption"] == expected[record["key"]]["node"]["plm_caption"]
        assert "transcript" in record


def test_files_have_a_folder_per_video(corpus, tmp_path):
    root, rows = corpus
    out = tmp_path / "files"
    export_segments(root / "data", root / "videos", out, to="files")
    expected = expected_samples(rows)
    found = {path.stem: path for path in out.glob("*/*.mp4")}
    assert sorted(found) == sorted(expected)
    for key, path in list(found.items())[:3]:
        assert path.parent.name == expected[key]["row"]["video_uid"]
        _check_sample(key, json.loads(path.with_suffix(".json").read_text()), path, tmp_path, expected[key])


def test_cli_export_and_its_refusals(corpus, tmp_path):
    root, rows = corpus
    out = tmp_path / "cli"
    base = ["action100m", "export", "--data-dir", str(root / "data"), "--videos", str(root / "videos"), "--out",
            str(out)]
    result = CliRunner().invoke(cli, [*base, "--tier", "root", "--fields", "gpt,transcript"])
    assert result.exit_code == 0, result.output
    roots = sum(1 for sample in expected_samples(rows).values() if sample["tier"] == "root")
    assert f"export: {roots} samples" in result.output and "unusable" in result.output
    other = CliRunner().invoke(cli, [*base, "--tier", "leaf"])
    assert other.exit_code == 1 and other.output.startswith("error: ") and "--tier" in other.output
    assert "Traceback" not in other.output
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = CliRunner().invoke(cli, [*base[:-1], str(foreign)])
    assert refused.exit_code == 1 and "not an export folder" in refused.output
    assert sorted(path.name for path in foreign.iterdir()) == ["notes.txt"]


def test_nothing_to_export_is_an_error_that_writes_nothing(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(ReelsetError, match="no segment to export"):
        export_segments(root / "data", root / "videos", tmp_path / "none", selection=Selection(min_seconds=500))
    assert not (tmp_path / "none").exists()


def test_a_killed_export_resumes_to_the_same_samples(corpus, webdataset_export, tmp_path):
    root, rows = corpus
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "reelset", "action100m", "export", "--data-dir", str(root / "data"), "--videos",
               str(root / "videos"), "--out", str(out), "--shard-size", "1", "--jobs", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads((out / "export.json").read_text())["shards"]:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    recorded = [shard["name"] for shard in json.loads((out / "export.json").read_text())["shards"]]
    assert recorded and len(recorded) < 4, "killed after the first shard, before the last"
    # Nothing but recorded shards under a final name (the unfinished one is a temporary file at most).
    assert sorted(path.name for path in out.glob("shard-*.tar")) == recorded

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    keys = [sample["__key__"] for sample in _read_shards(out)]
    assert sorted(keys) == sorted(sample["__key__"] for sample in _read_shards(webdataset_export[0]))
    assert len(keys) == len(set(keys))
    assert not (out / ".staging").exists() and not [p for p in out.iterdir() if ".tmp-" in p.name]


@pytest.mark.timeout(300)
def test_a_dask_cluster_exports_the_same_samples(corpus, webdataset_export, local_cluster, tmp_path):
    root, _ = corpus
    out = tmp_path / "dask"
    summary = export_segments(root / "data", root / "videos", out, shard_size=8,
                              executor=local_cluster.scheduler_address)
    local = {s["__key__"]: json.loads(s["json"]) for s in _read_shards(webdataset_export[0])}
    remote = {s["__key__"]: json.loads(s["json"]) for s in _read_shards(out)}
    assert list(remote) == list(local), "same samples in the same order"
    assert remote == local and summary.samples == len(local)


def test_the_docs_pytorch_loader_reads_the_shards(webdataset_export):
    out, summary = webdataset_export
    text = (Path(__file__).parents[2] / "docs" / "export.md").read_text()
    code = text.split("<!-- loader:begin -->")[1].split("<!-- loader:end -->")[0].split("```python")[1]
    namespace: dict = {}
    exec(compile(code.split("```")[0], "docs/export.md", "exec"), namespace)
    shards = sorted(str(path) for path in out.glob("shard-*.tar"))
    batches = list(namespace["make_loader"](shards, batch_size=4, workers=0))
    videos = [video for batch in batches for video in batch[0]]
    captions = [caption for batch in batches for caption in batch[1]]
    assert len(videos) == len(captions) == summary.samples
    assert tuple(batches[0][0].shape) == (4, 8, 3, 112, 112) and batches[0][0].dtype.is_floating_point is False
    assert all(isinstance(caption, str) and caption for caption in captions)
