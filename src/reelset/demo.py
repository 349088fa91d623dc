"""The offline end-to-end demo: generated Action100M sample -> fake hub + video server on 127.0.0.1 -> ids -> clips
-> the FiftyOne dataset; a local YouTube-8M mirror -> shards -> records; v3 records -> a frame-level model
fine-tuned on segment ratings -> its segment mAP and submission; the clips -> YouTube-8M-form features, then with
VGGish audio (its files served from 127.0.0.1); the clips and videos made from real photos -> a taste report; with
TensorFlow, ``taste --yt8m``: tiny Inception-format archives and a mirror of learnable records -> a model trained
on them -> coloured videos tagged in YouTube-8M's entities.

Everything the real run talks to is here for real: huggingface_hub fetches the parquet from a fake hub, yt-dlp
resolves each video page (a redirect to a direct mp4 or to an HLS master playlist with 720p and 360p variants and
an audio rendition), ffmpeg fetches and normalises the first seconds, and FiftyOne (its own configuration, its
bundled database by default) receives the Tree-of-Captions as temporal detections. One video is missing from the
server, as 5-10% of real ones are. Rerunning reuses the generated files, the clips and the dataset.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from reelset.action100m.pipeline import build
from reelset.action100m.hub import DEFAULT_REPO
from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.fetch.download import DownloadSettings
from reelset.sandbox.action100m_sample import make_sample_rows, write_sample_repo
from reelset.sandbox.media import make_hls, make_video
from reelset.sandbox.servers import FakeHub, MediaServer
from reelset.taste.run import run_taste_demo


@dataclass(frozen=True)
class SourceKind:
    """How one sample video is served (sizes chosen to exercise every path of the normaliser)."""

    width: int
    height: int
    audio: str | None = "aac"
    hls: bool = False


SOURCE_KINDS = (
    SourceKind(1280, 720),  # taller than the cap: one encode, scaled to 480p
    SourceKind(640, 360),  # fits: streams copied, no encode
    SourceKind(854, 480),  # fits exactly at the cap
    SourceKind(1280, 720, hls=True),  # HLS master: yt-dlp picks the 360p variant + the audio rendition
    SourceKind(426, 240, audio=None),  # no audio track
    SourceKind(321, 241),  # odd size (4:4:4): encoded to even 320x240 yuv420p
    SourceKind(640, 480, audio="mp3"),  # video fits, audio re-encoded to AAC
)
SOURCE_FPS = 10
DEMO_DATASET = "action100m-demo"


def _make_source(root: Path, video_id: str, seconds: float, kind: SourceKind) -> str:
    """Generate (once) the served file of one video; return its path below the server root."""
    if kind.hls:
        relative = f"hls/{video_id}/master.m3u8"
        if not (root / relative).exists():
            staging = root / "hls" / f".{video_id}.staging"
            shutil.rmtree(staging, ignore_errors=True)
            make_hls(staging, seconds=seconds, variants=((kind.width, kind.height), (640, 360)), fps=SOURCE_FPS)
            staging.rename(root / "hls" / video_id)
        return relative
    relative = f"files/{video_id}.mp4"
    if not (root / relative).exists():
        make_video(root / relative, seconds=seconds, width=kind.width, height=kind.height, fps=SOURCE_FPS,
                   audio=kind.audio)
    return relative


YT8M_PARTITION = "2/frame/validate"
YT8M_SHARD = "1,1000"  # 5 of the 3,844 files of the partition


def run_yt8m_demo(workdir: Path, reporter: Reporter, *, records_per_file: int = 6) -> bool:
    """A local YouTube-8M mirror (full plan, real-format shards for the selected files) and a download from it
    with the official downloader's settings, then a look inside what arrived. Returns whether it all worked."""
    from reelset.sandbox.yt8m_mirror import remote_names, write_partition
    from reelset.sandbox.yt8m_sample import sample_records
    from reelset.yt8m.download import Shard, config_from_environment, download_partition
    from reelset.yt8m.records import read_records, serialize_record
    from reelset.yt8m.tfrecord import frame_record

    mirror = workdir / "fake-yt8m"
    shard = Shard.parse(YT8M_SHARD)
    selected = [name for name in remote_names(YT8M_PARTITION.split("/")[2]) if name in shard]
    contents = {}
    for number, name in enumerate(selected):
        records = sample_records("frame", records_per_file, seed=number, code=name.removesuffix(".tfrecord")[-2:])
        contents[name] = b"".join(frame_record(serialize_record(record)) for record in records)
    write_partition(mirror, YT8M_PARTITION, contents)
    out = workdir / "yt8m"
    with MediaServer(mirror) as server:
        reporter.line(f"demo: YouTube-8M mirror at {server.url} ({YT8M_PARTITION}, shard={YT8M_SHARD})")
        config = config_from_environment(partition=YT8M_PARTITION, mirror="us", shard=YT8M_SHARD, environ={},
                                         out_dir=out, plan_base_url=server.url, data_base_url=server.url)
        summary = download_partition(config, reporter)
    files = sorted(out.glob("*.tfrecord"))
    records = list(read_records(files, dequantize=True))
    frames = sum(len(record["rgb"]) for record in records)
    reporter.line(f"demo: YouTube-8M {len(files)} files in {out}: {len(records)} videos, {frames} frames of "
                  f"rgb (1024) + audio (128) features; look inside with: .venv/bin/reelset yt8m inspect "
                  f"{out}/*.tfrecord")
    return not summary.failed and len(records) == len(selected) * records_per_file


