"""Benchmark: building the Action100M FiftyOne dataset, reelset versus the original scripts' approach, same run.

Data (made once, untimed): N rows in the real Arrow schema with realistic trees (videos of 500 s, about 400 nodes of
which about 107 carry gpt captions, transcripts) in parquet shards, and N real 90 s mp4 clips (one small file
generated with ffmpeg, hard-linked N times: every clip is a real file that probing must open). Both approaches write
to the same private MongoDB server (FiftyOne's bundled mongod on 127.0.0.1), each in a fresh Python process whose
wall time and peak memory (max RSS) are measured.

- reelset: ``build_dataset`` (parquet streamed by row group, only rows with a clip decoded, clips probed in
  parallel from their MP4 index, sample documents inserted in batches from a generator).
- original (reproduced): the whole table through ``datasets.load_dataset("parquet", ...)``, a ``filter`` on the
  clip's existence, then per video, serially, ``fo.VideoMetadata.build_for`` (ffprobe) and a ``fo.Sample`` with
  ``fo.TemporalDetection`` objects (segments starting before CLIP_DURATION=90, ends truncated, "N/A" dropped but
  for the actor, tier "leaf" for the deepest level), all kept in one list, then one ``add_samples``.

Needs the `datasets` package for the anchor (``pip install -e .[bench]``). The last line printed is one JSON object.

Usage: python bench/fiftyone_ingest.py [--quick] [--sizes 100,1000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

CLIP_DURATION = 90
VIDEO_SECONDS = 500
MAX_DEPTH = 12
GPT_FIELDS = {"gpt_summary_brief": ("summary", "brief"), "gpt_summary_detailed": ("summary", "detailed"),
              "gpt_action_brief": ("action", "brief"), "gpt_action_detailed": ("action", "detailed"),
              "gpt_action_actor": ("action", "actor")}


def make_data(work: Path, count: int) -> tuple[Path, Path]:
    """Parquet shards of ``count`` rows and a clip for each (hard links of one real mp4)."""
    from reelset.sandbox.action100m_sample import make_row, write_sample_repo
    from reelset.sandbox.media import make_video

    data, videos = work / f"data-{count}", work / f"videos-{count}"
    if (data / "data").exists():
        return data, videos
    rng = random.Random(count)
    rows = [make_row(rng, f"{index:07d}" + "".join(rng.choices("abcdefgh", k=4)), video_end=VIDEO_SECONDS,
                     max_depth=MAX_DEPTH) for index in range(count)]
    write_sample_repo(data, rows, shards=max(1, count // 250), row_group_size=64)
    clip = make_video(work / "clip.mp4", seconds=CLIP_DURATION, width=160, height=90, fps=5, faststart=True) \
        if not (work / "clip.mp4").exists() else work / "clip.mp4"
    videos.mkdir(parents=True)
    for row in rows:
        os.link(clip, videos / f"{row['video_uid']}.mp4")
    return data, videos


def run_reelset(data: Path, videos: Path, name: str) -> int:
    from reelset.action100m.dataset import build_dataset

    return build_dataset(data, videos, name=name, overwrite=True).added


def run_original(data: Path, videos: Path, name: str) -> int:
    """The original scripts' approach (see the module docstring)."""
    from datetime import datetime

    import fiftyone as fo
    from datasets import load_dataset

    table = load_dataset("parquet", data_files=str(data / "data" / "*.parquet"), split="train",
                         cache_dir=str(data.parent / f"hf-cache-{name}"))
    table = table.filter(lambda row: os.path.exists(os.path.join(videos, row["video_uid"] + ".mp4")))
    samples = []
    for row in table:
        path = os.path.join(videos, row["video_uid"] + ".mp4")
        metadata = fo.VideoMetadata.build_for(path)
        fps = metadata.frame_rate
        meta = row["metadata"]
        nodes = row["nodes"]
        max_level = max(node["level"] for node in nodes)
        sample = fo.Sample(
            filepath=path, metadata=metadata, title=meta["title"], description=meta["description"],
            full_video_url=f"https://www.youtube.com/watch?v={row['video_uid']}",
            upload_date=datetime.strptime(meta["upload_date"], "%Y%m%d") if meta["upload_date"] else None,
            view_count=meta["view_count"], like_count=meta["like_count"], full_video_duration=meta["duration"],
            transcript=" ".join(entry["text"] for entry in meta["transcript"] or []), tree_depth=max_level,
        )
        for field, (group, key) in GPT_FIELDS.items():
            detections = []
            for node in nodes:
                text = ((node["gpt"] or {}).get(group) or {}).get(key)
                if not text or (text == "N/A" and key != "actor") or node["start"] >= CLIP_DURATION:
                    continue
                end = min(node["end"], CLIP_DURATION)
                tier = "root" if node["parent_id"] is None else ("leaf" if node["level"] == max_level else "mid")
                detections.append(fo.TemporalDetection(
                    label=text, support=[int(node["start"] * fps) + 1, int(end * fps) + 1],
                    node_id=node["node_id"], parent_id=node["parent_id"], level=node["level"], tier=tier))
            sample[field] = fo.TemporalDetections(detections=detections)
        entries = meta["transcript"] or []
        segments = []
        for entry, following in zip(entries, [*entries[1:], None]):
            start = float(entry["time"])
            end = float(following["time"]) if following else start + 2
            if start < CLIP_DURATION:
                segments.append(fo.TemporalDetection(label=entry["text"], support=[
                    int(start * fps) + 1, int(min(end, CLIP_DURATION) * fps) + 1]))
        sample["transcript_segments"] = fo.TemporalDetections(detections=segments)
        samples.append(sample)
    dataset = fo.Dataset(name, overwrite=True, persistent=True)
    dataset.add_samples(samples)
    return len(dataset)


