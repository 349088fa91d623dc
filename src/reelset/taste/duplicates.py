"""Near-duplicate videos: copies, re-encodes and trims of one another, found from perceptual hashes of their frames.

A video's fingerprint is the set of 64-bit perceptual hashes (pHash) of its 1 fps frames, the frames reelset
decodes for features anyway. Each hash is made so that what a copy changes does not change it:

- Black borders are cropped first (letterboxing, pillarboxing: rows, then columns, darker than
  :data:`BLACK_LEVEL` on average, from each edge inwards), then a :data:`MARGIN` of what is left on every side,
  where a border's edge blurs into the picture when it is encoded.
- Frames with nothing to recognise are skipped: near-black (nothing left after the crop: a fade's first frames, a
  lens cap) and near-uniform (a grey spread under :data:`MIN_CONTRAST`: a title card's background, a white wall).
- The hash is ``imagehash.phash``'s: grey levels reduced to 32 x 32, the 8 x 8 lowest frequencies of their 2-D
  DCT, one bit each, set when above their median (bit for bit the same as imagehash's on the same 32 x 32 grid).
  The grid is an area average here (imagehash resizes with Lanczos), so any size and aspect ratio come to the same
  grid. Scaling, recompression and a global change of brightness (the rest of a fade) keep almost every bit;
  different pictures differ in about half of them.

Why not imagehash itself: the crop and the skipping are ours either way, its hash is these few lines of numpy, and
it hashes one PIL image at a time (7 ms per 224 x 224 frame here, against 1.2 ms for all of the above) and would
bring PyWavelets and scipy.

Video B duplicates video A when more than :data:`MIN_SHARED` of B's hashes, at least :data:`MIN_MATCHES`, have a
hash of A within :data:`MAX_DISTANCE` bits, B being the shorter (durations within :data:`DURATION_SLACK` count as
equal). That holds for a copy and a re-encode (every frame matches) and for a trim (every frame of the trim is in
the whole, not the reverse). Groups are transitive: a trim of a re-encode of A is a duplicate of A. Each group
keeps its longest video, then the one with the most pixels, then the first given; the others point at it.

Scale: comparing every frame with every other is quadratic in the library. Hashes are indexed instead
(:func:`find_duplicates`): in eight tables, each hash filed under one of its 16-bit bands (four bands of its bits
read row by row, four read column by column), and two hashes are compared only when they share a band in a
table. Two frames of the same picture differ in a few bits, so they share a band; unrelated frames rarely do (a
band's 65,536 values spread them thin). A pair of videos with one such frame pair within :data:`MAX_DISTANCE` is
then checked frame by frame against the rule above: the index only chooses what to check, never what is a
duplicate. 5,000 videos of 100 frames take about 3 s on two cores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["VideoHashes", "find_duplicates", "frame_hashes", "hamming_distances"]

BLACK_LEVEL = 24.0  # mean grey (0-255) below which a border row or column counts as black
MARGIN = 0.03  # cropped from every side after the black borders, as a fraction of what is left
MIN_CONTRAST = 8.0  # a frame whose 32 x 32 grey grid spreads less than this (standard deviation, 0-255): skipped
MIN_SIDE = 16  # a frame whose picture, once cropped, is narrower or lower than this many pixels is skipped
# Bits (of 64) in which two frames of the same picture may differ. A copy, a re-encode, another size, a letterbox
# or a fade change 0-4 (tests/taste/test_duplicates.py). A trim's frames are sampled up to half a second away from
# the original's: 0-6 apart on a still or slow shot, 10-20 on a pan (those may not match: the rest must). Frames of
# different pictures are 18 or more apart, most 24-32 (the same video mirrored: 22-28).
MAX_DISTANCE = 12
MIN_SHARED = 0.5  # more than this fraction of the shorter video's hashes must match the longer's ("most")
MIN_MATCHES = 3  # and at least this many of them (one or two generic frames prove nothing)
DURATION_SLACK = 1.0  # seconds: durations closer than this count as equal (a re-encode may gain or lose a frame)

_HASH_SIZE = 8
_GRID = 32
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
_BANDS = 4
_BAND_BITS = 64 // _BANDS


def _dct_matrix(size: int) -> np.ndarray:
    """The orthonormal DCT-II as a matrix: ``M @ x`` transforms the columns of ``x``."""
    k = np.arange(size)[:, None]
    n = np.arange(size)[None, :]
    matrix = np.cos(np.pi * (2 * n + 1) * k / (2 * size)) * np.sqrt(2.0 / size)
    matrix[0] /= np.sqrt(2.0)
    return matrix


_DCT = _dct_matrix(_GRID)[:_HASH_SIZE]  # only the lowest frequencies are kept: compute only those
_BIT_WEIGHTS = np.left_shift(np.uint64(1), np.arange(63, -1, -1, dtype=np.uint64))


@dataclass(frozen=True)
class VideoHashes:
    """What :func:`find_duplicates` knows of one video.

    Attributes:
        hashes: the video's frame hashes, from :func:`frame_hashes` (uint64; order does not matter, empty for a
            video with no frame worth hashing, which is then nobody's duplicate).
        duration: seconds (None: unknown, counted as 0); the longer of two duplicates is kept.
        width, height: displayed size in pixels; between duplicates as long as each other, the larger is kept.
    """

    hashes: np.ndarray
    duration: float | None
    width: int = 0
    height: int = 0


def frame_hashes(frames: Iterable[np.ndarray]) -> np.ndarray:
    """The perceptual hashes of the frames worth hashing (the module docstring says which, and how).

    Args:
        frames: ``(height, width, 3)`` uint8 RGB frames of one video, any size (the 1 fps frames that
            :func:`reelset.features.frames.decode_frames` gives, resized or not); an ``(n, height, width, 3)``
            array works too.

    Returns:
        ``(k,)`` uint64 hashes in frame order, ``k <= n``: near-black and near-uniform frames give none.
    """
    grids = [grid for grid in map(_picture_grid, frames) if grid is not None]
    if not grids:
        return np.zeros(0, dtype=np.uint64)
    low = _DCT @ np.stack(grids) @ _DCT.T  # (k, 8, 8): the lowest frequencies of each frame
    flat = low.reshape(len(grids), -1)
    bits = flat > np.median(flat, axis=1, keepdims=True)
    return (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=1, dtype=np.uint64)


def _picture_grid(frame: np.ndarray) -> np.ndarray | None:
    """The frame's picture as 32 x 32 mean grey levels, or None for a frame not worth hashing."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a frame must be (height, width, 3) RGB, got shape {frame.shape}")
    grey = frame.astype(np.float32) @ _LUMA
    rows = np.flatnonzero(grey.mean(axis=1) >= BLACK_LEVEL)
    if len(rows) == 0:
        return None  # black from edge to edge
    top, bottom = rows[0], rows[-1] + 1
    # Columns of the rows kept, so that letterbox bars do not darken a pillarbox's edge columns into the picture.
    columns = np.flatnonzero(grey[top:bottom].mean(axis=0) >= BLACK_LEVEL)
    if len(columns) == 0:
        return None
    left, right = columns[0], columns[-1] + 1
    # The border's edge: an encoder blurs a few pixels of black into the picture, differently at every size.
    trim_y = int((bottom - top) * MARGIN)
    trim_x = int((right - left) * MARGIN)
    picture = grey[top + trim_y:bottom - trim_y, left + trim_x:right - trim_x]
    if min(picture.shape) < MIN_SIDE:
        return None
    grid = _area_resize(picture, _GRID)
    # Measured on the grid, not the pixels: sensor noise on a white wall is no picture.
    return grid if grid.std() >= MIN_CONTRAST else None