def run_extract_demo(workdir: Path, clips_dir: Path, reporter: Reporter) -> bool:
    """The downloaded clips in YouTube-8M form (``yt8m extract`` on the folder, the offline backbone): one record
    per clip, read back. Returns whether every clip was encoded."""
    from reelset.features.extraction import ExtractSettings, extract, find_videos
    from reelset.yt8m.records import read_records

    inputs = find_videos(clips_dir)
    out = workdir / "own-features.tfrecord"
    with reporter.live():
        bar = reporter.task("features", total=len(inputs))
        summary = extract(inputs, out, ExtractSettings(), on_video=lambda video, error: bar.advance(),
                          on_warning=reporter.warn)
    for failure in summary.failures:
        reporter.warn(f"failed {failure}")
    records = sum(1 for _ in read_records(out))
    reporter.line(f"demo: {summary.line}: {summary.frames} frames of efficientnet-lite0 features in {out} "
                  f"({summary.from_cache} from cache)")
    return summary.encoded == len(inputs) == records and len(inputs) > 0


AUDIO_MAX_FRAMES = 10  # seconds of each clip the audio step extracts: VGGish shown on every clip, in a few seconds


def run_audio_demo(workdir: Path, clips_dir: Path, reporter: Reporter) -> bool:
    """``yt8m extract --audio vggish --max-frames 10`` on the clips: the VGGish files (narrow, in the official
    formats: :mod:`reelset.sandbox.vggish_files`) fetched from 127.0.0.1 by the real download path (sha256
    recorded, then verified on every use), one audio vector per rgb frame in the records. Returns whether every
    clip was encoded, with audio exactly where it has sound."""
    from reelset.features.audio import load_vggish
    from reelset.features.backbones.model_files import CHECKSUMS_FILE
    from reelset.features.constants import AUDIO_VGGISH
    from reelset.features.extraction import ExtractSettings, extract, find_videos
    from reelset.sandbox.vggish_files import CHECKPOINT_NAME, PCA_NAME, write_vggish_files
    from reelset.yt8m.records import read_records

    served = workdir / "fake-models"
    names = (CHECKPOINT_NAME, PCA_NAME)
    if not all((served / "vggish" / name).is_file() for name in names):
        write_vggish_files(served / "vggish")
    model_dir = workdir / "models" / "vggish"
    fetched: dict[str, None] = {}
    with MediaServer(served) as server:
        vggish = load_vggish(model_dir, urls={name: f"{server.url}/vggish/{name}" for name in names},
                             on_progress=lambda name, done, total: fetched.setdefault(name))
    if fetched:
        reporter.line(f"demo: VGGish: fetched {', '.join(fetched)} from {server.url}/vggish into {model_dir} "
                      f"(sha256 recorded in {CHECKSUMS_FILE})")
    else:
        reporter.line(f"demo: VGGish: cached in {model_dir} (sha256 verified)")
    inputs = find_videos(clips_dir)
    out = workdir / "own-features-audio.tfrecord"
    settings = ExtractSettings(audio=AUDIO_VGGISH, audio_model_dir=model_dir, max_frames=AUDIO_MAX_FRAMES)
    with reporter.live():
        bar = reporter.task("features + audio", total=len(inputs))
        summary = extract(inputs, out, settings, vggish=vggish, on_video=lambda video, error: bar.advance(),
                          on_warning=reporter.warn)
    for failure in summary.failures:
        reporter.warn(f"failed {failure}")
    records = list(read_records(out))
    with_audio = [record for record in records if record.get("audio_source") == b"vggish"]
    rgb_frames = sum(len(record["rgb"]) for record in with_audio)
    audio_frames = sum(len(record["audio"]) for record in with_audio)
    silent = [record for record in records if record.get("audio_source") == b"none" and "audio" not in record]
    reporter.line(f"demo: {summary.line} with --audio vggish (first {AUDIO_MAX_FRAMES} s of each) in {out} "
                  f"({summary.from_cache} from cache): {len(with_audio)} records with audio_source vggish, "
                  f"{audio_frames} frames of audio (128) = {rgb_frames} frames of rgb; {len(silent)} without sound "
                  "(audio_source none, no audio list)")
    return (summary.encoded == len(inputs) == len(records) > 0 and audio_frames == rgb_frames
            and len(with_audio) + len(silent) == len(records) and len(silent) == len(summary.no_sound))


