"""core.atomic: several outputs that take their names together, and the removal of a killed run's temporary files."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reelset.core.atomic import atomic_outputs, remove_stale_temps_of, temp_path_for


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_files_take_their_names_only_together_at_commit(tmp_path):
    out = tmp_path / "out" / "feat.tfrecord"
    finals = [out.with_name("feat-00000-of-00002.tfrecord"), out.with_name("feat-00001-of-00002.tfrecord")]
    with atomic_outputs(out) as staged:
        first, second = staged.new(), staged.new()
        first.write_bytes(b"one")
        second.write_bytes(b"two")
        assert not any(path.exists() for path in finals)  # nothing final before the commit
        staged.commit(finals)
    assert [path.read_bytes() for path in finals] == [b"one", b"two"]
    assert sorted(os.listdir(out.parent)) == sorted(path.name for path in finals)


def test_a_failure_or_a_missing_commit_leaves_nothing(tmp_path):
    out = tmp_path / "feat.tfrecord"
    with pytest.raises(RuntimeError), atomic_outputs(out) as staged:
        staged.new().write_bytes(b"half")
        raise RuntimeError("killed mid-way")
    with atomic_outputs(out) as staged:
        staged.new().write_bytes(b"never committed")
        dropped = staged.new()
        dropped.write_bytes(b"")
        staged.drop(dropped)
        with pytest.raises(ValueError):
            staged.commit([out, out.with_name("extra")])
    assert os.listdir(tmp_path) == []


def test_a_killed_runs_temporary_files_go_and_a_running_ones_stay(tmp_path):
    out = tmp_path / "feat.tfrecord"
    killed = tmp_path / f".feat.tfrecord.tmp-{dead_pid()}-0badf00d"
    running = tmp_path / f".feat.tfrecord.tmp-{os.getppid()}-0c0ffee0"  # the parent: alive
    other_output = tmp_path / f".other.tfrecord.tmp-{dead_pid()}-12345678"
    for path in (killed, running, other_output):
        path.write_bytes(b"partial shard")
    assert remove_stale_temps_of(out) == [killed]
    assert running.exists() and other_output.exists()
    with atomic_outputs(out) as staged:  # a new run cleans first
        assert temp_path_for(out).parent == tmp_path and staged.paths == []
    assert running.exists()
