"""`reelset yt8m download` against a local YouTube-8M mirror on 127.0.0.1: the official script's configuration,
sharding, names, plan and messages, and what it does better (resume with Range, md5 retry, faults, dry run)."""

from __future__ import annotations

import fcntl
import hashlib
import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelset.cli import cli
from reelset.core.errors import ReelsetError
from reelset.core.progress import Reporter
from reelset.sandbox.servers import Fault, MediaServer
from reelset.sandbox.yt8m_mirror import remote_names, sample_bytes, write_partition
from reelset.yt8m import download as yt8m_download
from reelset.yt8m.download import (
    FILE_CODES,
    Partition,
    Shard,
    config_from_environment,
    download_partition,
    local_name,
    select_files,
)

PARTITION = "2/frame/train"
PLAN_NAME = "2_frame_train_download_plan.json"
# The spec's check: shard=1,1000 over the full plans.
SHARD_1_OF_1000 = {
    "train": ["train0208", "train0274", "train0434", "train0580", "train2161"],
    "validate": ["validate0638", "validate1704", "validate1831", "validate2094", "validate3489"],
    "test": ["test0397", "test1553", "test2108", "test3134"],
}
TRAIN_SHARD = ["traindw.tfrecord", "traineA.tfrecord", "trainha.tfrecord", "trainjw.tfrecord", "trainI1.tfrecord"]
FILE_BYTES = 4096
ENV_CLEAR = {"partition": None, "mirror": None, "shard": None}


# --- the official script's plan handling, re-implemented line for line (the oracle of plan compatibility) ---

_VOCAB = [chr(c) for c in itertools.chain(range(ord("a"), ord("z") + 1), range(ord("A"), ord("Z") + 1),
                                          range(ord("0"), ord("9") + 1))]
_FILE_INDEX = {"".join(pair): index for index, pair in enumerate(itertools.product(_VOCAB, repeat=2))}


def official_selection(plan_filename: Path, shard_id: int, num_shards: int) -> tuple[dict, list[str]]:
    download_plan = json.loads(open(plan_filename).read())
    files = [f for f in download_plan["files"].keys()
             if int(hashlib.md5(f.encode("utf-8")).hexdigest(), 16) % num_shards == shard_id - 1]
    return download_plan, files


def official_out_name(f: str) -> str:
    fname, ext = f.split(".")
    return "%s%04i.%s" % (str(fname[:-2]), _FILE_INDEX[str(fname[-2:])], ext)


def official_md5sum(filename: Path) -> str:
    md5 = hashlib.md5()
    with open(filename, "rb") as fin:
        for chunk in iter(lambda: fin.read(128 * md5.block_size), b""):
            md5.update(chunk)
    return md5.hexdigest()


def official_run(folder: Path, plan_filename: Path, shard_id: int, num_shards: int, fetch) -> list[str]:
    """The official download loop (its skip check, naming, md5 check and plan rewrite); ``fetch(f)`` gives bytes."""
    download_plan, files = official_selection(plan_filename, shard_id, num_shards)
    fetched = []
    for f in files:
        out_f = folder / official_out_name(f)
        if out_f.exists() and official_md5sum(out_f) == download_plan["files"][f]:
            del download_plan["files"][f]
            open(plan_filename, "w").write(json.dumps(download_plan))
            continue
        out_f.write_bytes(fetch(f))
        fetched.append(f)
        if official_md5sum(out_f) == download_plan["files"][f]:
            del download_plan["files"][f]
            open(plan_filename, "w").write(json.dumps(download_plan))
    return fetched


# --- fixtures ---

@pytest.fixture()
def mirror(tmp_path):
    """A full 3,844-name train plan whose shard 1,1000 files exist (tiny, real md5s)."""
    root = tmp_path / "mirror"
    return write_partition(root, PARTITION, {name: sample_bytes(name, FILE_BYTES) for name in TRAIN_SHARD})


@pytest.fixture()
def server(mirror):
    with MediaServer(mirror.plan_path.parents[2]) as media:
        yield media


