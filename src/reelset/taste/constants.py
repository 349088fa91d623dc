"""Defaults of ``reelset taste``, in a module that imports nothing heavy: the command line's option definitions use
them, so ``reelset --help`` needs neither numpy nor FiftyOne (:mod:`.dataset` and :mod:`.run` import them from
here)."""

from __future__ import annotations

DEFAULT_DATASET = "reelset-taste"
DEFAULT_TOP_K = 5
