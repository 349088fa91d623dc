"""Sample personal videos for the demo, the tests and the report's screenshot, made from real photos.

The photos ship in packages reelset already installs (no download): matplotlib's ``grace_hopper.jpg`` and
scikit-image's bundled ``coffee``, ``chelsea`` (a cat), ``rocket`` and ``motorcycle_left``. A still photo encoded as
a short H.264 video is what a tagger sees of a real clip of that scene, so the tags are meaningful (EfficientNet-Lite0
says "military uniform", "espresso", "Egyptian cat" for the first three). Generated test patterns and broken files
complete a library.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from reelset.core.atomic import atomic_output
from reelset.core.ffmpeg import run_ffmpeg
from reelset.sandbox.media import make_phone_video, make_video

_MUXERS = {".mp4": "mp4", ".mov": "mov", ".m4v": "mp4", ".mkv": "matroska"}


def sample_photo(name: str) -> np.ndarray:
    """One of the installed sample photos as uint8 RGB: ``grace_hopper`` (matplotlib) or a scikit-image one
    (``coffee``, ``chelsea``, ``rocket``, ``motorcycle_left``, ``astronaut``)."""
    if name == "grace_hopper":
        import matplotlib.cbook
        from PIL import Image

        with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as image:
            return np.asarray(image.convert("RGB"))
    import skimage.data

    if name == "motorcycle_left":
        return np.asarray(skimage.data.stereo_motorcycle()[0])
    return np.asarray(getattr(skimage.data, name)())


def _iso(when: datetime) -> str:
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def make_photo_video(image: np.ndarray | str | Path, path: str | Path, *, seconds: float = 3.0,
                     size: tuple[int, int] | None = None, fps: float = 2, hflip: bool = False,
                     creation_time: datetime | None = None) -> Path:
    """Encode a still photo as a short H.264 video (``.mp4``, ``.mov``, ``.m4v`` or ``.mkv``).

    Args:
        image: uint8 RGB array, or an image file.
        size: ``(width, height)`` (even); default: the photo's size rounded down to even numbers.
        hflip: mirror it (a second "video" of the same scene that is not the same file).
        creation_time: written as the container's ``creation_time`` tag, as cameras and phones do.
    """
    from PIL import Image

    path = Path(path)
    picture = Image.open(image).convert("RGB") if isinstance(image, (str, Path)) else Image.fromarray(image)
    width, height = size or (picture.width // 2 * 2, picture.height // 2 * 2)
    filters = f"scale={width}:{height}{',hflip' if hflip else ''},format=yuv420p"
    with tempfile.TemporaryDirectory(prefix="reelset-photo-") as staging:
        still = Path(staging) / "still.png"
        picture.save(still)
        with atomic_output(path, durable=False) as output:
            run_ffmpeg(["-loglevel", "error", "-y", "-loop", "1", "-framerate", f"{fps}", "-i", str(still),
                        "-t", f"{seconds}", "-vf", filters, "-c:v", "libx264", "-preset", "ultrafast",
                        "-tune", "stillimage",
                        *(["-metadata", f"creation_time={_iso(creation_time)}"] if creation_time else []),
                        "-f", _MUXERS[path.suffix.lower()], str(output)], label=f"making {path}")
    return path


def set_creation_time(path: str | Path, when: datetime) -> Path:
    """Rewrite a video's container with a ``creation_time`` tag (streams copied)."""
    path = Path(path)
    with atomic_output(path, durable=False) as output:
        run_ffmpeg(["-loglevel", "error", "-y", "-i", str(path), "-map", "0", "-c", "copy",
                    "-metadata", f"creation_time={_iso(when)}", "-f", _MUXERS[path.suffix.lower()], str(output)],
                   label=f"tagging {path}")
    return path


BROKEN_FILES = {"empty.mp4": "empty", "truncated.mp4": "truncated", "notes.mov": "not a video"}


