#!/usr/bin/env bash
# The offline end-to-end demo on generated sample data: set-up (scripts/setup.sh, with the `tensorflow` extra that
# the inception-yt8m backbone of `taste --yt8m` runs on), then `reelset demo`. Without TensorFlow the demo skips
# that one step and says so.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
./scripts/setup.sh tensorflow
exec .venv/bin/reelset demo --workdir demo-output "$@"
