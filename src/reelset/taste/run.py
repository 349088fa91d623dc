"""``reelset taste`` as one library call: :func:`run_taste`.

scan the paths -> features (decode threads, batched embedding, the content-hash feature cache shared with
``reelset yt8m extract``) -> the tagger's scores and top labels -> in worker threads: ffprobe (length, creation time)
and a thumbnail at the second that best shows the top label -> ``predictions.json``, ``predictions.csv``,
``report.html`` -> the FiftyOne dataset.

Outputs under ``out``, each written atomically:

- ``predictions.json``: one entry per tagged video in scan order: ``path``, ``vertical`` (YouTube-8M's, "Other"
  when its labels map to none), ``labels`` (the top k best first whatever their score: ``name``, ``score`` rounded
  to 6 decimals, ``vertical``, ``unsure``), ``taken`` (ISO 8601 with its zone), ``taken_from`` (``"metadata"`` or
  ``"file"``), ``place`` ("City, Country" or null), ``lat``, ``lon``, ``duration`` (seconds), ``shots``,
  ``duplicate_of`` (the path of the video it repeats, or null);
- ``predictions.csv``: the same, one row per video and label rank (:data:`PREDICTION_COLUMNS`; ``rank`` from 1,
  ``label_vertical`` and ``unsure`` (0/1) the label's, empty for null);
- ``thumbnails/``: one JPEG per video (``<name>-<hash>.jpg``, reused while the video and the chosen second are the
  same; pictures of videos no longer in the run are removed);
- ``report.html``: :mod:`reelset.taste.report`.

A file that cannot be tagged (empty, truncated before its index, not a video; a video without sound given to a model
that reads rgb+audio) is skipped with its reason, in the report and as a warning; a damaged file that decodes in
part is tagged from what decodes, with a warning.

The tagger says what the extraction computes: a model trained on rgb+audio has each video's sound turned into
YouTube-8M's audio features too (VGGish, :mod:`reelset.features.audio`; its files fetched once into
``audio_model_dir``, else ``backbone_model_dir``, else ``~/yt8m``, and loaded before anything is written).

Two tasks per video run on an executor (:mod:`reelset.scale`): decode and embed
(:func:`reelset.features.video.video_features`, the feature cache read and written by the task), then ffprobe and the
thumbnail (:func:`finish_video`), in ``jobs`` threads here or on the workers of a Dask cluster (``reelset taste
--scheduler ADDRESS``; each worker loads the backbone once for its process). This process scans the paths, scores
the features with the tagger, and alone writes ``predictions.json``/``.csv``, ``report.html`` and the FiftyOne
dataset, in scan order: the outputs are the same wherever the tasks ran (given the torch thread count: a Dask worker
uses one). Each thumbnail has a single writer, the task of its
video, and is written atomically (a task rerun after its worker died writes the same file again). Every path a task
gets is made absolute here: the videos, ``out/thumbnails``, ``cache_dir`` and ``backbone_model_dir`` must be visible
to every worker under the same absolute path (a shared file system); without ``cache_dir`` each worker uses its own
default cache. A task that fails for good (its worker died on it ``allowed-failures`` times) makes its video
skipped (features) or tagged without a thumbnail (finish), with its reason.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from reelset.core.atomic import atomic_write_text, check_output, remove_stale_temps, temp_path_for
from reelset.core.cache import writable_cache_dir
from reelset.core.errors import ReelsetError, one_line
from reelset.core.ffmpeg import MediaError, probe, run_ffmpeg
from reelset.core.progress import Reporter
from reelset.features.constants import AUDIO_VGGISH
from reelset.features.extraction import (
    VIDEO_SUFFIXES,
    ExtractSettings,
    VideoInput,
    VideoResult,
    iter_video_features,
)
from reelset.scale import Executor, executor_for
from reelset.taste.constants import DEFAULT_DATASET, DEFAULT_TOP_K
from reelset.taste.dataset import FRAME_FIELD, VIDEO_FIELD, DatasetSummary, write_dataset
from reelset.taste.predict import FrameTopLabels, Tagger, load_tagger, top_labels, video_vertical
from reelset.taste.report import ReportInput, write_report
from reelset.taste.results import UNKNOWN_GROUP, SkippedFile, TastedVideo
from reelset.taste.capture import Capture, capture_facts
from reelset.taste.scan import TakenAt, scan_videos
from reelset.taste.verticals import OTHER

THUMBNAIL_WIDTH = 320
MOMENT_WIDTH = 480  # the best moments are shown larger than the cards' thumbnails
TOP_MOMENTS = 6  # best moments shown: of the verticals with the most videos
_THUMBNAIL_NAME = re.compile(r"^.+-[0-9a-f]{12}\.jpg$")


@dataclass
class TasteSummary:
    """The outcome of :func:`run_taste`: the paths written, the videos tagged and the files skipped."""

    out: Path
    videos: list[TastedVideo] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    from_cache: int = 0
    tagger: str = ""
    dataset: DatasetSummary | None = None

    @property
    def report(self) -> Path:
        return self.out / "report.html"

    @property
    def predictions_json(self) -> Path:
        return self.out / "predictions.json"

    @property
    def predictions_csv(self) -> Path:
        return self.out / "predictions.csv"

    @property
    def thumbnails(self) -> Path:
        return self.out / "thumbnails"

    @property
    def tagged(self) -> int:
        return len(self.videos)

    @property
    def hours(self) -> float:
        return sum(video.seconds for video in self.videos) / 3600

    @property
    def line(self) -> str:
        return (f"taste: {self.tagged} videos ({self.hours:.1f} hours) tagged, {len(self.skipped)} skipped; "
                f"report: {self.report}")


def summary_lines(summary: TasteSummary) -> list[str]:
    """The end-of-run lines, the one-line summary last."""
    lines = [f"wrote {summary.predictions_json}", f"wrote {summary.predictions_csv}",
             f"thumbnails in {summary.thumbnails}",
             f"from cache: {summary.from_cache} of {summary.tagged + len(summary.skipped)} videos"]
    for item in summary.skipped:
        lines.append(f"skipped {item.path}: {item.reason}")
    if summary.dataset is not None:
        dataset = summary.dataset
        lines.append(f"fiftyone: dataset {dataset.name!r} has {dataset.samples} videos ({dataset.added} added, "
                     f"{dataset.updated} updated, {dataset.removed} removed), per-video labels in {VIDEO_FIELD}, "
                     f"per-second labels in frames.{FRAME_FIELD} ({dataset.labelled_frames} frames)")
    lines.append(summary.line)
    return lines


def mark_duplicates(videos: Sequence[TastedVideo], hashes: Sequence[np.ndarray]) -> None:
    """``duplicate_of`` of each near-duplicate (a re-encode, trim or copy: :mod:`reelset.taste.duplicates`): the
    path of the one kept, the longest (then largest, then first found)."""
    from reelset.taste.duplicates import VideoHashes, find_duplicates

    known = [VideoHashes(video_hashes, video.duration or video.seconds, video.width or 0, video.height or 0)
             for video, video_hashes in zip(videos, hashes)]
    for duplicate, kept in find_duplicates(known).items():
        videos[duplicate].duplicate_of = videos[kept].path


def name_places(videos: Sequence[TastedVideo]) -> None:
    """Each video filmed where its metadata says gets that place's name (offline: :mod:`reelset.taste.places`,
    whose data is loaded only when some video has a location)."""
    located = [video for video in videos if video.lat is not None and video.lon is not None]
    if not located:
        return
    from reelset.taste.places import places_of

    for video, place in zip(located, places_of((video.lat, video.lon) for video in located)):
        video.place = None if place is None else place.name


def _round(score: float) -> float:
    return round(float(score), 6)


def predictions_records(videos: Iterable[TastedVideo]) -> list[dict]:
    """``predictions.json``'s content (module docstring)."""
    return [{"path": video.path, "vertical": video.vertical,
             "labels": [{"name": label.name, "score": _round(label.score), "vertical": label.category,
                         "unsure": label.unsure} for label in video.labels],
             "taken": video.taken.when.isoformat(), "taken_from": video.taken.source, "place": video.place,
             "lat": video.lat, "lon": video.lon,
             "duration": None if video.duration is None else round(float(video.duration), 3),
             "shots": video.shots, "duplicate_of": video.duplicate_of} for video in videos]


