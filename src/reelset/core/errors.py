"""The error type every command reports as one clear line."""

from __future__ import annotations


class ReelsetError(Exception):
    """A failure the user can act on: the message names the thing and what is wrong, on one line.

    The CLI prints ``error: <message>`` and exits with ``exit_code``; library callers can catch it.
    """

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(" ".join(str(message).split()))
        if exit_code is not None:
            self.exit_code = exit_code