def peak_rss_mb() -> float:
    """This process's peak resident memory since it started its program (``VmHWM``).

    Not ``getrusage().ru_maxrss``: on Linux that also counts the parent's memory as seen by the forked child before
    ``exec``, which made the children of a parent holding generated rows look hundreds of MB bigger.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(approach: str, data: Path, videos: Path, name: str) -> None:
    """One measured run in this (fresh) process: prints a JSON line with wall seconds and peak RSS."""
    started = time.perf_counter()
    added = (run_reelset if approach == "reelset" else run_original)(data, videos, name)
    wall = time.perf_counter() - started
    peak_mb = peak_rss_mb()
    print(json.dumps({"approach": approach, "samples": added, "wall_s": round(wall, 2), "peak_rss_mb": round(peak_mb)}))


def measure(approach: str, data: Path, videos: Path, name: str, env: dict) -> dict:
    if approach == "reelset":  # the allocator choice the `reelset` command makes (see reelset.cli.main)
        env = {**env, "ARROW_DEFAULT_MEMORY_POOL": env.get("ARROW_DEFAULT_MEMORY_POOL", "system")}
    done = subprocess.run([sys.executable, __file__, "--child", approach, str(data), str(videos), name],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{approach} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N = 20 only (a smoke run)")
    parser.add_argument("--sizes", default="100,1000", help="comma-separated N values")
    parser.add_argument("--only", choices=("reelset", "original"), help="run one approach (e.g. reelset at large N)")
    parser.add_argument("--child", nargs=4, metavar=("APPROACH", "DATA", "VIDEOS", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        approach, data, videos, name = args.child
        child(approach, Path(data), Path(videos), name)
        return
    sizes = [20] if args.quick else [int(size) for size in args.sizes.split(",")]

    from tests.support.mongo import MongoServer

    results = []
    with tempfile.TemporaryDirectory(prefix="reelset-bench-ingest-") as tmp, MongoServer() as mongo:
        env = dict(os.environ, FIFTYONE_DATABASE_URI=mongo.uri, FIFTYONE_DATABASE_VALIDATION="false",
                   FIFTYONE_DO_NOT_TRACK="true", FIFTYONE_SHOW_PROGRESS_BARS="false", HF_DATASETS_OFFLINE="1")
        for size in sizes:
            print(f"N = {size}: making data ...", flush=True)
            data, videos = make_data(Path(tmp), size)
            row = {"n": size}
            for approach in [args.only] if args.only else ("reelset", "original"):
                row[approach] = measure(approach, data, videos, f"bench-{approach}-{size}", env)
                print(f"N = {size}: {approach:9} {row[approach]['wall_s']:8.2f} s  "
                      f"peak {row[approach]['peak_rss_mb']:5d} MB  ({row[approach]['samples']} samples)", flush=True)
            if not args.only:
                row["speedup"] = round(row["original"]["wall_s"] / row["reelset"]["wall_s"], 1)
                row["memory_ratio"] = round(row["original"]["peak_rss_mb"] / row["reelset"]["peak_rss_mb"], 2)
                print(f"N = {size}: reelset is {row['speedup']}x faster, original peaks at {row['memory_ratio']}x "
                      "reelset's memory", flush=True)
            results.append(row)
    print(json.dumps({"benchmark": "fiftyone_ingest", "video_seconds": VIDEO_SECONDS, "clip_seconds": CLIP_DURATION,
                      "results": results}))


if __name__ == "__main__":
    main()
