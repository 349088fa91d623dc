"""``reelset taste --yt8m``: the original course project in one command, every step resumable and cached.

What the project did by hand, in order (:func:`prepare_yt8m_model`, then :func:`run_taste_yt8m` tags the videos):

1. **backbone files**: the Inception graph and YouTube-8M's PCA (:mod:`reelset.features.backbones.model_files`),
   fetched once into the backbone's model dir (default ``~/yt8m``), sha256 recorded then verified on every use.
   TensorFlow is checked first: without it nothing is downloaded. With ``audio="vggish"`` VGGish's two files too,
   into the audio model dir (default: the backbone's), so that a bad URL fails before the data and the training.
2. **data**: a fraction of YouTube-8M's video-level training data, :data:`PARTITION`, shard ``X,Y`` (default
   :data:`DEFAULT_SHARD`: the files whose md5-of-name falls in shard 1 of 100, the official rule) downloaded by
   :func:`reelset.yt8m.download_partition` into ``<cache>/yt8m/2_video_train/`` with the official plan and names.
   Shards share that folder: a file is downloaded once whichever shards ask for it. A rerun whose shard the plan
   lists no more is cached without a request; a killed one resumes (the plan, ``.part`` files and ``Range``).
3. **model**: :func:`reelset.yt8m.training.train` with the default settings (:func:`default_train_settings`: the
   default model, ``--model auto``) on the shard's records, into
   ``<cache>/yt8m/models/2_video_train-<key>/``, ``key`` a digest of the shard's files (names and sizes), the
   settings and the vocabulary. A finished model there is used as it is (nothing is read or trained); a killed
   training resumes from its last checkpoint. The classes are YouTube-8M's 3,862 entities, named and put in their
   verticals by the slim vocabulary shipped in the package (no vocabulary download). The model reads only the
   features that the person's videos will have (:func:`training_features`): rgb, and the records' ``mean_audio``
   only with ``audio="vggish"`` (the videos' sound then becomes YouTube-8M's audio features too).
4. **tagging**: :func:`reelset.taste.run.run_taste` with that model and the ``inception-yt8m`` backbone: the videos
   are extracted in YouTube-8M's own feature space (with VGGish audio for an rgb+audio model) and the report speaks
   its entities and verticals. An rgb+audio model cannot tag a video without sound: that video is skipped, its
   reason in the report and the summary (:data:`reelset.taste.predict.NO_SOUND`), the others are tagged.

One progress display covers the steps (bars on a terminal, nothing but lines otherwise); each step ends with one
line, ``yt8m <step>: cached ...`` or what it did, before the report's own lines.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelset.core.errors import ReelsetError
from reelset.yt8m.constants import DATA_BASE_URL, MIRRORS, PLAN_BASE_URL

if TYPE_CHECKING:  # numpy and torch behind them: `reelset taste --help` reads this module's constants only
    from reelset.core.progress import Reporter
    from reelset.features.video import ExtractSettings
    from reelset.taste.run import TasteSummary
    from reelset.yt8m.training import TrainSettings, TrainSummary
    from reelset.yt8m.vocabulary import Vocabulary

PARTITION = "2/video/train"  # video level: one mean vector per video, what the original project trained on
DEFAULT_SHARD = "1,100"  # about 38 of the 3,844 files: tens of thousands of videos
DEFAULT_MIRROR = MIRRORS[0]
YT8M_SUBDIR = "yt8m"  # under the cache folder, beside the cached vocabulary of `reelset yt8m vocab`
MODELS_SUBDIR = "models"
_LOCAL_NAME = re.compile(r"(?P<split>[a-z]+)(?P<position>\d{4})(?P<ext>\.tfrecord)")
# The downloader's lines a taste run shows: the files' own results. Its other lines (a fresh start's ">2TB of free
# disk space", "Files remaining", "All done") speak of a whole partition, which this step is not.
_PER_FILE = ("Succesfully downloaded", "Error downloading", "Skipping already downloaded")


@dataclass(frozen=True)
class Yt8mSource:
    """Where the YouTube-8M half of the loop comes from: the options of ``reelset yt8m download`` and the backbone
    files' URLs.

    Attributes:
        shard: ``X,Y``: shard X of Y of :data:`PARTITION` (the official md5-of-name rule).
        mirror, plan_base_url, data_base_url, jobs, timeout, retries: as ``reelset yt8m download``.
        backbone_urls: archive file name -> URL for the Inception + PCA archives (else ``$REELSET_INCEPTION_URL``
            and ``$REELSET_YT8M_PCA_URL``, else the official URLs).
        audio_urls: file name -> URL for VGGish's files, with ``audio="vggish"`` (else ``$REELSET_VGGISH_URL``
            and ``$REELSET_VGGISH_PCA_URL``, else the official URLs).
    """

    shard: str = DEFAULT_SHARD
    mirror: str = DEFAULT_MIRROR
    plan_base_url: str = PLAN_BASE_URL
    data_base_url: str = DATA_BASE_URL
    jobs: int = 4
    timeout: float = 30.0
    retries: int = 4
    backbone_urls: Mapping[str, str] | None = None
    audio_urls: Mapping[str, str] | None = None


@dataclass(frozen=True)
class PreparedModel:
    """What :func:`prepare_yt8m_model` made ready: the model dir, the backbone's model dir, the shard's record
    files, the step lines (as printed), the training's summary (None when the model was cached), and VGGish's
    model dir (None without audio)."""

    model_dir: Path
    backbone_model_dir: Path
    records: tuple[Path, ...]
    lines: tuple[str, ...]
    training: TrainSummary | None = None
    audio_model_dir: Path | None = None


def training_features(extract: ExtractSettings) -> tuple[str, ...]:
    """The features the model is trained on: those the person's videos will have once extracted with ``extract``.

    rgb always; audio only when extraction computes YouTube-8M's audio features (``audio="vggish"``). No audio, or
    the original's zero bytes (``"zeros"``), is rgb alone: a model that read the records' ``mean_audio`` would be
    fed silence by every one of the person's videos.
    """
    from reelset.features.constants import AUDIO_VGGISH

    return ("rgb", "audio") if extract.audio == AUDIO_VGGISH else ("rgb",)


def default_train_settings() -> TrainSettings:
    """``TrainSettings()``: the default model of ``reelset yt8m train`` (``--model auto``), whatever it is today."""
    from reelset.yt8m.training import TrainSettings

    return TrainSettings()


def training_settings(extract: ExtractSettings, base: TrainSettings | None = None) -> TrainSettings:
    """``base`` (default :func:`default_train_settings`) reading :func:`training_features`."""
    return replace(base or default_train_settings(), features=training_features(extract))


def shipped_vocabulary() -> Vocabulary:
    """YouTube-8M's 3,862 classes with their names and verticals, from the slim copy shipped in the package
    (:data:`reelset.taste.verticals.ENTITIES_CSV`): the model's classes are named without a download."""
    from reelset.taste.verticals import ENTITIES_CSV, load_entities
    from reelset.yt8m.vocabulary import Vocabulary, VocabularyEntry

    entries = [VocabularyEntry(entity.index, entity.name, knowledge_graph_id=entity.id, verticals=entity.verticals)
               for entity in load_entities(ENTITIES_CSV)]
    return Vocabulary(entries, source=str(ENTITIES_CSV), path=ENTITIES_CSV)