PREDICTION_COLUMNS = ("path", "vertical", "rank", "name", "score", "label_vertical", "unsure", "taken", "taken_from",
                      "place", "lat", "lon", "duration", "shots", "duplicate_of")


def write_predictions(out: Path, videos: Sequence[TastedVideo]) -> tuple[Path, Path]:
    """``predictions.json`` and ``predictions.csv`` in ``out`` (the same labels and scores)."""
    records = predictions_records(videos)
    json_path, csv_path = out / "predictions.json", out / "predictions.csv"
    atomic_write_text(json_path, json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(PREDICTION_COLUMNS)
    for record in records:
        shown = {key: "" if value is None else value for key, value in record.items()}
        for rank, label in enumerate(record["labels"], 1):
            writer.writerow([shown["path"], shown["vertical"], rank, label["name"], repr(label["score"]),
                             label["vertical"], int(label["unsure"]), shown["taken"], shown["taken_from"],
                             shown["place"], shown["lat"], shown["lon"], shown["duration"], shown["shots"],
                             shown["duplicate_of"]])
    atomic_write_text(csv_path, buffer.getvalue())
    return json_path, csv_path


def _thumbnail_path(folder: Path, video: Path, seconds: float) -> Path:
    stat = video.stat()
    key = hashlib.sha256(f"{video.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\0{seconds:.3f}".encode())
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", video.stem).strip("._")[:40] or "video"
    return folder / f"{stem}-{key.hexdigest()[:12]}.jpg"


def make_thumbnail(video: str | Path, folder: Path, seconds: float, *, width: int = THUMBNAIL_WIDTH,
                   label: str | None = None) -> Path:
    """A JPEG of the frame shown at ``seconds`` (else the first frame), ``width`` pixels wide, in ``folder``;
    reused when it is already there for the same file and second. ``label`` names the video in messages (default:
    ``video``).

    Raises:
        MediaError: no frame could be read.
    """
    video = Path(video)
    name = label or str(video)
    target = _thumbnail_path(folder, video, seconds)
    if target.is_file() and target.stat().st_size > 0:
        return target
    reason = "no frame"
    for at in dict.fromkeys((max(0.0, seconds), 0.0)):  # a damaged file may not seek: its first frame then
        tmp = temp_path_for(target)
        try:
            run_ffmpeg(["-loglevel", "error", "-y", "-ss", f"{at:.3f}", "-i", f"file:{video.resolve()}",
                        "-map", "0:V:0", "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "4",
                        "-f", "image2", "-c:v", "mjpeg", str(tmp)], label=f"thumbnail of {name}", timeout=120)
            if tmp.is_file() and tmp.stat().st_size > 0:
                os.replace(tmp, target)
                return target
        except MediaError as exc:
            reason = str(exc)
        finally:
            with contextlib.suppress(OSError):  # never in place of the error that is on its way out
                tmp.unlink()
    raise MediaError(f"{name}: no thumbnail ({reason})")


def _best_second(frame_scores: np.ndarray | None, timestamps: np.ndarray, best_class: int) -> float:
    """The sample time at which the video's top class scores highest (the middle sample without frame scores)."""
    if len(timestamps) == 0:
        return 0.0
    if frame_scores is None or len(frame_scores) != len(timestamps):
        return float(timestamps[len(timestamps) // 2])
    return float(timestamps[int(np.argmax(frame_scores[:, best_class]))])


@dataclass(frozen=True)
class FinishTask:
    """One tagged video's facts and thumbnail to make (in a thread here, or as a Dask task): the path as found
    (``label``, for messages), the absolute path to open, the absolute thumbnails folder, the second to show, and
    the seconds its 1 fps samples cover (shots are counted and frames hashed over that span)."""

    label: str
    path: str
    thumbnails: str
    seconds: float
    span: float = 0.0


PROBED_FIELDS = ("duration", "size_bytes", "frame_rate", "frame_count", "width", "height")  # of TastedVideo


@dataclass(frozen=True)
class VideoFacts:
    """What :func:`finish_video` found: when and where the video was taken (:mod:`reelset.taste.capture`; whether
    the time carries the zone it was filmed in, as iPhones write it), ffprobe's facts (by :data:`PROBED_FIELDS`
    name, absent when unknown), the name of its thumbnail in the thumbnails folder (None when none could be made),
    and the new warnings."""

    taken: TakenAt
    probed: dict[str, Any] = field(default_factory=dict)
    thumbnail: str | None = None
    warnings: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    filmed_zone: bool = False
    shots: int | None = None
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))  # for near-duplicates

    def apply(self, video: TastedVideo, thumbnails: Path) -> None:
        """Fill ``video`` in, its thumbnail in ``thumbnails`` (the folder as this process names it) and its time in
        the zone it was filmed in when known, else this process's."""
        for name in PROBED_FIELDS:
            setattr(video, name, self.probed.get(name))
        when = self.taken.when if self.filmed_zone else self.taken.when.astimezone()
        video.taken = TakenAt(when, self.taken.source)
        video.lat, video.lon = self.lat, self.lon
        video.shots = self.shots
        video.thumbnail = None if self.thumbnail is None else thumbnails / self.thumbnail
        video.warnings.extend(self.warnings)


def _capture(task: FinishTask, tags: dict[str, str], warnings: list[str]) -> Capture:
    """When and where it was taken (:func:`reelset.taste.capture.capture_facts`)."""
    try:
        return capture_facts(tags, task.path)
    except OSError as exc:  # gone since it was decoded
        warnings.append(f"{task.label}: {one_line(exc, strerror=True)}")
        return Capture(datetime.now().astimezone(), "file")


def finish_video(task: FinishTask) -> VideoFacts:
    """ffprobe's facts (length, creation time, frame grid) and the thumbnail of one video; a pure function of its
    task (a worker thread here, or a Dask worker: it writes the video's thumbnail, nothing else)."""
    warnings: list[str] = []
    probed: dict[str, Any] = {}
    tags: dict[str, str] = {}
    thumbnail = None
    try:
        info = probe(f"file:{Path(task.path).resolve()}", label=task.label, timeout=120)
        tags = info.tags
        probed.update(duration=info.duration, size_bytes=info.size)
        if info.video is not None:
            probed.update(frame_rate=info.video.fps, frame_count=info.video.frame_count)
            probed["width"], probed["height"] = info.video.display_size
        if probed.get("frame_rate") and not probed.get("frame_count") and probed.get("duration"):
            probed["frame_count"] = max(1, round(probed["frame_rate"] * probed["duration"]))
    except MediaError as exc:
        warnings.append(str(exc))
    capture = _capture(task, tags, warnings)
    try:
        thumbnail = make_thumbnail(task.path, Path(task.thumbnails), task.seconds, label=task.label).name
    except (MediaError, OSError) as exc:
        warnings.append(str(exc))
    shots, hashes = _moments(task, warnings)
    return VideoFacts(TakenAt(capture.taken, capture.taken_from), probed, thumbnail, tuple(warnings),
                      capture.lat, capture.lon, capture.filmed_zone, shots, hashes)


HASH_FRAME_SIZE = (224, 224)  # the frames the near-duplicate rule was measured on (tests/taste/test_duplicates.py)


def _moments(task: FinishTask, warnings: list[str]) -> tuple[int | None, np.ndarray]:
    """How many shots the span the samples cover has, and the perceptual hashes of its 1 fps frames."""
    from reelset.features.frames import decode_frames
    from reelset.taste.duplicates import frame_hashes
    from reelset.taste.shots import detect_shots

    span = max(task.span, 1.0)
    shots = None
    hashes = np.zeros(0, np.uint64)
    try:
        shots = len(detect_shots(task.path, max_seconds=span))
    except ReelsetError as exc:
        warnings.append(f"{task.label}: shots not counted ({exc})")
    try:
        decoded = decode_frames(task.path, fps=1.0, max_frames=max(1, int(round(span))), size=HASH_FRAME_SIZE)
        hashes = frame_hashes(decoded.frames)
    except MediaError as exc:
        warnings.append(f"{task.label}: not compared for duplicates ({exc})")
    return shots, hashes


def _finish_failed(task: FinishTask, error: BaseException) -> VideoFacts:
    """A finish task that failed for good (on a cluster: its worker died too often): the video stays tagged,
    without facts or thumbnail."""
    warnings = [f"{task.label}: ffprobe and thumbnail failed: {one_line(error, typed=True)}"]
    capture = _capture(task, {}, warnings)
    return VideoFacts(TakenAt(capture.taken, capture.taken_from), warnings=tuple(warnings))


def _reason(result: VideoResult) -> str:
    prefix = f"{result.video.path}: "
    return result.error[len(prefix):] if result.error.startswith(prefix) else result.error


def _tag(result: VideoResult, tagger: Tagger, top_k: int
         ) -> tuple[TastedVideo, np.ndarray, np.ndarray | None, float]:
    """A video's labels from its features: the video (its facts still to find), its label scores, its per-second
    label scores (or None), and the second that best shows its top label."""
    features = result.features
    scores, frame_scores = tagger.scores(features)
    if scores.shape != (len(tagger.names),):
        raise ReelsetError(f"the tagger gave {scores.shape} scores for {len(tagger.names)} classes")
    labels = top_labels(scores, tagger.names, tagger.groups, top_k, tagger.unsure)
    video = TastedVideo(
        path=result.video.path, labels=labels,
        frame_labels=None if frame_scores is None else FrameTopLabels.from_scores(
            frame_scores, tagger.names, tagger.groups, top_k, tagger.unsure),
        timestamps=np.asarray(features.timestamps, np.float64), taken=None, from_cache=result.from_cache,
        warnings=list(features.warnings), vertical=video_vertical(labels))
    return video, scores, frame_scores, _best_second(frame_scores, video.timestamps, int(np.argmax(scores)))


class BestMoments:
    """Per vertical, the moment of the whole library that shows it best: the second of the video whose frame scores
    for that vertical's labels add up highest (the report's "best moments"; frame-level taggers only)."""

    def __init__(self, groups: Sequence[str]):
        self.verticals = sorted({group for group in groups if group})
        column = {vertical: index for index, vertical in enumerate(self.verticals)}
        self._of_label = np.zeros((len(groups), len(self.verticals)), np.float32)
        for label, group in enumerate(groups):
            if group:
                self._of_label[label, column[group]] = 1.0
        self.best: dict[str, tuple[float, str, float]] = {}  # vertical -> (score, video path as found, second)

    def add(self, path: str, frame_scores: np.ndarray | None, timestamps: np.ndarray) -> None:
        if frame_scores is None or len(frame_scores) == 0 or len(frame_scores) != len(timestamps):
            return
        by_vertical = np.asarray(frame_scores, np.float32) @ self._of_label  # (frames, verticals)
        frames = by_vertical.argmax(axis=0)
        for column, vertical in enumerate(self.verticals):
            score = float(by_vertical[frames[column], column])
            if score > self.best.get(vertical, (0.0,))[0]:
                self.best[vertical] = (score, path, float(timestamps[frames[column]]))

    def thumbnails(self, verticals: Sequence[str], folder: Path) -> dict[str, tuple[str, Path | None]]:
        """For each of ``verticals`` that has a moment: (video path, its picture in ``folder``, or None)."""
        found: dict[str, tuple[str, Path | None]] = {}
        for vertical in verticals:
            if vertical not in self.best:
                continue
            _, path, second = self.best[vertical]
            try:
                picture = make_thumbnail(path, folder, second, width=MOMENT_WIDTH)
            except (MediaError, OSError):
                picture = None
            found[vertical] = (path, picture)
        return found


def _absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().absolute())


