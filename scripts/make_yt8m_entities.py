"""Make the slim YouTube-8M vocabulary that ships in the package: ``src/reelset/taste/data/yt8m_entities.csv``.

Usage::

    .venv/bin/python scripts/make_yt8m_entities.py ../shared/data/yt8m-vocabulary.csv [OUTPUT]

It reads the official v2 ``vocabulary.csv`` (3,862 rows; checked by its md5, :data:`SOURCE_MD5`, so the shipped file
always comes from the same release) with reelset's own reader, and writes one row per class: ``index``, ``id`` (the
Knowledge Graph id), ``name`` and ``verticals`` (``Vertical1..3`` joined by ``|``, empty ones left out). The
Wikipedia descriptions and training counts are left out (they are most of the 3.6 MB). The output is UTF-8 with
``\\n`` line ends and minimal quoting, so the same source always gives the same bytes; the script prints both md5s.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from pathlib import Path

from reelset.core.atomic import atomic_write_text
from reelset.core.errors import ReelsetError
from reelset.yt8m.vocabulary import load_vocabulary

SOURCE_MD5 = "88fe263c78a429e7325a5bbe4edc2947"  # /work/shared/data/README.md: yt8m-vocabulary.csv
HEADER = ("index", "id", "name", "verticals")
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "src" / "reelset" / "taste" / "data" / "yt8m_entities.csv"


def slim_csv(source: Path) -> str:
    """The slim file's text, from the full ``vocabulary.csv`` at ``source``.

    Raises:
        ReelsetError: the source is not the expected release (md5) or not a v2 vocabulary.
    """
    md5 = hashlib.md5(source.read_bytes()).hexdigest()
    if md5 != SOURCE_MD5:
        raise ReelsetError(f"{source}: md5 {md5}, expected {SOURCE_MD5} (the v2 vocabulary.csv of YouTube-8M)")
    vocabulary = load_vocabulary(source)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    for entry in vocabulary.entries:
        writer.writerow((entry.index, entry.knowledge_graph_id, entry.name, "|".join(entry.verticals)))
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not 1 <= len(argv) <= 2:
        print("usage: make_yt8m_entities.py FULL_VOCABULARY_CSV [OUTPUT]", file=sys.stderr)
        return 2
    source, output = Path(argv[0]), Path(argv[1]) if len(argv) == 2 else DEFAULT_OUTPUT
    try:
        text = slim_csv(source)
    except (ReelsetError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    atomic_write_text(output, text)
    print(f"{output}: {text.count(chr(10)) - 1} entities, md5 {hashlib.md5(text.encode()).hexdigest()} "
          f"(from {source}, md5 {SOURCE_MD5})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
