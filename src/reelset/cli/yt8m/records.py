"""``reelset yt8m inspect`` and ``reelset yt8m export``: look inside TFRecord files, or turn them into columns."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from reelset.cli.yt8m import group
from reelset.cli.yt8m.vocab import vocabulary_option
from reelset.cli.options import scheduler_option
from reelset.yt8m.constants import FORMATS

FILES = click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True,
                                                                          dir_okay=False))
SKIP_CORRUPT = click.option("--skip-corrupt", is_flag=True,
                            help="Report each bad record on stderr and go on (default: stop at the first, exit 1).")


def _report_corrupt(message: str) -> None:
    print(f"skipped: {message}", file=sys.stderr, flush=True)


@group.command("inspect")
@FILES
@vocabulary_option
@click.option("--top-k", type=click.IntRange(min=0), default=10, show_default=True,
              help="How many of the most frequent labels to list.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON Lines on stdout, one compact object per good record: "
                   '{"file", "index", "id", "labels", "features": {name: shape}}; the summary goes to stderr.')
@SKIP_CORRUPT
def inspect_command(files, vocabulary, top_k, as_json, skip_corrupt) -> None:
    """Count records, videos and frames of YouTube-8M TFRecord files, show their features and backbone, and the
    most frequent labels: their ids, and their names and verticals once `reelset yt8m vocab` has cached the
    vocabulary (or with --vocabulary). Every record's CRCs are checked; the first bad record stops the run (exit 1)
    unless --skip-corrupt.

    \b
    Examples:
      reelset yt8m inspect train0208.tfrecord
      reelset yt8m inspect *.tfrecord --top-k 20 --vocabulary vocabulary.csv
      reelset yt8m inspect train0208.tfrecord --json > records.jsonl
    """
    from reelset.core.progress import Reporter
    from reelset.yt8m.inspect import feature_shapes, inspect_records, inspection_lines
    from reelset.yt8m.vocabulary import resolve_vocabulary

    vocab = resolve_vocabulary(vocabulary)
    summary_out = sys.stderr if as_json else sys.stdout
    reporter = Reporter(out=summary_out)

    def json_line(path: str, index: int, record: dict) -> None:
        line = {"file": path, "index": index, "id": record["id"], "labels": record["labels"].tolist(),
                "features": feature_shapes(record)}
        print(json.dumps(line, separators=(",", ":")), flush=False)

    inspection = inspect_records(files, skip_corrupt=skip_corrupt, vocabulary=vocab,
                                 on_record=json_line if as_json else None, on_corrupt=_report_corrupt)
    sys.stdout.flush()
    for line in inspection_lines(inspection, vocabulary=vocab, top_k=0 if as_json else top_k):
        reporter.line(line)


@group.command("export")
@FILES
@click.option("--to", "to", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Output file (all records in one file).")
@click.option("--out-dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Output folder instead: one file per input, <out-dir>/<input stem>.<to> (one Parquet dataset); "
                   "the form whose work spreads over a --scheduler cluster.")
@click.option("--dequantize", is_flag=True,
              help="Frame features as float32 (the starter code's q*4/255 + 4/512 - 2) instead of the stored bytes.")
@SKIP_CORRUPT
@scheduler_option
def export_command(files, to, out, out_dir, dequantize, skip_corrupt, scheduler) -> None:
    """Export records to Parquet (streamed: one row per video; id, labels, features) or NPZ (in memory; features
    stacked, frame features concatenated with <name>_offsets). Outputs are written atomically.

    With --out-dir, each input file becomes its own output (encoded on a Dask worker with --scheduler; this process
    writes the files, the same bytes either way). One --out file is encoded here, with or without a scheduler: a
    Parquet file's encoding cannot be split across processes. An --out named for the other format (--to npz
    --out x.parquet) is refused.

    \b
    Examples:
      reelset yt8m export train0208.tfrecord --to parquet --out train0208.parquet
      reelset yt8m export *.tfrecord --to parquet --out-dir parquet/
      reelset yt8m export train0208.tfrecord --to npz --dequantize --out train0208.npz
    """
    if (out is None) == (out_dir is None):
        raise click.UsageError("give exactly one of --out FILE and --out-dir FOLDER")
    from reelset.core.progress import Reporter
    from reelset.yt8m.export import export_per_file, export_records

    reporter = Reporter()
    if out_dir is not None:
        summary = export_per_file(files, out_dir, to=to, dequantize=dequantize, skip_corrupt=skip_corrupt,
                                  on_corrupt=_report_corrupt, executor=scheduler or None)
        where = f"{len(summary.files)} file{'s' if len(summary.files) != 1 else ''} in {summary.out}"
    else:
        if scheduler:
            reporter.line("note: one output file is encoded in this process; --out-dir spreads the work over the "
                          "cluster")
        summary = export_records(files, out, to=to, dequantize=dequantize, skip_corrupt=skip_corrupt,
                                 on_corrupt=_report_corrupt)
        where = str(summary.out)
    reporter.line(f"exported {summary.records} records ({summary.frames} frames) to {where}: "
                  f"{', '.join(summary.columns)}")