SEGMENT_VIDEOS = {"train": 48, "validate": 16, "test": 16}
SEGMENT_CLASSES = 4  # the sample's labels: the first of the task's rated classes


def run_segments_demo(workdir: Path, reporter: Reporter) -> bool:
    """The v3 segment task on sample records whose ratings can be learnt
    (:mod:`reelset.sandbox.yt8m_segment_sample`): a frame-level model trained on the video labels, then
    ``yt8m train --segments --from`` it, ``evaluate --segments`` of both on held-out videos and
    ``predict --segments`` (the submission file). Returns whether fine-tuning raised the segment mAP and the
    submission has the challenge's header."""
    from reelset.core.atomic import atomic_write_text
    from reelset.sandbox.yt8m_segment_sample import segment_task_records
    from reelset.yt8m.model import load_model
    from reelset.yt8m.records import write_records
    from reelset.yt8m.segments import SUBMISSION_HEADER, evaluate_segments, rank_segments, rated_classes
    from reelset.yt8m.training import TrainSettings, train
    from reelset.yt8m.training.segment_tuning import SegmentSettings, fine_tune_segments

    folder = workdir / "yt8m-segments"
    # The sample's classes, the first of the task's 1,000 rated ones: a model of these few trains in a blink, and
    # its classes are all rated, so `evaluate --segments` and `predict --segments` read it as they are.
    classes = rated_classes()[:SEGMENT_CLASSES].tolist()
    files = {}
    for seed, (split, count) in enumerate(SEGMENT_VIDEOS.items()):
        files[split] = folder / f"{split}.tfrecord"
        if not files[split].is_file():
            write_records(files[split], segment_task_records(count, classes, seed=seed))
    reporter.line(f"demo: segments: v3 records in {folder} (segment_labels, segment_start_times, segment_scores): "
                  + ", ".join(f"{count} {split}" for split, count in SEGMENT_VIDEOS.items())
                  + f" videos of rated classes {', '.join(map(str, classes))}")
    base, tuned = folder / "frame-model", folder / "segment-model"
    trained = train([files["train"]], base, TrainSettings(level="frame", model="meanpool", validation_fraction=0,
                                                          classes=",".join(map(str, classes))))
    tuning = fine_tune_segments([files["train"]], tuned, base, SegmentSettings(epochs=2, learning_rate=0.02),
                                validation_paths=[files["validate"]], rated=classes)
    epochs = f"{tuning.final_epochs} epoch{'s' if tuning.final_epochs != 1 else ''}"
    reporter.line(f"demo: segments: {trained.model} trained on the video labels in {base}, then fine-tuned on "
                  f"the segment ratings ({tuning.windows} rated windows, {epochs}) in {tuned}")
    results = {name: evaluate_segments(load_model(path), [files["test"]]) for name, path in
               (("base", base), ("tuned", tuned))}
    reporter.line(f"demo: segments: test mAP@{results['tuned'].max_per_class:,}: {results['base'].map:.4f} "
                  f"trained on the video labels, {results['tuned'].map:.4f} fine-tuned; as the command: "
                  f".venv/bin/reelset yt8m evaluate {tuned} {files['test']} --segments")
    submission = folder / "submission.csv"
    lines = list(rank_segments(load_model(tuned), [files["test"]]).submission_lines())
    atomic_write_text(submission, "".join(f"{line}\n" for line in lines))
    reporter.line(f"demo: segments: submission in {submission} ({lines[0]!r}, then {len(lines) - 1} classes' "
                  f"ranked segments); as the command: .venv/bin/reelset yt8m predict {tuned} {files['test']} "
                  "--segments > submission.csv")
    return results["tuned"].map > results["base"].map and lines[0] == SUBMISSION_HEADER


