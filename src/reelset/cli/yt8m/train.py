"""``reelset yt8m train | evaluate | predict``: classifiers on YouTube-8M features (:mod:`reelset.yt8m.training`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reelset.cli.yt8m import group
from reelset.cli.yt8m.vocab import vocabulary_option
from reelset.core.errors import ReelsetError
from reelset.features.constants import DEVICE_CHOICES
from reelset.yt8m.constants import AUTO, MODEL_NAMES, SEGMENT_MAX_PER_CLASS, SEGMENT_TOP_K

FILES = click.argument("files", nargs=-1, required=True,
                       type=click.Path(path_type=Path, exists=True, dir_okay=False))
MODEL_DIR = click.argument("model_dir", type=click.Path(path_type=Path, file_okay=False))
DEVICE = click.option("--device", default="auto", show_default=True,
                      help=f"Where the network runs: {DEVICE_CHOICES} (auto: a GPU when torch sees one).")
# --threads, not --jobs: the threads torch gives one computation (a batch), not items processed side by side.
THREADS = click.option("--threads", type=click.IntRange(min=1), default=None, show_default="one per core",
                       help="CPU threads torch uses for each batch.")


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _options(values: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep or not name.strip():
            raise ReelsetError(f"--option {value!r}: expected NAME=VALUE, e.g. --option mixtures=4")
        options[name.strip()] = setting.strip()
    return options


@group.command("train")
@FILES
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The model directory (created; a checkpoint there is resumed).")
@click.option("--level", type=click.Choice(["video", "frame"]), default="video", show_default=True,
              help="video: one vector per video (mean_rgb, or the mean of the frames); frame: the frames.")
@click.option("--model", type=click.Choice([AUTO, *MODEL_NAMES]), default=AUTO, show_default=True,
              help="auto: up to 20,000 videos (frame level: 2,000), the best by cross-validation of logistic "
                   "regression (frame level: meanpool, on the mean frame), knn and their blend; above, those and "
                   "moe (frame: nextvlad) on the validation videos. logistic, meanpool, knn, blend are fitted "
                   "without epochs.")
@click.option("--option", "option_values", multiple=True, metavar="NAME=VALUE",
              help="A model hyperparameter (repeatable): logistic/meanpool l2; knn k; blend alpha, k, l2 (0 or "
                   "unset: chosen by cross-validation); moe mixtures; nextvlad clusters, groups, expansion, hidden, "
                   "dropout, mixtures, gating_reduction, temporal_kernel.")
@click.option("--folds", type=click.IntRange(min=0), default=None, show_default="5; 3 above 2,000 videos",
              help="Cross-validation folds for choosing logistic/knn/blend settings on small data (0 or 1: hold "
                   "out --validation-fraction instead).")
@click.option("--features", default="auto", show_default=True,
              help="Features to train on, comma separated (rgb; rgb,audio). auto: rgb plus audio when every record "
                   "has audio. For your own videos extracted without --audio vggish, train on rgb.")
@click.option("--classes", default=None, show_default="all",
              help="Predict only these classes: label ids or vocabulary names, comma separated.")
@click.option("--verticals", is_flag=True,
              help="Predict the vocabulary's 25 verticals (a video's: those of its labels) instead of classes.")
@vocabulary_option
@click.option("--validation", "validation_files", multiple=True,
              type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Validation records (repeatable), instead of holding out --validation-fraction.")
@click.option("--validation-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of the videos held out for early stopping (0: none, train --epochs epochs).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True,
              help="The most epochs (early stopping usually ends sooner).")
@click.option("--patience", type=click.IntRange(min=1), default=3, show_default=True,
              help="Stop after this many epochs without a better validation GAP (segment mAP with --segments).")
@click.option("--refit/--no-refit", default=True, show_default=True,
              help="After early stopping, train again on all videos for the best number of epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, show_default="the model's",
              help="Videos per step.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              show_default="the model's", help="Adam's learning rate.")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0, show_default=True, help="L2 penalty.")
@click.option("--seed", type=int, default=0, show_default=True, help="The same seed gives the same model.")
@click.option("--max-frames", type=click.IntRange(min=1), default=300, show_default=True,
              help="Frames per video of a frame-level model (the first ones).")
@DEVICE
@THREADS
@click.option("--resume", "resume", flag_value="require", help="Require a checkpoint in --out and continue it.")
@click.option("--restart", "resume", flag_value="restart",
              help="Discard a checkpoint or model in --out and start over.")
@click.option("--segments", is_flag=True,
              help="Fine-tune the frame-level model of --from on the segment ratings of v3 records "
                   "(3/frame/validate): early stopping on the held-out videos' segment mAP, no refit.")
@click.option("--from", "base_model", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="With --segments: the model directory to start from (its weights, architecture, features and "
                   "classes; they must cover the 1,000 rated classes).")
def train_command(files, out, level, model, option_values, folds, features, classes, verticals, vocabulary,
                  validation_files, validation_fraction, epochs, patience, refit, batch_size, learning_rate,
                  weight_decay, seed, max_frames, device, threads, resume, segments, base_model) -> None:
    """Train a classifier on YouTube-8M records (or your own, extracted with `reelset yt8m extract`).

    Byte features are dequantized, float features used as they are, each video's vector scaled to unit length; the
    labels are the records' ids (names and verticals from --vocabulary, or the cached vocabulary). On small data
    the default cross-validates logistic regression, kNN and their blend and refits the best on all videos; on
    more, the strong model (moe, nextvlad) joins, with early stopping on the validation GAP@20 and a refit. Every
    choice and epoch is checkpointed in --out: run the same command again to resume after an interruption. The model directory records the feature space (backbone, features, widths), the classes and the
    vocabulary; `reelset yt8m evaluate` and `predict` use it. With --segments --from MODEL_DIR: fine-tune that
    frame-level model on the rated 5-second segments (the 2019 challenge), selecting on the segment mAP.

    \b
    Examples:
      reelset yt8m train frame/train*.tfrecord --out nextvlad --level frame --model nextvlad --option clusters=64
      reelset yt8m train 3/frame/validate/*.tfrecord --segments --from nextvlad --out nextvlad-segments
      reelset yt8m train mine.tfrecord --out my-model --features rgb --verticals --vocabulary vocabulary.csv
    """
    if segments or base_model is not None:
        _check_segment_train_options(segments, base_model)
        _set_threads(threads)
        _train_segments(files, out, base_model, validation_files=validation_files,
                        validation_fraction=validation_fraction, epochs=epochs, patience=patience,
                        batch_size=batch_size, learning_rate=learning_rate, weight_decay=weight_decay, seed=seed,
                        device=device, resume=resume)
        return
    from reelset.core.progress import Reporter
    from reelset.yt8m.training.loop import TrainSettings, train
    from reelset.yt8m.vocabulary import resolve_vocabulary

    _set_threads(threads)
    settings = TrainSettings(
        level=level, model=model, options=_options(option_values),
        features=None if features.strip() in ("", "auto") else tuple(f.strip() for f in features.split(",")),
        classes=classes, verticals=verticals, epochs=epochs, patience=patience,
        validation_fraction=validation_fraction, batch_size=batch_size, learning_rate=learning_rate,
        weight_decay=weight_decay, seed=seed, max_frames=max_frames, refit=refit, folds=folds)
    vocab = resolve_vocabulary(vocabulary)
    reporter = Reporter()
    with reporter.live():
        reading = reporter.task("reading records", total=None)
        epoch_bar = reporter.task("epoch", total=None)

        def on_record():
            reading.advance()

        def on_batch(done: int, total: int):
            epoch_bar.update(completed=done, total=total)

        def on_epoch(result):
            reporter.line(result.line())

        summary = train(files, out, settings, validation_paths=validation_files or None, vocabulary=vocab,
                        device=device, resume=resume or "auto", on_epoch=on_epoch, on_batch=on_batch,
                        on_record=on_record)
    for line in summary.lines():
        reporter.line(line)


# What the base model decides when fine-tuning on segments: given with --segments, they would be ignored.
_BASE_DECIDES = ("level", "model", "option_values", "folds", "features", "classes", "verticals", "vocabulary",
                 "max_frames", "refit")


def _check_segment_train_options(segments: bool, base_model: Path | None) -> None:
    if not segments:
        raise ReelsetError("--from: only with --segments (fine-tuning on segment ratings)")
    if base_model is None:
        raise ReelsetError("--segments: needs --from MODEL_DIR, the frame-level model to fine-tune")
    context = click.get_current_context()
    given = [f"--{name.replace('_values', '').replace('_', '-')}" for name in _BASE_DECIDES
             if context.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if given:
        raise ReelsetError(f"{', '.join(given)}: the --from model decides this with --segments (its architecture, "
                           f"features and classes); leave it out")


def _train_segments(files, out, base_model, *, validation_files, resume, device, **values) -> None:
    from reelset.core.progress import Reporter
    from reelset.yt8m.training.segment_tuning import SegmentSettings, fine_tune_segments

    reporter = Reporter()
    with reporter.live():
        reading = reporter.task("reading records", total=None)
        epoch_bar = reporter.task("epoch", total=None)

        def on_batch(done: int, total: int):
            epoch_bar.update(completed=done, total=total)

        summary = fine_tune_segments(files, out, base_model, SegmentSettings(**values),
                                     validation_paths=validation_files or None, device=device,
                                     resume=resume or "auto", on_epoch=lambda result: reporter.line(result.line()),
                                     on_batch=on_batch, on_record=reading.advance)
    for line in summary.lines():
        reporter.line(line)


@group.command("evaluate")
@MODEL_DIR
@FILES
@click.option("--segments", is_flag=True,
              help="The segment task instead (v3 records, 3/frame/validate): the 2019 challenge's mAP over the "
                   "1,000 rated classes of the 5-second segments the model ranks.")
@click.option("--top-k", type=click.IntRange(min=1), default=None, show_default=str(SEGMENT_TOP_K),
              help="With --segments: classes kept per segment (the starter code's --top_k).")
@click.option("--max-per-class", type=click.IntRange(min=1), default=None, show_default=str(SEGMENT_MAX_PER_CLASS),
              help="With --segments: segments listed per class (the starter code's --segment_max_pred).")
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object on stdout: {"gap", "map", "hit_at_1", "perr", "num_videos"}; with --segments '
                   '{"map", "classes", "classes_without_positives", "num_videos", "num_segments", "rated", '
                   '"positives", "max_per_class", "top_k"}.')
@DEVICE
@THREADS
def evaluate_command(model_dir, files, segments, top_k, max_per_class, as_json, device, threads) -> None:
    """GAP@20, mAP, Hit@1 and PERR of a trained model on records (the starter code's metrics), and a table per
    vertical when the model knows the verticals of its classes. With --segments: the segment task's metric, as
    the starter code's inference.py and segment_eval_inference.py compute it.

    \b
    Examples:
      reelset yt8m evaluate model validate*.tfrecord
      reelset yt8m evaluate model validate*.tfrecord --json --device cpu --threads 4
      reelset yt8m evaluate nextvlad 3/frame/validate/validate*.tfrecord --segments
    """
    from reelset.core.progress import Reporter
    from reelset.yt8m.model import load_model

    _check_segment_options(segments, top_k=top_k, max_per_class=max_per_class)
    _set_threads(threads)
    model = load_model(model_dir, device=device)
    reporter = Reporter()
    if segments:
        from reelset.yt8m.segments import MAX_PER_CLASS, TOP_K, evaluate_segments

        with reporter.live():
            bar = reporter.task("videos", total=None)
            result = evaluate_segments(model, files, top_k=top_k or TOP_K,
                                       max_per_class=max_per_class or MAX_PER_CLASS, on_record=bar.advance)
        if as_json:
            print(json.dumps(result.as_json()), flush=True)
            return
        for line in result.lines():
            reporter.line(line)
        return
    from reelset.yt8m.training.evaluation import evaluate_model

    with reporter.live():
        bar = reporter.task("videos", total=None)
        evaluation = evaluate_model(model, files, on_record=bar.advance)
    if as_json:
        print(json.dumps({key: evaluation.metrics[key] for key in ("gap", "map", "hit_at_1", "perr", "num_videos")}),
              flush=True)
        return
    for line in evaluation.lines():
        reporter.line(line)


def _check_segment_options(segments: bool, **values) -> None:
    given = [f"--{name.replace('_', '-')}" for name, value in values.items() if value is not None]
    if given and not segments:
        raise ReelsetError(f"{' and '.join(given)}: only with --segments")


@group.command("predict")
@MODEL_DIR
@FILES
@click.option("--segments", is_flag=True,
              help="The segment task's submission instead: 'Class,Segments' then one line per rated class, "
                   "'<class id>,<video id>:<start> ...', best first (redirect it to a file).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, show_default=f"5; {SEGMENT_TOP_K} with --segments",
              help="Classes shown per video; with --segments: classes kept per segment.")
@click.option("--max-per-class", type=click.IntRange(min=1), default=None, show_default=str(SEGMENT_MAX_PER_CLASS),
              help="With --segments: segments listed per class.")
@click.option("--json", "as_json", is_flag=True,
              help='JSON Lines, one per video: {"id", "labels", "top": [{"class", "name", "vertical", "score"}]}.')
@DEVICE
@THREADS
def predict_command(model_dir, files, segments, top_k, max_per_class, as_json, device, threads) -> None:
    """The top classes of every video of the records, with names and probabilities, one line per video
    ("<id>: <name> <score>, ..."), in file order. With --segments: the segment task's submission file, every
    5-second segment scored and ranked per rated class as the starter code's inference.py does.

    \b
    Examples:
      reelset yt8m predict model test*.tfrecord --top-k 3
      reelset yt8m predict my-model mine.tfrecord --json > predictions.jsonl
      reelset yt8m predict nextvlad 3/frame/test/test*.tfrecord --segments > submission.csv
    """
    from reelset.yt8m.model import load_model

    _check_segment_options(segments, max_per_class=max_per_class)
    if segments and as_json:
        raise ReelsetError("--json and --segments: the submission is CSV; choose one")
    _set_threads(threads)
    model = load_model(model_dir, device=device)
    if segments:
        from reelset.yt8m.segments import MAX_PER_CLASS, TOP_K, rank_segments

        ranking = rank_segments(model, files, top_k=top_k or TOP_K, max_per_class=max_per_class or MAX_PER_CLASS)
        for line in ranking.submission_lines():
            print(line, flush=False)
        sys.stdout.flush()
        return
    from reelset.yt8m.training.evaluation import predict_records

    for prediction in predict_records(model, files, top_k=top_k or 5):
        if as_json:
            print(json.dumps(prediction.as_json(model), separators=(",", ":")), flush=False)
        else:
            print(prediction.line(model), flush=False)
    sys.stdout.flush()