def check_taste_inputs(paths: Sequence[Path], out: str | Path, *, top_k: int = DEFAULT_TOP_K,
                       limit: int | None = None, cache_dir: Path | None = None, use_cache: bool = True) -> list[Path]:
    """What :func:`run_taste` checks before it loads or writes anything: the numbers, the videos, ``out`` and the
    feature cache. Returns the videos to tag (the first ``limit`` found). A step that must run before the tagging
    (``reelset taste --yt8m``: :mod:`reelset.taste.yt8m_loop`) asks first, so that a mistake is not found an hour
    later.

    Raises:
        ReelsetError: as :func:`run_taste` for these inputs.
    """
    if top_k < 1:
        raise ReelsetError(f"--top-k must be at least 1, got {top_k}")
    if limit is not None and limit < 0:
        raise ReelsetError(f"--limit must be at least 0, got {limit}")
    found = scan_videos(paths)
    if not found:
        raise ReelsetError(f"no videos found in {', '.join(map(str, paths))} (looked for {', '.join(VIDEO_SUFFIXES)})")
    check_output(out, folder=True)
    if use_cache:
        writable_cache_dir(cache_dir)
    return found if limit is None else found[:limit]


def run_taste(
    paths: Iterable[str | Path],
    out: str | Path,
    *,
    model=None,
    top_k: int = DEFAULT_TOP_K,
    limit: int | None = None,
    dataset: str | None = DEFAULT_DATASET,
    cache_dir: Path | None = None,
    use_cache: bool = True,
    device: str = "auto",
    jobs: int = 2,
    batch_size: int | None = None,
    wordnet_dir: Path | None = None,
    backbone_model_dir: Path | None = None,
    audio_model_dir: Path | None = None,
    audio_expected_sha256: str | None = None,
    reporter: Reporter | None = None,
    executor: Executor | str | None = None,
) -> TasteSummary:
    """Tag the videos under ``paths`` and write the report, the predictions and the dataset (module docstring).

    Args:
        model: None for the offline ImageNet tagger, else a YouTube-8M model folder (or a loaded model).
        top_k: labels per video (and per second), whatever their score.
        limit: tag only the first N videos found.
        dataset: the FiftyOne dataset to create or update; None for none.
        cache_dir: the feature cache (and the memo of the ImageNet-to-YouTube-8M mapping); default reelset's cache
            folder.
        use_cache: read and write the feature cache.
        jobs: videos decoded (and probed, thumbnailed) at the same time on this machine (without ``executor``).
        backbone_model_dir: where ``inception-yt8m`` keeps its files (for a model trained on them).
        audio_model_dir: where VGGish's files are fetched (once) and verified, for a model that reads rgb+audio;
            default ``backbone_model_dir``, else ``~/yt8m``. ``audio_expected_sha256`` pins them
            (``NAME=HEX[,NAME=HEX]``).
        reporter: progress bars and warnings (a quiet one by default).
        executor: where each video is decoded, embedded, probed and thumbnailed (:func:`reelset.scale.executor_for`:
            an Executor, or a Dask scheduler's address or ``distributed.Client``; module docstring). Default:
            ``jobs`` threads here.

    Raises:
        ReelsetError: a path that does not exist, folders without a video, bad numbers, ``out`` or the feature
            cache not writable, WordNet or the model missing or unusable, VGGish's files that cannot be fetched or
            loaded, a scheduler that cannot be reached (all before anything is written).
    """
    reporter = reporter or Reporter(interactive=False)
    paths = [Path(path) for path in paths]
    found = check_taste_inputs(paths, out, top_k=top_k, limit=limit, cache_dir=cache_dir, use_cache=use_cache)
    with executor_for(executor, workers=jobs + 1) as running:  # jobs decode while one embeds
        return _run(paths, found, out, running, model=model, top_k=top_k, dataset=dataset, cache_dir=cache_dir,
                    use_cache=use_cache, device=device, jobs=jobs, batch_size=batch_size, wordnet_dir=wordnet_dir,
                    backbone_model_dir=backbone_model_dir, audio_model_dir=audio_model_dir,
                    audio_expected_sha256=audio_expected_sha256, reporter=reporter)


