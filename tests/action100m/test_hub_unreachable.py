"""An Action100M hub that cannot be reached (the real huggingface_hub client): named as `cannot reach <host>
(<kind>)`, in full, with the local shards as the fallback and nothing written when there are none."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reelset.action100m.hub import fetch_shards
from reelset.cli import cli
from reelset.core.errors import ReelsetError
from tests.support.network import KINDS, unreachable_hosts


@pytest.fixture(scope="module")
def hosts():
    with unreachable_hosts() as urls:
        yield urls


@pytest.mark.parametrize("kind", KINDS)
def test_no_local_shards_and_no_hub_is_one_clear_error(tmp_path, hosts, kind):
    url, host = hosts[kind]
    data = tmp_path / "data"
    with pytest.raises(ReelsetError) as caught:
        fetch_shards(data, endpoint=url, timeout=0.5, progress=False)
    assert str(caught.value) == (f"{data}: no data/*.parquet files and the hub cannot be used: "
                                 f"cannot reach {host} ({kind})")
    assert not data.exists()


@pytest.mark.parametrize("kind", ["refused", "DNS"])
def test_the_command_prints_one_line_and_writes_nothing(tmp_path, hosts, kind):
    url, host = hosts[kind]
    data, out = tmp_path / "data", tmp_path / "ids.txt"
    result = CliRunner().invoke(cli, ["action100m", "ids", "--endpoint", url, "--data-dir", str(data),
                                      "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert result.stderr == (f"error: {data}: no data/*.parquet files and the hub cannot be used: "
                             f"cannot reach {host} ({kind})\n")
    assert not data.exists() and not out.exists()
