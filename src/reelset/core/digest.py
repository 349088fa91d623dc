"""The one way reelset hashes a file: read in chunks, never the whole file in memory.

:func:`file_digest` is one digest (sha256 by default), optionally of some bytes first and then the file's content
(a cache key of settings + content); :func:`file_digests` is several digests of one file in a single read (the HTTP
client's md5 and sha256 of a download).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

CHUNK_BYTES = 1 << 20


def file_digest(path: str | os.PathLike, algorithm: str = "sha256", *, prefix: bytes = b"") -> str:
    """The hex digest of ``prefix`` followed by the content of the file at ``path``.

    Args:
        algorithm: any name :func:`hashlib.new` knows (``sha256``, ``md5``, ...).
        prefix: bytes hashed before the content (e.g. settings that a cache key also depends on).

    Raises:
        OSError: the file cannot be opened or read.
    """
    digest = hashlib.new(algorithm, prefix)
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, lambda: digest).hexdigest()


def file_digests(path: str | os.PathLike, algorithms: Sequence[str]) -> tuple[str, ...]:
    """The hex digests of the file at ``path`` for each of ``algorithms``, in that order, from one read of it.

    Raises:
        OSError: the file cannot be opened or read.
    """
    digests = [hashlib.new(name) for name in algorithms]
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            for digest in digests:
                digest.update(chunk)
    return tuple(digest.hexdigest() for digest in digests)
