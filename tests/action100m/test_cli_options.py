"""The Action100M commands' shared vocabulary: `--ids` is the ids file in every command (`ids` writes it, `download`
and `build` read it), `--jobs` is how many items a step works on at once; the old names (`ids --out`, `--workers`)
still work, hidden from the help."""

from __future__ import annotations

import importlib

import pytest
from click.testing import CliRunner

from reelset.action100m.dataset import IngestSummary
from reelset.action100m.pipeline import BuildSummary
from reelset.cli import cli
from reelset.fetch.download import DownloadSummary
from reelset.sandbox.action100m_sample import expected_ids, make_sample_rows, write_sample_repo


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    rows = make_sample_rows(4, seed=2)
    folder = tmp_path_factory.mktemp("action100m")
    write_sample_repo(folder, rows)
    return folder, rows


@pytest.mark.parametrize("how", ["--ids", "VIDEO_IDS", "--out (old name)"])
def test_ids_writes_the_file_that_ids_names(tmp_path, data_dir, how):
    folder, rows = data_dir
    ids_file = tmp_path / "my_ids.txt"
    args = ["action100m", "ids", "--data-dir", str(folder), "--offline"]
    env = {}
    if how == "--ids":
        args += ["--ids", str(ids_file)]
    elif how == "VIDEO_IDS":
        env["VIDEO_IDS"] = str(ids_file)  # the variable `download` reads the same file from
    else:
        args += ["--out", str(ids_file)]
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert ids_file.read_text().splitlines() == expected_ids(rows)
    assert not (tmp_path / "video_ids.txt").exists()


def fake_build_dataset(calls):
    def build_dataset(data_dir, videos, **kwargs):
        calls.append(kwargs["workers"])
        return IngestSummary("x")

    return build_dataset


@pytest.mark.parametrize(("args", "env", "jobs"), [
    ([], {}, 4),
    (["--jobs", "3"], {}, 3),
    ([], {"JOBS": "5"}, 5),
    (["--workers", "2"], {}, 2),  # the old name
    (["--jobs", "3", "--workers", "2"], {}, 2),
])
def test_fiftyone_jobs_is_the_clips_probed_at_once(tmp_path, monkeypatch, args, env, jobs):
    calls = []
    monkeypatch.setattr(importlib.import_module("reelset.action100m.dataset"), "build_dataset",
                        fake_build_dataset(calls))
    result = CliRunner().invoke(cli, ["action100m", "fiftyone", "--data-dir", str(tmp_path), *args],
                                env={"JOBS": None, **env})
    assert result.exit_code == 0, result.output
    assert calls == [jobs]


@pytest.mark.parametrize(("args", "downloads", "probes"), [
    (["--jobs", "3"], 3, 3),  # one --jobs for both parallel steps
    (["--jobs", "3", "--workers", "2"], 3, 2),  # the old name still sets the dataset step's alone
    (["--workers", "2"], 4, 2),
])
def test_build_jobs_sets_the_downloads_and_the_probes(tmp_path, monkeypatch, args, downloads, probes):
    calls = []

    def fake_build(data_dir, ids_file, download, **kwargs):
        calls.append((ids_file, download.jobs, kwargs["workers"]))
        return BuildSummary(ids=None, download=DownloadSummary(tmp_path / "v"), dataset=IngestSummary("x"))

    monkeypatch.setattr(importlib.import_module("reelset.action100m.pipeline"), "build", fake_build)
    result = CliRunner().invoke(cli, ["action100m", "build", "--data-dir", str(tmp_path), *args],
                                env={"JOBS": None, "VIDEO_IDS": str(tmp_path / "ids.txt")})
    assert result.exit_code == 0, result.output
    assert calls == [(tmp_path / "ids.txt", downloads, probes)]

