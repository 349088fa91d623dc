"""YouTube-8M records that a model can learn from, and the videos it should then recognise: the sandbox's stand-in
for the real training data of ``reelset taste --yt8m``.

Real records cannot be fetched offline and random ones teach nothing, so here each YouTube-8M entity of
:data:`COLOUR_ENTITIES` is a colour: a video-level record labelled "Tomato" has as its ``mean_rgb`` the backbone's
mean over frames of a shade of red, "Swimming pool" of blue, "Forest" of green (with random ``mean_audio``, as
YouTube-8M's records have). A model trained on them tags a red, a blue and a green video (:func:`make_colour_video`)
with the right entities, named and put in their verticals as YouTube-8M does. The features come from the caller's
``embed`` (the backbone's ``embed``: frames -> features), so they are in whatever space the person's videos will be
extracted in (the demo: the tiny Inception of :mod:`reelset.sandbox.inception_files`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.atomic import atomic_output
from reelset.core.ffmpeg import run_ffmpeg

AUDIO_WIDTH = 128
FRAMES_PER_RECORD = 3  # frames averaged into a record's mean_rgb


@dataclass(frozen=True)
class ColourEntity:
    """A YouTube-8M entity (its label id and name) drawn as a colour (``colour``): ``channel`` (0 red, 1 green,
    2 blue) is the strong one; ``video`` the colour of the sample video made for it (ffmpeg's ``0xRRGGBB``)."""

    label: int
    name: str
    colour: str
    channel: int
    video: str


COLOUR_ENTITIES = (
    ColourEntity(624, "Tomato", "red", 0, "0xd83020"),  # Food & Drink
    ColourEntity(311, "Swimming pool", "blue", 2, "0x2040d8"),  # Home & Garden
    ColourEntity(1451, "Frog", "green", 1, "0x28b040"),  # Pets & Animals
)


def colour_frames(rng: np.random.Generator, channel: int, frames: int = FRAMES_PER_RECORD, height: int = 48,
                  width: int = 64) -> np.ndarray:
    """``frames`` noisy uint8 RGB frames ``(frames, height, width, 3)`` of one random shade whose ``channel`` is
    strong (170-255) and the others weak (0-90)."""
    colour = rng.integers(0, 90, size=3).astype(np.float64)
    colour[channel] = rng.integers(170, 256)
    return np.clip(colour + rng.normal(0, 12, (frames, height, width, 3)), 0, 255).astype(np.uint8)


def colour_records(embed: Callable[[np.ndarray], np.ndarray], count: int, *, seed: int = 0,
                   prefix: str = "c") -> list[dict]:
    """``count`` video-level records (dicts for :func:`reelset.yt8m.write_records`), the entities of
    :data:`COLOUR_ENTITIES` in turn: ``labels`` the entity, ``mean_rgb`` the mean of ``embed`` over
    :func:`colour_frames` of its colour, ``mean_audio`` random. Deterministic given ``seed`` (and ``embed``)."""
    rng = np.random.default_rng(seed)
    records = []
    for index in range(count):
        entity = COLOUR_ENTITIES[index % len(COLOUR_ENTITIES)]
        features = np.asarray(embed(colour_frames(rng, entity.channel)), np.float32)
        records.append({"id": f"{prefix}{seed}v{index:03d}", "labels": np.array([entity.label], np.int64),
                        "mean_rgb": features.mean(axis=0).astype(np.float32),
                        "mean_audio": rng.normal(0, 0.5, AUDIO_WIDTH).astype(np.float32)})
    return records


def make_colour_video(path: str | Path, colour: str, *, seconds: float = 3, width: int = 64, height: int = 48,
                      fps: float = 5) -> Path:
    """A small H.264 mp4 of one ``colour`` (``0xRRGGBB`` or an ffmpeg colour name) with moving noise, no audio,
    written atomically; returns its path.

    Raises:
        reelset.core.ffmpeg.MediaError: ffmpeg failed.
    """
    path = Path(path)
    with atomic_output(path, durable=False) as output:
        run_ffmpeg(["-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"color=c={colour}:size={width}x{height}:rate={fps}:duration={seconds},noise=alls=12:allf=t",
                    "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mp4", str(output)],
                   label=f"making {path}")
    return path