def prepare_yt8m_model(extract: ExtractSettings, source: Yt8mSource = Yt8mSource(), *,
                       train_settings: TrainSettings | None = None, reporter: Reporter | None = None) -> PreparedModel:
    """Steps 1 to 3 of the module docstring: the backbone files, the shard's records, the trained model.

    Args:
        extract: how the person's videos will be extracted: its ``cache_dir`` (default reelset's cache folder)
            holds the data and the model, its ``model_dir`` the backbone files (default ``~/yt8m``), its ``device``
            trains; its ``expected_sha256`` pins the backbone archives; its audio decides the features
            (:func:`training_features`), VGGish's files going to its ``audio_model_dir`` (default: ``model_dir``),
            pinned by its ``audio_expected_sha256``.
        source: the shard, the mirror and the URLs.
        train_settings: the training's settings (default :func:`default_train_settings`); the features are
            always :func:`training_features`'s.
        reporter: the step lines and the progress display (a quiet one by default).

    Returns:
        The model dir to tag with (``run_taste(model=...)``) and the rest of :class:`PreparedModel`.

    Raises:
        ReelsetError: TensorFlow missing (with the extra's install command), a bad shard, mirror or audio, the
            cache not writable, a host that cannot be reached, files that failed to download (named; rerun to
            retry), a shard without files or records, records that cannot be trained on, a backbone or VGGish file
            that changed.
    """
    from reelset.core.cache import writable_cache_dir
    from reelset.core.progress import Reporter
    from reelset.features.constants import AUDIO_VGGISH, default_model_dir
    from reelset.features.video import check_audio
    from reelset.yt8m.download import ConfigError, Partition, Shard, parse_mirror

    reporter = reporter or Reporter(interactive=False)
    check_audio(extract)
    try:
        partition, shard = Partition.parse(PARTITION), Shard.parse(source.shard)
        mirror = parse_mirror(source.mirror)
    except ConfigError as exc:
        raise ReelsetError(f"--yt8m: {exc}") from None
    cache = writable_cache_dir(extract.cache_dir)
    backbone_dir = Path(extract.model_dir) if extract.model_dir else default_model_dir()
    # Where run_taste's extraction looks for them too (ExtractSettings: audio_model_dir, else model_dir).
    audio_dir = (Path(extract.audio_model_dir) if extract.audio_model_dir else backbone_dir
                 ) if extract.audio == AUDIO_VGGISH else None
    settings = training_settings(extract, train_settings)
    lines: list[str] = []

    def step(line: str) -> None:
        lines.append(line)
        reporter.line(line)

    with reporter.live():
        step(_backbone_files(backbone_dir, source, extract.expected_sha256, reporter))
        if audio_dir is not None:
            step(_audio_files(audio_dir, source, extract.audio_expected_sha256, reporter))
        records, line = _download_shard(partition, shard, mirror, source, cache / YT8M_SUBDIR, reporter)
        step(line)
        model_dir = cache / YT8M_SUBDIR / MODELS_SUBDIR / f"{_slug(partition)}-{_model_key(records, settings)}"
        summary, line = _train(records, model_dir, settings, extract.device, reporter)
        step(line)
    return PreparedModel(model_dir, backbone_dir, tuple(records), tuple(lines), summary, audio_dir)


