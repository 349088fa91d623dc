#!/usr/bin/env bash
# The whole test suite, offline, on a fresh machine: set-up (scripts/setup.sh), then pytest in .venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh test tensorflow dask
exec .venv/bin/python -m pytest -q "$@"
