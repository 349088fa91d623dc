"""Benchmark: reelset's download pipeline versus the original scripts' approach, same sources, same run.

Sources: N generated 1280x720 25 fps H.264/AAC videos (moov at the end), served over HTTP with Range support by
reelset's MediaServer on 127.0.0.1. Both approaches produce the first MAX_DURATION seconds as H.264/AAC MP4 of
height <= 480 with the same final encoder settings (libx264 -preset veryfast -crf 23, AAC 128k, +faststart).

- reelset: `download_videos` with one job: yt-dlp resolves the URL, one ffmpeg pass reads the first seconds and
  encodes once (scaled to 480p).
- original (reproduced): per video, the yt-dlp command line with a section download and forced keyframes at the cut
  (`--download-sections "*0-D" --force-keyframes-at-cuts`, format `bv*[height<=480]+ba/b[height<=480]/best`, which
  falls back to the uncapped 720p file because a direct file has no known height), then a second ffmpeg pass when
  the file is not already H.264/AAC within the cap (here always: it is 720p), i.e. two encodes.

Measured: wall time, CPU seconds (this process and all waited-for children: yt-dlp, ffmpeg, ffprobe), output bytes,
and PSNR of each output against the source (scaled the same way), so that "same quality" is checked, not assumed.
The last line printed is one JSON object with every figure.

Usage: python bench/download.py [--quick] [--videos N] [--seconds S] [--max-duration D]
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reelset.core.ffmpeg import probe, run_ffmpeg
from reelset.core.progress import Reporter
from reelset.fetch.download import DownloadSettings, download_videos
from reelset.fetch.normalise import AAC_BITRATE, X264_CRF, X264_PRESET
from reelset.sandbox.media import make_video
from reelset.sandbox.servers import MediaServer

MAX_HEIGHT = 480


def cpu_seconds() -> float:
    """CPU time of this process plus all children it has waited for (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(action) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), cpu_seconds()
    action()
    return time.perf_counter() - wall, cpu_seconds() - cpu


def make_sources(folder: Path, count: int, seconds: float) -> list[str]:
    ids = [f"bench{index:06d}" for index in range(count)]
    for video_id in ids:
        make_video(folder / f"{video_id}.mp4", seconds=seconds, width=1280, height=720, fps=25, gop_seconds=2)
    return ids


def run_reelset(ids: list[str], server: MediaServer, out: Path, max_duration: float) -> None:
    settings = DownloadSettings(out_dir=out, url_template=f"{server.url}/{{id}}.mp4", jobs=1, sleep=0, max_sleep=0,
                                sleep_requests=0, max_duration=max_duration, max_height=MAX_HEIGHT)
    summary = download_videos(ids, settings, Reporter(interactive=False, out=io.StringIO(), err=io.StringIO()))
    if summary.counts.get("ok") != len(ids):
        raise SystemExit(f"reelset run failed: {dict(summary.counts)}")


def run_original(ids: list[str], server: MediaServer, out: Path, max_duration: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for video_id in ids:
        section = out / f"{video_id}.section.mp4"
        subprocess.run(
            [sys.executable, "-m", "yt_dlp", "--quiet", "--no-progress",
             "-f", f"bv*[height<={MAX_HEIGHT}]+ba/b[height<={MAX_HEIGHT}]/best",
             "--download-sections", f"*0-{max_duration:g}", "--force-keyframes-at-cuts",
             "--merge-output-format", "mp4", "-o", str(section), f"{server.url}/{video_id}.mp4"],
            check=True,
        )
        info = probe(section)
        fits = (info.video.codec == "h264" and info.video.height <= MAX_HEIGHT and info.video.pix_fmt == "yuv420p"
                and (info.audio is None or info.audio.codec == "aac"))
        final = out / f"{video_id}.mp4"
        if fits:
            section.rename(final)
            continue
        run_ffmpeg(["-v", "error", "-i", str(section), "-vf", f"scale=-2:{MAX_HEIGHT}", "-c:v", "libx264",
                    "-preset", X264_PRESET, "-crf", str(X264_CRF), "-pix_fmt", "yuv420p", "-c:a", "aac",
                    "-b:a", AAC_BITRATE, "-movflags", "+faststart", "-y", str(final)])
        section.unlink()


def psnr(output: Path, source: Path, max_duration: float) -> float:
    """Mean PSNR (dB) of ``output`` against the source's first seconds scaled to the output's size."""
    info = probe(output)
    graph = (f"[1:v]trim=duration={max_duration:g},setpts=PTS-STARTPTS,"
             f"scale={info.video.width}:{info.video.height}[ref];[0:v][ref]psnr")
    result = run_ffmpeg(["-i", str(output), "-i", str(source), "-lavfi", graph, "-f", "null", "-"])
    match = re.search(r"average:([0-9.]+|inf)", result.stderr)
    return float(match.group(1)) if match else float("nan")


def summarise(name: str, out: Path, ids: list[str], sources: Path, wall: float, cpu: float, duration: float) -> dict:
    files = [out / f"{video_id}.mp4" for video_id in ids]
    heights = sorted({probe(path).video.height for path in files})
    return {
        "approach": name,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "cpu_per_clip_s": round(cpu / len(ids), 2),
        "bytes": sum(path.stat().st_size for path in files),
        "heights": heights,
        "psnr_db": round(sum(psnr(path, sources / path.name, duration) for path in files) / len(files), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 video of 30 s, 20 s clips (a smoke run)")
    parser.add_argument("--videos", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--max-duration", type=float, default=90)
    args = parser.parse_args()
    if args.quick:
        args.videos, args.seconds, args.max_duration = 1, 30, 20

    work = Path(tempfile.mkdtemp(prefix="reelset-bench-download-"))
    try:
        sources = work / "sources"
        print(f"generating {args.videos} sources of {args.seconds:g} s at 1280x720 25 fps ...", flush=True)
        ids = make_sources(sources, args.videos, args.seconds)
        rows = []
        with MediaServer(sources) as server:
            for name, runner in (("reelset", run_reelset), ("original", run_original)):
                out = work / name
                wall, cpu = measure(lambda: runner(ids, server, out, args.max_duration))
                rows.append(summarise(name, out, ids, sources, wall, cpu, args.max_duration))
                print(f"{name:9} wall {rows[-1]['wall_s']:7.2f} s  cpu {rows[-1]['cpu_s']:7.2f} s  "
                      f"cpu/clip {rows[-1]['cpu_per_clip_s']:6.2f} s  {rows[-1]['bytes'] / 1e6:6.1f} MB  "
                      f"heights {rows[-1]['heights']}  psnr {rows[-1]['psnr_db']} dB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, original = rows
    result = {
        "benchmark": "download",
        "videos": args.videos,
        "source": f"1280x720 25fps h264/aac {args.seconds:g}s",
        "clip_seconds": args.max_duration,
        "machine": f"{platform.machine()} {subprocess.check_output(['nproc'], text=True).strip()} cores",
        "reelset": ours,
        "original": original,
        "cpu_ratio": round(original["cpu_s"] / ours["cpu_s"], 2),
        "wall_ratio": round(original["wall_s"] / ours["wall_s"], 2),
    }
    print(f"original / reelset: {result['cpu_ratio']}x the CPU, {result['wall_ratio']}x the wall time")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
