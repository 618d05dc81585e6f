#!/usr/bin/env bash
# Installs what the project needs and nothing else: the system packages the
# workers use (as root; otherwise it names them) and a virtualenv with the
# Python packages of requirements.lock, every one pinned and checked against its
# hash (scripts/lock.sh writes the locks). Safe to run again: it only does what
# is missing.
# --test also installs what only the tests use: Debian's chromium, which the
# browser tests drive with Playwright (Playwright never downloads a browser here),
# the AWS CLI that deploy/deploy.sh runs, in a virtualenv of its own ($AWS_VENV,
# from requirements-aws.lock), checks whose pins clash with ours (checkov:
# requirements-tools.lock into $TOOLS_VENV), and the IAM policy evaluator the
# deployed-stack tests decide every AWS call with (Node.js; tests/support/iam).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
AWS_VENV=${AWS_VENV:-.venv-aws}
TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
PYTHON=${PYTHON:-python3}
# WeasyPrint's libraries, harfbuzz's subsetter (without it CJK PDFs are ~30x
# slower), Japanese fonts, the PostgreSQL client for the benchmarks and
# poppler's pdftotext/pdffonts, which the tests read PDFs with.
SYSTEM_PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-noto-cjk postgresql-client poppler-utils"
TEST_PACKAGES="chromium"
TEST=""
for arg in "$@"; do
  case "$arg" in
    --test) SYSTEM_PACKAGES="$SYSTEM_PACKAGES $TEST_PACKAGES"; TEST=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done
# Node.js for the IAM evaluator: Debian's, unless the machine has one already.
if [ -n "$TEST" ] && ! command -v npm >/dev/null 2>&1; then
  SYSTEM_PACKAGES="$SYSTEM_PACKAGES nodejs npm"
fi

missing=""
if command -v dpkg-query >/dev/null 2>&1; then
  for pkg in $SYSTEM_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
  done
fi
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing system packages:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "!! missing system packages:$missing" >&2
    echo "!! install them with: sudo apt-get install$missing" >&2
  fi
fi

# install_venv DIR LOCK: a virtualenv at DIR holding exactly the versions LOCK
# pins, each file checked against LOCK's hashes.
install_venv() {
  local venv=$1 lock=$2 stamp want
  if [ ! -x "$venv/bin/python" ]; then
    echo "==> creating virtualenv $venv"
    "$PYTHON" -m venv "$venv"
  fi
  stamp="$venv/.requirements.sha256"
  want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing Python packages ($lock into $venv)"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q --require-hashes -r "$lock"
    echo "$want" > "$stamp"
  fi
}

install_venv "$VENV" requirements.lock
if [ -n "$TEST" ]; then
  install_venv "$AWS_VENV" requirements-aws.lock
  install_venv "$TOOLS_VENV" requirements-tools.lock
  evaluator=tests/support/iam
  stamp="$evaluator/node_modules/.lock.sha256"
  want=$(sha256sum "$evaluator/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing the IAM policy evaluator ($evaluator, npm ci)"
    (cd "$evaluator" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
fi