def run_taste_yt8m(paths: Sequence[str | Path], out: str | Path, extract: ExtractSettings,
                   source: Yt8mSource = Yt8mSource(), *, train_settings: TrainSettings | None = None,
                   reporter: Reporter | None = None, **taste: Any) -> TasteSummary:
    """``reelset taste PATHS --yt8m``: :func:`prepare_yt8m_model`, then :func:`~reelset.taste.run.run_taste` with
    that model, in one progress display. The inputs are checked first (the videos, ``out``, the caches), so that a
    mistake does not wait for a download and a training.

    Args:
        extract: how the videos are extracted (its backbone is ``inception-yt8m`` whatever it says): ``cache_dir``,
            ``use_cache``, ``device``, ``batch_size``, ``decode_workers`` (``run_taste``'s ``jobs``), ``model_dir``
            (the backbone's files; ``run_taste``'s ``backbone_model_dir``); ``audio``: ``"vggish"`` trains and tags
            with rgb+audio (a video without sound is then skipped, with its reason), ``"none"`` or ``"zeros"`` with
            rgb alone; ``audio_model_dir`` and ``audio_expected_sha256``: VGGish's files.
        taste: the other arguments of ``run_taste``: ``top_k``, ``limit``, ``dataset``, ``executor``.

    Raises:
        ReelsetError: as :func:`prepare_yt8m_model` and ``run_taste``.
    """
    from reelset.core.progress import Reporter
    from reelset.features.video import check_audio
    from reelset.taste.constants import DEFAULT_TOP_K
    from reelset.taste.run import check_taste_inputs, run_taste

    reporter = reporter or Reporter(interactive=False)
    check_audio(extract)
    paths = [Path(path) for path in paths]
    check_taste_inputs(paths, out, top_k=taste.get("top_k", DEFAULT_TOP_K), limit=taste.get("limit"),
                       cache_dir=extract.cache_dir, use_cache=extract.use_cache)
    with reporter.live():
        prepared = prepare_yt8m_model(extract, source, train_settings=train_settings, reporter=reporter)
        # The model reads what training_features said: run_taste extracts the audio for it when it reads audio.
        return run_taste(paths, out, model=prepared.model_dir, cache_dir=extract.cache_dir,
                         use_cache=extract.use_cache, device=extract.device, jobs=extract.decode_workers,
                         batch_size=extract.batch_size, backbone_model_dir=prepared.backbone_model_dir,
                         audio_model_dir=prepared.audio_model_dir, audio_expected_sha256=extract.audio_expected_sha256,
                         reporter=reporter, **taste)


