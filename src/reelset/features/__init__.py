"""Features of your own videos in YouTube-8M form: frames at 1 fps -> a backbone -> 8-bit records, and their sound ->
VGGish -> 8-bit audio, one vector per frame.

``frames`` decodes the frame shown at each second, ``backbones`` embeds frames, ``audio`` is YouTube-8M's audio
recipe (VGGish and the AudioSet PCA), ``video`` is one video's features (the task that extraction and
``reelset taste`` run for each video, cached by content), ``extract`` writes the records.
"""

from reelset.core.lazy import lazy_exports

_EXPORTS = {
    "ExtractSummary": ".extraction",
    "extract": ".extraction",
    "read_inputs": ".extraction",
    "ExtractSettings": ".video",
    "VideoFeatures": ".video",
    "VideoInput": ".video",
    "extract_video_features": ".video",
    "Vggish": ".audio",
    "load_vggish": ".audio",
    "vggish_features": ".audio",
}
__all__ = list(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
