"""A local YouTube-8M mirror: download plans and shard files laid out so that one MediaServer serves both hosts.

Under ``root`` it writes what the two official hosts serve:

- ``root/{version}/download_plans/{level}_{split}.json``: the plan (``http://data.yt8m.org/...``), in the official
  layout ``{"files": {"<split><code>.tfrecord": "<md5>"}}``;
- ``root/{partition}/{remote name}``: the shard files (``http://{mirror}.data.yt8m.org/...``).

So ``MediaServer(root).url`` works as both the plan base and the data base. A full plan lists all 3,844 names of a
partition in the official order and costs nothing to make: only the files given contents are written, with their
real md5 in the plan; the others get a placeholder md5 and no file, so a test that downloads must select (by shard)
only files that exist. The contents are the caller's: tiny deterministic bytes (:func:`sample_bytes`) for the
downloader's tests, real TFRecords for the demo.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from reelset.yt8m.download import FILE_CODES, Partition

__all__ = ["MirrorPartition", "remote_names", "sample_bytes", "write_partition"]


@dataclass(frozen=True)
class MirrorPartition:
    """What :func:`write_partition` wrote: the plan's ``files`` (remote name -> md5) and the files on disk."""

    partition: Partition
    plan_path: Path
    files: dict[str, str]
    written: dict[str, Path]


def remote_names(split: str, extension: str = ".tfrecord") -> list[str]:
    """All 3,844 remote names of a split in the official order: ``trainaa.tfrecord`` ... ``train99.tfrecord``."""
    return [f"{split}{code}{extension}" for code in FILE_CODES]


def sample_bytes(remote_name: str, size: int = 4096) -> bytes:
    """Deterministic stand-in contents for a shard file (the same name always gives the same bytes)."""
    return random.Random(remote_name).randbytes(size)


def _placeholder_md5(remote_name: str) -> str:
    return hashlib.md5(f"not on this mirror: {remote_name}".encode()).hexdigest()


def write_partition(
    root: Path,
    partition: str | Partition,
    contents: Mapping[str, bytes],
    *,
    full_plan: bool = True,
    md5_overrides: Mapping[str, str] | None = None,
) -> MirrorPartition:
    """Write one partition's plan and files under ``root``.

    Args:
        contents: remote name -> bytes: the files written to disk (their real md5 goes into the plan).
        full_plan: list all 3,844 names of the split (placeholder md5s for the ones not written); otherwise only
            the names in ``contents``, in their order.
        md5_overrides: remote name -> md5 to put in the plan instead of the real one (a corrupt mirror).
    """
    partition = partition if isinstance(partition, Partition) else Partition.parse(partition)
    root = Path(root)
    real = {name: hashlib.md5(data).hexdigest() for name, data in contents.items()}
    names = remote_names(partition.split) if full_plan else list(contents)
    files = {name: real.get(name) or _placeholder_md5(name) for name in names}
    files.update(md5_overrides or {})
    plan_path = root / partition.version / "download_plans" / f"{partition.level}_{partition.split}.json"
    plan_path.parent.mkdir(parents=True, exist_ok=True)
    plan_path.write_text(json.dumps({"files": files}))
    data_dir = root / str(partition)
    data_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, data in contents.items():
        written[name] = data_dir / name
        written[name].write_bytes(data)
    return MirrorPartition(partition, plan_path, files, written)