# --- step 1: the backbone files -------------------------------------------------------------------------------------

def _backbone_files(model_dir: Path, source: Yt8mSource, expected_sha256: str | None, reporter: Reporter) -> str:
    from reelset.features.backbones.inception import import_tensorflow
    from reelset.features.backbones.model_files import fetch_inception_files

    import_tensorflow()  # before a 100 MB download, not after
    bars: dict[str, Any] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if name not in bars:
            bars[name] = reporter.task(f"yt8m backbone: {name}", total=total, unit="bytes")
        bars[name].update(completed=done, total=total)

    fetch_inception_files(model_dir, urls=source.backbone_urls, expected_sha256=expected_sha256,
                          on_progress=progress)
    if bars:
        return f"yt8m backbone: fetched {', '.join(bars)} into {model_dir} (sha256 recorded)"
    return f"yt8m backbone: cached: the Inception + PCA files in {model_dir} (sha256 verified)"


def _audio_files(model_dir: Path, source: Yt8mSource, expected_sha256: str | None, reporter: Reporter) -> str:
    from reelset.features.backbones.model_files import fetch_vggish_files

    bars: dict[str, Any] = {}

    def progress(name: str, done: int, total: int | None) -> None:
        if name not in bars:
            bars[name] = reporter.task(f"yt8m audio: {name}", total=total, unit="bytes")
        bars[name].update(completed=done, total=total)

    fetch_vggish_files(model_dir, urls=source.audio_urls, expected_sha256=expected_sha256, on_progress=progress)
    if bars:
        return f"yt8m audio: fetched {', '.join(bars)} into {model_dir} (sha256 recorded)"
    return f"yt8m audio: cached: the VGGish files in {model_dir} (sha256 verified)"


# --- step 2: the shard's records ------------------------------------------------------------------------------------

class _DownloadLines:
    """The downloader's reporter, seen through this run's: bars and warnings as they are, of its lines only the
    files' results (:data:`_PER_FILE`), prefixed with the step."""

    def __init__(self, reporter: Reporter):
        self._reporter = reporter

    def line(self, text: str) -> None:
        if text.startswith(_PER_FILE):
            self._reporter.line(f"yt8m data: {text}")

    def warn(self, text: str) -> None:
        self._reporter.warn(text)

    def live(self):
        return self._reporter.live()

    def task(self, description: str, total: float | None, *, unit: str | None = None):
        return self._reporter.task(f"yt8m data: {description.strip()}", total, unit=unit)


def _slug(partition) -> str:
    return str(partition).replace("/", "_")