def config(server, out: Path, **options):
    settings = {"jobs": 3, "backoff": 0.01, "retries": 2, **options}
    return config_from_environment(partition=PARTITION, mirror="us", shard="1,1000", environ={}, out_dir=out,
                                   plan_base_url=server.url, data_base_url=server.url, **settings)


def run(server, out: Path, **options):
    reporter = Reporter(interactive=False, out=io.StringIO(), err=io.StringIO())
    summary = download_partition(config(server, out, **options), reporter)
    return summary, reporter.out.getvalue().splitlines(), reporter.err.getvalue()


def data_gets(server) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in server.requests if r.method == "GET" and "/2/frame/train/" in r.path]


def cli_args(server, out: Path, *extra: str) -> list[str]:
    return ["yt8m", "download", "--plan-base-url", server.url, "--data-base-url", server.url, "--out", str(out),
            *extra]


# --- names and sharding ---

def test_local_names_follow_the_official_order():
    assert len(FILE_CODES) == 3844 and FILE_CODES[0] == "aa" and FILE_CODES[-1] == "99"
    assert local_name("trainaa.tfrecord") == "train0000.tfrecord"
    assert local_name("traindw.tfrecord") == "train0208.tfrecord"
    assert local_name("test99") == "test3843"
    assert local_name("trainaa") == "train0000"
    for name in ("validateZ9.tfrecord", "trainAa.tfrecord", "test0a.tfrecord"):
        assert local_name(name) == official_out_name(name)
    for bad in ("../x.tfrecord", "train!!.tfrecord", "a.b.c", "x"):
        with pytest.raises(ReelsetError):
            local_name(bad)


@pytest.mark.parametrize("split", ["train", "validate", "test"])
def test_shard_1_of_1000_over_full_plans(tmp_path, split):
    written = write_partition(tmp_path, f"2/frame/{split}", {})
    plan = json.loads(written.plan_path.read_text())
    assert list(plan["files"]) == remote_names(split) and len(plan["files"]) == 3844
    selected = [local_name(name).removesuffix(".tfrecord") for name in select_files(plan, Shard(1, 1000))]
    assert selected == SHARD_1_OF_1000[split]
    assert official_selection(written.plan_path, 1, 1000)[1] == select_files(plan, Shard(1, 1000))
    # Shards 1..Y of a partition are disjoint and together the whole plan.
    shards = [select_files(plan, Shard(index, 7)) for index in range(1, 8)]
    assert sorted(itertools.chain(*shards)) == sorted(plan["files"])


def test_partition_plan_url_and_plan_file_name():
    partition = Partition.parse("2/frame/validate")
    assert partition.plan_filename == "2_frame_validate_download_plan.json"
    assert partition.plan_url() == "http://data.yt8m.org/2/download_plans/frame_validate.json"
    cfg = config_from_environment(environ={"partition": "1/video_level/test", "mirror": "eu"})
    assert cfg.shard == Shard(1, 1) and cfg.out_dir == Path(".")
    assert cfg.data_url("testdw.tfrecord") == "http://eu.data.yt8m.org/1/video_level/test/testdw.tfrecord"


# --- configuration: the official environment variables and messages ---

def from_env(name: str) -> str:
    return f" (from the environment variable {name}; the flag --{name} overrides it)"


