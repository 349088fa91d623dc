"""VGGish's front end (:mod:`reelset.features.audio.frontend`) against the reference's numpy code
(``tests/support/vggish_reference.py``, a line-for-line port of ``mel_features.py`` and ``vggish_input.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from reelset.features.audio import frontend
from tests.support import vggish_reference as reference

RATE = 16000


def sound(seconds: float, seed: int = 0) -> np.ndarray:
    """A 440 Hz tone that fades in, a 3 kHz tone from the middle on, and some noise: every band gets something."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    fading_in = 0.4 * np.sin(2 * np.pi * 440 * t) * np.minimum(1, t)
    from_the_middle = 0.2 * np.sin(2 * np.pi * 3000 * t) * (t > seconds / 2)
    return fading_in + from_the_middle + 0.01 * rng.standard_normal(len(t))


def test_the_constants_are_the_references():
    assert (frontend.WINDOW_SAMPLES, frontend.HOP_SAMPLES) == (
        round(reference.SAMPLE_RATE * reference.STFT_WINDOW_LENGTH_SECONDS),
        round(reference.SAMPLE_RATE * reference.STFT_HOP_LENGTH_SECONDS))
    assert frontend.FFT_LENGTH == 2 ** int(np.ceil(np.log(frontend.WINDOW_SAMPLES) / np.log(2.0))) == 512
    assert (frontend.MEL_BANDS, frontend.MEL_MIN_HZ, frontend.MEL_MAX_HZ, frontend.LOG_OFFSET) == (
        reference.NUM_MEL_BINS, reference.MEL_MIN_HZ, reference.MEL_MAX_HZ, reference.LOG_OFFSET)
    assert frontend.PATCH_FRAMES == round(reference.EXAMPLE_WINDOW_SECONDS / reference.STFT_HOP_LENGTH_SECONDS)
    assert frontend.PATCH_SECONDS == pytest.approx(0.975)


def test_the_window_is_periodic_and_the_mel_matrix_is_the_references():
    window = frontend.periodic_hann(400)
    assert np.array_equal(window, reference.periodic_hann(400))
    assert window[0] == 0 and window[200] == 1 and window[-1] > 0  # periodic: no zero at the end
    assert not np.allclose(window, np.hanning(400))
    matrix = frontend.mel_matrix()
    expected = reference.spectrogram_to_mel_matrix(num_mel_bins=64, num_spectrogram_bins=257, audio_sample_rate=16000,
                                                   lower_edge_hertz=125, upper_edge_hertz=7500)
    assert matrix.shape == (257, 64) and np.array_equal(matrix, expected)
    assert not matrix[0].any() and (matrix.sum(axis=0) > 0).all()
    with pytest.raises(ValueError):
        frontend.mel_matrix(upper_hz=9000.0)


def test_log_mel_spectrogram_is_the_references():
    samples = sound(3.3)
    ours = frontend.log_mel_spectrogram(samples)
    expected = reference.log_mel_spectrogram(samples, audio_sample_rate=16000, log_offset=0.01,
                                             window_length_secs=0.025, hop_length_secs=0.010, num_mel_bins=64,
                                             lower_edge_hertz=125, upper_edge_hertz=7500)
    assert ours.shape == expected.shape == (1 + (len(samples) - 400) // 160, 64)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)
    assert frontend.log_mel_spectrogram(np.zeros(399)).shape == (0, 64)


def test_a_patch_per_whole_second_is_the_references_first_example_of_the_sound_cut_there():
    samples = sound(4.2)
    times = [0.0, 1.0, 2.0, 3.0, 4.0]  # 4.0: only 0.2 s of sound left, the rest silence
    patches = frontend.log_mel_patches(samples, times)
    expected = reference.examples_at(samples, times)
    assert patches.shape == (5, 96, 64) and patches.dtype == np.float32
    np.testing.assert_allclose(patches, expected.astype(np.float32), rtol=0, atol=1e-5)
    # The reference's own framing: consecutive 0.96 s examples; our patch at 0 is its first, exactly.
    np.testing.assert_allclose(patches[0], reference.waveform_to_examples(samples, 16000)[0], atol=1e-5)
    # Past the end of the sound, the patch is silence: log(0 + 0.01) in every band.
    silent = frontend.log_mel_patches(samples, [10.0])[0]
    assert np.allclose(silent, np.log(0.01))
    assert np.allclose(patches[4, 30:], np.log(0.01))  # 4.0 + 0.3 s is past the end (4.2 s)


def test_patches_start_at_the_nearest_10_ms_and_follow_the_sound():
    samples = sound(3.0)
    at_half = frontend.log_mel_patches(samples, [0.5, 1.234])
    expected = reference.examples_at(samples, [0.5, 1.23])
    np.testing.assert_allclose(at_half, expected.astype(np.float32), atol=1e-5)
    assert frontend.patch_starts([0, 0.5, 1 / 3, 2.0049, 299.0]).tolist() == [0, 50, 33, 200, 29900]
    # Later patches hear the 3 kHz tone that starts at 1.5 s; the first does not.
    band_3k = int(np.argmax(frontend.mel_matrix()[round(3000 / 8000 * 256)]))
    patches = frontend.log_mel_patches(samples, [0, 2])
    assert patches[1, :, band_3k].mean() > patches[0, :, band_3k].mean() + 3


def test_no_timestamps_no_patches_and_bad_ones_are_refused():
    assert frontend.log_mel_patches(sound(1), []).shape == (0, 96, 64)
    assert frontend.log_mel_patches(np.zeros(0), [0.0]).shape == (1, 96, 64)  # no sound at all: silence
    with pytest.raises(ValueError, match="not negative"):
        frontend.log_mel_patches(sound(1), [-1.0])
    with pytest.raises(ValueError, match="finite"):
        frontend.log_mel_patches(sound(1), [float("nan")])
    with pytest.raises(ValueError, match="mono"):
        frontend.log_mel_spectrogram(np.zeros((400, 2)))
