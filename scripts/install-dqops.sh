#!/usr/bin/env bash
# Installs the DQOps server `lakehouse up` runs (lakehouse/platform/dqops.py) and prepares the
# Python environment DQOps evaluates its rules in, so that its first start does not spend a
# minute or more in pip. DQOps's server is on no package registry; it comes from, in order:
#   1. LAKEHOUSE_DQOPS_HOME: a DQOps distribution (a DQO_HOME) the user has; used where it is;
#   2. ../shared/dqops/ beside the clone: DQOps 1.13.1 built from its public source, whose
#      install.sh fetches its 440 jars from Maven Central into DEST/home.
# Otherwise it says so and exits 0: the platform runs without DQOps, whose checks are skipped
# with that reason. (The `dqops` package's launcher downloads the server from GitHub, which
# needs the internet; `python -m dqops` does that, then set LAKEHOUSE_DQOPS_HOME to it.)
# Usage: install-dqops.sh DEST [PYTHON]   Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$(realpath -m "${1:?usage: install-dqops.sh DEST [PYTHON]}")  # absolute: Maven resolves relative paths from its pom
python=${2:-python3}
shared=$(realpath -m "$root/../shared/dqops")
mkdir -p "$dest"

if [ -n "${LAKEHOUSE_DQOPS_HOME:-}" ]; then
  home=$LAKEHOUSE_DQOPS_HOME
  [ -x "$home/bin/dqo" ] || { echo "LAKEHOUSE_DQOPS_HOME=$home holds no DQOps distribution (no bin/dqo)" >&2; exit 1; }
elif [ -x "$shared/install.sh" ]; then
  "$shared/install.sh" "$dest" >/dev/null
  home=$dest/home
else
  echo "DQOps not installed: no LAKEHOUSE_DQOPS_HOME and no $shared; lakehouse up runs without it"
  exit 0
fi

# DQOps treats <DQO_HOME>/venv as ready when it exists and its copy of lib/requirements.txt
# (home_requirements.txt) equals the distribution's; otherwise it runs pip at start.
requirements=$home/lib/requirements.txt
if ! cmp -s "$requirements" "$home/venv/home_requirements.txt"; then
  rm -rf "$home/venv"
  "$python" -m venv "$home/venv"
  "$home/venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$home/venv/home_requirements.txt"
fi
echo "DQOps $(cat "$home/VERSION") at $home ($(ls "$home/jars" | wc -l) jars, Python environment ready)"
