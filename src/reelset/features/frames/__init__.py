"""Frames of a video at a fixed rate (1 per second for YouTube-8M), as RGB arrays, decoded in-process by PyAV or by one
ffmpeg process.

Two decoders give the same frames, byte for byte on every format tested (``tests/features/test_frames_seek.py``),
and :func:`decode_frames` chooses between them:

- By default (``method="auto"``) PyAV decodes in-process and only what the chosen frames depend on (each from its
  GOP's keyframe; the rest of the GOP and non-reference B-frames are skipped): one frame per sample with 1 s GOPs,
  about half the frames with 2 s GOPs, where the pipe decodes every frame, and no ffprobe or process start
  (:mod:`._seek`).
- The ffmpeg pipe (ffprobe, then one ffmpeg process whose fps filter picks the samples from every decoded frame,
  raw RGB read from its stdout; :mod:`._pipe`) is the fallback: what the PyAV decoder cannot reproduce exactly
  (PyAV missing, packets without timestamps, damage in the middle of a file...) goes to it, and ``method="ffmpeg"``
  always uses it. It costs more CPU, but it is ffmpeg's own behaviour, concealment of damage included.

The frame-choice rule (the original extractor's intent, made exact):

    Sample ``k`` is taken at ``t = k / fps`` seconds after the video's first frame, for every ``t`` before the end of
    the video (the end of its last frame), at most ``max_frames`` of them. It is the frame a viewer sees at ``t``:
    the last frame whose presentation time is ``<= t``.

So a 10.0 s video gives 10 samples at 1 fps (t = 0..9; nothing is on screen at t = 10.0), a 10.5 s one 11, a 0.4 s
one 1. Presentation times, not frame counts, decide, so variable frame rate is handled: a frame held for 1.5 s can be
picked twice, a burst of short frames gives one. How each decoder implements it is in its module's docstring.

The original extractor (youtube-8m ``feature_extractor/extract_tfrecords_main.py``, ``frame_iterator``) reads every
frame with OpenCV and compares ``CAP_PROP_POS_MSEC`` (the time of the frame just read); its quirks are reproduced by
``decode_frames_opencv`` (the benchmark's anchor, in ``tests/support/opencv_reference.py``) and described there.
On constant-frame-rate video it takes the frame *one after* the one at ``t`` (``0, 11, 21, ...`` on a 10 fps
source; ``0, 2, 3, 4, ...`` on a 1 fps one) and, on variable frame rate, its sampling drifts (each interval starts
at the overshooting frame): this module takes the frame at ``t``.

Other facts:
- Rotation: ffmpeg applies the display matrix (autorotate), so frames come out upright as a viewer sees them (a
  90-degree phone video is portrait), the same orientation as OpenCV 4's own auto-rotation.
- ``size=(w, h)`` resizes inside ffmpeg, after the frame choice, to exactly ``w`` x ``h`` with bilinear
  interpolation, ignoring the aspect ratio (a plain resize, like the original's Inception graph, which resized the
  whole decoded frame to 299 x 299). Without ``size`` frames keep their displayed size (odd sizes included);
  non-square pixels (sample aspect ratio) are not corrected, as OpenCV does not either.
- Audio, subtitles and data streams are ignored; the first video stream that is not cover art is decoded.
- A damaged or truncated file that ffmpeg can partly decode gives the frames up to the damage, like a viewer plays it
  up to there, plus a one-line warning in :attr:`DecodedFrames.warnings` naming the file and ffmpeg's first error
  (callers decide whether to keep partial features); a file from which no frame can be decoded raises.
- Failures are :class:`reelset.core.ffmpeg.MediaError` (a :class:`~reelset.core.errors.ReelsetError`): one line
  naming the file and the reason (missing, a folder, empty, unreadable, not a video, no video stream, timeout).
"""

from __future__ import annotations

from pathlib import Path

from reelset.features.frames import _seek
from reelset.features.frames._common import DEFAULT_TIMEOUT, DecodedFrames, _check_request
from reelset.features.frames._pipe import decode_frames_pipe
from reelset.features.frames._seek import SeekUnsupported

__all__ = ["DecodedFrames", "SeekUnsupported", "decode_frames"]


def decode_frames(
    path: str | Path,
    *,
    fps: float = 1.0,
    max_frames: int = 300,
    size: tuple[int, int] | None = None,
    threads: int | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    method: str = "auto",
) -> DecodedFrames:
    """Decode the frames shown at ``t = 0, 1/fps, 2/fps, ...`` (see the module docstring for the exact rule).

    Args:
        path: a local video file (any name: non-ASCII, spaces, colons and leading dashes are safe).
        fps: samples per second of video.
        max_frames: at most this many samples, from the start; decoding stops once they are out.
        size: ``(width, height)`` to resize every frame to (plain resize, aspect not kept); None keeps the displayed
            size.
        threads: decoder threads; None lets FFmpeg choose (one per core).
        timeout: wall-clock limit in seconds for the whole decode (ffmpeg is killed when it is reached).
        method: ``"auto"``: PyAV when it is installed, the ffmpeg pipe when it is not or the file needs the pipe;
            ``"pyav"``: PyAV only (:class:`SeekUnsupported` for such a file); ``"ffmpeg"``: the pipe.

    Returns:
        The frames, their sample times and the source facts; ``warnings`` is non-empty for a damaged file.

    Raises:
        MediaError: the file is missing, a folder, empty, unreadable, not a video, has no video stream, no frame could
            be decoded, or the timeout was reached; one line naming the file.
        ValueError: a non-positive ``fps``, ``max_frames`` or ``size``, or an unknown ``method``.
    """
    _check_request(fps, max_frames, size)
    if method not in ("auto", "pyav", "ffmpeg"):
        raise ValueError(f"method must be 'auto', 'pyav' or 'ffmpeg', got {method!r}")
    if method != "ffmpeg" and (method == "pyav" or _seek.available()):
        try:
            return _seek.decode_frames_seek(path, fps=fps, max_frames=max_frames, size=size, threads=threads,
                                            timeout=timeout)
        except SeekUnsupported:
            if method == "pyav":
                raise
    return decode_frames_pipe(path, fps=fps, max_frames=max_frames, size=size, threads=threads, timeout=timeout)
