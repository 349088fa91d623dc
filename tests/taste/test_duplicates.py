"""Near-duplicate videos (``reelset.taste.duplicates``) from frames decoded as reelset decodes them for features
(1 fps, :func:`reelset.features.frames.decode_frames`, resized to the backbone's 224 x 224), on videos made with the
real ffmpeg: an original (a pan over a photo, a zoom into another, a still shot of a third), its exact copy, a
trimmed re-encode at another resolution, letterboxed, fading in from black; and two videos of the same colours that
are not duplicates (the original mirrored; the same photos, the first two swapped, so only the still shot is
shared). The index is checked on thousands of synthetic videos."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reelset.core.ffmpeg import probe, run_ffmpeg
from reelset.features.frames import decode_frames
from reelset.taste.duplicates import (
    MAX_DISTANCE,
    VideoHashes,
    _candidate_pairs,
    find_duplicates,
    frame_hashes,
    hamming_distances,
)
from reelset.taste.samples import sample_photo

FPS = 5  # few frames to make; the 1 fps samples are what matters
WIDTH, HEIGHT = 320, 180
BACKBONE_SIZE = (224, 224)  # EfficientNet-Lite0's input: what the integrator passes


def still(folder: Path, name: str) -> Path:
    path = folder / f"{name}.bmp"  # decoded for every frame of a looped input: BMP costs nothing to decode
    Image.fromarray(sample_photo(name)).save(path)
    return path


def ffmpeg(*args: str) -> None:
    run_ffmpeg(["-loglevel", "error", "-y", *args], label="making a test video")


def make_original(path: Path, folder: Path, *, order=("astronaut", "chelsea")) -> Path:
    """10 s: a pan over one photo (4 s, an eighth of the frame's width a second), a slow zoom into another (3 s),
    a still shot of a third under sensor noise (3 s)."""
    pan, zoom = (still(folder, name) for name in order)
    graph = ";".join([
        f"[0:v]scale={2 * WIDTH}:-2,crop={WIDTH}:{HEIGHT}:x='(iw-{WIDTH})*t/8':y='(ih-{HEIGHT})/3',"
        f"trim=duration=4,setpts=PTS-STARTPTS[pan]",
        f"[1:v]scale={2 * WIDTH}:{2 * HEIGHT}:force_original_aspect_ratio=increase,crop={2 * WIDTH}:{2 * HEIGHT},"
        f"zoompan=z='1+0.2*in/{3 * FPS}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s={WIDTH}x{HEIGHT}"
        f":fps={FPS},trim=duration=3,setpts=PTS-STARTPTS[zoom]",
        f"[2:v]scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT},"
        f"noise=alls=8:allf=t+u,trim=duration=3,setpts=PTS-STARTPTS[still]",
        "[pan][zoom][still]concat=n=3:v=1:a=0,format=yuv420p,setsar=1[out]",
    ])
    inputs = []
    for picture, seconds in ((pan, 4), (zoom, 3), (still(folder, "rocket"), 3)):
        inputs += ["-loop", "1", "-framerate", str(FPS), "-t", str(seconds), "-i", str(picture)]
    ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-preset", "ultrafast",
           "-crf", "18", str(path))
    return path


def hashes_of(path: Path) -> VideoHashes:
    decoded = decode_frames(path, size=BACKBONE_SIZE)
    video = probe(path).video
    return VideoHashes(frame_hashes(decoded.frames), duration=decoded.duration, width=video.width,
                       height=video.height)


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("duplicates")
    original = make_original(folder / "original.mp4", folder)
    copy = folder / "copy.mp4"
    shutil.copyfile(original, copy)
    # Cut 1.5 s in, so every 1 fps sample of the trim falls half a second from the original's (the worst case);
    # smaller, 4:3 with black bars above and below, a one-second fade in from black, compressed harder.
    trimmed = folder / "trimmed.mp4"
    ffmpeg("-ss", "1.5", "-i", str(original), "-t", "7", "-vf", "scale=256:144,pad=256:192:0:24,fade=t=in:d=1",
           "-c:v", "libx264", "-preset", "ultrafast", "-crf", "30", str(trimmed))
    mirrored = folder / "mirrored.mp4"
    ffmpeg("-i", str(original), "-vf", "hflip", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", str(mirrored))
    return {
        "original": original,
        "copy": copy,
        "trimmed": trimmed,
        "mirrored": mirrored,
        "swapped": make_original(folder / "swapped.mp4", folder, order=("chelsea", "astronaut")),
    }


@pytest.fixture(scope="module")
def hashed(library) -> dict[str, VideoHashes]:
    return {name: hashes_of(path) for name, path in library.items()}


def test_copies_and_trimmed_re_encodes_are_found_the_rest_are_not(hashed):
    names = ["trimmed", "mirrored", "original", "swapped", "copy"]

    duplicates = find_duplicates([hashed[name] for name in names])

    # The original and its copy are as long and as large: the first given is kept.
    assert {names[index]: names[kept] for index, kept in duplicates.items()} == {
        "trimmed": "original", "copy": "original"}


def test_the_trim_matches_despite_letterbox_fade_and_offset(hashed):
    """Frame by frame: the trim's first frame (black: the fade's start) gives no hash, and most of its other frames
    are within MAX_DISTANCE of one of the original's (those of the pan, half a second off, may not be); the
    mirrored video's frames are all far from the original's."""
    original, trimmed, mirrored = hashed["original"], hashed["trimmed"], hashed["mirrored"]

    nearest = hamming_distances(trimmed.hashes, original.hashes).min(axis=1)
    assert len(trimmed.hashes) == 6  # 7 frames, the first black
    assert (nearest <= MAX_DISTANCE).sum() >= 4
    assert hamming_distances(mirrored.hashes, original.hashes).min() > MAX_DISTANCE


def test_letterboxed_pillarboxed_scaled_and_dimmed_frames_hash_alike():
    photo = sample_photo("coffee")[:, :, :3]
    height, width = photo.shape[:2]
    letterboxed = np.zeros((height + 120, width, 3), dtype=np.uint8)
    letterboxed[60:-60] = photo
    pillarboxed = np.zeros((height, width + 200, 3), dtype=np.uint8)
    pillarboxed[:, 100:-100] = photo
    smaller = np.asarray(Image.fromarray(photo).resize((160, 107), Image.Resampling.BILINEAR))
    dimmed = (photo * 0.4).astype(np.uint8)  # a frame half-way through a fade

    hashes = frame_hashes([photo, letterboxed, pillarboxed, smaller, dimmed])

    assert len(hashes) == 5
    assert hamming_distances(hashes[:1], hashes[1:]).max() <= 4
    assert hamming_distances(hashes[:1], frame_hashes([sample_photo("chelsea")])).min() > MAX_DISTANCE


def test_black_and_uniform_frames_give_no_hash():
    rng = np.random.default_rng(0)
    black = np.zeros((120, 160, 3), dtype=np.uint8)
    noisy_grey = np.clip(128 + rng.normal(0, 20, (120, 160, 3)), 0, 255).astype(np.uint8)  # a white wall, noisy
    nearly_black = (sample_photo("coffee")[:, :, :3] * 0.05).astype(np.uint8)  # the first frame of a fade

    assert len(frame_hashes([black, noisy_grey, nearly_black])) == 0
    assert frame_hashes(np.zeros((0, 8, 8, 3), dtype=np.uint8)).dtype == np.uint64


def random_hashes(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=count, dtype=np.uint64)


def flipped(rng: np.random.Generator, hashes: np.ndarray, bits: int) -> np.ndarray:
    """``hashes`` with ``bits`` random bits of each flipped (a re-encode's noise)."""
    masks = np.zeros(len(hashes), dtype=np.uint64)
    for row in range(len(hashes)):
        for bit in rng.choice(64, bits, replace=False):
            masks[row] |= np.uint64(1) << np.uint64(bit)
    return hashes ^ masks


def test_the_kept_video_is_the_longest_then_the_largest_then_the_first():
    rng = np.random.default_rng(1)
    frames = random_hashes(rng, 30)
    videos = [
        VideoHashes(frames[5:20], duration=15, width=1920, height=1080),  # a trim: shorter, even if sharper
        VideoHashes(frames, duration=30, width=640, height=360),
        VideoHashes(flipped(rng, frames, 3), duration=30.4, width=1280, height=720),  # as long (within 1 s), larger
        VideoHashes(frames.copy(), duration=30, width=1280, height=720),  # as long and as large: later
        VideoHashes(random_hashes(rng, 30), duration=30, width=1280, height=720),  # another video
    ]

    assert find_duplicates(videos) == {0: 2, 1: 2, 3: 2}


def test_groups_are_transitive_and_few_frames_prove_nothing():
    rng = np.random.default_rng(2)
    whole = random_hashes(rng, 40)
    # A re-encode of the whole's first half (8 bits off), and a re-encode of that one's start (8 other bits off):
    # 16 bits from the whole, too far to match it directly, a duplicate of it through the first half.
    first_half = VideoHashes(whole[:20] ^ np.uint64(0xFF), duration=20)
    start = VideoHashes(whole[:10] ^ np.uint64(0xFFFF), duration=10)
    assert hamming_distances(start.hashes, whole).min() > MAX_DISTANCE
    two_frames = VideoHashes(whole[:2], duration=2)  # fewer matches than MIN_MATCHES
    empty = VideoHashes(np.zeros(0, dtype=np.uint64), duration=5)
    mostly_other = VideoHashes(np.concatenate([whole[:4], random_hashes(rng, 6)]), duration=10)  # 4 of 10 match

    duplicates = find_duplicates([start, first_half, two_frames, empty, VideoHashes(whole, duration=40),
                                  mostly_other])

    assert duplicates == {0: 4, 1: 4}


def test_thousands_of_videos_are_indexed_not_compared_pairwise():
    """3,000 videos of 40 frames: the planted duplicates are found, and only a few pairs of videos are compared
    frame by frame (all pairs would be 4.5 million)."""
    rng = np.random.default_rng(3)
    videos = [VideoHashes(random_hashes(rng, 40), duration=40, width=640, height=360) for _ in range(3000)]
    videos[2100] = VideoHashes(flipped(rng, videos[17].hashes[10:30], 4), duration=20)
    videos[2999] = VideoHashes(flipped(rng, videos[5].hashes, 2), duration=40, width=320, height=180)

    started = time.perf_counter()
    duplicates = find_duplicates(videos)
    seconds = time.perf_counter() - started

    assert duplicates == {2100: 17, 2999: 5}
    assert len(_candidate_pairs([video.hashes for video in videos], MAX_DISTANCE)) < 1000
    assert seconds < 20  # all pairs, frame by frame, would be 7 billion comparisons
