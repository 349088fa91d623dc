#!/usr/bin/env bash
# The offline end-to-end demo on generated sample data: set-up (scripts/setup.sh), then `reelset demo`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh
exec .venv/bin/reelset demo --workdir demo-output "$@"
