"""reelset: build video datasets and study what is in videos.

The package reads like the pipeline: ``action100m`` and ``yt8m`` are the sources, ``fetch`` downloads and normalises
videos, ``core`` holds the one shared helper for each job (atomic writes, ffmpeg, status, progress, configuration), and
``testing`` holds the local servers and sample generators used by the demo and the tests.
"""

__version__ = "0.1.0"
