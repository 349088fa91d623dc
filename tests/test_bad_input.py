"""Every command against the bad inputs users give: one ``error:`` line, the exit code, and nothing written.

Each row runs one command line (through click's runner, in a temporary folder that is also the working directory
and the cache) against one bad input: a missing file, a folder where a file is expected, a binary file or non-UTF-8
text where text is expected, a corrupt or truncated file, an ids file without a valid id, an output under a regular
file or in an unwritable folder, a parquet file of another schema. It asserts what the command line promises:
exactly one non-empty line on stderr, starting with ``error: `` (a hint may follow on the same line); the exit code;
no traceback; and that the run left nothing behind (no new file or folder, ``.lock``, status file, cache folder,
report or FiftyOne dataset). No row reaches the network: offline flags, local paths, closed ports on 127.0.0.1.

Rows whose behaviour another part of the same change provides (click's usage errors, network texts, a command
module's own checks) name that part in ``owner``; a failure's message says it.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli

VIDEO_ID = "dQw4w9WgXcQ"
FIFTYONE_NAME = "reelset-bad-input"  # never created: every row that could create it fails first

# The parts of issue 13 outside the library checks that some rows rely on (``Row.owner``).
USAGE = "click's usage errors as one `error:` line (cli/__init__.py)"
CLI_NAMES = "`--jobs` / `ids --ids` option names (cli/action100m.py)"
NETWORK = "`cannot reach <host> (refused)` network texts (core/http.py)"
YT8M_DOWNLOAD = "yt8m download checks --out before the network (yt8m/download.py)"
VOCABULARY = "vocabulary files read with core.textfile.read_text; cache checked first (yt8m/vocabulary.py)"
EXPORT = "export's --to/--out check (cli/yt8m/records.py)"
YOUTUBE_IDS = "youtube-ids reads --ids with read_text and checks --out first (cli/yt8m/youtube_ids.py)"
SHOW = "`action100m show` says `run reelset action100m ids first` (action100m/timeline.py)"
TASTE_OPTIONS = "taste's --yt8m options checked together (cli/taste.py)"
VGGISH = "VGGish's files and pins checked before anything is written (features/backbones/model_files.py)"


@dataclass(frozen=True)
class Row:
    """One command line against one bad input.

    ``argv`` and ``error`` hold placeholders for the prepared inputs (:func:`inputs`). ``error`` is how the line on
    stderr starts (``error: `` is prepended), ``contains`` what it must also hold.
    """

    id: str
    argv: str
    error: str
    contains: str = ""
    exit_code: int = 1
    fiftyone: bool = False  # also check that no FiftyOne dataset appeared (slow: keep these rows few)
    unwritable: bool = False  # needs a folder this user cannot write (not root)
    owner: str = ""  # the part of the change that makes this row pass, when it is not the library's own checks


DL = "--out {out}/videos --sleep 0 --max-sleep 0"
CLOSED = "http://127.0.0.1:{port}"
YT8M_DL = "yt8m download --mirror us --retries 1 --timeout 1 --plan-base-url " + CLOSED + " --data-base-url " + CLOSED

ROWS = [
    # --- action100m ids: the shards are read offline; the ids file is checked before them
    Row("ids-no-shards", "action100m ids --offline --data-dir {missing} --out {out}/ids.txt",
        "{missing}: no data/*.parquet files"),
    Row("ids-truncated-parquet", "action100m ids --offline --data-dir {truncated_data} --out {out}/ids.txt",
        "{truncated_data}/data/part-00000.parquet: not a readable parquet file"),
    Row("ids-wrong-schema", "action100m ids --offline --data-dir {wrong_data} --out {out}/ids.txt",
        "{wrong_data}/data/part-00000.parquet: column 'video_uid' is missing"),
    Row("ids-out-under-file", "action100m ids --offline --data-dir {data} --out {blocker}/ids.txt",
        "{blocker}/ids.txt: ", contains="{blocker} is a file"),
    Row("ids-out-unwritable", "action100m ids --offline --data-dir {data} --out {readonly}/ids.txt",
        "{readonly}/ids.txt: ", contains="not writable", unwritable=True),
    Row("ids-out-is-folder", "action100m ids --offline --data-dir {data} --out {folder}", "", contains="{folder}",
        exit_code=2, owner=USAGE),
    Row("ids-hub-unreachable", "action100m ids --endpoint " + CLOSED + " --data-dir {missing} --out {out}/ids.txt",
        "{missing}: no data/*.parquet files and the hub cannot be used", contains="cannot reach 127.0.0.1:{port} "
        "(refused)", owner=NETWORK),
    Row("ids-new-flag", "action100m ids --offline --data-dir {data} --ids {blocker}/ids.txt",
        "{blocker}/ids.txt: ", contains="{blocker} is a file", owner=CLI_NAMES),
    # --- action100m download: the ids file, the cookies and the folder before the folder is made or locked
    Row("download-ids-missing", "action100m download --ids {missing} " + DL, "{missing}: ids file not found"),
    Row("download-ids-folder", "action100m download --ids {folder} " + DL,
        "{folder}: is a folder, expected an ids file"),
    Row("download-ids-binary", "action100m download --ids {binary} " + DL,
        "{binary}: a binary file, expected an ids file"),
    Row("download-ids-latin1", "action100m download --ids {latin1} " + DL, "{latin1}: not UTF-8 text (byte 3)"),
    Row("download-ids-empty", "action100m download --ids {empty} " + DL, "{empty}: no ids (the file is empty"),
    Row("download-ids-no-valid-id", "action100m download --ids {not_ids} " + DL,
        "{not_ids}: no valid YouTube id in its 2 line(s)"),
    Row("download-out-under-file", "action100m download --ids {ids} --out {blocker}/videos",
        "{blocker}/videos: ", contains="{blocker} is a file"),
    Row("download-out-unwritable", "action100m download --ids {ids} --out {readonly}",
        "{readonly}: is not writable", unwritable=True),
    Row("download-out-is-file", "action100m download --ids {ids} --out {blocker}", "", contains="{blocker}",
        exit_code=2, owner=USAGE),
    Row("download-cookies-missing", "action100m download --ids {ids} --cookies {missing} " + DL,
        "{missing}: cookies file not found"),
    Row("download-cookies-binary", "action100m download --ids {ids} --cookies {binary} " + DL,
        "{binary}: cookies could not be loaded"),
    # --- action100m fiftyone: shards, schema and clips folder checked before the dataset is created
    Row("fiftyone-no-shards", "action100m fiftyone --data-dir {missing} --videos {folder} --name " + FIFTYONE_NAME,
        "{missing}: no data/*.parquet shards", fiftyone=True),
    Row("fiftyone-wrong-schema", "action100m fiftyone --data-dir {wrong_data} --videos {folder} --name "
        + FIFTYONE_NAME, "{wrong_data}/data/part-00000.parquet: column 'video_uid' is missing", fiftyone=True),
    Row("fiftyone-no-videos-folder", "action100m fiftyone --data-dir {data} --videos {missing} --name "
        + FIFTYONE_NAME, "{missing}: videos folder not found", fiftyone=True),
    Row("fiftyone-truncated-parquet", "action100m fiftyone --data-dir {truncated_data} --videos {folder} --jobs 2 "
        "--name " + FIFTYONE_NAME, "{truncated_data}/data/part-00000.parquet: not a readable parquet file",
        fiftyone=True, owner=CLI_NAMES),
    # --- action100m export: shards, schema, clips folder and the export folder checked before anything is written
    Row("export-no-shards", "action100m export --data-dir {missing} --videos {folder} --out {out}/seg",
        "{missing}: no data/*.parquet shards"),
    Row("export-wrong-schema", "action100m export --data-dir {wrong_data} --videos {folder} --out {out}/seg",
        "{wrong_data}/data/part-00000.parquet: column 'video_uid' is missing"),
    Row("export-no-videos-folder", "action100m export --data-dir {data} --videos {missing} --out {out}/seg",
        "{missing}: videos folder not found"),
    Row("export-out-under-file", "action100m export --data-dir {data} --videos {folder} --out {blocker}/seg",
        "{blocker}/seg: ", contains="{blocker} is a file"),
    Row("export-out-unwritable", "action100m export --data-dir {data} --videos {folder} --out {readonly}/seg",
        "{readonly}/seg: ", unwritable=True),
    Row("export-levels-reversed", "action100m export --data-dir {data} --videos {folder} --levels 5-2",
        "Invalid value for '--levels'", exit_code=2, owner=USAGE),
    # --- action100m stats: the shards and every output checked before anything is read
    Row("stats-no-shards", "action100m stats --data-dir {missing} --out {out}/stats",
        "{missing}: no data/*.parquet shards"),
    Row("stats-truncated-parquet", "action100m stats --data-dir {truncated_data} --out {out}/stats",
        "{truncated_data}/data/part-00000.parquet: not a readable parquet file"),
    Row("stats-wrong-schema", "action100m stats --data-dir {wrong_data} --out {out}/stats",
        "{wrong_data}/data/part-00000.parquet: column 'video_uid' is missing"),
    Row("stats-out-under-file", "action100m stats --data-dir {data} --out {blocker}/stats", "{blocker}/stats: ",
        contains="{blocker} is a file"),
    Row("stats-videos-missing", "action100m stats --data-dir {data} --videos {missing} --out {out}/stats",
        "{missing}: not a folder of clips"),
    # --- action100m index / search: the shards, the query and the index folder checked before any model loads
    Row("index-no-shards", "action100m index --data-dir {missing}", "{missing}: no data/*.parquet shards"),
    Row("index-truncated-parquet", "action100m index --data-dir {truncated_data} --index {out}/index",
        "{truncated_data}/data/part-00000.parquet: not a readable parquet file"),
    Row("search-empty-query", "action100m search '  ' --data-dir {data} --index {out}/index",
        "search: the query is empty"),
    Row("search-downloaded-missing-videos", "action100m search egg --data-dir {data} --index {out}/index "
        "--downloaded --videos {missing}", "{missing}: no such folder of clips"),
    Row("search-index-under-file", "action100m search egg --data-dir {data} --index {blocker}/index",
        "{blocker}/index: ", contains="{blocker} is a file"),
    Row("search-index-is-a-file", "action100m search egg --data-dir {data} --index {blocker}",
        "{blocker}: a file, not a search index folder"),
    Row("index-fields-unknown", "action100m index --data-dir {data} --fields foo", "Invalid value for '--fields'",
        exit_code=2, owner=USAGE),
    # --- action100m build: every output (ids file, clips folder) and the cookies before the ids step writes
    Row("build-no-shards", "action100m build --offline --data-dir {missing} --ids {out}/ids.txt " + DL + " --name "
        + FIFTYONE_NAME, "{missing}: no data/*.parquet files", fiftyone=True),
    Row("build-ids-under-file", "action100m build --offline --data-dir {data} --ids {blocker}/ids.txt " + DL,
        "{blocker}/ids.txt: ", contains="{blocker} is a file"),
    Row("build-videos-under-file", "action100m build --offline --data-dir {data} --ids {out}/ids.txt "
        "--out {blocker}/videos", "{blocker}/videos: ", contains="{blocker} is a file"),
    Row("build-cookies-missing", "action100m build --offline --data-dir {data} --ids {out}/ids.txt --cookies "
        "{missing} " + DL, "{missing}: cookies file not found"),
    # --- action100m show / app
    Row("show-no-shards", "action100m show " + VIDEO_ID + " --data-dir {missing} --out {out}/tree.png", "",
        contains="action100m ids", owner=SHOW),
    Row("show-truncated-parquet", "action100m show " + VIDEO_ID + " --data-dir {truncated_data} "
        "--out {out}/tree.png", "{truncated_data}/data/part-00000.parquet: not a readable parquet file"),
    Row("show-out-under-file", "action100m show {video_uid} --data-dir {data} --out {blocker}/tree.png",
        "{blocker}", contains="{blocker}"),
    Row("show-picture-format", "action100m show {video_uid} --data-dir {data} --out {out}/tree.txt",
        "{out}/tree.txt: unsupported picture format"),
    Row("app-no-dataset", "action100m app --name " + FIFTYONE_NAME + "-app --port {port}",
        f"FiftyOne dataset '{FIFTYONE_NAME}-app' not found", fiftyone=True),
    # --- yt8m download / vocab (closed ports: the network is never reached)
    Row("yt8m-download-out-under-file", YT8M_DL + " --partition 2/video/test --out {blocker}/yt8m", "{blocker}",
        contains="{blocker}", owner=YT8M_DOWNLOAD),
    Row("yt8m-download-unreachable", YT8M_DL + " --partition 2/video/test --out {out}/yt8m", "",
        contains="cannot reach 127.0.0.1:{port} (refused)", owner=NETWORK),
    Row("yt8m-download-bad-partition", YT8M_DL + " --partition 2/frame/everything --out {out}/yt8m", "",
        contains="partition", exit_code=2, owner=USAGE),
    Row("vocab-unreachable", "yt8m vocab --url " + CLOSED + "/vocabulary.csv --cache-dir {out}/cache", "",
        contains="cannot reach 127.0.0.1:{port} (refused)", owner=VOCABULARY),
    Row("vocab-cache-under-file", "yt8m vocab --url " + CLOSED + "/vocabulary.csv --cache-dir {blocker}/cache",
        "{blocker}/cache", contains="{blocker} is a file", owner=VOCABULARY),
    # --- yt8m youtube-ids: the ids file, then --out and the cache, before any request
    Row("youtube-ids-missing", "yt8m youtube-ids --ids {missing} --base-url " + CLOSED, "",
        contains="{missing}", exit_code=2, owner=USAGE),
    Row("youtube-ids-binary", "yt8m youtube-ids --ids {binary} --base-url " + CLOSED,
        "{binary}: a binary file, expected", owner=YOUTUBE_IDS),
    Row("youtube-ids-latin1", "yt8m youtube-ids --ids {latin1} --base-url " + CLOSED,
        "{latin1}: not UTF-8 text (byte 3)", owner=YOUTUBE_IDS),
    Row("youtube-ids-empty", "yt8m youtube-ids --ids {empty} --base-url " + CLOSED,
        "{empty}: no ids", owner=YOUTUBE_IDS),
    Row("youtube-ids-no-valid-id", "yt8m youtube-ids --ids {not_ids} --base-url " + CLOSED,
        "{not_ids}: no valid YouTube-8M id", owner=YOUTUBE_IDS),
    Row("youtube-ids-out-under-file", "yt8m youtube-ids XE00 --out {blocker}/ids.csv --base-url " + CLOSED,
        "{blocker}/ids.csv: ", contains="{blocker} is a file", owner=YOUTUBE_IDS),
    # --- yt8m inspect / export
    Row("inspect-missing", "yt8m inspect {missing}", "", contains="{missing}", exit_code=2, owner=USAGE),
    Row("inspect-folder", "yt8m inspect {folder}", "", contains="{folder}", exit_code=2, owner=USAGE),
    Row("inspect-truncated", "yt8m inspect {truncated_records}", "{truncated_records}: record 3 at byte"),
    Row("inspect-binary", "yt8m inspect {binary}", "{binary}: record 0 at byte 0"),
    Row("inspect-vocabulary-latin1", "yt8m inspect {records} --vocabulary {latin1}", "{latin1}: not UTF-8 text",
        owner=VOCABULARY),
    Row("inspect-vocabulary-binary", "yt8m inspect {records} --vocabulary {binary}", "{binary}: a binary file",
        owner=VOCABULARY),
    Row("export-truncated", "yt8m export {truncated_records} --to parquet --out {out}/records.parquet",
        "{truncated_records}: record 3 at byte"),
    Row("export-out-under-file", "yt8m export {records} --to parquet --out {blocker}/records.parquet", "{blocker}",
        contains="{blocker}"),
    Row("export-out-dir-under-file", "yt8m export {records} --to parquet --out-dir {blocker}/records",
        "{blocker}", contains="{blocker}"),
    Row("export-npz-named-parquet", "yt8m export {records} --to npz --out {out}/records.parquet",
        "--out {out}/records.parquet: ", contains="--to npz", owner=EXPORT),
    # --- yt8m extract: the CSV, then the outputs and the cache, before the backbone is loaded
    Row("extract-csv-missing", "yt8m extract --input_videos_csv {missing} --output_tfrecords_file {out}/x.tfrecord",
        "", contains="{missing}", exit_code=2, owner=USAGE),
    Row("extract-csv-binary", "yt8m extract --input_videos_csv {binary} --output_tfrecords_file {out}/x.tfrecord",
        "{binary}: a binary file, expected a videos CSV"),
    Row("extract-csv-latin1", "yt8m extract --input_videos_csv {latin1} --output_tfrecords_file {out}/x.tfrecord",
        "{latin1}: not UTF-8 text (byte 3)"),
    Row("extract-csv-empty", "yt8m extract --input_videos_csv {empty} --output_tfrecords_file {out}/x.tfrecord",
        "{empty}: no videos to encode"),
    Row("extract-no-videos", "yt8m extract --input_videos_csv {no_videos} --output_tfrecords_file "
        "{out}/x.tfrecord", "{no_videos}: no videos to encode"),
    Row("extract-out-under-file", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{blocker}/x.tfrecord", "{blocker}/x.tfrecord: ", contains="{blocker} is a file"),
    Row("extract-out-unwritable", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{readonly}/x.tfrecord", "{readonly}/x.tfrecord: ", contains="not writable", unwritable=True),
    Row("extract-cache-under-file", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{out}/x.tfrecord --cache-dir {blocker}/cache", "{blocker}/cache: ", contains="{blocker} is a file"),
    Row("extract-out-is-folder", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file {folder}",
        "", contains="{folder}", exit_code=2, owner=USAGE),
    Row("extract-audio-unknown", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{out}/x.tfrecord --audio loud", "Invalid value for '--audio': 'loud' is not one of 'none', 'zeros', 'vggish'",
        exit_code=2, owner=USAGE),
    Row("extract-vggish-not-a-checkpoint", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{out}/x.tfrecord --audio vggish --audio-model-dir {text_vggish}",
        "{text_vggish}/vggish_model.ckpt: not a TensorFlow V1 checkpoint", owner=VGGISH),
    Row("extract-vggish-bad-pin", "yt8m extract --input_videos_csv {videos_csv} --output_tfrecords_file "
        "{out}/x.tfrecord --audio vggish --audio-model-dir {out}/vggish --audio-expected-sha256 abc",
        "--audio-expected-sha256: this audio recipe uses 2 files; give NAME=SHA256 pairs", owner=VGGISH),
    # --- yt8m train / evaluate / predict
    Row("train-truncated", "yt8m train {truncated_records} --out {out}/model", "{truncated_records}: record 3 at byte"),
    Row("train-binary", "yt8m train {binary} --out {out}/model", "{binary}: record 0 at byte 0"),
    Row("train-validation-truncated", "yt8m train {records} --validation {truncated_records} --out {out}/model",
        "{truncated_records}: record 3 at byte"),
    Row("train-out-under-file", "yt8m train {records} --out {blocker}/model", "{blocker}/model: ",
        contains="{blocker} is a file"),
    Row("train-out-unwritable", "yt8m train {records} --out {readonly}/model", "{readonly}/model: ",
        contains="not writable", unwritable=True),
    Row("train-corrupt-checkpoint", "yt8m train {records} --out {checkpointed}",
        "{checkpointed}/checkpoint.pt: unreadable checkpoint"),
    Row("train-resume-without-checkpoint", "yt8m train {records} --out {out}/model --resume",
        "--resume: {out}/model has no checkpoint"),
    Row("train-vocabulary-latin1", "yt8m train {records} --out {out}/model --vocabulary {latin1}",
        "{latin1}: not UTF-8 text", owner=VOCABULARY),
    Row("evaluate-no-model", "yt8m evaluate {missing} {records}", "{missing}: no such model directory"),
    Row("evaluate-not-a-model", "yt8m evaluate {folder} {records}", "{folder}: not a model directory"),
    Row("evaluate-corrupt-weights", "yt8m evaluate {model} {records}", "{model}/weights.pt: corrupt"),
    Row("predict-corrupt-weights", "yt8m predict {model} {records}", "{model}/weights.pt: corrupt"),
    Row("predict-corrupt-description", "yt8m predict {bad_description} {records}",
        "{bad_description}/model.json: corrupt model description"),
    Row("predict-missing-records", "yt8m predict {model} {missing}", "", contains="{missing}", exit_code=2,
        owner=USAGE),
    # --- taste: the videos, the outputs and the cache before the tagger loads (and memoizes WordNet)
    Row("taste-no-videos", "taste {no_videos} --out {out}/report --no-dataset",
        "no videos found in {no_videos} (looked for .mp4, .mov"),
    Row("taste-no-videos-dataset", "taste {no_videos} --out {out}/report --dataset " + FIFTYONE_NAME,
        "no videos found in {no_videos} (looked for .mp4, .mov", fiftyone=True),
    Row("taste-out-under-file", "taste {video} --out {blocker}/report --no-dataset", "{blocker}/report: ",
        contains="{blocker} is a file"),
    Row("taste-out-unwritable", "taste {video} --out {readonly}/report --no-dataset", "{readonly}/report: ",
        contains="not writable", unwritable=True),
    Row("taste-cache-under-file", "taste {video} --out {out}/report --no-dataset --cache-dir {blocker}/cache",
        "{blocker}/cache: ", contains="{blocker} is a file"),
    Row("taste-model-not-a-model", "taste {video} --out {out}/report --no-dataset --model {folder}",
        "{folder}: not a model directory"),
    Row("taste-model-corrupt-weights", "taste {video} --out {out}/report --no-dataset --model {model}",
        "{model}/weights.pt: corrupt"),
    Row("taste-no-wordnet", "taste {video} --out {out}/report --no-dataset --wordnet-dir {folder}",
        "WordNet 3.0 not found ({folder}/data.noun is missing)"),
    Row("taste-wordnet-binary", "taste {video} --out {out}/report --no-dataset --wordnet-dir {binary_wordnet}",
        "{binary_wordnet}/data.noun:1: not a WordNet data.noun line"),
    Row("taste-missing-path", "taste {missing} --out {out}/report --no-dataset", "", contains="{missing}",
        exit_code=2, owner=USAGE),
    Row("taste-out-is-file", "taste {video} --out {blocker} --no-dataset", "", contains="{blocker}", exit_code=2,
        owner=USAGE),
    # --- taste --yt8m: its options, then the same inputs, before TensorFlow, a download or a training
    Row("taste-yt8m-with-model", "taste {video} --out {out}/report --no-dataset --yt8m --model {folder}",
        "--yt8m and --model exclude each other", exit_code=2, owner=TASTE_OPTIONS),
    Row("taste-yt8m-shard-zero", "taste {video} --out {out}/report --no-dataset --yt8m --yt8m-shard 0,5",
        "Invalid value for '--yt8m-shard': Invalid shard \"0,5\"", exit_code=2, owner=USAGE),
    Row("taste-mirror-without-yt8m", "taste {video} --out {out}/report --no-dataset --mirror eu",
        "--mirror goes with --yt8m", exit_code=2, owner=TASTE_OPTIONS),
    Row("taste-yt8m-out-under-file", "taste {video} --out {blocker}/report --no-dataset --yt8m", "{blocker}/report: ",
        contains="{blocker} is a file"),
    Row("taste-yt8m-cache-under-file", "taste {video} --out {out}/report --no-dataset --yt8m --cache-dir "
        "{blocker}/cache", "{blocker}/cache: ", contains="{blocker} is a file"),
    # --- doctor
    Row("doctor-missing-path", "doctor --path {missing}", "", contains="{missing}", exit_code=2, owner=USAGE),
    Row("doctor-path-is-file", "doctor --path {blocker}", "", contains="{blocker}", exit_code=2, owner=USAGE),
]


def _closed_port() -> int:
    with socket.socket() as probe:  # bound, then closed: nothing listens there
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _truncated(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep)])
    return path


def inputs(root: Path) -> dict[str, str]:
    """The inputs of every row, made under ``root``: good ones (for rows where something else is wrong) and bad
    ones. Returns the placeholders' values."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from reelset.sandbox.action100m_sample import make_sample_rows, write_parquet
    from reelset.sandbox.vggish_files import write_vggish_files
    from reelset.sandbox.yt8m_sample import sample_records
    from reelset.yt8m import write_records

    given = root / "given"
    given.mkdir()
    paths: dict[str, Path] = {"out": root / "out", "missing": given / "missing.txt"}
    for name, content in (("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
                          ("latin1", "caf\u00e9\n".encode("latin-1")), ("empty", b""),
                          ("not_ids", b"hello\nworld\n"), ("ids", f"{VIDEO_ID}\n".encode()),
                          ("blocker", b"a file where a folder is expected\n")):
        paths[name] = given / f"{name}.txt"
        paths[name].write_bytes(content)
    paths["folder"] = given / "a-folder"
    paths["folder"].mkdir()
    paths["no_videos"] = given / "holiday"  # a folder of photos and notes, no videos
    (paths["no_videos"] / "day1").mkdir(parents=True)
    (paths["no_videos"] / "day1" / "beach.jpg").write_bytes(b"\xff\xd8\xff\xe0 not much of a picture")
    (paths["no_videos"] / "notes.txt").write_text("bring the camera\n")
    paths["binary_wordnet"] = given / "wordnet"
    paths["binary_wordnet"].mkdir()
    (paths["binary_wordnet"] / "data.noun").write_bytes(bytes(range(256)) * 4)
    (paths["binary_wordnet"] / "index.noun").write_bytes(bytes(range(256)) * 4)
    paths["readonly"] = given / "read-only"
    paths["readonly"].mkdir()
    # A video nothing gets to decode: the run must fail on its outputs before it opens any input video.
    paths["video"] = given / "clip.mp4"
    paths["video"].write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
    paths["videos_csv"] = given / "videos.csv"
    paths["videos_csv"].write_text(f"{paths['video']},1;2\n")
    paths["text_vggish"] = given / "vggish"  # VGGish's files, the checkpoint a text file (the PCA is fine)
    write_vggish_files(paths["text_vggish"])
    (paths["text_vggish"] / "vggish_model.ckpt").write_text("not a checkpoint\n")

    rows = make_sample_rows(3, video_seconds=(20, 30), max_depths=(2, 3))
    for name in ("data", "truncated_data"):
        paths[name] = given / name
        write_parquet(rows, paths[name] / "data" / "part-00000.parquet")
    _truncated(paths["truncated_data"] / "data" / "part-00000.parquet", 0.5)
    paths["wrong_data"] = given / "wrong_data"  # a parquet file of something else
    (paths["wrong_data"] / "data").mkdir(parents=True)
    pq.write_table(pa.table({"url": ["https://example.com/a"], "caption": ["a cat"]}),
                   paths["wrong_data"] / "data" / "part-00000.parquet")

    paths["records"] = given / "video.tfrecord"
    write_records(paths["records"], sample_records("video", 4))
    paths["truncated_records"] = given / "truncated.tfrecord"
    paths["truncated_records"].write_bytes(paths["records"].read_bytes()[:-100])

    paths["checkpointed"] = given / "interrupted-model"  # a training whose checkpoint was damaged
    paths["checkpointed"].mkdir()
    (paths["checkpointed"] / "checkpoint.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    description = {"format": "reelset-yt8m-model", "version": 1, "model": "logistic", "options": {},
                   "level": "video", "backbone": "inception-yt8m", "features": ["rgb"], "widths": {"rgb": 1024},
                   "max_frames": 300, "classes": {"target": "labels", "ids": [0, 1], "names": ["0", "1"],
                                                  "groups": ["", ""], "label_space": 3862, "label_outputs": None}}
    paths["model"] = given / "model"  # a finished model whose weights file was cut short
    paths["model"].mkdir()
    (paths["model"] / "model.json").write_text(json.dumps(description))
    (paths["model"] / "weights.pt").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00")
    paths["bad_description"] = given / "bad-description"
    paths["bad_description"].mkdir()
    (paths["bad_description"] / "model.json").write_bytes("{\"model\": \"caf\u00e9\"".encode("latin-1"))

    values = {name: str(path) for name, path in paths.items()}
    values["video_uid"] = next(row["video_uid"] for row in rows if not row["video_uid"].startswith("-"))
    values["port"] = str(_closed_port())
    return values


def snapshot(root: Path) -> dict[str, object]:
    """Every path under ``root`` with its size (``dir`` for folders): what a run must leave as it found it."""
    return {str(path.relative_to(root)): "dir" if path.is_dir() else path.stat().st_size
            for path in sorted(root.rglob("*"))}


def fiftyone_datasets() -> list[str]:
    import fiftyone as fo

    return sorted(fo.list_datasets())


@pytest.fixture()
def place(tmp_path, monkeypatch):
    """The prepared inputs; the working directory, caches and model folders all inside ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REELSET_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("REELSET_SCHEDULER", "JOBS", "MAX_VIDEOS", "OUTPUT_DIR", "VIDEO_IDS", "COOKIES", "COOKIES_FROM",
                 "REELSET_URL_TEMPLATE", "YTDLP_ARGS", "partition", "mirror", "shard", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    values = inputs(tmp_path)
    readonly = Path(values["readonly"])
    readonly.chmod(0o500)
    yield values
    readonly.chmod(0o700)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_bad_input_is_one_error_line_and_writes_nothing(row: Row, place: dict[str, str], tmp_path: Path):
    if row.unwritable and os.access(place["readonly"], os.W_OK):
        pytest.skip("this user writes in a folder of mode 0o500 anyway (root)")
    argv = [part.format(**place) for part in shlex.split(row.argv)]
    before = snapshot(tmp_path)
    datasets = fiftyone_datasets() if row.fiftyone else None

    result = CliRunner().invoke(cli, argv)

    why = f"reelset {' '.join(argv)}" + (f"\n(made to pass by: {row.owner})" if row.owner else "")
    why += f"\nexit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{why}\nuncaught {type(result.exception).__name__}: {result.exception}"
    assert "Traceback" not in result.output, why
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, why
    line = lines[0]
    assert line.startswith("error: " + row.error.format(**place)), why
    assert row.contains.format(**place) in line, why
    assert result.exit_code == row.exit_code, why
    assert snapshot(tmp_path) == before, f"{why}\nthe run left files behind"
    if row.fiftyone:
        after = fiftyone_datasets()
        _delete_datasets(set(after) - set(datasets))  # not to spoil the next rows
        assert after == datasets, f"{why}\nthe run left a FiftyOne dataset"


def _delete_datasets(names: set[str]) -> None:
    import fiftyone as fo

    for name in names:
        fo.delete_dataset(name)


# --- the library's part: checks that touch nothing, and cleanup that never hides the error being raised -------------


def test_check_output_names_what_is_wrong_and_touches_nothing(tmp_path):
    from reelset.core.atomic import check_output
    from reelset.core.errors import ReelsetError

    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file")
    (tmp_path / "folder").mkdir()
    refused = [
        (lambda: check_output(blocker / "deeper" / "out.txt"),
         f"{blocker}/deeper/out.txt: cannot be created: {blocker} is a file, not a folder"),
        (lambda: check_output(blocker, folder=True), f"{blocker}: is a file, expected a folder"),
        (lambda: check_output(tmp_path / "folder"), f"{tmp_path}/folder: is a folder, expected a file"),
    ]
    for check, message in refused:
        with pytest.raises(ReelsetError) as raised:
            check()
        assert str(raised.value) == message
    before = snapshot(tmp_path)
    check_output(tmp_path / "new" / "deeper" / "out.txt")
    check_output(tmp_path / "new" / "videos", folder=True)
    check_output(blocker)  # replaced by rename: its folder must be writable, and is
    check_output(tmp_path / "folder", folder=True)
    assert snapshot(tmp_path) == before


def test_a_failed_write_removes_what_it_made_and_keeps_its_error(tmp_path, monkeypatch):
    from reelset.core.atomic import atomic_output, atomic_outputs

    (tmp_path / "kept").mkdir()
    with pytest.raises(RuntimeError, match="the encoder failed"), \
            atomic_output(tmp_path / "kept" / "made" / "deeper" / "out.bin") as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the encoder failed")
    with pytest.raises(RuntimeError, match="the encoder failed"), atomic_outputs(tmp_path / "made" / "x") as staged:
        staged.new().write_bytes(b"half")
        raise RuntimeError("the encoder failed")
    assert snapshot(tmp_path) == {"kept": "dir"}

    def refused(self, *args, **kwargs):  # a folder gone read-only under the run, say
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refused)
    for writer in (atomic_output(tmp_path / "out.bin"), atomic_outputs(tmp_path / "out.bin")):
        with pytest.raises(RuntimeError, match="the encoder failed"), writer as staged:
            (staged if isinstance(staged, Path) else staged.new()).write_bytes(b"half")
            raise RuntimeError("the encoder failed")


def test_a_failed_run_leaves_no_lock_file_it_made_and_keeps_its_error(tmp_path, monkeypatch):
    from reelset.core.locks import exclusive_lock

    lock = tmp_path / ".lock"
    with pytest.raises(ValueError, match="bad input"), exclusive_lock(lock, "busy"):
        assert lock.exists()
        raise ValueError("bad input")
    assert not lock.exists()
    with exclusive_lock(lock, "busy"):
        pass
    assert lock.exists()  # a run that finished leaves it, as it always did
    with pytest.raises(ValueError, match="bad input"), exclusive_lock(lock, "busy"):
        raise ValueError("bad input")
    assert lock.exists()  # not this run's to remove

    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "unlink", refused)
    with pytest.raises(ValueError, match="bad input"), exclusive_lock(tmp_path / ".other.lock", "busy"):
        raise ValueError("bad input")


def test_a_lock_file_replaced_before_it_was_locked_is_not_the_lock(tmp_path, monkeypatch):
    """A failed run removes its lock file while holding it; a run that had opened that file and then gets its lock
    must not run beside one that locks the new file at the same path."""
    import fcntl

    from reelset.core.errors import ReelsetError
    from reelset.core.locks import exclusive_lock

    lock = tmp_path / ".lock"
    lock.write_text("")
    real_flock = fcntl.flock
    swapped = []

    def flock(fd, operation):
        if not swapped:  # between the open and the flock: the holder removed it, a newcomer made a new one
            swapped.append(True)
            lock.unlink()
            lock.write_text("")
        return real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    with exclusive_lock(lock, "busy"):
        assert swapped
        with pytest.raises(ReelsetError, match="busy"), exclusive_lock(lock, "busy"):
            pass  # the file now at the path is held: a second run is refused


def test_a_status_store_closing_after_an_error_keeps_that_error(tmp_path, monkeypatch):
    import errno

    from reelset.core import status
    from reelset.core.status import StatusStore, read_status

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(RuntimeError, match="the run failed"), StatusStore(tmp_path / "status.jsonl") as store:
        store.update("dQw4w9WgXcQ", {"status": "ok"})
        monkeypatch.setattr(status, "atomic_write_text", disk_full)  # the compaction on close fails too
        raise RuntimeError("the run failed")
    assert read_status(tmp_path / "status.jsonl")[0]["dQw4w9WgXcQ"]["status"] == "ok"
