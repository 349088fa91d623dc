"""The offline end-to-end demo: generated Action100M sample -> fake hub + video server on 127.0.0.1 -> ids -> clips
-> the FiftyOne dataset; a local YouTube-8M mirror -> shards -> records; the clips -> YouTube-8M-form features;
the clips and videos made from real photos -> a taste report.

Everything the real run talks to is here for real: huggingface_hub fetches the parquet from a fake hub, yt-dlp
resolves each video page (a redirect to a direct mp4 or to an HLS master playlist with 720p and 360p variants and
an audio rendition), ffmpeg fetches and normalises the first seconds, and FiftyOne (its own configuration, its
bundled database by default) receives the Tree-of-Captions as temporal detections. One video is missing from the
server, as 5-10% of real ones are. Rerunning reuses the generated files, the clips and the dataset.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from reelset.action100m.pipeline import build
from reelset.action100m.hub import DEFAULT_REPO
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
                  f"rgb (1024) + audio (128) features; look inside with: .venv/bin/reelset yt8m inspect {out}/*.tfrecord")
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
    yt8m_ok = run_yt8m_demo(workdir, reporter)
    extract_ok = run_extract_demo(workdir, settings.out_dir, reporter)
    taste_ok = run_taste_demo(workdir, reporter, videos_dirs=[settings.out_dir])
    clips = summary.counts.get("ok", 0)
    steps_ok = yt8m_ok and extract_ok and taste_ok
    samples = ingest.total if ingest else 0
    if clips == expected_ok and summary.missing == [gone] and samples == expected_ok and steps_ok:
        reporter.line(f"demo: done: {clips} of {expected_ok} clips ok and in FiftyOne; {gone} is unavailable, "
                      "as planned; YouTube-8M shard downloaded and read; the clips' features extracted; "
                      f"taste report in {workdir / 'taste' / 'report.html'}")
        return 0
    reporter.line(f"demo: FAILED: {clips} of {expected_ok} clips ok, {samples} samples in FiftyOne, YouTube-8M "
                  f"{'ok' if yt8m_ok else 'failed'}, features {'ok' if extract_ok else 'failed'}, "
                  f"taste {'ok' if taste_ok else 'failed'}; see {settings.out_dir / 'status.jsonl'}")
    return 1
