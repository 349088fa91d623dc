"""`reelset --help` starts fast: no help, no `--version`, imports the heavy libraries, and `yt8m inspect` only what it
reads records with; `--version` and the top-level help import nothing but reelset's root, `reelset.cli` and click,
and the top-level help lists every command.

Each check runs in a fresh interpreter (this test process has imported everything long ago) and looks at
``sys.modules`` there. The help of every group and command is shown in ONE interpreter, one after the other, with
``sys.modules`` checked after each: the first command after which a module is there is the one that imported it.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from reelset.cli import COMMANDS, cli
from reelset.yt8m import write_records

# Never imported to show help: the heavy libraries behind the commands, and those behind them.
NOT_FOR_HELP = ("torch", "fiftyone", "tensorflow", "dask", "distributed", "yt_dlp", "pyarrow", "cv2", "av", "numpy",
                "huggingface_hub", "requests", "matplotlib", "rich")
# Never imported by `yt8m inspect` (it needs numpy, protobuf and crc32c, nothing of training, FiftyOne, downloads or
# progress bars).
NOT_FOR_INSPECT = ("torch", "fiftyone", "tensorflow", "dask", "distributed", "yt_dlp", "cv2", "av", "pyarrow",
                   "huggingface_hub", "matplotlib", "requests", "rich")
# All that `reelset --version` and `reelset --help` import of reelset (the root brings its lazy-export helper).
REELSET_TO_START = {"reelset", "reelset.core", "reelset.core.lazy", "reelset.cli"}

_LOADED = """
def loaded(names):
    return sorted({module.split(".")[0] for module in sys.modules} & set(names))
"""

_EVERY_HELP = _LOADED + """
import contextlib, io, json, runpy, sys

forbidden = json.loads(sys.argv[1])
offenders, shown = [], []

def check(command):
    shown.append(command)
    offenders.extend([command, name] for name in loaded(forbidden) if name not in {n for _, n in offenders})

def quietly(run):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            return run()
        except SystemExit as exc:
            return exc.code

# `python -m reelset --help` as a user runs it (__main__, main()), then everything else in this process.
sys.argv = ["reelset", "--help"]
code = quietly(lambda: runpy.run_module("reelset", run_name="__main__", alter_sys=True))
assert code in (0, None), f"reelset --help exited {code}"
check("reelset --help")

import click
from reelset.cli import cli

def paths(group, prefix=()):
    # Lazily, so that each command's module is loaded (get_command) just before its help is shown.
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from paths(command, (*prefix, name))

for args in (["--version"], *([*path, "--help"] for path in paths(cli))):
    code = quietly(lambda: cli.main(args=args, prog_name="reelset", standalone_mode=False))
    assert code in (0, None), f"reelset {' '.join(args)} exited {code}"
    check("reelset " + " ".join(args))

print(json.dumps({"offenders": offenders, "shown": shown}))
"""

# `python -m reelset ARGS...` as a user runs it; then the modules it imported, on stderr's last line.
_REELSET = """
import json, runpy, sys

before = set(sys.modules)
sys.argv = ["reelset", *json.loads(sys.argv[1])]
try:
    runpy.run_module("reelset", run_name="__main__", alter_sys=True)
    code = 0
except SystemExit as exc:
    code = exc.code or 0
sys.stdout.flush()
print(json.dumps({"code": code, "imported": sorted(set(sys.modules) - before)}), file=sys.stderr)
"""


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_help_and_version_import_no_heavy_library():
    done = _run(_EVERY_HELP, json.dumps(NOT_FOR_HELP))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    shown = result["shown"]
    # Every group and command was shown (the walk found them): the groups, their steps, the version.
    for command in ("reelset --help", "reelset --version", "reelset action100m --help",
                    "reelset action100m download --help", "reelset yt8m --help", "reelset yt8m inspect --help",
                    "reelset yt8m train --help", "reelset yt8m extract --help", "reelset taste --help",
                    "reelset doctor --help", "reelset demo --help"):
        assert command in shown, f"{command} was not shown; shown: {shown}"
    assert len(shown) >= 20, shown
    assert not result["offenders"], "\n".join(f"{command} imports {module}"
                                              for command, module in result["offenders"])


def _reelset(*args: str) -> tuple[subprocess.CompletedProcess, int, list[str]]:
    done = _run(_REELSET, json.dumps(args))
    result = json.loads(done.stderr.strip().splitlines()[-1])
    return done, result["code"], result["imported"]


@pytest.mark.parametrize("args", [("--version",), ("--help",)])
def test_version_and_top_help_import_only_reelset_cli_and_click(args):
    done, code, imported = _reelset(*args)
    assert code == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.startswith("reelset, version " if args == ("--version",) else "Usage: reelset "), done.stdout
    outside_stdlib = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names}
    assert {name for name in outside_stdlib if name.split(".")[0] != "click"} <= REELSET_TO_START, \
        sorted(outside_stdlib)


def test_top_help_lists_every_command_with_its_short_help():
    help_text = CliRunner().invoke(cli, ["--help"]).output
    listed = help_text[help_text.index("Commands:"):]
    for name, lazy in COMMANDS.items():
        assert f"{name}  " in listed and lazy.short_help in " ".join(listed.split()), (name, listed)
        # The table points at the command of that name (a stale entry would fail here, not for a user).
        module, attribute = lazy.target.split(":")
        assert getattr(importlib.import_module(module), attribute).name == name


def test_inspect_imports_only_what_reading_records_needs(tmp_path):
    path = tmp_path / "video.tfrecord"
    rng = np.random.default_rng(0)
    write_records(path, [{"id": f"v{index:03d}", "labels": np.array([index % 3, 7]),
                          "mean_rgb": rng.random(1024, dtype=np.float32),
                          "mean_audio": rng.random(128, dtype=np.float32)} for index in range(4)])
    done, code, imported = _reelset("yt8m", "inspect", str(path))
    assert code == 0, done.stdout + done.stderr[-3000:]
    assert "4 records, 4 videos" in done.stdout, done.stdout
    loaded = sorted({name.split(".")[0] for name in imported} & set(NOT_FOR_INSPECT))
    assert not loaded, f"reelset yt8m inspect imports {', '.join(loaded)}"
