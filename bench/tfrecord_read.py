"""Benchmark: reading YouTube-8M TFRecords with reelset versus tf.data and the `tfrecord` package, same files, same run.

Files (generated, realistic, written by reelset's writer, which is byte-identical to TensorFlow's):
- frame level: about 300 MB of 300-frame SequenceExamples (1024 rgb + 128 audio bytes a frame, ~351 KB a record);
- video level: Examples of 1024 + 128 floats (~4.7 KB a record).

Contenders, each in its own process (TensorFlow and the `tfrecord` package cannot share one), page cache warm, CRC
verification on wherever the reader has it. The machines this runs on are shared, so every contender runs in each of
--rounds rounds (round robin: all see the same conditions), --passes timed passes a process after an untimed one,
and is credited with its best pass:
- reelset: `read_records(path)` to uint8 byte arrays, and `read_records(path, dequantize=True)` to float32;
- tf.data: `TFRecordDataset` + the starter code's parsing (`parse_single_sequence_example` / `parse_single_example`,
  `decode_raw`, reshape, `Dequantize` for floats) in a parallel map + prefetch, arrays taken with `.numpy()`; run
  with each map setting of TF_DATA_CONFIGS (AUTOTUNE, 4 parallel calls, AUTOTUNE unordered) and credited with its
  best; for video level also the starter code's batched `parse_example` (batches of 1024), which yields batches,
  not records;
- tfrecord (PyPI): `tfrecord_loader`, frames joined into arrays with numpy (it does NOT check CRCs);
- ceiling: the plain read of the same bytes (1 MiB `readinto`) + crc32c, and reelset's framing alone
  (`iter_tfrecords`, both CRCs).

Every contender must deliver the same number of records and frames (checked). Printed: records/s, MB/s (file bytes
per second), the ratio to tf.data in the same mode and the share of the read + CRC ceiling, peak RSS of each process.
The last line is one JSON object with every figure. Runs on two CPUs (the first two this process may use) unless
--cpus says otherwise.

Usage: python bench/tfrecord_read.py [--quick] [--frame-records N] [--video-records N] [--rounds R] [--passes P]
                                      [--cpus 0,1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FRAMES = 300
RGB, AUDIO = 1024, 128
SCALE, BIAS = 4.0 / 255.0, 4.0 / 512.0 - 2.0  # the starter code's Dequantize
CONTENDERS = {  # (level, name, mode)
    "frame": [("ceiling", "bytes"), ("reelset-framing", "bytes"), ("reelset", "bytes"), ("reelset", "floats"),
              ("tf.data", "bytes"), ("tf.data", "floats"), ("tfrecord", "bytes"), ("tfrecord", "floats")],
    "video": [("ceiling", "bytes"), ("reelset-framing", "bytes"), ("reelset", "floats"), ("tf.data", "floats"),
              ("tf.data-batched", "floats"), ("tfrecord", "floats")],
}


# ------------------------------------------------------------------------------------------------ the contenders
# Each returns (records, frames) after one full pass; frames counts rows of rgb (frame level) to prove the work.

def run_reelset(path: str, level: str, mode: str) -> tuple[int, int]:
    from reelset.yt8m import read_records
    records = frames = 0
    for record in read_records(path, dequantize=mode == "floats"):
        records += 1
        frames += len(record["rgb"]) if level == "frame" else len(record["mean_rgb"]) // RGB
    return records, frames


def run_reelset_framing(path: str, level: str, mode: str) -> tuple[int, int]:
    from reelset.yt8m.tfrecord import iter_tfrecords
    records = 0
    for _ in iter_tfrecords(path):
        records += 1
    return records, -1


def run_ceiling(path: str, level: str, mode: str) -> tuple[int, int]:
    from crc32c import crc32c
    buffer = memoryview(bytearray(1 << 20))
    with open(path, "rb", buffering=0) as handle:
        while count := handle.readinto(buffer):
            crc32c(buffer[:count])
    return -1, -1


def _tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    return tf


def run_tf_data(path: str, level: str, mode: str) -> tuple[int, int]:
    tf = _tensorflow()
    context = {"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64)}
    floats = mode == "floats"

    def frame_level(serialized):
        parsed, lists = tf.io.parse_single_sequence_example(
            serialized, context_features=context,
            sequence_features={name: tf.io.FixedLenSequenceFeature([], tf.string) for name in ("rgb", "audio")})
        out = {"id": parsed["id"], "labels": parsed["labels"].values}
        for name, size in (("rgb", RGB), ("audio", AUDIO)):
            frames = tf.reshape(tf.io.decode_raw(lists[name], tf.uint8), [-1, size])
            out[name] = tf.cast(frames, tf.float32) * SCALE + BIAS if floats else frames
        return out

    def video_level(serialized):
        parsed = tf.io.parse_single_example(serialized, {**context,
                                                         "mean_rgb": tf.io.FixedLenFeature([RGB], tf.float32),
                                                         "mean_audio": tf.io.FixedLenFeature([AUDIO], tf.float32)})
        return {**parsed, "labels": parsed["labels"].values}

    parallel, deterministic = TF_DATA_CONFIGS[os.environ.get("BENCH_TF_CONFIG", "autotune")]
    dataset = (tf.data.TFRecordDataset(path)
               .map(frame_level if level == "frame" else video_level, num_parallel_calls=parallel or tf.data.AUTOTUNE,
                    deterministic=deterministic)
               .prefetch(tf.data.AUTOTUNE))
    records = frames = 0
    for item in dataset:
        records += 1
        if level == "frame":
            frames += item["rgb"].numpy().shape[0]
            item["audio"].numpy()
        else:
            frames += item["mean_rgb"].numpy().shape[0] // RGB
            item["mean_audio"].numpy()
    return records, frames


def run_tf_data_batched(path: str, level: str, mode: str) -> tuple[int, int]:
    tf = _tensorflow()
    features = {"id": tf.io.FixedLenFeature([], tf.string), "labels": tf.io.VarLenFeature(tf.int64),
                "mean_rgb": tf.io.FixedLenFeature([RGB], tf.float32),
                "mean_audio": tf.io.FixedLenFeature([AUDIO], tf.float32)}
    dataset = (tf.data.TFRecordDataset(path).batch(1024)
               .map(lambda batch: tf.io.parse_example(batch, features), num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))
    records = frames = 0
    for batch in dataset:
        rows = batch["mean_rgb"].numpy().shape[0]
        batch["mean_audio"].numpy()
        records += rows
        frames += rows
    return records, frames


def run_tfrecord(path: str, level: str, mode: str) -> tuple[int, int]:
    import numpy as np
    from tfrecord.reader import tfrecord_loader
    records = frames = 0
    if level == "video":
        loader = tfrecord_loader(path, None, {"id": "byte", "labels": "int", "mean_rgb": "float",
                                              "mean_audio": "float"})
        for item in loader:
            records += 1
            frames += len(item["mean_rgb"]) // RGB
        return records, frames
    scale, bias = np.float32(SCALE), np.float32(BIAS)
    for context, lists in tfrecord_loader(path, None, {"id": "byte", "labels": "int"},
                                          sequence_description={"rgb": "byte", "audio": "byte"}):
        records += 1
        for name, size in (("rgb", RGB), ("audio", AUDIO)):
            array = np.frombuffer(b"".join(lists[name]), np.uint8).reshape(-1, size)
            if mode == "floats":
                array = array.astype(np.float32) * scale + bias
            if name == "rgb":
                frames += len(array)
    return records, frames


# tf.data gets its best of these map settings (parallel calls, None = AUTOTUNE; deterministic order or not).
TF_DATA_CONFIGS = {"autotune": (None, True), "4 calls": (4, True), "autotune unordered": (None, False)}

RUNNERS = {"reelset": run_reelset, "reelset-framing": run_reelset_framing, "ceiling": run_ceiling,
           "tf.data": run_tf_data, "tf.data-batched": run_tf_data_batched, "tfrecord": run_tfrecord}


def worker(name: str, path: str, level: str, mode: str, passes: int) -> dict:
    """One contender in this process: its best of ``passes`` timed passes (after one untimed warm-up pass)."""
    runner = RUNNERS[name]
    counts = runner(path, level, mode)  # warm-up: imports, thread pools, page cache
    best = float("inf")
    for _ in range(passes):
        start = time.perf_counter()
        counts = runner(path, level, mode)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "records": counts[0], "frames": counts[1], "peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ------------------------------------------------------------------------------------------------ the driver

def make_files(folder: Path, frame_records: int, video_records: int) -> dict[str, Path]:
    from reelset.sandbox.yt8m_sample import write_sample_shard
    files = {"frame": folder / f"frame_{frame_records}x{FRAMES}.tfrecord",
             "video": folder / f"video_{video_records}.tfrecord"}
    if not files["frame"].exists():
        write_sample_shard(files["frame"], "frame", frame_records, seed=1, frames=FRAMES)
    if not files["video"].exists():
        write_sample_shard(files["video"], "video", video_records, seed=2)
    return files


def run_contender(name: str, path: Path, level: str, mode: str, passes: int, cpus: list[int]) -> dict:
    """One contender in a fresh process; tf.data once per map setting, keeping its best."""
    if name == "tf.data":
        runs = [{**run_contender_with(name, path, level, mode, passes, cpus, config), "config": config}
                for config in TF_DATA_CONFIGS]
        return min(runs, key=lambda run: run["seconds"])
    return run_contender_with(name, path, level, mode, passes, cpus)


def run_contender_with(name: str, path: Path, level: str, mode: str, passes: int, cpus: list[int],
                       tf_config: str = "autotune") -> dict:
    command = [sys.executable, __file__, "--worker", name, "--level", level, "--mode", mode, "--passes",
               str(passes), "--cpus", ",".join(map(str, cpus)), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False,
                          env={**os.environ, "BENCH_TF_CONFIG": tf_config})
    if done.returncode != 0:
        raise SystemExit(f"{name} {level} {mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small files, one pass (a smoke test)")
    parser.add_argument("--frame-records", type=int, help="frame-level records (default ~300 MB: 855)")
    parser.add_argument("--video-records", type=int, help="video-level records (default 20000, ~94 MB)")
    parser.add_argument("--rounds", type=int, help="rounds over all contenders (default 3)")
    parser.add_argument("--passes", type=int, help="timed passes per contender process (default 2)")
    parser.add_argument("--cpus", help="CPUs to run on, e.g. 0,1 (default: the first two available)")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the generated files here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--level", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cpus = ([int(cpu) for cpu in args.cpus.split(",")] if args.cpus
            else sorted(os.sched_getaffinity(0))[:2])
    os.sched_setaffinity(0, cpus)
    if args.worker:
        print(json.dumps(worker(args.worker, args.path, args.level, args.mode, args.passes)))
        return
    frame_records = args.frame_records or (40 if args.quick else 855)
    video_records = args.video_records or (2000 if args.quick else 20000)
    rounds = args.rounds or (1 if args.quick else 3)
    passes = args.passes or (1 if args.quick else 2)
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as scratch:
        folder = args.data_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        files = make_files(folder, frame_records, video_records)
        results: dict = {"machine": {"python": platform.python_version(), "cpus": cpus,
                                     "cpu_count": os.cpu_count(), "processor": platform.processor()},
                         "rounds": rounds, "passes": passes, "levels": {}}
        for level, path in files.items():
            size = path.stat().st_size
            run_ceiling(str(path), level, "bytes")  # page cache warm for everyone
            expected = frame_records if level == "frame" else video_records
            rows: dict[str, dict] = {}
            for round_number in range(rounds):
                for name, mode in CONTENDERS[level]:
                    measured = run_contender(name, path, level, mode, passes, cpus)
                    best = rows.get(f"{name} {mode}")
                    if best is None or measured["seconds"] < best["seconds"]:
                        rows[f"{name} {mode}"] = best = measured
                    best["peak_rss_mb"] = max(best["peak_rss_mb"], measured["peak_rss_mb"])
                    print(f"  round {round_number + 1}: {level} {name} {mode}", file=sys.stderr, flush=True)
            for row in rows.values():
                row.update(mb_per_s=size / row["seconds"] / 1e6, records_per_s=expected / row["seconds"])
            for key, row in rows.items():
                if row["records"] not in (-1, expected):
                    raise SystemExit(f"{key}: {row['records']} records, expected {expected}")
            frame_counts = {row["frames"] for row in rows.values() if row["frames"] != -1}
            if len(frame_counts) != 1:
                raise SystemExit(f"{level}: contenders disagree on the frame count: {frame_counts}")
            ceiling = rows["ceiling bytes"]["mb_per_s"]
            for key, row in rows.items():
                name, mode = key.rsplit(" ", 1)
                anchor = rows.get(f"tf.data {mode}")
                row["vs_tf_data"] = row["mb_per_s"] / anchor["mb_per_s"] if anchor else None
                row["of_ceiling"] = row["mb_per_s"] / ceiling
            results["levels"][level] = {"file_mb": size / 1e6, "records": expected, "rows": rows}
            print(f"{level} level: {expected} records, {size / 1e6:.1f} MB "
                  f"({'300 frames each' if level == 'frame' else '1024 + 128 floats each'}), CRC checks on "
                  f"(except tfrecord, which has none), best of {rounds} rounds x {passes} passes, CPUs {cpus}")
            print(f"  {'contender':26s} {'records/s':>10s} {'MB/s':>8s} {'vs tf.data':>10s} {'of ceiling':>10s} "
                  f"{'peak RSS':>9s}")
            for key, row in rows.items():
                versus = f"{row['vs_tf_data']:.2f}x" if row["vs_tf_data"] else "-"
                print(f"  {key:26s} {row['records_per_s']:10.0f} {row['mb_per_s']:8.0f} {versus:>10s} "
                      f"{row['of_ceiling']:10.0%} {row['peak_rss_mb']:7.0f}MB"
                      + (f"  (map: {row['config']})" if "config" in row else ""))
        print(json.dumps(results))


if __name__ == "__main__":
    main()