# The official script's words, then where the setting comes from and the other way to give it.
@pytest.mark.parametrize(("env", "message"), [
    ({}, 'Must provide environment variable "partition". e.g. 0/video_level/train (or the flag --partition)'),
    ({"partition": PARTITION}, 'Must provide environment variable "mirror". e.g. "us" (or the flag --mirror)'),
    ({"partition": "2/frame"}, 'Must provide environment variable "mirror". e.g. "us" (or the flag --mirror)'),
    ({"partition": PARTITION, "mirror": "mars"},
     'Invalid mirror "mars": must be one of us, eu, asia' + from_env("mirror")),
    ({"partition": PARTITION, "mirror": "us", "shard": "5"},
     'Optional environment variable "shards" must be "X,Y" if set, where the integer X, Y are used for sharding. '
     "The files will be deterministically sharded Y-way and the X-th shard will be downloaded. "
     "It must be 1 <= X <= Y" + from_env("shard")),
    ({"partition": PARTITION, "mirror": "us", "shard": "3,2"},
     'Invalid shard "3,2": must be X,Y with integers 1 <= X <= Y (e.g. 1,1000)' + from_env("shard")),
    ({"partition": PARTITION, "mirror": "us", "shard": "0,2"},
     'Invalid shard "0,2": must be X,Y with integers 1 <= X <= Y (e.g. 1,1000)' + from_env("shard")),
    ({"partition": "2/frame", "mirror": "us"},
     'Invalid partition "2/frame": must be <version>/<level>/<split> with level one of video_level, frame_level, '
     "video, frame and split one of train, validate, test (e.g. 2/frame/train)" + from_env("partition")),
])
def test_environment_validation_messages_and_exit_code(tmp_path, env, message):
    result = CliRunner().invoke(cli, ["yt8m", "download", "--out", str(tmp_path / "out")],
                                env={**ENV_CLEAR, **env})
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n" and result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_the_library_keeps_the_official_words_and_says_which_setting(tmp_path):
    with pytest.raises(yt8m_download.ConfigError) as caught:
        config_from_environment(partition=PARTITION, environ={"mirror": "mars"})
    assert str(caught.value) == 'Invalid mirror "mars": must be one of us, eu, asia'
    assert (caught.value.setting, caught.value.source) == ("mirror", "environment")
    with pytest.raises(yt8m_download.ConfigError) as caught:
        config_from_environment(mirror="us", environ={})
    assert str(caught.value) == yt8m_download.MISSING_PARTITION
    assert (caught.value.setting, caught.value.source) == ("partition", "missing")


def test_flags_override_the_environment_and_bad_flags_are_usage_errors(tmp_path, server):
    env = {"partition": "9/nonsense", "mirror": "mars", "shard": "x"}
    result = CliRunner().invoke(cli, cli_args(server, tmp_path / "out", "--partition", PARTITION, "--mirror", "us",
                                              "--shard", "1,1000", "--dry-run"), env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:5] == [f"{name}.tfrecord" for name in SHARD_1_OF_1000["train"]]
    result = CliRunner().invoke(cli, cli_args(server, tmp_path, "--shard", "2,1"), env=env)
    assert result.exit_code == 2 and 'Invalid shard "2,1"' in result.stderr


# --- the command end to end ---

def test_fresh_download_then_rerun_prints_the_official_lines(tmp_path, server, mirror):
    out = tmp_path / "out"
    summary, lines, _ = run(server, out, jobs=2)
    assert not summary.failed, lines
    plan_size = mirror.plan_path.stat().st_size
    assert lines[:4] == [
        "Starting fresh download in this directory. Please make sure you have >2TB of free disk space!",
        f">> Downloading {server.url}/2/download_plans/frame_train.json 100.0%",
        f"Succesfully downloaded {PLAN_NAME} {plan_size} bytes.",
        "Files remaining 5",
    ]
    assert lines[-1] == "All done. No more files to download."
    per_file = lines[4:-1]
    expected = set()
    for remote in TRAIN_SHARD:
        expected |= {f">> Downloading {server.url}/2/frame/train/{remote} 100.0%",
                     f"Succesfully downloaded {local_name(remote)} {FILE_BYTES} bytes."}
    assert len(per_file) == 10 and set(per_file) == expected
    for remote in TRAIN_SHARD:
        assert hashlib.md5((out / local_name(remote)).read_bytes()).hexdigest() == mirror.files[remote]
    # The plan lost exactly the downloaded entries and reads, byte for byte, as the official script writes it.
    remaining = {name: md5 for name, md5 in mirror.files.items() if name not in TRAIN_SHARD}
    assert (out / PLAN_NAME).read_text() == json.dumps({"files": remaining})
    assert not list(out.glob("*.part")) and not list(out.glob(".*tmp-*"))

    server.clear_requests()
    rerun, rerun_lines, _ = run(server, out)
    assert not rerun.failed, rerun_lines
    assert rerun_lines == ["Resuming download ...", "Files remaining 0", "All done. No more files to download."]
    assert server.requests == []