def _area_resize(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` as ``size`` x ``size`` cell means (each cell a block of whole pixels; a side shorter than ``size``
    repeats its pixels)."""
    for axis in (0, 1):  # rows first: summing whole rows of a C-ordered image is the fast direction
        length = image.shape[axis]
        starts = np.arange(size) * length // size
        counts = np.maximum(np.diff(np.append(starts, length)), 1).astype(np.float32)
        image = np.add.reduceat(image, starts, axis=axis)
        image /= counts[:, None] if axis == 0 else counts[None, :]
    return image


def hamming_distances(hashes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Bits in which each of ``hashes`` differs from each of ``others``: a ``(len(hashes), len(others))`` array."""
    differing = np.bitwise_xor(np.asarray(hashes, dtype=np.uint64)[:, None],
                               np.asarray(others, dtype=np.uint64)[None, :])
    return _popcount(differing)


def _popcount(values: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy 2
        return np.bitwise_count(values).astype(np.int64)
    as_bytes = values.view(np.uint8).reshape(*values.shape, 8)
    return _BYTE_BITS[as_bytes].sum(axis=-1, dtype=np.int64)


_BYTE_BITS = np.array([bin(value).count("1") for value in range(256)], dtype=np.uint8)


def find_duplicates(
    videos: Sequence[VideoHashes],
    *,
    max_distance: int = MAX_DISTANCE,
    min_shared: float = MIN_SHARED,
    min_matches: int = MIN_MATCHES,
) -> dict[int, int]:
    """Which videos duplicate which: ``{index of a duplicate: index of the video kept}``, indexes into ``videos``.

    Two videos are linked when more than ``min_shared`` of the shorter one's hashes, and at least ``min_matches``,
    are within ``max_distance`` bits of a hash of the other (durations within :data:`DURATION_SLACK` seconds count
    as equal: either may be the shorter). Links are transitive: each group keeps one video, the longest (again
    within the slack), then the one with the most pixels, then the first given, and every other member maps to it.
    Videos in no group are not in the result.

    Cost: the hashes are indexed by bands (module docstring), so the work grows with the number of hashes and of
    frame pairs that look alike, not with the square of the number of videos. Pairs the index finds are checked
    frame by frame (all hashes of one against all of the other).
    """
    hashes = [np.asarray(video.hashes, dtype=np.uint64).ravel() for video in videos]
    groups = _UnionFind(len(videos))
    for first, second in _candidate_pairs(hashes, max_distance):
        if _linked(videos[first], videos[second], hashes[first], hashes[second], max_distance, min_shared,
                   min_matches):
            groups.union(first, second)
    duplicates: dict[int, int] = {}
    for members in groups.groups():
        if len(members) > 1:
            kept = _kept(videos, members)
            duplicates.update({member: kept for member in members if member != kept})
    return dict(sorted(duplicates.items()))


def _linked(first: VideoHashes, second: VideoHashes, first_hashes: np.ndarray, second_hashes: np.ndarray,
            max_distance: int, min_shared: float, min_matches: int) -> bool:
    """Whether the shorter video's hashes are mostly found in the other's (both ways when as long)."""
    if len(first_hashes) == 0 or len(second_hashes) == 0:
        return False
    distances = hamming_distances(first_hashes, second_hashes)
    directions = []
    if _seconds(first) <= _seconds(second) + DURATION_SLACK:
        directions.append(distances.min(axis=1) <= max_distance)
    if _seconds(second) <= _seconds(first) + DURATION_SLACK:
        directions.append(distances.min(axis=0) <= max_distance)
    return any(matched.sum() >= min_matches and matched.mean() > min_shared for matched in directions)


def _seconds(video: VideoHashes) -> float:
    return video.duration or 0.0


def _kept(videos: Sequence[VideoHashes], members: list[int]) -> int:
    longest = max(_seconds(videos[member]) for member in members)
    long_enough = [member for member in members if _seconds(videos[member]) >= longest - DURATION_SLACK]
    return min(long_enough, key=lambda member: (-videos[member].width * videos[member].height, member))


class _UnionFind:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, first: int, second: int) -> None:
        self.parent[self.find(first)] = self.find(second)

    def groups(self) -> list[list[int]]:
        by_root: dict[int, list[int]] = {}
        for item in range(len(self.parent)):
            by_root.setdefault(self.find(item), []).append(item)
        return list(by_root.values())


# The index's tables: the four 16-bit bands of each hash (two rows of its 8 x 8 DCT bits each) and the four of the
# hash read column by column (two columns each), so that two hashes a few bits apart share a band in one table or
# another even when their differing bits cluster in rows or in columns (hashes up to 3 bits apart share one of each
# four, by pigeonhole).
_COLUMN_MAJOR = np.arange(64).reshape(_HASH_SIZE, _HASH_SIZE).T.ravel()
# A band value that this many of one video's hashes share says no more than a few of them do (a still scene).
_PER_VIDEO_CAP = 4
# A band value shared by more hashes than this is a common layout (a horizon, a face in the middle), not a sign.
_BUCKET_CAP = 2048
_CHUNK_PAIRS = 2_000_000  # frame pairs compared at once: bounds memory


def _candidate_pairs(hashes: Sequence[np.ndarray], max_distance: int) -> list[tuple[int, int]]:
    """Pairs of videos ``(i, j)``, ``i < j``, with at least one pair of frames within ``max_distance`` bits that
    share a band in one of the index's tables (each video's repeated hashes counted once)."""
    distinct = [np.unique(video_hashes) for video_hashes in hashes]
    owners = np.repeat(np.arange(len(distinct)), [len(video_hashes) for video_hashes in distinct])
    if len(owners) == 0:
        return []
    values = np.concatenate(distinct)
    bits = np.unpackbits(values.astype(">u8").view(np.uint8).reshape(-1, 8), axis=1)  # (n, 64), bit 63 first
    by_columns = np.packbits(bits[:, _COLUMN_MAJOR], axis=1).copy().view(">u8").ravel().astype(np.uint64)
    count = len(distinct)
    found: list[np.ndarray] = []
    for source in (values, by_columns):
        for band in range(_BANDS):
            keys = ((source >> np.uint64(band * _BAND_BITS)) & np.uint64(0xFFFF)).astype(np.int64)
            found.extend(_close_pairs_sharing(keys, owners, values, max_distance, count))
    if not found:
        return []
    codes = np.unique(np.concatenate(found))
    return [(int(code // count), int(code % count)) for code in codes]


def _close_pairs_sharing(keys: np.ndarray, owners: np.ndarray, values: np.ndarray, max_distance: int,
                         count: int) -> list[np.ndarray]:
    """Video pairs (coded ``i * count + j``, ``i < j``) with two hashes of equal ``keys`` within ``max_distance``."""
    order = np.argsort(keys * count + owners, kind="stable")  # by key, then by video
    sorted_keys, sorted_owners = keys[order], owners[order]
    positions = np.arange(len(order))
    new_run = np.ones(len(order), dtype=bool)
    new_run[1:] = (sorted_keys[1:] != sorted_keys[:-1]) | (sorted_owners[1:] != sorted_owners[:-1])
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    kept = positions - run_start < _PER_VIDEO_CAP
    sorted_keys, sorted_owners, sorted_values = sorted_keys[kept], sorted_owners[kept], values[order[kept]]
    # Every entry is paired with the entries after it that have its key: [position + 1, end of its key's group);
    # those of a later video only, since a group is sorted by video.
    group_starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    group_sizes = np.diff(np.r_[group_starts, len(sorted_keys)])
    group_ends = np.repeat(group_starts + group_sizes, group_sizes)
    partners = group_ends - np.arange(len(sorted_keys)) - 1
    partners[np.repeat(group_sizes > _BUCKET_CAP, group_sizes)] = 0
    cumulative = np.cumsum(partners)
    found = []
    done = 0
    while done < len(sorted_keys):
        # Whole entries per chunk, as many as keep the chunk near _CHUNK_PAIRS frame pairs.
        before = int(cumulative[done - 1]) if done else 0
        stop = max(done + 1, int(np.searchsorted(cumulative, before + _CHUNK_PAIRS, side="right")))
        counts = partners[done:stop]
        total = int(counts.sum())
        if total:
            first = np.repeat(np.arange(done, stop), counts)
            second = first + 1 + np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            first_owner, second_owner = sorted_owners[first], sorted_owners[second]
            close = (first_owner != second_owner) & (
                _popcount(np.bitwise_xor(sorted_values[first], sorted_values[second])) <= max_distance)
            found.append(np.unique(first_owner[close] * count + second_owner[close]))
        done = stop
    return found
