"""Reading a text file a user gave (an ids list, a videos CSV): the file's text, or one line saying what is wrong."""

from __future__ import annotations

from pathlib import Path

from reelset.core.errors import ReelsetError, one_line

BINARY_PROBE = 8192  # bytes looked at for a NUL: text files have none, binary ones almost always do early on


def read_text(path: Path, *, expected: str, missing: str = "not found") -> str:
    """The UTF-8 text of ``path`` (a byte-order mark dropped).

    Args:
        expected: what the file should be, for the messages (``an ids file (one YouTube id per line)``).
        missing: what to say when the file does not exist (``ids file not found (run ... first)``).

    Raises:
        ReelsetError: the file is missing, a folder, unreadable, binary or not UTF-8, named with the reason.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ReelsetError(f"{path}: {missing}") from None
    except IsADirectoryError:
        raise ReelsetError(f"{path}: is a folder, expected {expected}") from None
    except OSError as error:
        raise ReelsetError(f"{path}: cannot be read ({one_line(error, strerror=True)})") from None
    if b"\0" in data[:BINARY_PROBE]:
        raise ReelsetError(f"{path}: a binary file, expected {expected}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReelsetError(f"{path}: not UTF-8 text (byte {error.start}); expected {expected}") from None