def test_cli_takes_the_environment_prints_the_lines_and_exits_1_on_a_failed_file(tmp_path, server):
    out = tmp_path / "out"
    env = {**ENV_CLEAR, "partition": PARTITION, "mirror": "us", "shard": "1,1000"}
    missing = TRAIN_SHARD[1]
    server.set_fault(f"/{missing}", Fault("status", status=404))
    result = CliRunner().invoke(cli, cli_args(server, out, "--jobs", "2", "--retries", "1"), env=env)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Starting fresh download") and "Files remaining 5" in lines
    assert f"Error downloading {missing}. {server.url}/2/frame/train/{missing}: HTTP 404" in lines
    assert "All done. No more files to download." not in lines
    assert result.stderr.splitlines()[-1].startswith(f"error: 1 of 5 file(s) not downloaded: {missing} (")
    server.clear_faults()
    rerun = CliRunner().invoke(cli, cli_args(server, out), env=env)
    assert rerun.exit_code == 0, rerun.output
    assert rerun.stdout.splitlines() == [
        "Resuming download ...", "Files remaining 1", f">> Downloading {server.url}/2/frame/train/{missing} 100.0%",
        f"Succesfully downloaded {local_name(missing)} {FILE_BYTES} bytes.", "All done. No more files to download."]
    assert rerun.stderr == ""


def test_resumes_a_plan_the_official_script_left(tmp_path, server, mirror):
    out = tmp_path / "out"
    out.mkdir()
    plan_file = out / PLAN_NAME
    plan_file.write_bytes(mirror.plan_path.read_bytes())  # what the official script's first step saves
    # The official script gets two of the five files, then is stopped.
    first_two = TRAIN_SHARD[:2]
    official_run(out, plan_file, 1, 1000, lambda f: (mirror.written[f].read_bytes() if f in first_two else b""))
    assert official_selection(plan_file, 1, 1000)[1] == TRAIN_SHARD[2:]

    summary, lines, _ = run(server, out)
    assert lines[:2] == ["Resuming download ...", "Files remaining 3"]
    assert lines[-1] == "All done. No more files to download."
    assert sorted(data_gets(server)) == sorted(TRAIN_SHARD[2:])
    # The official script left a file it could not verify (b"") under its final name: replaced, not kept.
    assert sorted(summary.downloaded) == sorted(local_name(name) for name in TRAIN_SHARD[2:])
    assert official_selection(plan_file, 1, 1000)[1] == []


def test_the_official_script_resumes_a_plan_written_here(tmp_path, server, mirror):
    out = tmp_path / "out"
    missing = TRAIN_SHARD[1]
    server.set_fault(f"/{missing}", Fault("status", status=404))
    summary, lines, _ = run(server, out)
    assert [failure.remote_name for failure in summary.failed] == [missing]
    assert f"Error downloading {missing}. http://127.0.0.1:{server.port}/2/frame/train/{missing}: HTTP 404" in lines
    assert "All done. No more files to download." not in lines
    with pytest.raises(ReelsetError, match=f"1 of 5 file\\(s\\) not downloaded: {missing}"):
        summary.check()

    plan_file = out / PLAN_NAME
    download_plan, files = official_selection(plan_file, 1, 1000)
    assert files == [missing] and len(download_plan["files"]) == 3844 - 4
    fetched = official_run(out, plan_file, 1, 1000, lambda f: mirror.written[f].read_bytes())
    assert fetched == [missing] and official_selection(plan_file, 1, 1000)[1] == []
    assert official_md5sum(out / official_out_name(missing)) == mirror.files[missing]


def test_a_file_cut_short_resumes_with_a_range_request(tmp_path, server, mirror):
    out = tmp_path / "out"
    out.mkdir()
    remote = TRAIN_SHARD[0]
    (out / f"{local_name(remote)}.part").write_bytes(mirror.written[remote].read_bytes()[:1000])
    summary, _, _ = run(server, out)
    assert not summary.failed
    gets = [r for r in server.requests if r.method == "GET" and r.path.endswith(remote)]
    assert [(r.headers.get("range"), r.status) for r in gets] == [("bytes=1000-", 206)]
    assert (out / local_name(remote)).read_bytes() == mirror.written[remote].read_bytes()
    assert not (out / f"{local_name(remote)}.part").exists()


