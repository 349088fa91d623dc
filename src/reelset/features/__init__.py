"""Features of your own videos in YouTube-8M form: frames at 1 fps -> a backbone -> 8-bit records."""

from reelset.features.extract import (
    ExtractSettings,
    ExtractSummary,
    VideoFeatures,
    VideoInput,
    extract,
    extract_video_features,
    read_inputs,
)

__all__ = ["ExtractSettings", "ExtractSummary", "VideoFeatures", "VideoInput", "extract", "extract_video_features",
           "read_inputs"]