def run_export_demo(workdir: Path, data_dir: Path, videos_dir: Path, reporter: Reporter) -> bool:
    """``action100m export``: every gpt segment of the clips cut exactly into WebDataset shards, and the first
    shard read back with the ``webdataset`` package. Returns whether every sample read back is whole (its MP4's
    frames as its JSON says, its key as the file names say)."""
    import json
    import tempfile

    import webdataset as wds

    from reelset.action100m.export import export_segments, summary_lines
    from reelset.core.mp4 import read_mp4_video

    out = workdir / "segments"
    summary = export_segments(data_dir, videos_dir, out, shard_size=100)
    for line in summary_lines(summary):
        reporter.line(f"demo: {line}")
    first = sorted(out.glob("shard-*.tar"))[0]
    samples = list(wds.WebDataset(str(first), shardshuffle=False))
    whole = 0
    with tempfile.TemporaryDirectory() as tmp:
        for sample in samples:
            meta = json.loads(sample["json"])
            clip = Path(tmp) / "sample.mp4"
            clip.write_bytes(sample["mp4"])
            facts = read_mp4_video(clip)
            whole += bool(facts and facts.frame_count == meta["frames"] and meta["key"] == sample["__key__"])
    example = json.loads(samples[0]["json"]) if samples else {}
    reporter.line(f"demo: export: read {first.name} back with webdataset: {whole} of {len(samples)} samples whole; "
                  f"e.g. {example.get('key')}: {example.get('seconds')} s, {example.get('frames')} frames, "
                  f"{example.get('gpt_action_brief')!r}; as the command: .venv/bin/reelset action100m export "
                  f"--data-dir {data_dir} --videos {videos_dir} --out {out}")
    return bool(samples) and whole == len(samples)


def run_stats_demo(workdir: Path, data_dir: Path, videos_dir: Path, reporter: Reporter) -> bool:
    """``action100m stats``: what the sample's annotations hold, as a JSON summary and four charts."""
    from reelset.action100m.stats import annotation_stats, summary_lines

    out = workdir / "action100m-stats"
    summary = annotation_stats(data_dir, videos_dir=videos_dir, out_dir=out)
    for line in summary_lines(summary):
        reporter.line(f"demo: stats: {line}")
    charts = sorted(path.name for path in out.glob("*.png"))
    reporter.line(f"demo: stats: {out / 'stats.json'} and charts {', '.join(charts)}; as the command: "
                  f".venv/bin/reelset action100m stats --data-dir {data_dir} --videos {videos_dir} --out {out}")
    return (out / "stats.json").is_file() and len(charts) == 4


