"""``python -m reelset`` and the ``reelset`` command (its console script calls :func:`main`)."""

import sys


def main() -> None:
    """Import the command line and run it. Ctrl-C can come while Python is still importing it, before click runs
    and says what the command keeps: it ends as the same one line (exit 130) as an interrupted command."""
    try:
        from reelset.cli import main as run_cli

        run_cli()
    except KeyboardInterrupt:
        # reelset.cli may be half imported: its interrupted_line("what finished is kept"), written out here
        print("\ninterrupted: what finished is kept; rerun the same command to resume", file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