def make_broken_files(folder: str | Path) -> dict[Path, str]:
    """Three files named like videos that are not (:data:`BROKEN_FILES`): empty, cut short before its index, and
    text. Returns each path with what is wrong with it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    truncated = folder / "truncated.mp4"
    if not truncated.exists():
        whole = make_video(folder / ".whole.tmp.mp4", seconds=3, width=96, height=64, audio=None)
        data = whole.read_bytes()
        truncated.write_bytes(data[: len(data) // 3])  # moov (the index) is at the end: cut off
        whole.unlink()
    text = folder / "notes.mov"
    text.write_text("not a video\n")
    return {path: BROKEN_FILES[path.name] for path in (empty, truncated, text)}


@dataclass(frozen=True)
class SampleVideo:
    """One video of the sample library: file name, photo (or None for a test pattern), when it was taken, and
    where (``(lat, lon)``, written as an iPhone (``.mov``) or an Android phone (``.mp4``) writes it)."""

    name: str
    photo: str | None
    taken: datetime | None
    hflip: bool = False
    seconds: float = 4.0
    modified: datetime | None = None  # the file's modification time, for one without a creation time
    where: tuple[float, float] | None = None


def _day(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=timezone.utc)


# A year of someone's phone: mostly the cat and coffee, some outings; two files without a creation time (their
# modification time counts), one of them a screen recording of a test pattern.
SAMPLE_LIBRARY: Sequence[SampleVideo] = (
    SampleVideo("2024/01/cat-on-the-sofa.mp4", "chelsea", _day(2024, 1, 7)),
    SampleVideo("2024/01/morning-espresso.mov", "coffee", _day(2024, 1, 21, 8), where=(48.8584, 2.2945)),
    SampleVideo("2024/03/cat-again.mp4", "chelsea", _day(2024, 3, 2), hflip=True),
    SampleVideo("2024/04/museum-portrait.mp4", "grace_hopper", _day(2024, 4, 13)),
    SampleVideo("2024/05/launch-day.mp4", "rocket", _day(2024, 5, 18), where=(28.5729, -80.6490)),
    SampleVideo("2024/06/coffee-with-friends.mp4", "coffee", _day(2024, 6, 9, 10), hflip=True,
                where=(-33.8568, 151.2153)),
    SampleVideo("2024/08/new-motorbike.m4v", "motorcycle_left", _day(2024, 8, 3)),
    SampleVideo("2024/10/cat-nap.mp4", "chelsea", _day(2024, 10, 26)),
    SampleVideo("unsorted/screen-recording.mp4", None, None, modified=_day(2024, 11, 15)),
    SampleVideo("unsorted/coffee-no-date.mp4", "coffee", None, modified=_day(2024, 12, 1)),
)


def make_sample_library(folder: str | Path, *, broken: bool = True, size_cap: int = 320) -> list[Path]:
    """Write :data:`SAMPLE_LIBRARY` (and, with ``broken``, :func:`make_broken_files` in ``broken/``) under
    ``folder``, once: existing files are kept. Photos are scaled to at most ``size_cap`` pixels wide. Returns the
    video paths."""
    folder = Path(folder)
    paths = []
    for sample in SAMPLE_LIBRARY:
        path = folder / sample.name
        paths.append(path)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            if sample.photo is None:
                make_video(path, seconds=sample.seconds, width=240, height=160, audio=None)
                if sample.taken:
                    set_creation_time(path, sample.taken)
            else:
                photo = sample_photo(sample.photo)
                height, width = photo.shape[:2]
                scale = min(1.0, size_cap / width)
                size = (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
                if sample.where is None:
                    make_photo_video(photo, path, seconds=sample.seconds, size=size, hflip=sample.hflip,
                                     creation_time=sample.taken)
                else:  # as the phone wrote it: its time and position in the container's metadata
                    with tempfile.TemporaryDirectory(prefix="reelset-sample-") as scratch:
                        plain = make_photo_video(photo, Path(scratch) / f"plain{path.suffix}", seconds=sample.seconds,
                                                 size=size, hflip=sample.hflip)
                        make_phone_video(path, style="apple" if path.suffix == ".mov" else "android",
                                         when=sample.taken, lat=sample.where[0], lon=sample.where[1], source=plain)
        if sample.modified is not None:
            os.utime(path, (sample.modified.timestamp(), sample.modified.timestamp()))
    if broken:
        paths.extend(make_broken_files(folder / "broken"))
    return paths
