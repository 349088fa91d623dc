"""The environment variable of ``--scheduler``, in a module that imports nothing: the command line's option
definitions use it, so ``reelset --help`` needs none of the executors."""

from __future__ import annotations

SCHEDULER_ENV = "REELSET_SCHEDULER"