# One download run in a process of its own, to be killed: argv is the base URL and the output folder.
KILLABLE_RUN = f"""
import sys
from reelset.core.progress import Reporter
from reelset.yt8m.download import config_from_environment, download_partition
url, out = sys.argv[1:]
config = config_from_environment(partition={PARTITION!r}, mirror="us", shard="1,1000", environ={{}}, out_dir=out,
                                 plan_base_url=url, data_base_url=url, jobs=1)
download_partition(config, Reporter(interactive=False)).check()
"""


def test_kill_mid_run_then_rerun_finishes_with_range(tmp_path):
    root = tmp_path / "slow-mirror"
    # Big enough for a whole chunk of the HTTP client (1 MiB) to reach the .part before the kill.
    big = {name: sample_bytes(name, 2_500_000) for name in TRAIN_SHARD[:2]}
    write_partition(root, PARTITION, big, full_plan=False)
    out = tmp_path / "out"
    with MediaServer(root, bytes_per_second=2_000_000) as media:
        command = [sys.executable, "-c", KILLABLE_RUN, media.url, str(out)]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not any(path.stat().st_size > 0 for path in out.glob("*.part")):
            assert time.monotonic() < deadline and proc.poll() is None, "never got to a partial file"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        media.bytes_per_second = None
        rerun, lines, _ = run(media, out, jobs=1)
    rerun.check()  # nothing failed
    assert lines[0] == "Resuming download ..." and lines[1].startswith("Files remaining ")
    assert any(r.headers.get("range", "").startswith("bytes=") and r.status == 206 for r in media.requests)
    for name, data in big.items():
        assert (out / local_name(name)).read_bytes() == data
    assert official_selection(out / PLAN_NAME, 1, 1000)[1] == []


def test_md5_mismatch_is_retried_then_reported_and_never_placed(tmp_path, mirror):
    root = tmp_path / "bad-mirror"
    bad = TRAIN_SHARD[2]
    contents = {name: sample_bytes(name, FILE_BYTES) for name in TRAIN_SHARD}
    write_partition(root, PARTITION, contents, md5_overrides={bad: "0" * 32})
    out = tmp_path / "out"
    with MediaServer(root) as media:
        summary, lines, _ = run(media, out)
        assert data_gets(media).count(bad) == 2  # downloaded once more before giving up
    assert [failure.remote_name for failure in summary.failed] == [bad]
    assert f"Error downloading {bad}. MD5 does not match!" in lines
    assert not [line for line in lines if "All done" in line]
    with pytest.raises(ReelsetError, match=f"^1 of 5 file\\(s\\) not downloaded: {bad} \\(") as raised:
        summary.check()
    assert raised.value.exit_code == 1
    assert not (out / local_name(bad)).exists() and not (out / f"{local_name(bad)}.part").exists()
    _, remaining = official_selection(out / PLAN_NAME, 1, 1000)
    assert remaining == [bad]
    assert all((out / local_name(name)).exists() for name in TRAIN_SHARD if name != bad)


def test_a_corrupt_partial_file_is_downloaded_again(tmp_path, server, mirror):
    out = tmp_path / "out"
    out.mkdir()
    remote = TRAIN_SHARD[3]
    (out / f"{local_name(remote)}.part").write_bytes(b"\0" * 1500)  # wrong bytes: the resumed file cannot match
    summary, _, _ = run(server, out)
    assert not summary.failed
    gets = [r.headers.get("range") for r in server.requests if r.method == "GET" and r.path.endswith(remote)]
    assert gets == ["bytes=1500-", None]
    assert (out / local_name(remote)).read_bytes() == mirror.written[remote].read_bytes()


