"""YouTube-8M's audio features (``--audio vggish``): a video's sound -> VGGish -> PCA -> 8-bit, one vector a second.

The recipe of the AudioSet and YouTube-8M audio, from the official files of ``research/audioset/vggish``:

- :mod:`.decode`: the first audio stream as 16 kHz mono samples, on the file's timeline (ffmpeg);
- :mod:`.frontend`: the reference's log-mel front end, one 0.96 s patch starting at each video timestamp;
- :mod:`.network`: ``vggish_slim.py``'s network in torch, on the official checkpoint read without TensorFlow;
- :mod:`.vggish`: the PCA and quantization of ``vggish_postprocess.py``; :func:`vggish_features` for one video.

The two files (``vggish_model.ckpt``, ``vggish_pca_params.npz``) are fetched once into the model dir and verified on
every use by :mod:`reelset.features.backbones.model_files`, as the Inception files are.
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "AudioFeatures": ".vggish",
    "Vggish": ".vggish",
    "load_vggish": ".vggish",
    "vggish_features": ".vggish",
    "decode_audio": ".decode",
    "log_mel_patches": ".frontend",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
