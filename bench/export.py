"""Benchmark: exporting Action100M segments (`export_segments --to webdataset`) versus video2dataset's clipping,
same clips, same segments, same run, with every output's exactness read back from its pixels.

Data (made once per work folder, untimed): --clips clips of --seconds at 854x480, 30 fps, H.264 + AAC, encoded as
reelset's download encodes (`reelset.fetch.normalise`: libx264 veryfast, CRF 23, yuv420p, AAC 128k, +faststart;
libx264's own GOP: keyint 250 with scene cuts, so keyframes fall every few seconds, not on a grid). The picture is
testsrc2 with temporal noise (not trivially compressible) and, over its top band, the frame number drawn as 12
black/white bars, so the frames each output holds are read back. Trees: `make_sample_rows` rows (the real schema)
of videos of 90-200 s, whose clips are the first --seconds; the selection is the export's default (every gpt
segment of 4 s or more starting inside the clip, cut at its end).

Approaches, each with --jobs processes at a time:
- reelset: `export_segments(..., to="webdataset", workers=jobs)` end to end (index each clip, cut each segment
  as `reelset.action100m.cut` plans it: copied when it runs from keyframe to keyframe or the clip's end, otherwise
  with the fewest frames encoded; tar shards written). The JSON's "how" counts each way.
- video2dataset (reproduced): `ClippingSubsampler` of iejMac/video2dataset, video2dataset/subsamplers/
  clipping_subsampler.py (`_get_clips`): one ffmpeg per video with the segment muxer, `-map 0 -f segment
  -segment_times <cuts> -reset_timestamps 1` and `-c copy` (precision "low", the default) or
  `-force_key_frames <cuts>` (precision "exact": the whole video re-encoded with ffmpeg's default libx264). It
  requires sorted, non-overlapping clips; Tree-of-Captions segments nest, so each segment is its own call (one
  ffmpeg per segment, keeping the piece it names: `clip_1`, or `clip_0` for a segment starting at 0). It reads the
  clip in place (video2dataset first writes the video's bytes to a temporary file: not counted here).

Exactness of each output against the source frames of [start, min(end, clip end)): the first frame, the frame
count, the duration, an MP4 edit list (`elst`), and whether the container's sample count (what loaders that count
samples see) differs from the frames a decoder shows. Wall and CPU seconds (this process and its children,
`getrusage`). The last line printed is one JSON object.

Usage: python bench/export.py [--quick] [--clips 3] [--seconds 40] [--jobs 2] [--keep] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, like the other benches
from tests.support.counter_video import has_edit_list  # noqa: E402

FPS, WIDTH, HEIGHT = 30, 854, 480
BITS, BAR, BAND = 12, 71, 32  # 12 bars of 71 px across the top 32 rows: frame numbers up to 4095 (136 s)
MODES = ("low", "exact")  # video2dataset's default precision, and its precise one


def make_clip(path: Path, seconds: float, seed: int) -> Path:
    """A clip as reelset's download encodes one, with the frame counter drawn over its top band."""
    partial = path.with_name(f".{path.name}")
    counter = (f"nullsrc=s={BITS * BAR}x{BAND}:r={FPS}:d={seconds},format=gray,"
               f"geq=lum='255*mod(floor(N/pow(2,floor(X/{BAR}))),2)',format=yuv420p")
    picture = f"testsrc2=s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds},noise=alls=10:allf=t+u:all_seed={seed}"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-f", "lavfi", "-i", f"{picture}[bg];{counter}[bars];"
                    "[bg][bars]overlay=0:0:shortest=1", "-f", "lavfi", "-i", f"sine=f={220 + 40 * seed}:r=48000:"
                    f"d={seconds}", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast", "-crf",
                    "23", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags",
                    "+faststart", "-f", "mp4", str(partial)], check=True, stdin=subprocess.DEVNULL)
    return partial.replace(path)  # a killed run leaves no clip that looks complete


def make_data(work: Path, clips: int, seconds: float) -> tuple[Path, Path]:
    """The parquet tree (``data/*.parquet``) and ``videos/<video_uid>.mp4``, kept for a run of the same size."""
    from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet

    data, videos = work / f"data-{clips}x{seconds:g}", work / f"videos-{clips}x{seconds:g}"
    rows = make_sample_rows(clips, seed=16, video_seconds=(90, 200), max_depths=(6, 9))
    if sorted(path.stem for path in videos.glob("*.mp4")) != sorted(row["video_uid"] for row in rows):
        shutil.rmtree(videos, ignore_errors=True)
        videos.mkdir(parents=True)
        for seed, row in enumerate(rows):
            make_clip(videos / f"{row['video_uid']}.mp4", seconds, seed)
    write_parquet(rows, data / "data" / "part-00000.parquet")  # the layout `require_shards` reads
    return data, videos


