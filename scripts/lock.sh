#!/usr/bin/env bash
# Writes every lock file from its hand-edited requirements file: each package,
# its dependencies included, pinned to one version with the sha256 of every file
# the package index serves for that version, so `pip install --require-hashes`
# installs the same bytes on every machine (scripts/bootstrap.sh, docker/).
# uv starts from the old lock: a pin moves only when a requirements file asks
# for it, or when told to (arguments go to uv: --upgrade-package NAME, --upgrade).
# The images' locks are held to requirements.lock's versions: an image runs what
# the tests ran. tests/unit/test_lock.py fails when a lock and its file drift.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
PYTHON=${PYTHON:-python3}
UV="$TOOLS_VENV/bin/uv"
if [ ! -x "$UV" ]; then
  echo "==> installing uv into $TOOLS_VENV (requirements-tools.lock)"
  [ -x "$TOOLS_VENV/bin/python" ] || "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/python" -m pip install -q --require-hashes -r requirements-tools.lock
fi

# lock REQUIREMENTS LOCK [uv arguments]: LOCK resolved from REQUIREMENTS for
# CPython 3.11.7 (this machine's) and later (the images' 3.11), on any platform.
# --no-config: the hashes are the index's own, whatever mirror pip is set up with.
lock() {
  local requirements=$1 output=$2
  shift 2
  echo "==> $requirements -> $output"
  "$UV" pip compile --quiet --no-config --universal --python-version 3.11.7 \
    --generate-hashes --custom-compile-command "make lock" \
    "$requirements" --output-file "$output" "$@"
}

lock requirements.txt requirements.lock "$@"
lock requirements-aws.txt requirements-aws.lock "$@"
lock requirements-tools.txt requirements-tools.lock "$@"
for image in web worker flower autoscaler; do
  lock "docker/requirements/$image.txt" "docker/requirements/$image.lock" \
    --constraint requirements.lock "$@"
done
