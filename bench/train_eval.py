"""Benchmark: the quality of the default model beside its baselines (logistic regression, kNN) in the small-data
regime, training and prediction speed, and evaluation time of the vectorised metrics versus the starter code's
algorithm, same data, same run.

Data (generated, written as real TFRecord files and read back through `read_records`; real shards are not
reachable offline):
- small-data regime (the issue this answers measured it on real YouTube-8M records): `yt8m_like_records` of
  `reelset.yt8m.training.synthetic`: about 3 labels a video from the real class frequencies (TrainVideoCount), videos
  in topics whose label sets repeat, PCA-like features (1024 + 128 floats) whose length varies independently of the
  labels; --regimes training sizes (500, 2,000, 10,000), one test set of --regime-test videos, all 3,862 outputs;
- frame level, two tasks: "content" (labels planted by `planted_records` in --planted long-tailed classes, frames =
  the video's vector + per-frame noise, quantized to bytes like real records) and "order" (two classes with the
  same frames in opposite order: pattern X then Y, or Y then X; nothing in the mean).

Contenders, each trained by `reelset.yt8m.training.train` and evaluated on held-out videos with `evaluate_model`:
- small-data regime: `auto` (the default: the best of logistic, knn and their blend by cross-validation up to
  20,000 videos), then `logistic` (L2, L-BFGS) and `knn` fitted with the setting that cross-validation found best
  for each (what their own run would choose, not chosen a second time), and `moe` (Adam, early stopping on 10% of
  the videos, refit);
- frame level: meanpool, knn (on the mean frame), nextvlad, auto.
Times are wall-clock seconds of `train` (reading, choosing, fitting).

Throughput at the real task's size, apart from quality: the epoch-trained models (moe, nextvlad) for one epoch on
the 3,862 outputs of YouTube-8M, video level on --speed-videos videos of 1024 + 128 floats, frame level on
--speed-frame-videos videos of --speed-frames frames (300, like real records), then their inference speed through
`evaluate_model` on the same file.

Metrics: 10,000 x 3,862 random scores with 1-5 labels per video: `reelset.yt8m.metrics.evaluate` (vectorised)
versus a loop-for-loop port of the starter code (eval_util.py: per-video top 20 with argpartition, heaps of
(score, label) pairs, the seeded shuffle, Python's sorted; the same port the tests hold the module to). The port's
results must equal `evaluate(..., reference_ties=True)` exactly.

The machines this runs on are shared: torch runs with --threads threads (default 2), pinned to --cpus. The last line
is one JSON object with every figure.

Usage: python bench/train_eval.py [--quick] [--regimes 500,2000,10000] [--regime-test N] [--outputs N]
                                   [--frame-train N] [--frames N] [--epochs N] [--speed-videos N]
                                   [--speed-frame-videos N] [--speed-frames N] [--threads N] [--cpus 0,1]
                                   [--device auto] [--data-dir DIR] [--skip-reference] [--skip-frame]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root, for tests.support
from tests.support.eval_util_reference import reference_metrics  # noqa: E402

RGB, AUDIO = 1024, 128
METRIC_VIDEOS, METRIC_CLASSES = 10_000, 3_862


# ------------------------------------------------------------------------------------------------ data

def make_files(folder: Path, args) -> dict[str, Path]:
    from reelset.yt8m.records import write_records
    from reelset.yt8m.training.synthetic import order_records, planted_records, yt8m_like_records

    planted = {"classes": args.planted, "modes": 2, "signal": args.signal, "long_tail": 1.0, "rgb_width": RGB,
               "audio_width": AUDIO}
    files = {}
    sets = {
        **{f"regime_{size}": (lambda size=size: yt8m_like_records(size, seed=1)) for size in args.regimes},
        "regime_test": lambda: yt8m_like_records(args.regime_test, seed=2),
        "content_train": lambda: planted_records(args.frame_train, level="frame", frames=args.frames, seed=3,
                                                 **planted),
        "content_test": lambda: planted_records(args.frame_test, level="frame", frames=args.frames, seed=4,
                                                **planted),
        "order_train": lambda: order_records(args.frame_train, frames=args.frames, rgb_width=RGB, audio_width=AUDIO,
                                             seed=5),
        "order_test": lambda: order_records(args.frame_test, frames=args.frames, rgb_width=RGB, audio_width=AUDIO,
                                            seed=6),
    }
    if args.skip_frame:
        sets = {name: make for name, make in sets.items() if name.startswith("regime")}
    speed = {"classes": 3862, "long_tail": 1.0, "rgb_width": RGB, "audio_width": AUDIO}
    if not args.skip_frame:
        sets["speed_video"] = lambda: planted_records(args.speed_videos, seed=7, **speed)
        sets["speed_frame"] = lambda: planted_records(args.speed_frame_videos, level="frame",
                                                      frames=args.speed_frames, seed=8, **speed)
    for name, generate in sets.items():
        files[name] = folder / f"{name}.tfrecord"
        if not files[name].exists():
            write_records(files[name], generate())
    return files


# ------------------------------------------------------------------------------------------------ contenders

def train_and_evaluate(train_file: Path, test_file: Path, out: Path, level: str, model: str, args,
                       classes: str | None = None, options: dict | None = None) -> dict:
    from reelset.yt8m.model import load_model
    from reelset.yt8m.training import TrainSettings, evaluate_model, train

    settings = TrainSettings(level=level, model=model, classes=classes, epochs=args.epochs, options=options or {})
    started = time.perf_counter()
    summary = train([train_file], out, settings, device=args.device, resume="restart")
    wall = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate_model(load_model(out, device=args.device), [test_file]).metrics
    chosen = summary.setting or (f"{summary.model} {summary.final_epochs} epochs" if summary.final_epochs
                                 else summary.model)
    config = load_model(out).config["training"]
    best = {}  # each shallow model's best setting in the choice (the baselines are fitted with it)
    for row in ((config.get("shallow") or {}).get("cross_validation") or {}).get("settings", []):
        if row["model"] not in best or row["gap"] > best[row["model"]]["gap"]:
            best[row["model"]] = row
    return {"chosen": chosen, "selection": summary.selection, "best_settings": best,
            "selection_gap": summary.validation["gap"] if summary.validation else None,
            "train_seconds": wall, "eval_seconds": time.perf_counter() - started, **metrics}


def throughput(path: Path, out: Path, level: str, model: str, args) -> dict:
    """One epoch on all 3,862 outputs: training videos/s; then inference videos/s through evaluate_model."""
    from reelset.yt8m.model import load_model
    from reelset.yt8m.training import TrainSettings, evaluate_model, train

    summary = train([path], out, TrainSettings(level=level, model=model, epochs=1, validation_fraction=0),
                    device=args.device, resume="restart")
    model_dir = load_model(out, device=args.device)
    started = time.perf_counter()
    videos = evaluate_model(model_dir, [path]).metrics["num_videos"]
    return {"train_videos_per_s": summary.videos_per_second, "train_seconds": summary.seconds,
            "predict_videos_per_s": videos / (time.perf_counter() - started), "videos": videos}


# ------------------------------------------------------------------------------------------------ metrics anchor
def metrics_timing() -> dict:
    from reelset.yt8m import metrics

    rng = np.random.default_rng(0)
    scores = rng.random((METRIC_VIDEOS, METRIC_CLASSES), dtype=np.float32)
    truth = np.zeros(scores.shape, bool)
    for row in range(METRIC_VIDEOS):
        truth[row, rng.choice(METRIC_CLASSES, int(rng.integers(1, 6)), replace=False)] = True
    started = time.perf_counter()
    vectorised = metrics.evaluate(scores, truth)
    vectorised_s = time.perf_counter() - started
    started = time.perf_counter()
    exact = metrics.evaluate(scores, truth, reference_ties=True)
    exact_s = time.perf_counter() - started
    started = time.perf_counter()
    reference = reference_metrics(scores, truth)
    reference_s = time.perf_counter() - started
    keys = ("gap", "map", "hit_at_1", "perr")
    if any(exact[key] != reference[key] for key in keys):
        raise SystemExit(f"reference_ties=True differs from the reference port: {exact} vs {reference}")
    return {"videos": METRIC_VIDEOS, "classes": METRIC_CLASSES, "vectorised_seconds": vectorised_s,
            "reference_ties_seconds": exact_s, "reference_seconds": reference_s,
            "speedup": reference_s / vectorised_s, "reference_ties_speedup": reference_s / exact_s,
            "max_difference_default_vs_reference": max(abs(vectorised[key] - reference[key]) for key in keys),
            "reference": reference}


# ------------------------------------------------------------------------------------------------ driver

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sets, few epochs (a smoke test)")
    parser.add_argument("--regimes", help="training sizes of the small-data regime (default 500,2000,10000; "
                                          "quick 300,600)")
    parser.add_argument("--regime-test", type=int, help="test videos of the regime (default 3000; quick 500)")
    parser.add_argument("--outputs", type=int, help="classes the frame-level models predict (default 3862; quick "
                                                    "500)")
    parser.add_argument("--planted", type=int, help="frame level: classes that occur, long-tailed (default 1000; "
                                                    "quick 100)")
    parser.add_argument("--signal", type=float, default=0.15, help="frame level: planted signal per dimension")
    parser.add_argument("--frame-train", type=int, help="frame-level training videos (default 3000; quick 400)")
    parser.add_argument("--frame-test", type=int, help="frame-level test videos (default 1000; quick 200)")
    parser.add_argument("--frames", type=int, help="frames per video (default 30; quick 8)")
    parser.add_argument("--epochs", type=int, help="most epochs per phase (default 30; quick 4)")
    parser.add_argument("--speed-videos", type=int, help="video-level videos of the speed test (default 4000; "
                                                          "quick 500)")
    parser.add_argument("--speed-frame-videos", type=int, help="frame-level videos of the speed test (default 200; "
                                                                "quick 20)")
    parser.add_argument("--speed-frames", type=int, help="frames per video of the speed test (default 300; quick 30)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--cpus", help="CPUs to run on, e.g. 0,1 (default: the first two available)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--skip-reference", action="store_true", help="leave out the slow metrics anchor")
    parser.add_argument("--skip-frame", action="store_true", help="leave out the frame-level tasks and speed")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the generated files here")
    args = parser.parse_args()
    cpus = [int(cpu) for cpu in args.cpus.split(",")] if args.cpus else sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)
    quick = args.quick
    args.regimes = [int(size) for size in (args.regimes or ("300,600" if quick else "500,2000,10000")).split(",")]
    args.regime_test = args.regime_test or (500 if quick else 3000)
    args.outputs = args.outputs or (500 if quick else 3862)
    args.planted = min(args.planted or (100 if quick else 1000), args.outputs)
    args.frame_train = args.frame_train or (400 if quick else 3000)
    args.frame_test = args.frame_test or (200 if quick else 1000)
    args.frames = args.frames or (8 if quick else 30)
    args.epochs = args.epochs or (4 if quick else 30)
    args.speed_videos = args.speed_videos or (500 if quick else 4000)
    args.speed_frame_videos = args.speed_frame_videos or (20 if quick else 200)
    args.speed_frames = args.speed_frames or (30 if quick else 300)
    frame_classes = None if args.outputs == 3862 else ",".join(map(str, range(args.outputs)))

    import torch

    torch.set_num_threads(args.threads)
    from reelset.features.backbones.device import resolve_device, torch_gpu_count

    device = resolve_device(args.device, gpus=torch_gpu_count())
    results: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": cpus,
                                 "cpu_count": os.cpu_count(), "threads": args.threads, "device": device,
                                 "load_average": os.getloadavg()},
                     "settings": {key: value for key, value in vars(args).items()
                                  if key != "data_dir" and not callable(value)},
                     "speed": {}, "regimes": {}, "tasks": {}}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as scratch:
        folder = args.data_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        files = make_files(folder, args)
        print(f"data: {time.perf_counter() - started:.1f} s to generate and write", file=sys.stderr, flush=True)
        for size in args.regimes:
            rows = {}
            # The default first: its cross-validation chooses each baseline's setting (the same folds and grid a
            # baseline's own run would use), and the baselines are fitted with it instead of choosing it again.
            for model in ("auto", "logistic", "knn", "moe"):
                print(f"  regime {size}: {model}", file=sys.stderr, flush=True)
                chosen = rows["auto"]["best_settings"].get(model) if model != "auto" else None
                options = {key: chosen[key] for key in ("l2", "k") if key in chosen} if chosen else None
                rows[model] = train_and_evaluate(files[f"regime_{size}"], files["regime_test"],
                                                 folder / f"regime-{size}-{model}", "video", model, args,
                                                 options=options)
            results["regimes"][size] = {name: rows[name] for name in ("logistic", "knn", "moe", "auto")}
        speed_models = () if args.skip_frame else (("video", "moe"), ("frame", "nextvlad"))
        for level, model in speed_models:
            print(f"  speed: {model}", file=sys.stderr, flush=True)
            results["speed"][model] = throughput(files[f"speed_{level}"], folder / f"speed-{model}", level, model,
                                                 args)
        tasks = {} if args.skip_frame else {
            "frame content": (files["content_train"], files["content_test"]),
            "frame order": (files["order_train"], files["order_test"]),
        }
        for task, (train_file, test_file) in tasks.items():
            rows = {}
            for model in ("meanpool", "knn", "nextvlad", "auto"):
                print(f"  {task}: {model}", file=sys.stderr, flush=True)
                out = folder / f"model-{task}-{model}".replace(" ", "-")
                rows[model] = train_and_evaluate(train_file, test_file, out, "frame", model, args,
                                                 classes=frame_classes if task == "frame content" else "0,1")
            results["tasks"][task] = rows
        if not args.skip_reference:
            print("  metrics: vectorised vs the reference algorithm", file=sys.stderr, flush=True)
            results["metrics"] = metrics_timing()

    print(f"torch {torch.__version__} on {device}, {args.threads} thread(s), CPUs {cpus}, load average "
          f"{os.getloadavg()[0]:.1f}")

    def table(rows: dict) -> None:
        print(f"  {'model':9s} {'chosen':44s} {'train s':>8s} {'GAP':>7s} {'mAP':>7s} {'Hit@1':>7s}")
        for name, row in rows.items():
            print(f"  {name:9s} {row['chosen'][:44]:44s} {row['train_seconds']:8.1f} {row['gap']:7.4f} "
                  f"{row['map']:7.4f} {row['hit_at_1']:7.4f}")

    for size, rows in results["regimes"].items():
        print(f"small-data regime: {size} training / {args.regime_test} test videos shaped like YouTube-8M "
              f"(1024 + 128 floats, 3,862 outputs)")
        table(rows)
    for task, rows in results["tasks"].items():
        print(f"{task}: {args.frame_train} training / {args.frame_test} test videos, {args.frames} frames of "
              f"1024 + 128 bytes")
        table(rows)
    if results["speed"]:
        print(f"speed, one epoch on the 3,862 outputs: video level {args.speed_videos} videos of 1024 + 128 floats, "
              f"frame level {args.speed_frame_videos} videos of {args.speed_frames} frames")
        print(f"  {'model':10s} {'train videos/s':>14s} {'predict videos/s':>16s}")
        for name, row in results["speed"].items():
            print(f"  {name:10s} {row['train_videos_per_s']:14.1f} {row['predict_videos_per_s']:16.1f}")
    if "metrics" in results:
        m = results["metrics"]
        print(f"metrics on {m['videos']:,} x {m['classes']:,} scores: vectorised {m['vectorised_seconds']:.2f} s, "
              f"reference_ties=True {m['reference_ties_seconds']:.2f} s, starter-code algorithm "
              f"{m['reference_seconds']:.1f} s: {m['speedup']:.0f}x ({m['reference_ties_speedup']:.0f}x exact); "
              f"largest difference of the default {m['max_difference_default_vs_reference']:.1e} (ties)")
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