def _load_vggish(settings: ExtractSettings, reporter: Reporter):
    """VGGish for a tagger that reads audio (None otherwise), its files fetched at first use with a bar each."""
    if settings.audio != AUDIO_VGGISH:
        return None
    from reelset.features.audio import load_vggish

    bars: dict[str, Any] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if name not in bars:
            bars[name] = reporter.task(f"VGGish: {name}", total=total, unit="bytes")
        bars[name].update(completed=done, total=total)

    with reporter.live():
        return load_vggish(settings.audio_model_dir or settings.model_dir, device=settings.device,
                           expected_sha256=settings.audio_expected_sha256, on_progress=progress)


def _run(paths: list[Path], found: list[Path], out: str | Path, executor: Executor, *, model, top_k: int,
         dataset: str | None, cache_dir: Path | None, use_cache: bool, device: str, jobs: int, batch_size: int | None,
         wordnet_dir: Path | None, backbone_model_dir: Path | None, audio_model_dir: Path | None,
         audio_expected_sha256: str | None, reporter: Reporter) -> TasteSummary:
    """:func:`run_taste` once the videos are found (and the executor ready: a cluster connected)."""
    tagger, backbone = load_tagger(model, device=device, wordnet_dir=wordnet_dir, cache_dir=cache_dir,
                                   backbone_model_dir=backbone_model_dir)
    settings = ExtractSettings(backbone=tagger.backbone, device=device, batch_size=batch_size, decode_workers=jobs,
                               cache_dir=cache_dir, use_cache=use_cache, model_dir=backbone_model_dir,
                               audio=tagger.audio, audio_model_dir=audio_model_dir,
                               audio_expected_sha256=audio_expected_sha256)
    vggish = _load_vggish(settings, reporter)
    results = iter_video_features((VideoInput(str(path)) for path in found), settings, executor, backbone, vggish)
    out = Path(out)
    thumbnails = out / "thumbnails"
    made = [folder for folder in (out, thumbnails) if not folder.exists()]  # removed again if nothing is tagged
    thumbnails.mkdir(parents=True, exist_ok=True)
    shared_thumbnails = _absolute(thumbnails)  # for the tasks
    summary = TasteSummary(out, tagger=tagger.description)
    totals = np.zeros(len(tagger.names), np.float64)
    moments = BestMoments(tagger.groups)
    hashes: list[np.ndarray] = []  # of summary.videos, in order
    waiting: collections.deque[TastedVideo] = collections.deque()  # tagged, in order, their facts on the way
    with reporter.live():
        bar = reporter.task("tagging videos", total=len(found))
        finishing = reporter.task("thumbnails", total=None)

        def finish_tasks() -> Iterator[FinishTask]:
            tagged = 0
            for result in results:
                bar.advance()
                reason = _reason(result) if result.error is not None else tagger.cannot_tag(result.features)
                if reason is not None:
                    summary.skipped.append(SkippedFile(result.video.path, reason))
                    reporter.warn(f"skipped {result.video.path}: {reason}")
                    continue
                video, scores, frame_scores, seconds = _tag(result, tagger, top_k)
                moments.add(video.path, frame_scores, video.timestamps)
                totals[:] += scores  # in place: the array of the enclosing function
                summary.from_cache += result.from_cache
                tagged += 1
                for warning in video.warnings:
                    reporter.warn(warning)
                waiting.append(video)
                span = float(video.timestamps[-1]) + 1.0 if len(video.timestamps) else 0.0
                yield FinishTask(video.path, _absolute(video.path), shared_thumbnails, seconds, span)
            finishing.update(total=tagged)

        for facts in executor.map_ordered(finish_video, finish_tasks(), on_error=_finish_failed):
            video = waiting.popleft()
            facts.apply(video, thumbnails)
            hashes.append(facts.hashes)
            finishing.advance()
            for warning in facts.warnings:
                reporter.warn(warning)
            summary.videos.append(video)
    if not summary.videos:  # an empty report says nothing: leave the outputs of an earlier run as they were
        for folder in reversed(made):
            remove_stale_temps(folder)
            with contextlib.suppress(OSError):
                folder.rmdir()
        first = summary.skipped[0]
        raise ReelsetError(f"no video could be tagged: {len(summary.skipped)} skipped (first: {first.path}: "
                           f"{first.reason}); nothing written")
    remove_stale_temps(thumbnails)  # left by a task whose worker died while it wrote
    counts = collections.Counter(video.vertical for video in summary.videos if video.vertical not in ("", OTHER))
    best_moments = moments.thumbnails([vertical for vertical, _ in counts.most_common(TOP_MOMENTS)], thumbnails)
    used = {video.thumbnail.name for video in summary.videos if video.thumbnail is not None}
    used |= {picture.name for _, picture in best_moments.values() if picture is not None}
    for stale in thumbnails.glob("*.jpg"):
        if _THUMBNAIL_NAME.match(stale.name) and stale.name not in used:
            stale.unlink(missing_ok=True)

    name_places(summary.videos)
    mark_duplicates(summary.videos, hashes)
    write_predictions(out, summary.videos)
    grand_total = totals.sum()
    shares: dict[str, float] = {}
    for group, score in zip(tagger.groups, totals):
        group = group or UNKNOWN_GROUP
        shares[group] = shares.get(group, 0.0) + (score / grand_total if grand_total > 0 else 0.0)
    write_report(summary.report, summary.videos, summary.skipped,
                 ReportInput(sources=[str(path) for path in paths],
                             tagger=tagger.description, top_k=top_k,
                             group_kind=tagger.group_kind if any(tagger.groups) else "none",
                             from_cache=summary.from_cache, group_shares=shares, best_moments=best_moments))
    if dataset:
        summary.dataset = write_dataset(dataset, summary.videos, description=tagger.description)
    return summary


