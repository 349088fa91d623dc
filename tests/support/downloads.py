"""What the download tests share: settings aimed at the local media server, with no waiting, and the status file
read back as one merged record per id."""

from __future__ import annotations

import json
from pathlib import Path

from reelset.fetch.download import STATUS_FILE, DownloadSettings


def fast_settings(out_dir: Path, server, sources, **overrides) -> DownloadSettings:
    """Settings for ``server`` (a :class:`~reelset.sandbox.servers.MediaServer`): clips of the sources' length, no
    pacing, short back-off; ``overrides`` replace any field."""
    values = dict(
        out_dir=out_dir, url_template=f"{server.url}/watch/{{id}}", jobs=2, max_duration=sources.CLIP_SECONDS,
        sleep=0, max_sleep=0, sleep_requests=0, tries=2, retry_base=0.01, rate_limit_base=0.01, socket_timeout=3,
    )
    values.update(overrides)
    return DownloadSettings(**values)


def status_records(out_dir: Path) -> dict[str, dict]:
    """``<out>/status.jsonl`` as ``{id: the fields of all its lines, later lines winning}``."""
    records: dict[str, dict] = {}
    for line in (Path(out_dir) / STATUS_FILE).read_text().splitlines():
        record = json.loads(line)
        records.setdefault(record["id"], {}).update(record)
    return records