def test_a_verified_file_already_in_place_is_not_downloaded_again(tmp_path, server, mirror):
    out = tmp_path / "out"
    out.mkdir()
    remote = TRAIN_SHARD[4]
    (out / local_name(remote)).write_bytes(mirror.written[remote].read_bytes())
    summary, lines, _ = run(server, out)
    assert f"Skipping already downloaded file {local_name(remote)}" in lines
    assert summary.already_there == [local_name(remote)] and remote not in data_gets(server)
    assert official_selection(out / PLAN_NAME, 1, 1000)[1] == []


def test_a_dropped_connection_recovers_and_a_dead_one_is_a_clear_error(tmp_path, server, mirror):
    flaky, dead = TRAIN_SHARD[0], TRAIN_SHARD[1]
    # The flaky file is dropped after 1.2 MB: what arrived stays in the .part and only the rest is asked for.
    flaky_bytes = sample_bytes(flaky, 1_500_000)
    write_partition(server.root, PARTITION, {**{name: mirror.written[name].read_bytes() for name in TRAIN_SHARD},
                                             flaky: flaky_bytes})
    server.set_fault(f"/{flaky}", Fault("drop", after_bytes=1_200_000, times=1))
    server.set_fault(f"/{dead}", Fault("drop", after_bytes=0))
    out = tmp_path / "out"
    summary, lines, _ = run(server, out)
    assert (out / local_name(flaky)).read_bytes() == flaky_bytes
    ranges = [r.headers.get("range") for r in server.requests if r.method == "GET" and r.path.endswith(flaky)]
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 1_000_000 < resumed_at <= 1_200_000
    assert [failure.remote_name for failure in summary.failed] == [dead]
    error = next(line for line in lines if line.startswith(f"Error downloading {dead}. "))
    assert f"{server.url}/2/frame/train/{dead}: " in error and "connection dropped after 0 of" in error
    assert not (out / local_name(dead)).exists()
    assert official_selection(out / PLAN_NAME, 1, 1000)[1] == [dead]


def test_dry_run_lists_local_names_and_total_and_writes_nothing(tmp_path, server, mirror):
    out = tmp_path / "out"
    summary, lines, _ = run(server, out, dry_run=True)
    assert not summary.failed
    names = [f"{name}.tfrecord" for name in SHARD_1_OF_1000["train"]]
    assert lines == [*names, f"total: 5 files, {5 * FILE_BYTES} bytes"]
    assert not out.exists() and data_gets(server) == []

    server.set_fault(f"/{TRAIN_SHARD[0]}", Fault("status", status=404))  # HEAD too: the size is unknown
    summary, lines, _ = run(server, out, dry_run=True)
    assert lines == [*names, f"total: 5 files, at least {4 * FILE_BYTES} bytes (1 sizes unknown)"]
    assert summary.total_bytes is None and not out.exists()


def test_free_disk_check_refuses_before_the_first_byte(tmp_path, server, mirror, monkeypatch):
    monkeypatch.setattr(yt8m_download, "free_bytes", lambda folder: 5 * FILE_BYTES - 1)
    out = tmp_path / "out"
    with pytest.raises(ReelsetError, match=r"free, 20\.5 kB needed for the 5 file\(s\) of shard 1,1000"):
        run(server, out)
    assert data_gets(server) == []
    monkeypatch.setattr(yt8m_download, "free_bytes", lambda folder: 5 * FILE_BYTES)
    server.set_fault(f"/{TRAIN_SHARD[0]}", Fault("status", status=503, times=1))  # its HEAD: size unknown
    summary, _, warnings = run(server, out)
    assert not summary.failed
    assert "did not announce the size of 1 of 5 file(s)" in warnings


