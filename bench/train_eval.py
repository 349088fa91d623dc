"""Benchmark: training speed and quality of every model beside logistic regression and kNN, and evaluation time of
the vectorised metrics versus the starter code's algorithm, same data, same run.

Data (generated, written as real TFRecord files and read back through `read_records`, labels planted in the
features by `reelset.yt8m.training.synthetic`; real shards are not reachable offline):
- video level: `mean_rgb` 1024 + `mean_audio` 128 floats; labels from --planted classes with a long tail (class i
  drawn with weight 1/(i+1)), each class showing one of two prototype directions ("either/or": what a mixture of
  experts represents and a logistic regression only approximates), weak signal; the models predict all --outputs
  classes (3,862 by default, like YouTube-8M's vocabulary);
- frame level, two tasks: "content" (the same planted labels, frames = the video's vector + per-frame noise,
  quantized to bytes like real records) and "order" (two classes with the same frames in opposite order:
  pattern X then Y, or Y then X; nothing in the mean).

Contenders, each trained by `reelset.yt8m.training.train` with its defaults (Adam, early stopping on 10% of the
training videos, refit on all of them) and evaluated on held-out videos with `evaluate_model`:
- video level: logistic, moe, auto (the default: the better of the two on validation);
- frame level: meanpool, nextvlad, auto (the better of the two), and the video-level logistic on the frames' means;
- kNN (cosine on standardised video vectors, the k nearest training videos' labels weighted by similarity): the
  non-parametric baseline, beside every level.
Training speed is the videos per second of the training epochs (validation scoring and reading excluded).

Throughput at the real task's size, apart from quality: each model trained for one epoch on the 3,862 outputs of
YouTube-8M (no early stopping), video level on --speed-videos videos of 1024 + 128 floats, frame level on
--speed-frame-videos videos of --speed-frames frames (300, like real records), then its inference speed through
`evaluate_model` on the same file.

Metrics: 10,000 x 3,862 random scores with 1-5 labels per video: `reelset.yt8m.metrics.evaluate` (vectorised)
versus a loop-for-loop port of the starter code (eval_util.py: per-video top 20 with argpartition, heaps of
(score, label) pairs, the seeded shuffle, Python's sorted; the same port the tests hold the module to). The port's
results must equal `evaluate(..., reference_ties=True)` exactly.

The machines this runs on are shared: torch runs with --threads threads (default 1: on a busy 2-core machine one
thread was several times faster than two contending), pinned to --cpus. The last line is one JSON object with every
figure.

Usage: python bench/train_eval.py [--quick] [--outputs N] [--video-train N] [--frame-train N] [--frames N]
                                   [--epochs N] [--speed-videos N] [--speed-frame-videos N] [--speed-frames N]
                                   [--threads N] [--cpus 0,1] [--device auto] [--data-dir DIR] [--skip-reference]
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
KNN_K = 25


# ------------------------------------------------------------------------------------------------ data

def make_files(folder: Path, args) -> dict[str, Path]:
    from reelset.yt8m.records import write_records
    from reelset.yt8m.training.synthetic import order_records, planted_records

    planted = {"classes": args.planted, "modes": 2, "signal": args.signal, "long_tail": 1.0, "rgb_width": RGB,
               "audio_width": AUDIO}
    files = {}
    sets = {
        "video_train": lambda: planted_records(args.video_train, seed=1, **planted),
        "video_test": lambda: planted_records(args.video_test, seed=2, **planted),
        "content_train": lambda: planted_records(args.frame_train, level="frame", frames=args.frames, seed=3,
                                                 **planted),
        "content_test": lambda: planted_records(args.frame_test, level="frame", frames=args.frames, seed=4,
                                                **planted),
        "order_train": lambda: order_records(args.frame_train, frames=args.frames, rgb_width=RGB, audio_width=AUDIO,
                                             seed=5),
        "order_test": lambda: order_records(args.frame_test, frames=args.frames, rgb_width=RGB, audio_width=AUDIO,
                                            seed=6),
    }
    speed = {"classes": 3862, "long_tail": 1.0, "rgb_width": RGB, "audio_width": AUDIO}
    sets["speed_video"] = lambda: planted_records(args.speed_videos, seed=7, **speed)
    sets["speed_frame"] = lambda: planted_records(args.speed_frame_videos, level="frame", frames=args.speed_frames,
                                                  seed=8, **speed)
    for name, generate in sets.items():
        files[name] = folder / f"{name}.tfrecord"
        if not files[name].exists():
            write_records(files[name], generate())
    return files


# ------------------------------------------------------------------------------------------------ contenders

def train_and_evaluate(train_file: Path, test_file: Path, out: Path, level: str, model: str, args) -> dict:
    from reelset.yt8m.model import load_model
    from reelset.yt8m.training import TrainSettings, evaluate_model, train

    settings = TrainSettings(level=level, model=model, classes=args.classes, epochs=args.epochs)
    started = time.perf_counter()
    summary = train([train_file], out, settings, device=args.device, resume="restart")
    wall = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate_model(load_model(out, device=args.device), [test_file]).metrics
    return {"chosen": summary.model, "best_epoch": summary.best_epoch, "final_epochs": summary.final_epochs,
            "train_videos_per_s": summary.videos_per_second, "train_seconds": summary.seconds, "wall_seconds": wall,
            "eval_seconds": time.perf_counter() - started, **metrics}


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


def knn(train_file: Path, test_file: Path, num_outputs: int, output_of: dict[int, int]) -> dict:
    """Cosine kNN on standardised video vectors (mean_* or the frames' mean), k = KNN_K, similarity-weighted votes."""
    from reelset.yt8m import metrics
    from reelset.yt8m.records import read_records
    from reelset.yt8m.training.data import video_vector

    def load(path):
        vectors, labels = [], []
        for record in read_records(path):
            vectors.append(np.concatenate([video_vector(record, name) for name in ("rgb", "audio")]))
            labels.append([output_of[int(label)] for label in record["labels"] if int(label) in output_of])
        return np.stack(vectors).astype(np.float32), labels

    started = time.perf_counter()
    train_x, train_labels = load(train_file)
    test_x, test_labels = load(test_file)
    mean, std = train_x.mean(axis=0), train_x.std(axis=0) + 1e-6
    train_x = (train_x - mean) / std
    test_x = (test_x - mean) / std
    train_x /= np.linalg.norm(train_x, axis=1, keepdims=True) + 1e-9
    test_x /= np.linalg.norm(test_x, axis=1, keepdims=True) + 1e-9
    truth = np.zeros((len(train_x), num_outputs), np.float32)
    for row, labels in enumerate(train_labels):
        truth[row, labels] = 1.0
    scores = np.zeros((len(test_x), num_outputs), np.float32)
    k = min(KNN_K, len(train_x))
    for start in range(0, len(test_x), 256):
        similarity = test_x[start:start + 256] @ train_x.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 0) + 1e-6
        scores[start:start + 256] = np.einsum("bk,bkc->bc", weights, truth[nearest]) / weights.sum(1, keepdims=True)
    result = metrics.evaluate(scores, test_labels)
    return {"chosen": f"kNN k={k}", "train_seconds": time.perf_counter() - started, **result}


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
    parser.add_argument("--quick", action="store_true", help="small sets, few epochs, 500 outputs (a smoke test)")
    parser.add_argument("--outputs", type=int, help="classes the models predict (default 3862; quick 500)")
    parser.add_argument("--planted", type=int, help="classes that occur, long-tailed (default 1000; quick 100)")
    parser.add_argument("--signal", type=float, default=0.15, help="planted signal per dimension (default 0.15)")
    parser.add_argument("--video-train", type=int, help="video-level training videos (default 20000; quick 2000)")
    parser.add_argument("--video-test", type=int, help="video-level test videos (default 5000; quick 1000)")
    parser.add_argument("--frame-train", type=int, help="frame-level training videos (default 3000; quick 400)")
    parser.add_argument("--frame-test", type=int, help="frame-level test videos (default 1000; quick 200)")
    parser.add_argument("--frames", type=int, help="frames per video (default 30; quick 8)")
    parser.add_argument("--epochs", type=int, help="most epochs per phase (default 30; quick 4)")
    parser.add_argument("--speed-videos", type=int, help="video-level videos of the speed test (default 4000; "
                                                          "quick 500)")
    parser.add_argument("--speed-frame-videos", type=int, help="frame-level videos of the speed test (default 200; "
                                                                "quick 20)")
    parser.add_argument("--speed-frames", type=int, help="frames per video of the speed test (default 300; quick 30)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--cpus", help="CPUs to run on, e.g. 0,1 (default: the first two available)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda")
    parser.add_argument("--skip-reference", action="store_true", help="leave out the slow metrics anchor")
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the generated files here")
    args = parser.parse_args()
    cpus = [int(cpu) for cpu in args.cpus.split(",")] if args.cpus else sorted(os.sched_getaffinity(0))[:2]
    os.sched_setaffinity(0, cpus)
    quick = args.quick
    args.outputs = args.outputs or (500 if quick else 3862)
    args.planted = min(args.planted or (100 if quick else 1000), args.outputs)
    args.video_train = args.video_train or (2000 if quick else 20000)
    args.video_test = args.video_test or (1000 if quick else 5000)
    args.frame_train = args.frame_train or (400 if quick else 3000)
    args.frame_test = args.frame_test or (200 if quick else 1000)
    args.frames = args.frames or (8 if quick else 30)
    args.epochs = args.epochs or (4 if quick else 30)
    args.speed_videos = args.speed_videos or (500 if quick else 4000)
    args.speed_frame_videos = args.speed_frame_videos or (20 if quick else 200)
    args.speed_frames = args.speed_frames or (30 if quick else 300)
    args.classes = None if args.outputs == 3862 else ",".join(map(str, range(args.outputs)))

    import torch

    torch.set_num_threads(args.threads)
    from reelset.features.backbones.device import resolve_device, torch_gpu_count

    device = resolve_device(args.device, gpus=torch_gpu_count())
    results: dict = {"machine": {"python": platform.python_version(), "torch": torch.__version__, "cpus": cpus,
                                 "cpu_count": os.cpu_count(), "threads": args.threads, "device": device,
                                 "load_average": os.getloadavg()},
                     "settings": {key: value for key, value in vars(args).items()
                                  if key not in ("data_dir", "classes") and not callable(value)},
                     "speed": {}, "tasks": {}}
    output_of = {label: label for label in range(args.outputs)}
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as scratch:
        folder = args.data_dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        files = make_files(folder, args)
        print(f"data: {time.perf_counter() - started:.1f} s to generate and write", file=sys.stderr, flush=True)
        for level, model in (("video", "logistic"), ("video", "moe"), ("frame", "meanpool"), ("frame", "nextvlad")):
            print(f"  speed: {model}", file=sys.stderr, flush=True)
            results["speed"][model] = throughput(files[f"speed_{level}"], folder / f"speed-{model}", level, model,
                                                 args)
        tasks = {
            "video": ("video", files["video_train"], files["video_test"], ["logistic", "moe", "auto"]),
            "frame content": ("frame", files["content_train"], files["content_test"], ["meanpool", "nextvlad", "auto"]),
            "frame order": ("frame", files["order_train"], files["order_test"], ["meanpool", "nextvlad", "auto"]),
        }
        for task, (level, train_file, test_file, models) in tasks.items():
            rows = {}
            contenders = [(model, level, model) for model in models]
            if level == "frame":  # the video-level baseline on the same files: logistic on the frames' means
                contenders.append(("logistic (means)", "video", "logistic"))
            for name, model_level, model in contenders:
                print(f"  {task}: {name}", file=sys.stderr, flush=True)
                out = folder / f"model-{task}-{name}".replace(" ", "-").replace("(", "").replace(")", "")
                rows[name] = train_and_evaluate(train_file, test_file, out, model_level, model, args)
            rows["kNN"] = knn(train_file, test_file, args.outputs, output_of)
            results["tasks"][task] = rows
        if not args.skip_reference:
            print("  metrics: vectorised vs the reference algorithm", file=sys.stderr, flush=True)
            results["metrics"] = metrics_timing()

    print(f"speed, one epoch on the 3,862 outputs: video level {args.speed_videos} videos of 1024 + 128 floats, "
          f"frame level {args.speed_frame_videos} videos of {args.speed_frames} frames")
    print(f"  {'model':10s} {'train videos/s':>14s} {'predict videos/s':>16s}")
    for name, row in results["speed"].items():
        print(f"  {name:10s} {row['train_videos_per_s']:14.1f} {row['predict_videos_per_s']:16.1f}")
    sizes = {"video": (args.video_train, args.video_test, "1024 + 128 floats"),
             "frame content": (args.frame_train, args.frame_test, f"{args.frames} frames of 1024 + 128 bytes"),
             "frame order": (args.frame_train, args.frame_test, f"{args.frames} frames of 1024 + 128 bytes")}
    print(f"torch {torch.__version__} on {device}, {args.threads} thread(s), CPUs {cpus}, load average "
          f"{os.getloadavg()[0]:.1f}; {args.outputs} outputs, labels planted in {args.planted} long-tailed classes "
          f"(order: 2 classes), signal {args.signal}, at most {args.epochs} epochs a phase")
    for task, rows in results["tasks"].items():
        train_count, test_count, shape = sizes[task]
        print(f"{task}: {train_count} training / {test_count} test videos, {shape}")
        print(f"  {'model':18s} {'chosen':10s} {'epochs':>6s} {'train videos/s':>14s} {'train s':>8s} "
              f"{'GAP':>7s} {'mAP':>7s} {'Hit@1':>7s}")
        for name, row in rows.items():
            epochs = f"{row['best_epoch'] or '-'}/{row['final_epochs']}" if "final_epochs" in row else "-"
            speed = f"{row['train_videos_per_s']:.0f}" if "train_videos_per_s" in row else "-"
            print(f"  {name:18s} {row['chosen']:10s} {epochs:>6s} {speed:>14s} {row['train_seconds']:8.1f} "
                  f"{row['gap']:7.4f} {row['map']:7.4f} {row['hit_at_1']:7.4f}")
    if "metrics" in results:
        m = results["metrics"]
        print(f"metrics on {m['videos']:,} x {m['classes']:,} scores: vectorised {m['vectorised_seconds']:.2f} s, "
              f"reference_ties=True {m['reference_ties_seconds']:.2f} s, starter-code algorithm "
              f"{m['reference_seconds']:.1f} s: {m['speedup']:.0f}x ({m['reference_ties_speedup']:.0f}x exact); "
              f"largest difference of the default {m['max_difference_default_vs_reference']:.1e} (ties)")
    print(json.dumps(results, default=float))


if __name__ == "__main__":
    main()