def read_bars(video: Path) -> list[int]:
    """The frame number each decoded frame shows (every frame the decoder outputs, none duplicated or dropped)."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(video), "-map", "0:v:0", "-vf",
                          f"crop={BITS * BAR}:{BAND}:0:0", "-fps_mode", "passthrough", "-f", "rawvideo",
                          "-pix_fmt", "gray", "-"], check=True, capture_output=True, stdin=subprocess.DEVNULL).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, BAND, BITS, BAR)
    # The middle of each bar: its edges blur into the neighbours under CRF encoding.
    bits = frames[:, BAND // 4: -BAND // 4, :, 8:-8].mean(axis=(1, 3)) > 128
    return [int(sum(1 << i for i, on in enumerate(row) if on)) for row in bits]


def cpu_seconds() -> float:
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def timed(work) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = work()
    return result, time.perf_counter() - wall, cpu_seconds() - cpu


def read_shards(out: Path) -> tuple[list[dict], dict[str, Path]]:
    """Each exported sample's JSON, and its MP4 written out under ``out/files`` to be decoded."""
    samples, outputs = [], {}
    (out / "files").mkdir()
    for shard in sorted(out.glob("shard-*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar:
                key, kind = member.name.split(".", 1)
                if kind == "json":
                    samples.append(json.loads(tar.extractfile(member).read()))
                else:
                    outputs[key] = out / "files" / member.name
                    outputs[key].write_bytes(tar.extractfile(member).read())
    return samples, outputs


def v2d_cut(clip: Path, start: float, end: float, precision: str, target: Path) -> bool:
    """One segment as video2dataset's `_get_clips` cuts it (options in ffmpeg-python's sorted order), its piece
    moved to ``target``; False when that piece is not there (video2dataset then drops the video with an error)."""
    times, piece = ([end], 0) if start == 0.0 else ([start, end], 1)  # `_collate_clip_spans` for one span
    cuts = ",".join(str(value) for value in times)
    options = ["-c", "copy", "-f", "segment"] if precision == "low" else ["-f", "segment", "-force_key_frames", cuts]
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        done = subprocess.run(["ffmpeg", "-i", str(clip), *options, "-map", "0", "-reset_timestamps", "1",
                               "-segment_times", cuts, f"{tmp}/clip_%d.mp4"], capture_output=True,
                              stdin=subprocess.DEVNULL)
        made = Path(tmp) / f"clip_{piece}.mp4"
        if done.returncode != 0 or not made.exists():
            return False
        made.replace(target)
        return True


def run_video2dataset(samples: list[dict], videos: Path, out: Path, precision: str, jobs: int) -> dict[str, Path]:
    out.mkdir()

    def cut(sample: dict) -> tuple[str, bool]:
        target = out / f"{sample['key']}.mp4"
        made = v2d_cut(videos / f"{sample['video_uid']}.mp4", sample["start"], sample["end"], precision, target)
        return sample["key"], made

    with ThreadPoolExecutor(jobs) as pool:
        return {key: out / f"{key}.mp4" for key, made in pool.map(cut, samples) if made}


def exactness(samples: list[dict], outputs: dict[str, Path], clip_frames: int, jobs: int) -> dict:
    """Each output against the source frames of [start, min(end, clip end)), summed over the approach."""
    from reelset.core.mp4 import read_mp4_video

    def check(sample: dict) -> dict | None:
        path = outputs.get(sample["key"])
        if path is None:
            return None
        first = math.floor(sample["start"] * FPS + 1e-4)  # the frame shown at start
        stop = min(math.ceil(sample["end"] * FPS - 1e-4), clip_frames)
        numbers, facts = read_bars(path), read_mp4_video(path)
        span = min(sample["end"], clip_frames / FPS) - sample["start"]
        return {"first_match": numbers[:1] == [first], "offset": abs(numbers[0] - first) if numbers else None,
                "count_error": abs(len(numbers) - (stop - first)), "duration_error": abs(len(numbers) / FPS - span),
                "exact": numbers == list(range(first, stop)), "edit_list": has_edit_list(path),
                "mismatch": facts is None or facts.frame_count != len(numbers)}

    with ThreadPoolExecutor(jobs) as pool:
        checks = [result for result in pool.map(check, samples) if result is not None]
    total, made = len(samples), max(len(checks), 1)

    def share(name: str, of: int) -> float:
        return round(sum(bool(result[name]) for result in checks) / of, 3)

    offsets = [result["offset"] for result in checks if result["offset"] is not None]
    return {"outputs": len(checks), "missing": total - len(checks), "first_frame_match": share("first_match", total),
            "exact": share("exact", total), "first_frame_offset_max": max(offsets, default=None),
            "frame_count_error_mean": round(sum(r["count_error"] for r in checks) / made, 2),
            "frame_count_error_max": max((r["count_error"] for r in checks), default=None),
            "duration_error_mean_s": round(sum(r["duration_error"] for r in checks) / made, 4),
            "duration_error_max_s": round(max((r["duration_error"] for r in checks), default=0), 4),
            "edit_list_share": share("edit_list", made), "container_mismatch_share": share("mismatch", made)}


def figures(samples: list[dict], wall: float, cpu: float) -> dict:
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "segments_per_s": round(len(samples) / wall, 3),
            "cpu_s_per_segment": round(cpu / len(samples), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 clips of 20 s (a smoke run)")
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=40, help="length of each clip (at most 136)")
    parser.add_argument("--jobs", type=int, default=2, help="clips (reelset) or segments (anchor) at a time")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--work", type=Path, help="work folder (kept; its clips are reused by the next run)")
    args = parser.parse_args()
    from reelset.action100m.export import export_segments

    clips, seconds = (2, 20.0) if args.quick else (args.clips, args.seconds)
    if not 4 <= seconds < 2**BITS / FPS or clips < 1:
        parser.error(f"--seconds must be from 4 to {2**BITS / FPS:.0f} (the bars count {BITS} bits), --clips >= 1")
    work = args.work or Path(tempfile.mkdtemp(prefix="reelset-bench-export-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"making {clips} clips of {seconds:g} s in {work} ...", flush=True)
        data, videos = make_data(work, clips, seconds)
        clip_frames = round(seconds * FPS)
        for name in ("reelset", *(f"video2dataset-{mode}" for mode in MODES)):
            shutil.rmtree(work / name, ignore_errors=True)
        load = os.getloadavg()[0]
        summary, wall, cpu = timed(lambda: export_segments(data, videos, work / "reelset", to="webdataset",
                                                           workers=args.jobs))
        samples, outputs = read_shards(work / "reelset")
        rows = {"reelset": {**figures(samples, wall, cpu), "how": dict(summary.how),
                            **exactness(samples, outputs, clip_frames, args.jobs)}}
        print(f"reelset: {len(samples)} segments in {wall:.1f} s", flush=True)
        for mode in MODES:
            made, wall, cpu = timed(lambda: run_video2dataset(samples, videos, work / f"video2dataset-{mode}", mode,
                                                              args.jobs))
            rows[f"video2dataset_{mode}"] = {**figures(samples, wall, cpu),
                                             **exactness(samples, made, clip_frames, args.jobs)}
            print(f"video2dataset {mode}: {len(made)} of {len(samples)} segments in {wall:.1f} s", flush=True)
    finally:
        if not (args.keep or args.work):
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{len(samples)} segments of {clips} clips of {seconds:g} s, --jobs {args.jobs}, load {load:.1f} "
          f"on {os.cpu_count()} CPUs at the start")
    print(f"{'approach':20} {'seg/s':>6} {'CPU s/seg':>9} {'first ok':>8} {'exact':>6} {'|dframes| mean/max':>18} "
          f"{'|dt| max s':>10} {'elst':>5} {'count!=decoded':>14} {'missing':>7}")
    for name, row in rows.items():
        print(f"{name:20} {row['segments_per_s']:6.2f} {row['cpu_s_per_segment']:9.2f} "
              f"{row['first_frame_match']:8.0%} {row['exact']:6.0%} "
              f"{row['frame_count_error_mean']:>11.1f} / {row['frame_count_error_max']!s:4} "
              f"{row['duration_error_max_s']:10.3f} {row['edit_list_share']:5.0%} "
              f"{row['container_mismatch_share']:14.0%} {row['missing']:7d}")
    speedup = {f"speedup_{mode}": round(rows["reelset"]["segments_per_s"] / rows[f"video2dataset_{mode}"]
                                        ["segments_per_s"], 2) for mode in MODES}
    # A tree level's segments do not overlap: video2dataset could cut each level in one call (a full encode each).
    levels = len({(sample["video_uid"], sample["level"]) for sample in samples})
    print(f"reelset: {speedup['speedup_exact']}x the segments/s of video2dataset's exact clipping, "
          f"{speedup['speedup_low']}x its default (keyframe) clipping; video2dataset called once per tree level "
          f"would run {levels} ffmpeg encodes instead of {len(samples)}")
    print(json.dumps({"bench": "export", "segments": len(samples), "clips": clips, "clip_seconds": seconds,
                      "jobs": args.jobs, "cpus": os.cpu_count(), "load_at_start": round(load, 2), **rows,
                      **speedup, "video2dataset_calls_by_level": levels}))


if __name__ == "__main__":
    main()