SEARCH_QUERIES = ("replace a bike chain", "someone mending a bicycle's drive chain")


def run_search_demo(workdir: Path, data_dir: Path, reporter: Reporter) -> bool:
    """``action100m index`` and ``search``: the caption index of the sample (full text + MiniLM vectors), then an
    exact phrase and a paraphrase of it. Returns whether both found a segment of a video about that task."""
    from reelset.action100m import build_search_index, search

    index = workdir / "search-index"
    built = build_search_index(data_dir, index_path=index)
    reporter.line(f"demo: search: {built.captions:,} captions indexed in {built.seconds:.1f} s ({built.device}) in "
                  f"{index}")
    found = []
    for query in SEARCH_QUERIES:
        hits = search(query, data_dir=data_dir, index_path=index, top_k=3)
        for hit in hits[:2]:
            reporter.line(f"demo: search {query!r}: {hit.video_uid} {hit.start:.1f}-{hit.end:.1f} s {hit.field}: "
                          f"{hit.text[:80]!r} ({hit.score:.3f})")
        found.append(any("bike chain" in hit.text.lower() for hit in hits[:3]))
    reporter.line(f"demo: search: as the command: .venv/bin/reelset action100m search {SEARCH_QUERIES[1]!r} "
                  f"--data-dir {data_dir} --index {index}")
    return all(found)


TASTE_YT8M_RECORDS_PER_FILE = 12
TASTE_YT8M_FILES = 3


def run_taste_yt8m_demo(workdir: Path, reporter: Reporter) -> bool | None:
    """``reelset taste --yt8m`` offline, when TensorFlow is installed (the inception-yt8m backbone runs on it): the
    tiny Inception-format archives (:mod:`reelset.sandbox.inception_files`) and a 2/video/train shard of learnable
    records (:mod:`reelset.sandbox.yt8m_colours`), served from 127.0.0.1, then the whole loop on a red, a blue and
    a green video. Returns whether each video's top label is its colour's entity; None when TensorFlow is not
    installed (one line says so and how to install it)."""
    from reelset.features.backbones.inception import EXTRA_HINT, import_tensorflow

    try:
        import_tensorflow()
    except ReelsetError:
        reporter.line("demo: taste --yt8m: skipped: TensorFlow is not installed (the inception-yt8m backbone runs "
                      f"on it); install it with ./scripts/setup.sh tensorflow, or {EXTRA_HINT}")
        return None
    from reelset.features.video import ExtractSettings
    from reelset.sandbox.inception_files import GRAPH_ARCHIVE, PCA_ARCHIVE, write_tiny_inception_archives
    from reelset.sandbox.yt8m_colours import COLOUR_ENTITIES, make_colour_video
    from reelset.taste.run import summary_lines
    from reelset.taste.yt8m_loop import PARTITION, Yt8mSource, run_taste_yt8m
    from reelset.yt8m.training import TrainSettings

    models, mirror = workdir / "fake-models", workdir / "fake-yt8m"
    if not all((models / "inception" / name).is_file() for name in (GRAPH_ARCHIVE, PCA_ARCHIVE)):
        write_tiny_inception_archives(models / "inception")
    videos = workdir / "taste-yt8m-videos"
    for entity in COLOUR_ENTITIES:
        if not (videos / f"{entity.colour}.mp4").is_file():
            make_colour_video(videos / f"{entity.colour}.mp4", entity.video)
    out = workdir / "taste-yt8m"
    with MediaServer(models) as model_server, MediaServer(mirror) as mirror_server:
        urls = {name: f"{model_server.url}/inception/{name}" for name in (GRAPH_ARCHIVE, PCA_ARCHIVE)}
        shard = _taste_mirror(mirror, urls, models / "mirror-backbone")
        labels = ", ".join(entity.name for entity in COLOUR_ENTITIES)
        reporter.line(f"demo: taste --yt8m: tiny Inception + PCA archives at {model_server.url}/inception, shard "
                      f"{shard} of {PARTITION} at {mirror_server.url}: {TASTE_YT8M_FILES} files of "
                      f"{TASTE_YT8M_RECORDS_PER_FILE} records labelled {labels} (colours, as the tiny backbone sees "
                      "them)")
        extract = ExtractSettings(cache_dir=workdir / "cache", model_dir=workdir / "models" / "inception")
        source = Yt8mSource(shard=shard, plan_base_url=mirror_server.url, data_base_url=mirror_server.url,
                            backbone_urls=urls, retries=1, timeout=10)
        # kNN, one of the default's (--model auto) candidates: the default also fits logistic regressions of the
        # 3,862 classes, half a minute on two cores; kNN fits in a blink and tells these colours apart as well.
        summary = run_taste_yt8m([videos], out, extract, source, train_settings=TrainSettings(model="knn"),
                                 reporter=reporter, dataset=None, top_k=3)
    for line in summary_lines(summary):
        reporter.line(line)
    top = {Path(item["path"]).stem: item["labels"][0] for item in json.loads(summary.predictions_json.read_text())
           if item["labels"]}
    reporter.line("demo: taste --yt8m: " + ", ".join(
        f"{entity.colour}.mp4: {top[entity.colour]['name']} ({top[entity.colour]['vertical']}) "
        f"{top[entity.colour]['score']:.2f}" for entity in COLOUR_ENTITIES if entity.colour in top)
        + f"; report in {summary.report}")
    return all(entity.colour in top and top[entity.colour]["name"] == entity.name for entity in COLOUR_ENTITIES)


