"""``python -m reelset``: the same as the ``reelset`` command."""

from reelset.cli import main

main()
