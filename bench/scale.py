"""Benchmark: the same feature extraction and export locally and on a Dask cluster of 1 and 2 workers.

Work (generated, the same for every mode):
- extraction: `extract()` of N videos (320x240, 25 fps, H.264) with the default backbone (EfficientNet-Lite0 on
  the CPU), no feature cache, one output file;
- export: `export_per_file()` of M frame-level TFRecord shards (300 frames a record) to Parquet, one output per
  input (the form whose encoding spreads over workers).

Modes:
- local: this process, as `reelset yt8m extract|export` runs without --scheduler (torch and the decode threads
  use every core it is given);
- dask-1, dask-2: a `distributed.LocalCluster` on 127.0.0.1 (worker processes, one thread each, no dashboard)
  with 1 or 2 workers; this process is the client and writes the outputs. Dask's workers run with
  OMP_NUM_THREADS=1, so one worker is one core of model work.

Each mode runs --rounds times, warm (the local run is given the loaded backbone; the workers have loaded theirs:
the first task of each worker pays that once), and is credited with its best round. Printed: wall time, videos/s
and frames/s (records/s and MB/s for export), the speedup over dask-1 and the scaling efficiency (speedup /
workers); then the overhead of the cluster for small jobs: starting it, the first extraction (backbone loaded in
each worker), one video end to end on a warm cluster against the same locally, and the round trip of an empty
task. CPU is the user + system time of every process involved (this one, the workers, their ffmpeg children):
frames (records) per CPU-second is what one dedicated core delivers, a figure that holds on a machine shared with
other work, where wall times do not. Every mode must write the same export bytes and the same records as the
others (checked; extraction output of the Dask modes byte for byte, the local one up to mean_rgb's last float
bits, whose sums depend on torch's thread count). The last line is one JSON object with every figure. Runs on two
CPUs (the first two this process may use) unless --cpus says otherwise.

Usage: python bench/scale.py [--quick] [--videos N] [--seconds S] [--shards M] [--records R] [--rounds R]
                             [--cpus 0,1] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support

WIDTH, HEIGHT, FPS = 320, 240, 25
FRAMES_PER_RECORD = 300
MODES = ("local", "dask-1", "dask-2")


def make_inputs(folder: Path, videos: int, seconds: float, shards: int, records: int):
    from reelset.features.extraction import VideoInput
    from reelset.sandbox.media import make_video
    from reelset.sandbox.yt8m_sample import write_sample_shard

    patterns = ("testsrc2", "smptebars", "mandelbrot", "testsrc")
    inputs = []
    for index in range(videos):
        path = folder / "videos" / f"video{index:03d}.mp4"
        if not path.exists():
            make_video(path, seconds=seconds, width=WIDTH, height=HEIGHT, fps=FPS, audio=None,
                       pattern=patterns[index % len(patterns)])
        inputs.append(VideoInput(str(path), (index % 7,)))
    paths = []
    for index in range(shards):
        path = folder / "shards" / f"train{index:04d}.tfrecord"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_sample_shard(path, "frame", records, seed=index, frames=FRAMES_PER_RECORD)
        paths.append(path)
    return inputs, paths


def start_cluster(workers: int):
    import distributed

    from tests.support.cluster import local_cluster

    started = time.perf_counter()
    cluster = local_cluster(workers)
    client = distributed.Client(cluster.scheduler_address, set_as_default=False)
    client.wait_for_workers(workers)
    return cluster, client, time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (ffmpeg), user + system."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def cluster_cpu_seconds(client) -> float:
    """CPU time of the client (this process) and of every worker process so far."""
    return cpu_seconds() + (sum(client.run(cpu_seconds).values()) if client is not None else 0.0)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few small inputs, one round (a smoke test)")
    parser.add_argument("--videos", type=int, help="videos to extract (default 16; quick 4)")
    parser.add_argument("--seconds", type=float, help="seconds per video, one frame each (default 15; quick 4)")
    parser.add_argument("--shards", type=int, help="TFRecord shards to export (default 8; quick 4)")
    parser.add_argument("--records", type=int, help="records per shard (default 60; quick 10)")
    parser.add_argument("--rounds", type=int, help="timed rounds per mode (default 2; quick 1)")
    parser.add_argument("--cpus", help="CPUs to run on, e.g. 0,1 (default: the first two available)")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the generated inputs here")
    args = parser.parse_args()
    cpus = [int(cpu) for cpu in args.cpus.split(",")] if args.cpus else sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)  # inherited by the cluster's processes
    videos = args.videos or (4 if args.quick else 16)
    seconds = args.seconds or (4 if args.quick else 15)
    shards = args.shards or (4 if args.quick else 8)
    records = args.records or (10 if args.quick else 60)
    rounds = args.rounds or (1 if args.quick else 2)

    import torch

    from reelset.features.extraction import ExtractSettings, extract
    from reelset.features.video import settings_backbone
    from reelset.scale.cluster import DaskExecutor
    from reelset.yt8m.export import export_per_file
    from reelset.yt8m.records import read_records

    settings = ExtractSettings(use_cache=False, device="cpu")
    with tempfile.TemporaryDirectory(prefix="reelset-bench-scale-") as scratch:
        folder = args.data_dir or Path(scratch)
        inputs, paths = make_inputs(folder, videos, seconds, shards, records)
        shard_mb = sum(path.stat().st_size for path in paths) / 1e6
        out = Path(scratch) / "out"
        results: dict = {"machine": {"python": platform.python_version(), "cpus": cpus, "cpu_count": os.cpu_count(),
                                     "processor": platform.processor(), "torch_threads_local": torch.get_num_threads()},
                         "work": {"videos": videos, "seconds_per_video": seconds, "size": f"{WIDTH}x{HEIGHT}",
                                  "shards": shards, "records_per_shard": records, "shard_mb": round(shard_mb, 1)},
                         "rounds": rounds, "extract": {}, "export": {}, "overhead": {}}
        outputs: dict[str, dict[str, list[bytes]]] = {}

        loaded, backbone = timed(settings_backbone, settings)  # what every local run (and worker) pays once

        def measure(mode: str, scheduler) -> None:
            extract_best = export_best = None
            for round_number in range(rounds):
                cpu_before = cluster_cpu_seconds(scheduler)
                seconds_taken, summary = timed(extract, inputs, out / mode / "features.tfrecord", settings,
                                               backbone=None if scheduler else backbone, executor=scheduler)
                cpu_taken = cluster_cpu_seconds(scheduler) - cpu_before
                if summary.encoded != videos:
                    raise SystemExit(f"{mode}: {summary.line}; failures: {summary.failures[:3]}")
                if extract_best is None or seconds_taken < extract_best[0]:
                    extract_best = (seconds_taken, summary.frames, cpu_taken)
                cpu_before = cluster_cpu_seconds(scheduler)
                seconds_taken, exported = timed(export_per_file, paths, out / mode / "parquet", executor=scheduler)
                cpu_taken = cluster_cpu_seconds(scheduler) - cpu_before
                if export_best is None or seconds_taken < export_best[0]:
                    export_best = (seconds_taken, exported.records, cpu_taken)
                print(f"  round {round_number + 1}: {mode}", file=sys.stderr, flush=True)
            outputs[mode] = {"extract": [(out / mode / "features.tfrecord").read_bytes()],
                             "export": [path.read_bytes() for path in exported.files]}
            results["extract"][mode] = {"seconds": extract_best[0], "frames": extract_best[1],
                                        "cpu_seconds": extract_best[2], "videos_per_s": videos / extract_best[0],
                                        "frames_per_s": extract_best[1] / extract_best[0],
                                        "frames_per_cpu_s": extract_best[1] / extract_best[2]}
            results["export"][mode] = {"seconds": export_best[0], "records": export_best[1],
                                       "cpu_seconds": export_best[2],
                                       "records_per_s": export_best[1] / export_best[0],
                                       "records_per_cpu_s": export_best[1] / export_best[2],
                                       "mb_per_s": shard_mb / export_best[0]}

        # Warm the page cache and the local backbone so that no mode pays a first read.
        extract(inputs[:1], out / "warm.tfrecord", settings, backbone=backbone)
        measure("local", None)
        one_local, _ = timed(extract, inputs[:1], out / "one-local.tfrecord", settings, backbone=backbone)
        results["overhead"]["local"] = {"backbone_load_s": loaded, "one_video_s": one_local}
        for workers in (1, 2):
            mode = f"dask-{workers}"
            cluster, client, started = start_cluster(workers)
            try:
                first, _ = timed(extract, inputs[:workers], out / f"first-{mode}.tfrecord", settings,
                                 executor=client)
                measure(mode, client)
                one_warm, _ = timed(extract, inputs[:1], out / f"one-{mode}.tfrecord", settings, executor=client)
                empty_tasks = 200
                round_trip, _ = timed(lambda: list(DaskExecutor(client).map_ordered(abs, range(empty_tasks))))
                results["overhead"][mode] = {"cluster_start_s": started, "first_extract_s": first,
                                             "one_video_warm_s": one_warm,
                                             "empty_task_ms": 1000 * round_trip / empty_tasks}
            finally:
                client.close()
                cluster.close()

        for step in ("extract", "export"):
            anchor = results[step]["dask-1"]["seconds"]
            for mode, row in results[step].items():
                row["speedup_vs_dask_1"] = anchor / row["seconds"]
                row["efficiency"] = anchor / row["seconds"] / int(mode.split("-")[1]) if mode != "local" else None
        same_export = outputs["local"]["export"] == outputs["dask-1"]["export"] == outputs["dask-2"]["export"]
        same_extract_dask = outputs["dask-1"]["extract"] == outputs["dask-2"]["extract"]
        local_records = list(read_records(out / "local" / "features.tfrecord"))
        dask_records = list(read_records(out / "dask-2" / "features.tfrecord"))
        same_frames = all(a["id"] == b["id"] and (a["rgb"] == b["rgb"]).all()
                          for a, b in zip(local_records, dask_records)) and len(local_records) == len(dask_records)
        if not (same_export and same_extract_dask and same_frames):
            raise SystemExit(f"outputs differ: export {same_export}, extract dask-1/dask-2 {same_extract_dask}, "
                             f"8-bit frames local/dask {same_frames}")
        results["identical"] = {"export_bytes_all_modes": same_export, "extract_bytes_dask_1_2": same_extract_dask,
                                "extract_8bit_frames_local_dask": same_frames,
                                "extract_bytes_local_dask": outputs["local"]["extract"] == outputs["dask-2"]["extract"]}

    print(f"extraction: {videos} videos x {seconds:g} s ({WIDTH}x{HEIGHT}), EfficientNet-Lite0 on the CPU, no cache, "
          f"best of {rounds}, CPUs {cpus} (local torch threads: {torch.get_num_threads()})")
    print(f"  {'mode':8s} {'wall':>8s} {'videos/s':>9s} {'frames/s':>9s} {'vs dask-1':>10s} {'efficiency':>10s} "
          f"{'CPU':>8s} {'frames/CPU-s':>12s}")
    for mode, row in results["extract"].items():
        efficiency = f"{row['efficiency']:.0%}" if row["efficiency"] is not None else "-"
        print(f"  {mode:8s} {row['seconds']:7.2f}s {row['videos_per_s']:9.2f} {row['frames_per_s']:9.1f} "
              f"{row['speedup_vs_dask_1']:9.2f}x {efficiency:>10s} {row['cpu_seconds']:7.1f}s "
              f"{row['frames_per_cpu_s']:12.1f}")
    print(f"export: {shards} shards x {records} records x {FRAMES_PER_RECORD} frames ({shard_mb:.0f} MB) to Parquet, "
          f"one file per shard, best of {rounds}")
    print(f"  {'mode':8s} {'wall':>8s} {'records/s':>9s} {'MB/s':>9s} {'vs dask-1':>10s} {'efficiency':>10s} "
          f"{'CPU':>8s} {'records/CPU-s':>13s}")
    for mode, row in results["export"].items():
        efficiency = f"{row['efficiency']:.0%}" if row["efficiency"] is not None else "-"
        print(f"  {mode:8s} {row['seconds']:7.2f}s {row['records_per_s']:9.1f} {row['mb_per_s']:9.1f} "
              f"{row['speedup_vs_dask_1']:9.2f}x {efficiency:>10s} {row['cpu_seconds']:7.1f}s "
              f"{row['records_per_cpu_s']:13.1f}")
    local = results["overhead"]["local"]
    print(f"overhead of the cluster for small jobs (locally: backbone load {local['backbone_load_s']:.2f} s once per "
          f"run, then one video in {local['one_video_s']:.2f} s):")
    print(f"  {'mode':8s} {'cluster start':>13s} {'first extract':>14s} {'1 video warm':>13s} {'empty task':>11s}")
    for mode, row in results["overhead"].items():
        if mode != "local":
            print(f"  {mode:8s} {row['cluster_start_s']:12.2f}s {row['first_extract_s']:13.2f}s "
                  f"{row['one_video_warm_s']:12.2f}s {row['empty_task_ms']:9.1f}ms")
    identical = results["identical"]
    print(f"outputs: export identical in all modes: {identical['export_bytes_all_modes']}; extraction identical "
          f"dask-1/dask-2: {identical['extract_bytes_dask_1_2']}, local/dask 8-bit frames: "
          f"{identical['extract_8bit_frames_local_dask']}, local/dask whole file: "
          f"{identical['extract_bytes_local_dask']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
