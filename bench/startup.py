"""Benchmark: how long the `reelset` command takes to start, against Python starting and importing click alone.

Each command runs as its own process (`python -m reelset ...`, output discarded) and is timed by wall clock from
start to exit; the anchor is `python -c "import click"`, the least any click command line can cost. Commands:
`reelset --help`, `reelset --version`, `reelset yt8m --help`, `reelset action100m download --help`. Every command
runs in each of --runs rounds (round robin after one untimed warm-up round, so all see the same conditions of a
shared machine) and is credited with its median. Printed: the median, the ratio to the anchor and the milliseconds
over it, and the packages outside the standard library that each command imported. The last line is one JSON object
with every figure.

Usage: python bench/startup.py [--quick] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ANCHOR = "python -c 'import click'"
COMMANDS = {
    ANCHOR: ["-c", "import click"],
    "reelset --help": ["-m", "reelset", "--help"],
    "reelset --version": ["-m", "reelset", "--version"],
    "reelset yt8m --help": ["-m", "reelset", "yt8m", "--help"],
    "reelset action100m download --help": ["-m", "reelset", "action100m", "download", "--help"],
}


def run_once(arguments: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{arguments} failed ({done.returncode}):\n{done.stderr.decode()[-3000:]}")
    return seconds


_LIST_PACKAGES = """
import contextlib, io, runpy, sys
arguments = sys.argv[1:]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        if arguments[0] == "-c":
            exec(arguments[1], {"__name__": "__main__"})
        else:
            sys.argv = [arguments[1], *arguments[2:]]
            runpy.run_module(arguments[1], run_name="__main__", alter_sys=True)
    except SystemExit:
        pass
print(" ".join(sorted({name.split(".")[0] for name in sys.modules} - set(sys.stdlib_module_names)
                      - {"sitecustomize", "usercustomize"} - {n for n in sys.modules if n.startswith("_")})))
"""


def imported_packages(arguments: list[str]) -> list[str]:
    """The top-level packages outside the standard library that the command left in ``sys.modules``."""
    done = subprocess.run([sys.executable, "-c", _LIST_PACKAGES, *arguments], capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"{arguments} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of each command (a smoke test)")
    parser.add_argument("--runs", type=int, help="timed runs of each command (default 15)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 15)
    for arguments in COMMANDS.values():  # warm-up: page cache, .pyc files
        run_once(arguments)
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(runs):
        for name, arguments in COMMANDS.items():
            times[name].append(run_once(arguments))
    anchor = statistics.median(times[ANCHOR])
    rows = {}
    for name, measured in times.items():
        median = statistics.median(measured)
        rows[name] = {"median_s": median, "min_s": min(measured), "max_s": max(measured),
                      "vs_anchor": median / anchor, "extra_ms": (median - anchor) * 1000,
                      "packages": imported_packages(COMMANDS[name])}
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    results = {"machine": {"python": platform.python_version(), "cpu_count": os.cpu_count(),
                           "processor": platform.processor(), "load_average": load},
               "runs": runs, "anchor": ANCHOR, "rows": rows}
    print(f"start-up, median of {runs} runs each (wall clock of the whole process), load average "
          f"{'/'.join(f'{value:.1f}' for value in load) if load else '-'}")
    print(f"  {'command':36s} {'median':>8s} {'min':>8s} {'max':>8s} {'vs anchor':>9s} {'extra':>9s}  packages")
    for name, row in rows.items():
        extra = "" if name == ANCHOR else f"{row['extra_ms']:+7.0f}ms"
        versus = "" if name == ANCHOR else f"{row['vs_anchor']:.2f}x"
        print(f"  {name:36s} {row['median_s'] * 1000:6.0f}ms {row['min_s'] * 1000:6.0f}ms "
              f"{row['max_s'] * 1000:6.0f}ms {versus:>9s} {extra:>9s}  {', '.join(row['packages'])}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
