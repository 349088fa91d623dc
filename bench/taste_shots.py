"""Benchmark: shot detection, reelset's (ffmpeg's scene score, ``reelset.taste.shots.detect_shots``) against
PySceneDetect, on one generated clip whose cuts are known.

The clip (made once with ffmpeg, untimed; default 60 s at 854x480, 30 fps, H.264 ``veryfast`` CRF 23 as a phone's
export would be) is 12 shots of equal length, joined by hard cuts: a test pattern fading in from black, colour bars
under sensor noise, a slow pan over a photo, a continuous zoom into the Mandelbrot set, a photo fading out to black,
a cat and the same cat mirrored (a cut between two pictures of the same colours), a slow zoom on a rocket, a
shaking hand-held camera, a fast pan (about 11 pixels a frame), then two flat colours of equal brightness (a cut
that grey levels cannot see) fading out. Photos come from installed packages (scikit-image, matplotlib). The truth
is the 11 cuts; the pans, zooms, shaking and fades must give none.

Contenders, each run --repeats times (alternating), credited with its best wall time:
- ``reelset``: :func:`detect_shots` (``scdet`` on 256x144 RGB, threshold 8, minimum shot 0.5 s).
- ``ffmpeg-select-luma``: the usual recipe, ``select='gt(scene,0.3)',showinfo`` on the decoded frames (grey
  levels only), every selected frame a cut: what reelset's two changes are for.
- ``pyscenedetect-content`` / ``pyscenedetect-adaptive``: ``scenedetect.detect`` with ContentDetector and
  AdaptiveDetector, their defaults, OpenCV backend (skipped when scenedetect is not installed:
  ``pip install scenedetect-headless``).

A detected cut within --tolerance seconds of a true one is a hit (each true cut counted once); the rest are false.
Printed per contender: hits, misses, false cuts, wall seconds, CPU seconds (this process and its ffmpeg children).
The last line is one JSON object with every figure.

Usage: python bench/taste_shots.py [--quick] [--size WxH] [--shot-seconds S] [--repeats R] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import run_ffmpeg, tool_version
from reelset.taste.samples import sample_photo
from reelset.taste.shots import detect_shots

FPS = 30
SHOTS = 12


def make_clip(path: Path, *, width: int, height: int, shot_seconds: float) -> list[float]:
    """Write the clip described in the module docstring; return its true cut times."""
    from PIL import Image

    noise = "noise=alls=6:allf=t+u"
    fill = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
    last_two = shot_seconds - 2 if shot_seconds > 3 else shot_seconds / 2
    with tempfile.TemporaryDirectory(prefix="reelset-bench-") as staging:
        def photo(name: str, mirrored: bool = False) -> list[str]:
            still = Path(staging) / f"{name}{'-mirrored' if mirrored else ''}.png"
            picture = Image.fromarray(sample_photo(name))
            (picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else picture).save(still)
            return ["-loop", "1", "-framerate", str(FPS), "-i", str(still)]

        def lavfi(source: str) -> list[str]:
            return ["-f", "lavfi", "-i", f"{source}{':' if '=' in source else '='}size={width}x{height}:rate={FPS}"]

        shots = [
            (lavfi("testsrc2"), f"fade=t=in:st=0:d={min(2.0, shot_seconds / 2)}"),
            (lavfi("smptebars"), noise),
            (photo("coffee"), f"scale=-2:{int(height * 1.6)},crop={width}:{height}:x='(iw-{width})*t/{shot_seconds}'"
                              f":y='(ih-{height})/2',{noise}"),
            (lavfi("mandelbrot=maxiter=512"), ""),
            (photo("astronaut"), f"{fill},{noise},fade=t=out:st={last_two}:d={shot_seconds - last_two}"),
            (photo("chelsea"), f"{fill},{noise}"),
            (photo("chelsea", mirrored=True), f"{fill},{noise}"),
            (photo("rocket"), f"{fill},zoompan=z='1+0.15*in/{FPS * shot_seconds}':x='iw/2-(iw/zoom/2)'"
                              f":y='ih/2-(ih/zoom/2)':d=1:s={width}x{height}:fps={FPS},{noise}"),
            (photo("astronaut"), f"scale={2 * width}:-2,crop={width}:{height}"
                                 f":x='{width // 2}+40*sin(7*t)+25*sin(17*t)':y='{height // 3}+30*sin(5*t)"
                                 f"+15*sin(13*t)',{noise}"),
            (photo("motorcycle_left"), f"scale={3 * width}:-2,crop={width}:{height}"
                                       f":x='(iw-{width})*t/{shot_seconds}':y='(ih-{height})/2',{noise}"),
            (lavfi("color=c=0xB03030"), noise),  # luma 86
            (lavfi("color=c=0x307030"), f"{noise},fade=t=out:st={last_two}:d={shot_seconds - last_two}"),  # luma 84
        ]
        assert len(shots) == SHOTS
        inputs, chains = [], []
        for index, (source, chain) in enumerate(shots):
            inputs += ["-t", f"{shot_seconds}", *source]
            chains.append(f"[{index}:v]{chain + ',' if chain else ''}fps={FPS},format=yuv420p,setsar=1,"
                          f"trim=duration={shot_seconds},setpts=PTS-STARTPTS[v{index}]")
        graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(SHOTS)) + f"concat=n={SHOTS}:v=1:a=0[out]"
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part.mp4")
        run_ffmpeg(["-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[out]",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", str(partial)],
                   label=f"making {path}")
        partial.rename(path)
    return [shot_seconds * index for index in range(1, SHOTS)]


def reelset_cuts(path: Path) -> list[float]:
    return [shot.start for shot in detect_shots(path)[1:]]


def ffmpeg_select_cuts(path: Path) -> list[float]:
    lines: list[str] = []
    run_ffmpeg(["-loglevel", "info", "-i", str(path), "-an", "-vf", "select='gt(scene,0.3)',showinfo",
                "-f", "null", "-"], on_stderr_line=lines.append, label=str(path))
    return [float(found) for line in lines for found in re.findall(r"pts_time:\s*([0-9.]+)", line)]


def pyscenedetect(detector: str):
    def cuts(path: Path) -> list[float]:
        import scenedetect

        scenes = scenedetect.detect(str(path), getattr(scenedetect, detector)(), backend="opencv")
        return [start.get_seconds() for start, _end in scenes[1:]]

    return cuts


def score(found: list[float], truth: list[float], tolerance: float) -> dict:
    hit = [any(abs(cut - true) <= tolerance for cut in found) for true in truth]
    false = [cut for cut in found if not any(abs(cut - true) <= tolerance for true in truth)]
    return {"hits": sum(hit), "misses": len(truth) - sum(hit), "false": len(false),
            "false_at": [round(cut, 2) for cut in false], "missed_at": [t for t, ok in zip(truth, hit) if not ok]}


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="12 shots of 2 s at 426x240, one run (a smoke test)")
    parser.add_argument("--size", help="WxH of the clip (default 854x480; 426x240 with --quick)")
    parser.add_argument("--shot-seconds", type=float, help="length of each of the 12 shots (default 5; 2 quick)")
    parser.add_argument("--repeats", type=int, help="runs of each contender, best kept (default 3; 1 quick)")
    parser.add_argument("--tolerance", type=float, default=0.1, help="seconds between a found and a true cut")
    parser.add_argument("--data-dir", type=Path, help="where the clip is kept between runs (default: a temp dir)")
    args = parser.parse_args()
    width, height = (int(value) for value in (args.size or ("426x240" if args.quick else "854x480")).split("x"))
    shot_seconds = args.shot_seconds or (2.0 if args.quick else 5.0)
    repeats = args.repeats or (1 if args.quick else 3)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="reelset-shots-"))
    clip = data_dir / f"shots-{width}x{height}-{shot_seconds:g}s.mp4"
    started = time.perf_counter()
    truth = [shot_seconds * index for index in range(1, SHOTS)]
    if not clip.exists():
        truth = make_clip(clip, width=width, height=height, shot_seconds=shot_seconds)
    print(f"clip: {clip} ({SHOTS * shot_seconds:g} s, {width}x{height}, {FPS} fps; made or found in "
          f"{time.perf_counter() - started:.1f} s), {len(truth)} cuts")

    contenders = {"reelset": reelset_cuts, "ffmpeg-select-luma": ffmpeg_select_cuts}
    try:
        import scenedetect

        contenders["pyscenedetect-content"] = pyscenedetect("ContentDetector")
        contenders["pyscenedetect-adaptive"] = pyscenedetect("AdaptiveDetector")
        scenedetect_version = scenedetect.__version__
    except ImportError:
        scenedetect_version = None
        print("pyscenedetect: not installed (pip install scenedetect-headless), skipped")

    walls: dict[str, list[float]] = {name: [] for name in contenders}
    cpus: dict[str, list[float]] = {name: [] for name in contenders}
    found: dict[str, list[float]] = {}
    for _ in range(repeats):
        for name, detect in contenders.items():
            cpu, wall = cpu_seconds(), time.perf_counter()
            found[name] = detect(clip)
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(cpu_seconds() - cpu)

    results = {"clip": {"seconds": SHOTS * shot_seconds, "size": [width, height], "fps": FPS, "cuts": len(truth)},
               "tolerance": args.tolerance, "repeats": repeats, "contenders": {}}
    for name in contenders:
        figures = {**score(found[name], truth, args.tolerance), "wall_s": round(min(walls[name]), 3),
                   "cpu_s": round(float(np.median(cpus[name])), 3)}
        results["contenders"][name] = figures
        print(f"{name:24s} hits {figures['hits']:2d}/{len(truth)}  false {figures['false']:2d}  "
              f"wall {figures['wall_s']:6.2f} s  cpu {figures['cpu_s']:6.2f} s"
              + (f"  false at {figures['false_at']}" if figures["false"] else "")
              + (f"  missed {figures['missed_at']}" if figures["misses"] else ""))
    results["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "ffmpeg": tool_version("ffmpeg"), "scenedetect": scenedetect_version}
    print(json.dumps(results))


if __name__ == "__main__":
    sys.exit(main())
