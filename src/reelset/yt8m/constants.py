"""YouTube-8M's defaults and choices, in a module that imports nothing heavy: the command line's option definitions
use them, so ``reelset --help`` needs neither requests, numpy, pyarrow nor torch. The modules named in each section
import them from here."""

from __future__ import annotations

# :mod:`.download`: the hosts of the official download.py, and its mirrors ({mirror}.data.yt8m.org).
PLAN_BASE_URL = "http://data.yt8m.org"
DATA_BASE_URL = "http://{mirror}.data.yt8m.org"
MIRRORS = ("us", "eu", "asia")

# :mod:`.export`: the output formats.
FORMATS = ("parquet", "npz")

# :mod:`.vocabulary`: the official v2 vocabulary.csv.
OFFICIAL_URL = "https://research.google.com/youtube8m/csv/2/vocabulary.csv"

# :mod:`.youtube_ids`: the endpoint of the id mapping and how many requests may be in flight.
DEFAULT_BASE_URL = "http://data.yt8m.org"
DEFAULT_JOBS = 4
MAX_JOBS = 16

# :mod:`.training`: ``--model auto`` and the names of the architectures, in the order of
# :data:`reelset.yt8m.training.networks.MODELS` (which checks that they match).
AUTO = "auto"
MODEL_NAMES = ("logistic", "moe", "knn", "blend", "nextvlad", "meanpool")

# :mod:`.segments`: the segment task's inference.py defaults.
SEGMENT_TOP_K = 20  # --top_k: classes kept per segment
SEGMENT_MAX_PER_CLASS = 100_000  # --segment_max_pred: segments listed per class