def _taste_mirror(mirror: Path, archive_urls: dict[str, str], model_dir: Path) -> str:
    """The mirror's 2/video/train files of shard 1,100, made once (the records embed colours with the tiny backbone
    loaded from ``archive_urls`` into a folder of the mirror's own); returns the shard."""
    from reelset.features.backbones import load_backbone
    from reelset.features.constants import INCEPTION_YT8M
    from reelset.sandbox.yt8m_colours import colour_records
    from reelset.sandbox.yt8m_mirror import remote_names, write_partition
    from reelset.taste.yt8m_loop import DEFAULT_SHARD, PARTITION
    from reelset.yt8m.download import Shard
    from reelset.yt8m.records import serialize_record
    from reelset.yt8m.tfrecord import frame_record

    names = [name for name in remote_names(PARTITION.split("/")[2]) if name in Shard.parse(DEFAULT_SHARD)]
    names = names[:TASTE_YT8M_FILES]
    if all((mirror / PARTITION / name).is_file() for name in names):
        return DEFAULT_SHARD
    backbone = load_backbone(INCEPTION_YT8M, model_dir=model_dir, urls=archive_urls, device="cpu")
    contents = {name: b"".join(frame_record(serialize_record(record)) for record in colour_records(
        backbone.embed, TASTE_YT8M_RECORDS_PER_FILE, seed=number))
        for number, name in enumerate(names)}
    write_partition(mirror, PARTITION, contents, full_plan=False)
    return DEFAULT_SHARD


