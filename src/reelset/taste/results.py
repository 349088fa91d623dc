"""What one taste run found: the tagged videos and the skipped files (shared by the report, the exports and the
FiftyOne dataset)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from reelset.taste.predict import FrameTopLabels, Label
from reelset.taste.scan import TakenAt

UNKNOWN_GROUP = "(unknown)"


@dataclass
class TastedVideo:
    """One tagged video.

    Attributes:
        path: as found (relative when the folder was given relative).
        labels: the top k, best first.
        frame_labels: the top k of each sample (at ``timestamps``), or None when the model gives no per-frame
            scores.
        timestamps: the sample times in seconds (``k / fps``).
        taken: when it was taken, and from what.
        duration: seconds (ffprobe's), or None.
        frame_rate, frame_count, width, height: the video stream's, when known (for FiftyOne's metadata).
        thumbnail: the JPEG written for it, or None when it could not be made.
        from_cache: its features came from the cache.
        warnings: damaged file decoded up to the damage, thumbnail not made, ...
        vertical: the video's YouTube-8M vertical (:data:`reelset.taste.verticals` names; "Other" when its labels
            map to none), "" when not known.
        lat, lon: where it was filmed (degrees, WGS 84, from the file's metadata), or None.
        place: that place as a person names it ("Paris, France"), or None.
        shots: how many shots (scene cuts + 1), or None when not counted.
        duplicate_of: the path of the video this one is a near-duplicate of (counted once, as that one), or None.
    """

    path: str
    labels: list[Label]
    frame_labels: FrameTopLabels | None
    timestamps: np.ndarray
    taken: TakenAt
    duration: float | None = None
    frame_rate: float | None = None
    frame_count: int | None = None
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    thumbnail: Path | None = None
    from_cache: bool = False
    warnings: list[str] = field(default_factory=list)
    vertical: str = ""
    lat: float | None = None
    lon: float | None = None
    place: str | None = None
    shots: int | None = None
    duplicate_of: str | None = None

    @property
    def main_group(self) -> str:
        """The group of the top label (what the report counts the video under)."""
        return (self.labels[0].category or UNKNOWN_GROUP) if self.labels else UNKNOWN_GROUP

    @property
    def seconds(self) -> float:
        """Its length: ffprobe's duration, else the span its samples cover."""
        if self.duration:
            return float(self.duration)
        step = float(np.diff(self.timestamps).mean()) if len(self.timestamps) > 1 else 1.0
        return step * len(self.timestamps)


@dataclass(frozen=True)
class SkippedFile:
    """A file that could not be tagged and the one-line reason."""

    path: str
    reason: str
