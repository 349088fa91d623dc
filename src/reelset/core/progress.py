"""Progress and summaries: a live display for people, whole plain lines for scripts.

Result lines (summaries, counts, file names) always go to stdout through :meth:`Reporter.line` with ``print``: never
wrapped, styled or truncated, whether or not the output is a terminal. The progress display (rich) is drawn on stderr
only when stderr is a terminal; otherwise it is silent and the plain lines are all there is.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:  # rich is imported when a live display is drawn: a run without a terminal never loads it
    from rich.progress import Progress, TaskID


def _new_progress(err: TextIO) -> Progress:
    """A live display on ``err``: description, bar, count (or bytes and rate), elapsed and remaining time."""
    from rich.console import Console, RenderableType
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    class CountColumn(ProgressColumn):
        """``done/total`` as a count, or as bytes with the rate for a task added with ``unit="bytes"``."""

        def __init__(self) -> None:
            super().__init__()
            self._count, self._bytes, self._rate = MofNCompleteColumn(), DownloadColumn(), TransferSpeedColumn()

        def render(self, task: Task) -> RenderableType:
            if task.fields.get("unit") == "bytes":
                return Text.assemble(self._bytes.render(task), " ", self._rate.render(task))
            return self._count.render(task)

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        CountColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=err),
        transient=False,
    )


class ProgressTask:
    """One bar of a live display (or nothing, when there is no terminal)."""

    def __init__(self, progress: Progress | None, task: TaskID | None):
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def update(self, *, completed: float | None = None, total: float | None = None, description: str | None = None):
        if self._progress is not None:
            self._progress.update(self._task, completed=completed, total=total, description=description)

    def remove(self) -> None:
        if self._progress is not None:
            self._progress.remove_task(self._task)


class Reporter:
    """Output channel of one command run.

    Args:
        interactive: draw progress bars; defaults to whether stderr is a terminal.
        out: where result lines go (stdout).
        err: where warnings and the live display go (stderr).
    """

    def __init__(self, *, interactive: bool | None = None, out: TextIO | None = None, err: TextIO | None = None):
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.interactive = self.err.isatty() if interactive is None else interactive
        self._progress: Progress | None = None
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        """A result line for people and scripts alike: printed whole, on one line, on stdout.

        While a live display is drawn on the same terminal, the line goes through the display's console, which
        prints it above the bars instead of letting the next redraw overwrite it.
        """
        text = " ".join(text.splitlines())
        with self._lock:
            if self._progress is not None and self.out.isatty():
                self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                print(text, file=self.out, flush=True)

    def warn(self, text: str) -> None:
        """A warning on stderr, one line (above the bars while a live display is drawn)."""
        text = f"warning: {' '.join(text.splitlines())}"
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                print(text, file=self.err, flush=True)

    @contextmanager
    def live(self) -> Iterator[Reporter]:
        """Keep one live display open for the duration (several bars may be added to it)."""
        if not self.interactive or self._progress is not None:
            yield self
            return
        progress = _new_progress(self.err)
        self._progress = progress
        with progress:
            try:
                yield self
            finally:
                self._progress = None

    def task(self, description: str, total: float | None, *, unit: str | None = None) -> ProgressTask:
        """Add a bar to the live display (a no-op handle when not interactive or outside :meth:`live`).

        ``unit="bytes"`` shows the amounts as sizes with the transfer rate instead of a count.
        """
        if self._progress is None:
            return ProgressTask(None, None)
        return ProgressTask(self._progress, self._progress.add_task(description, total=total, unit=unit))