def run_demo(
    workdir: Path,
    *,
    videos: int = 20,
    seed: int = 0,
    video_seconds: tuple[float, float] = (40.0, 150.0),
    dataset_name: str = DEMO_DATASET,
    reporter: Reporter | None = None,
) -> int:
    """Run the demo in ``workdir``; return the exit status (0 when every step did what it should).

    ``video_seconds`` is the range of the sample videos' lengths (the clips keep at most 90 s of each).
    """
    reporter = reporter or Reporter()
    workdir = Path(workdir)
    rows = make_sample_rows(videos, seed=seed, video_seconds=video_seconds)
    hub_repo = workdir / "fake-hub" / DEFAULT_REPO
    write_sample_repo(hub_repo, rows)
    served = workdir / "fake-youtube"
    gone = rows[-1]["video_uid"]  # not served: the demo's "video unavailable"
    redirects = {}
    reporter.line(f"demo: generating {videos} sample videos in {served} (once)")
    for index, row in enumerate(rows):
        if row["video_uid"] == gone:
            continue
        seconds = float(row["nodes"][0]["end"])
        kind = SOURCE_KINDS[index % len(SOURCE_KINDS)]
        redirects[f"/watch/{row['video_uid']}"] = "/" + _make_source(served, row["video_uid"], seconds, kind)

    with FakeHub({DEFAULT_REPO: hub_repo}) as hub, MediaServer(served) as media:
        for path, target in redirects.items():
            media.add_redirect(path, target)
        reporter.line(f"demo: fake hub at {hub.url}, video server at {media.url}")
        ids_file = workdir / "video_ids.txt"
        settings = DownloadSettings(out_dir=workdir / "videos", url_template=f"{media.url}/watch/{{id}}",
                                    jobs=2, sleep=0, max_sleep=0, sleep_requests=0, tries=2, retry_base=0.5)
        built = build(workdir / "action100m-preview", ids_file, settings, endpoint=hub.url, dataset=dataset_name,
                      reporter=reporter)
    summary, ingest = built.download, built.dataset

    expected_ok = len(rows) - 1
    reporter.line(f"demo: parquet shards in {workdir / 'action100m-preview' / 'data'}")
    reporter.line(f"demo: ids in {ids_file}")
    reporter.line(f"demo: clips in {settings.out_dir}, per-video logs in {settings.out_dir / 'logs'}, "
                  f"status in {settings.out_dir / 'status.jsonl'}")
    reporter.line(f"demo: FiftyOne dataset {dataset_name!r}; open the App with: "
                  f".venv/bin/reelset action100m app --name {dataset_name}")
    steps = {"stats": run_stats_demo(workdir, workdir / "action100m-preview", settings.out_dir, reporter),
             "export": run_export_demo(workdir, workdir / "action100m-preview", settings.out_dir, reporter),
             "search": run_search_demo(workdir, workdir / "action100m-preview", reporter),
             "YouTube-8M": run_yt8m_demo(workdir, reporter), "segments": run_segments_demo(workdir, reporter),
             "features": run_extract_demo(workdir, settings.out_dir, reporter),
             "audio": run_audio_demo(workdir, settings.out_dir, reporter),
             "taste": run_taste_demo(workdir, reporter, videos_dirs=[settings.out_dir]),
             "taste --yt8m": run_taste_yt8m_demo(workdir, reporter)}
    clips = summary.counts.get("ok", 0)
    samples = ingest.total if ingest else 0
    failed = [name for name, ok in steps.items() if ok is False]  # None: skipped, and said why
    if clips == expected_ok and summary.missing == [gone] and samples == expected_ok and not failed:
        yt8m_taste = ("skipped (no TensorFlow)" if steps["taste --yt8m"] is None
                      else f"report in {workdir / 'taste-yt8m' / 'report.html'}")
        reporter.line(f"demo: done: {clips} of {expected_ok} clips ok and in FiftyOne; {gone} is unavailable, "
                      f"as planned; annotation stats in {workdir / 'action100m-stats'}; segments exported to "
                      f"{workdir / 'segments'} and read back; captions searched; YouTube-8M shard downloaded and read; segment model fine-tuned, evaluated and "
                      "ranked; the clips' features extracted, with VGGish audio; "
                      f"taste report in {workdir / 'taste' / 'report.html'}; taste --yt8m {yt8m_taste}")
        return 0
    reporter.line(f"demo: FAILED: {clips} of {expected_ok} clips ok, {samples} samples in FiftyOne; steps failed: "
                  f"{', '.join(failed) or 'none'}; see {settings.out_dir / 'status.jsonl'} and the lines above")
    return 1
