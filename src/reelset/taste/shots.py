"""Shots of a video: where its hard cuts are, from ffmpeg's scene-change score.

ffmpeg's ``scdet`` filter (the formula of ``select``'s ``scene`` score) measures, for each frame, how much it
differs from the previous one: the mean absolute difference of their pixels, in percent of the full scale, counted
only beyond the change between the two frames before (``min(mafd, |mafd - previous mafd|)``). Steady change is
therefore no cut: a pan, a zoom or a fade moves every frame by about as much as the last, so its score stays low,
while a cut jumps once. :func:`detect_shots` runs it on frames shrunk to 256 x 144 (the score hardly changes,
decoding dominates the cost) and in RGB, not on grey levels alone: the score on luma alone misses a cut between
two pictures of equal brightness and different colours.

Two rules of ours on top of ffmpeg's score:

- A cut must clear ``threshold`` (:data:`DEFAULT_THRESHOLD`, in the score's percent).
- Of cuts closer than ``min_shot_seconds`` the strongest is kept. The frame after a cut into a moving shot scores
  again (its change drops from the cut's to the motion's, a jump of its own); so does a flash.

Why this and not PySceneDetect: ``bench/taste_shots.py`` runs both on a 60 s 480p clip (30 fps) with 11 known
cuts, a fade-in, fades to black, a slow and a fast pan, two zooms and a shaking camera. This finds the 11 cuts and
no false one, as PySceneDetect's AdaptiveDetector does (its default ContentDetector adds 5 false cuts, in the fast
pan and the last fade); both take about as long (2.6 s and 3.0 s on two cores: decoding every frame is most of it,
for both), and this needs no new dependency. ffmpeg's usual recipe, ``select='gt(scene,0.3)'`` on grey levels,
misses 2 of the 11 (the equal-brightness colours, and a red motorcycle cut to a red wall).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from reelset.core.ffmpeg import MediaError, probe, run_ffmpeg

__all__ = ["DEFAULT_THRESHOLD", "MIN_SHOT_SECONDS", "Shot", "detect_shots", "shots_from_cuts"]

# In the score's percent of full scale. Measured on the bench clip: cuts score 12-46 (the lowest: a red motorcycle
# cut to a red wall; a cat cut to the same cat mirrored: 14.5), steady motion at most 4.3 (a shaking camera), the
# frame after a cut into motion 10 (dropped by the minimum shot length).
DEFAULT_THRESHOLD = 8.0
MIN_SHOT_SECONDS = 0.5
DEFAULT_TIMEOUT = 600.0
_ANALYSIS_SIZE = "256:144"
# "[scdet @ 0x55d0c] lavfi.scd.score: 46.122, lavfi.scd.time: 5"
_CUT_LINE = re.compile(r"lavfi\.scd\.score: (?P<score>[0-9.]+), lavfi\.scd\.time: (?P<time>-?[0-9.]+(?:e[-+]?\d+)?)")


@dataclass(frozen=True)
class Shot:
    """One shot: from ``start`` to ``end``, seconds from the video's first frame."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def detect_shots(
    path: str | Path,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    min_shot_seconds: float = MIN_SHOT_SECONDS,
    max_seconds: float | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
) -> list[Shot]:
    """The shots of a video, in order, from its first frame to its end (module docstring: how cuts are found).

    Every frame is decoded once: the cost is about that of decoding the video (2.6 s for 60 s of 480p at 30 fps on
    two cores). A damaged video gives the shots of what decodes.

    Args:
        path: a local video file.
        threshold: the scene score (percent) a frame must exceed to start a shot; lower finds softer cuts and more
            false ones.
        min_shot_seconds: no two cuts closer than this (the stronger is kept).
        max_seconds: look for cuts in the first ``max_seconds`` only (say, the span the 1 fps features cover, to
            bound the cost of long videos); the last shot then runs to the video's end. None: the whole video.
        timeout: wall-clock limit in seconds (ffmpeg is killed when it is reached).

    Returns:
        At least one shot for any video with a video stream; consecutive shots share their boundary, the last
        ends at the video's duration.

    Raises:
        MediaError: a ReelsetError naming the file: missing, unreadable, no video stream, ffmpeg failed or timed
            out.
        ValueError: a negative ``threshold`` or ``min_shot_seconds``, a ``max_seconds`` that is not positive.
    """
    if threshold < 0 or min_shot_seconds < 0 or (max_seconds is not None and max_seconds <= 0):
        raise ValueError("threshold and min_shot_seconds must not be negative, max_seconds must be positive")
    name = str(path)
    # ffmpeg reads "name:..." as a protocol and "-" as stdin; the file protocol avoids both.
    url = f"file:{Path(path).absolute()}"
    info = probe(url, label=name, timeout=timeout)
    if info.video is None:
        raise MediaError(f"{name}: no video stream")
    cuts: list[tuple[float, float]] = []
    reached = [0.0]

    def on_line(line: str) -> None:
        found = _CUT_LINE.search(line)
        if found:
            cuts.append((float(found["time"]), float(found["score"])))

    def on_progress(seconds: float) -> None:
        reached[0] = max(reached[0], seconds)

    run_ffmpeg(
        [
            "-loglevel", "info",  # scdet reports each cut at this level
            *(["-t", f"{max_seconds:g}"] if max_seconds is not None else []),
            "-i", url,
            "-map", "0:V:0", "-an", "-sn", "-dn",
            # Times from the first frame, as the 1 fps frames count them; shrunk (area: an average, not a sample,
            # so noise does not score) and compared in RGB.
            "-vf", f"setpts=PTS-STARTPTS,scale={_ANALYSIS_SIZE}:flags=area,format=rgb24,"
                   f"scdet=threshold={threshold:g}",
            "-f", "null", "-",
        ],
        timeout=timeout,
        on_stderr_line=on_line,
        on_progress=on_progress,
        label=name,
    )
    end = max(info.duration or 0.0, reached[0])
    return shots_from_cuts(cuts, end, min_shot_seconds=min_shot_seconds)


def shots_from_cuts(cuts: list[tuple[float, float]], end: float, *,
                    min_shot_seconds: float = MIN_SHOT_SECONDS) -> list[Shot]:
    """Shots from scored cuts ``(time, score)``: strongest first, a cut closer than ``min_shot_seconds`` to a kept
    one (or to the start or ``end``) is dropped. Always at least one shot, ``[0, end]``."""
    kept: list[float] = []
    for time, _score in sorted(cuts, key=lambda cut: -cut[1]):
        inside = 0 < time < end and min_shot_seconds <= time <= end - min_shot_seconds
        if inside and all(abs(time - other) >= min_shot_seconds for other in kept):
            kept.append(time)
    bounds = [0.0, *sorted(kept), max(end, 0.0)]
    return [Shot(start, stop) for start, stop in zip(bounds, bounds[1:])]
