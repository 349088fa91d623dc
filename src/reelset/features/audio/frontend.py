"""VGGish's input: log-mel patches of 0.96 s, computed as the reference's numpy code computes them.

A port of ``mel_features.py`` and ``vggish_input.waveform_to_examples`` (tensorflow/models,
``research/audioset/vggish``) with their parameters (``vggish_params.py``): 16 kHz mono samples, 25 ms windows
(400 samples, a *periodic* Hann window) every 10 ms (160 samples), the magnitude of a 512-point real FFT, the HTK mel
matrix of 64 bands from 125 to 7500 Hz (the DC bin weighted 0), ``log(mel + 0.01)``, and patches of 96 frames.

The one difference is where the patches start. The reference cuts the log-mel frames into consecutive
non-overlapping patches (0, 0.96, 1.92 ... s), which drift away from YouTube-8M's one-frame-per-second video
features; :func:`log_mel_patches` takes the patch that starts at each video timestamp instead (hop 1 s at 1 fps, as
YouTube-8M's own extractor does), so there is exactly one audio vector per video frame. A timestamp ``t`` starts at
the 10 ms frame ``round(t * 100)``: for whole seconds (and any multiple of 10 ms) the patch is exactly the
reference's first example of the waveform cut at ``t``. Audio that ends before a patch does is padded with silence
(zeros), which the log turns into ``log(0.01)``.
"""

from __future__ import annotations

import functools

import numpy as np

SAMPLE_RATE = 16000
WINDOW_SAMPLES = 400  # round(16000 * 0.025)
HOP_SAMPLES = 160  # round(16000 * 0.010)
FFT_LENGTH = 512  # the power of two at or above the window
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.01
PATCH_FRAMES = 96  # 0.96 s of 10 ms frames
FRAMES_PER_SECOND = SAMPLE_RATE // HOP_SAMPLES  # 100
PATCH_SECONDS = ((PATCH_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES) / SAMPLE_RATE  # 0.975: the sound one patch hears
_MEL_BREAK_HZ = 700.0
_MEL_HIGH_Q = 1127.0
_CHUNK_FRAMES = 2048  # STFT frames transformed at once: bounds the memory of a long video's spectrogram


def periodic_hann(length: int) -> np.ndarray:
    """The "periodic" Hann window (a full cosine period of ``length``), not numpy's symmetric ``np.hanning``."""
    return 0.5 - 0.5 * np.cos(2 * np.pi / length * np.arange(length))


def hertz_to_mel(frequencies):
    """The HTK mel scale: ``1127 * ln(1 + f / 700)``."""
    return _MEL_HIGH_Q * np.log(1.0 + np.asarray(frequencies) / _MEL_BREAK_HZ)


@functools.cache
def mel_matrix(bands: int = MEL_BANDS, spectrogram_bins: int = FFT_LENGTH // 2 + 1, sample_rate: int = SAMPLE_RATE,
               lower_hz: float = MEL_MIN_HZ, upper_hz: float = MEL_MAX_HZ) -> np.ndarray:
    """``(spectrogram_bins, bands)``: triangles linear in mel between ``bands + 2`` evenly spaced mel edges, the DC
    bin zeroed (HTK's), as ``mel_features.spectrogram_to_mel_matrix``. Read-only (it is shared)."""
    nyquist = sample_rate / 2.0
    if not 0.0 <= lower_hz < upper_hz <= nyquist:
        raise ValueError(f"mel edges must satisfy 0 <= {lower_hz} < {upper_hz} <= {nyquist}")
    bins_mel = hertz_to_mel(np.linspace(0.0, nyquist, spectrogram_bins))
    edges = np.linspace(hertz_to_mel(lower_hz), hertz_to_mel(upper_hz), bands + 2)
    matrix = np.empty((spectrogram_bins, bands))
    for band in range(bands):
        lower, center, upper = edges[band:band + 3]
        rising = (bins_mel - lower) / (center - lower)
        falling = (upper - bins_mel) / (upper - center)
        matrix[:, band] = np.maximum(0.0, np.minimum(rising, falling))
    matrix[0, :] = 0.0
    matrix.flags.writeable = False
    return matrix


def log_mel_spectrogram(samples) -> np.ndarray:
    """``(frames, 64)`` float64 ``log(mel + 0.01)`` of every complete 25 ms window of ``samples`` (16 kHz mono),
    one every 10 ms; no padding, as the reference."""
    samples = np.ascontiguousarray(samples, np.float64)
    if samples.ndim != 1:
        raise ValueError(f"samples must be 1-d (mono), got shape {samples.shape}")
    count = 1 + (len(samples) - WINDOW_SAMPLES) // HOP_SAMPLES if len(samples) >= WINDOW_SAMPLES else 0
    frames = np.lib.stride_tricks.as_strided(samples, shape=(count, WINDOW_SAMPLES),
                                             strides=(samples.strides[0] * HOP_SAMPLES, samples.strides[0]),
                                             writeable=False)
    window, matrix = periodic_hann(WINDOW_SAMPLES), mel_matrix()
    out = np.empty((count, MEL_BANDS))
    for start in range(0, count, _CHUNK_FRAMES):
        spectrum = np.abs(np.fft.rfft(frames[start:start + _CHUNK_FRAMES] * window, FFT_LENGTH))
        out[start:start + _CHUNK_FRAMES] = np.log(spectrum @ matrix + LOG_OFFSET)
    return out


def patch_starts(timestamps) -> np.ndarray:
    """The 10 ms frame each timestamp's patch starts at: ``round(t * 100)``.

    Raises:
        ValueError: a negative or non-finite timestamp.
    """
    times = np.asarray(timestamps, np.float64).reshape(-1)
    if not np.isfinite(times).all() or (times < 0).any():
        raise ValueError("timestamps must be finite and not negative")
    return np.rint(times * FRAMES_PER_SECOND).astype(np.int64)


def log_mel_patches(samples, timestamps) -> np.ndarray:
    """``(len(timestamps), 96, 64)`` float32: the log-mel patch starting at each timestamp (seconds), the sound
    after the end of ``samples`` taken as silence; see the module docstring."""
    starts = patch_starts(timestamps)
    if not len(starts):
        return np.zeros((0, PATCH_FRAMES, MEL_BANDS), np.float32)
    needed = (int(starts.max()) + PATCH_FRAMES - 1) * HOP_SAMPLES + WINDOW_SAMPLES
    samples = np.asarray(samples, np.float64).reshape(-1)[:needed]
    if len(samples) < needed:
        samples = np.concatenate([samples, np.zeros(needed - len(samples))])
    log_mel = log_mel_spectrogram(samples)
    return log_mel[starts[:, None] + np.arange(PATCH_FRAMES)].astype(np.float32)