def _download_shard(partition, shard, mirror: str, source: Yt8mSource, root: Path,
                    reporter: Reporter) -> tuple[list[Path], str]:
    """The shard's record files in ``root/<partition>/``, downloading what the plan still lists, and the line."""
    from reelset.yt8m.download import DownloadConfig, download_partition, read_plan, select_files

    config = DownloadConfig(partition=partition, mirror=mirror, shard=shard, out_dir=root / _slug(partition),
                            jobs=source.jobs, plan_base_url=source.plan_base_url,
                            data_base_url=source.data_base_url, timeout=source.timeout, retries=source.retries)
    where = f"shard {shard} of {partition}"
    # Nothing left in the plan for this shard: every file of it is here, verified (no request, so it runs offline).
    cached = config.plan_path.is_file() and not select_files(read_plan(config.plan_path), shard)
    if not cached:
        try:
            summary = download_partition(config, _DownloadLines(reporter))  # type: ignore[arg-type]
            summary.check()
        except ReelsetError as exc:
            raise ReelsetError(f"yt8m data: {exc}") from exc
    files = _shard_files(config.out_dir, shard)
    if not files:
        raise ReelsetError(f"{where}: the download plan lists no file in it (--yt8m-shard {shard}); choose a larger "
                           f"fraction, e.g. --yt8m-shard 1,{max(1, shard.count // 10)}")
    if not any(path.stat().st_size for path in files):  # a TFRecord file with a record has its framing at least
        raise ReelsetError(f"{where}: its {len(files)} file(s) in {config.out_dir} hold no records: nothing to train "
                           "on; choose another --yt8m-shard")
    size = sum(path.stat().st_size for path in files) / 1e6
    if cached:
        return files, f"yt8m data: cached: {len(files)} files ({size:.1f} MB) of {where} in {config.out_dir}"
    new = len(summary.downloaded)
    return files, (f"yt8m data: downloaded {new} file(s) ({summary.bytes_downloaded / 1e6:.1f} MB), "
                   f"{len(files)} files ({size:.1f} MB) of {where} in {config.out_dir}")


def _shard_files(folder: Path, shard) -> list[Path]:
    """The verified record files of ``shard`` in the partition's folder (final names only: a partial or unverified
    download never has one), by the remote name each local name comes from."""
    from reelset.yt8m.download import FILE_CODES

    files = []
    for path in sorted(folder.glob("*.tfrecord")) if folder.is_dir() else ():
        match = _LOCAL_NAME.fullmatch(path.name)
        if match is None or int(match["position"]) >= len(FILE_CODES):
            continue
        remote = f"{match['split']}{FILE_CODES[int(match['position'])]}{match['ext']}"
        if remote in shard:
            files.append(path)
    return files


# --- step 3: the model ----------------------------------------------------------------------------------------------

def _model_key(records: Sequence[Path], settings: TrainSettings) -> str:
    """What the model depends on, short: the records (names and sizes: they were verified by md5 on download), the
    settings and the vocabulary naming the classes."""
    from reelset.core.digest import file_digest
    from reelset.taste.verticals import ENTITIES_CSV

    described = {"records": [[path.name, path.stat().st_size] for path in records], "settings": asdict(settings),
                 "vocabulary": file_digest(ENTITIES_CSV)}
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _train(records: Sequence[Path], model_dir: Path, settings: TrainSettings, device: str,
           reporter: Reporter) -> tuple[TrainSummary | None, str]:
    """The model in ``model_dir``, trained (or resumed) unless it is finished there; and the step's line."""
    from reelset.yt8m.model import MODEL_FILE
    from reelset.yt8m.training import train

    finished = model_dir / MODEL_FILE  # written last: a folder with one holds a whole model
    if finished.is_file():
        try:
            config = json.loads(finished.read_text(encoding="utf-8"))
            training = config["training"]
            videos = training["videos"] + training["validation_videos"]
            described = f"{config['model']}, {'+'.join(config['features'])}, {videos} videos"
        except (OSError, ValueError, KeyError, TypeError):
            described = "model.json unreadable: run_taste says more"
        return None, f"yt8m model: cached: {model_dir} ({described})"
    reading = reporter.task("yt8m model: reading records", total=None)
    epochs = reporter.task("yt8m model: epoch", total=None)
    read = [0]

    def on_record() -> None:
        read[0] += 1
        reading.advance()

    def on_batch(done: int, total: int) -> None:
        reading.update(total=read[0])  # every record is read once batches run: the bar stops pulsing
        epochs.update(completed=done, total=total)

    def on_epoch(result) -> None:
        reporter.line(f"yt8m model: {result.line()}")

    summary = train(list(records), model_dir, settings, vocabulary=shipped_vocabulary(), device=device,
                    on_epoch=on_epoch, on_batch=on_batch, on_record=on_record)
    resumed = f", resumed after {summary.resumed_at}" if summary.resumed_at else ""
    gap = f", validation GAP {summary.validation['gap']:.4f}" if summary.validation else ""
    return summary, (f"yt8m model: trained {summary.model} on {summary.videos + summary.validation_videos} videos "
                     f"({'+'.join(summary.features)}{gap}{resumed}) in {model_dir}")