def test_one_run_per_plan(tmp_path, server):
    out = tmp_path / "out"
    out.mkdir()
    with open(out / f".{PLAN_NAME}.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ReelsetError, match="another download is using this plan"):
            run(server, out)


def test_a_bad_plan_is_a_clear_error(tmp_path, server):
    out = tmp_path / "out"
    out.mkdir()
    (out / PLAN_NAME).write_text('{"files": {"trainaa.tfrec')  # torn by a killed official run
    with pytest.raises(ReelsetError, match=f"{PLAN_NAME}: not a download plan \\(not JSON"):
        run(server, out)
    (out / PLAN_NAME).write_text('{"files": {"../../etc.tfrecord": "' + "0" * 32 + '"}}')
    with pytest.raises(ReelsetError, match="not a YouTube-8M file name"):
        run(server, out)
    result = CliRunner().invoke(cli, cli_args(server, tmp_path / "fresh", "--partition", "2/frame/validate",
                                              "--mirror", "us"), env=ENV_CLEAR)
    assert result.exit_code == 1
    assert result.stderr == (f"error: Could not download file list: {server.url}/2/download_plans/"
                             "frame_validate.json: HTTP 404 (is partition 2/frame/validate right? --partition, or "
                             "the environment variable partition)\n")
    assert not (tmp_path / "fresh").exists()  # a run that cannot start leaves no folder and no lock


def test_progress_bar_shows_bytes_on_a_terminal(tmp_path, server):
    reporter = Reporter(interactive=True, out=io.StringIO(), err=io.StringIO())
    summary = download_partition(config(server, tmp_path / "out"), reporter)
    assert len(summary.downloaded) == 5
    drawn = reporter.err.getvalue()
    assert "2/frame/train shard 1,1000" in drawn and "20.5/20.5 kB" in drawn


# --- hosts that cannot be reached, and the hints that apply ---

@pytest.fixture(scope="module")
def hosts():
    from tests.support.network import unreachable_hosts

    with unreachable_hosts() as urls:
        yield urls


@pytest.mark.parametrize("kind", ["refused", "DNS", "timeout", "TLS"])
def test_an_unreachable_plan_host_is_named_without_the_partition_hint(tmp_path, hosts, kind):
    url, host = hosts[kind]
    result = CliRunner().invoke(cli, ["yt8m", "download", "--plan-base-url", url, "--out", str(tmp_path / "out"),
                                      "--retries", "1", "--timeout", "0.5"],
                                env={**ENV_CLEAR, "partition": PARTITION, "mirror": "us"})
    assert result.exit_code == 1
    assert result.stderr == (f"error: Could not download file list: {url}/2/download_plans/frame_train.json: "
                             f"cannot reach {host} ({kind})\n")
    assert result.stdout == "" and not (tmp_path / "out").exists()


def test_a_server_error_on_the_plan_has_no_partition_hint(tmp_path, server):
    server.set_fault("/2/download_plans/frame_train.json", Fault("status", status=500))
    result = CliRunner().invoke(cli, cli_args(server, tmp_path / "out", "--retries", "1"),
                                env={**ENV_CLEAR, "partition": PARTITION, "mirror": "us"})
    assert result.exit_code == 1
    assert result.stderr == (f"error: Could not download file list: {server.url}/2/download_plans/frame_train.json: "
                             "HTTP 500\n")


@pytest.mark.parametrize("mirrored", [True, False])
def test_an_unreachable_data_host_names_the_mirror_setting_only_for_a_mirror(tmp_path, server, hosts, mirrored):
    url, host = hosts["refused"]
    data_base = f"{url}/{{mirror}}" if mirrored else url
    result = CliRunner().invoke(cli, ["yt8m", "download", "--plan-base-url", server.url, "--data-base-url", data_base,
                                      "--out", str(tmp_path / "out"), "--retries", "1", "--jobs", "2"],
                                env={**ENV_CLEAR, "partition": PARTITION, "mirror": "eu", "shard": "1,1000"})
    assert result.exit_code == 1
    data_url = f"{url}/eu" if mirrored else url
    lines = result.stdout.splitlines()
    for remote in TRAIN_SHARD:
        assert f"Error downloading {remote}. {data_url}/{PARTITION}/{remote}: cannot reach {host} (refused)" in lines
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error) == 1 and error[0].startswith("error: 5 of 5 file(s) not downloaded: ")
    another = ", or with another mirror (us, eu, asia: --mirror, or the environment variable mirror)"
    assert error[0].endswith(f"{PLAN_NAME}: run the same command again to retry them{another if mirrored else ''}")