# --- the demo's step (called by reelset.demo) -----------------------------------------------------------------------

DEMO_DATASET = "taste-demo"


def run_taste_demo(workdir: Path, reporter: Reporter, *, videos_dirs: Sequence[Path] = (),
                   dataset_name: str | None = DEMO_DATASET) -> bool:
    """``reelset taste`` on the sample library of :mod:`reelset.taste.samples` (real photos as videos, a test
    pattern, three broken files), made once in ``<workdir>/taste-videos``, plus ``videos_dirs`` (e.g. the demo's
    clips); the report goes to ``<workdir>/taste``. Returns whether every sample was tagged and exactly the broken
    files were skipped."""
    from reelset.taste.samples import BROKEN_FILES, SAMPLE_LIBRARY, make_sample_library

    library = Path(workdir) / "taste-videos"
    reporter.line(f"demo: taste: sample videos made from photos in {library} (once)")
    make_sample_library(library)
    summary = run_taste([library, *videos_dirs], Path(workdir) / "taste", dataset=dataset_name, reporter=reporter)
    for line in summary_lines(summary):
        reporter.line(line)
    broken = {str(library / "broken" / name) for name in BROKEN_FILES}
    skipped = {item.path for item in summary.skipped}
    return summary.tagged >= len(SAMPLE_LIBRARY) and skipped == broken
