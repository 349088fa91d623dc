"""A video's sound as VGGish hears it: 16 kHz mono samples in [-1, 1), decoded by one ffmpeg process.

ffmpeg decodes the first audio stream, mixes it down to mono (the mean of the channels, as ``vggish_input`` does),
resamples it to 16 kHz and writes signed 16-bit samples to a pipe; they are scaled by ``1 / 32768`` as
``vggish_input.wavfile_to_examples`` scales a 16-bit WAV. ``aresample=async=1:first_pts=0`` places the samples on
the file's timeline: an audio stream that starts after the file's start gets silence in front, a gap in its
timestamps silence in between, so the sample at ``t * 16000`` is the sound at ``t`` seconds (the video's frames are
sampled from its first frame, which is the file's start in all but unusual files). Only what the patches need is
decoded (``seconds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelset.core.ffmpeg import MediaError, ffmpeg_process, key_error_line, probe

SAMPLE_RATE = 16000
DECODE_TIMEOUT = 600.0


@dataclass(frozen=True)
class DecodedAudio:
    """``samples``: float64 mono samples at :data:`SAMPLE_RATE` in [-1, 1); ``warnings``: one-line messages naming
    the file (damaged audio decoded up to the damage)."""

    samples: np.ndarray
    warnings: tuple[str, ...] = ()


def decode_audio(path: str | Path, *, seconds: float | None = None,
                 timeout: float = DECODE_TIMEOUT) -> DecodedAudio | None:
    """The first audio stream of ``path`` as 16 kHz mono samples (the first ``seconds`` of them, when given), or
    None when the file has no audio stream.

    Raises:
        MediaError: the file cannot be read, or no sample of its audio could be decoded (one line naming the file).
    """
    name = str(path)
    if probe(path, timeout=timeout).audio is None:
        return None
    args = ["-v", "error", "-i", name, "-map", "0:a:0", "-af", "aresample=async=1:first_pts=0",
            "-ac", "1", "-ar", str(SAMPLE_RATE)]
    if seconds is not None:
        args += ["-t", f"{max(seconds, 0.0):.6f}"]
    args += ["-f", "s16le", "-c:a", "pcm_s16le", "pipe:1"]
    with ffmpeg_process(args, timeout=timeout) as running:
        data = running.stdout.read()
    if running.timed_out:
        raise MediaError(f"{name}: audio decoding timed out after {timeout:.0f} s")
    samples = np.frombuffer(data[: len(data) // 2 * 2], "<i2").astype(np.float64) / 32768.0
    if running.proc.returncode != 0:
        reason = key_error_line(running.stderr)
        if not len(samples):
            raise MediaError(f"{name}: cannot decode its audio ({reason})", detail=running.stderr)
        return DecodedAudio(samples, (f"{name}: damaged audio, decoded up to the damage ({reason})",))
    return DecodedAudio(samples)
