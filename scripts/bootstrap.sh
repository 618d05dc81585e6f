#!/usr/bin/env bash
# Installs what the project needs and nothing else: the system packages the
# workers use (as root; otherwise it names them) and a virtualenv with the
# pinned Python packages. Safe to run again: it only does what is missing.
# --test also installs what only the tests use: Debian's chromium, which the
# browser tests drive with Playwright (Playwright never downloads a browser here),
# and a second virtualenv for command-line checks whose pins clash with ours
# (checkov: requirements-tools.txt into .venv-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
TOOLS_VENV=${TOOLS_VENV:-.venv-tools}
TOOLS=""
PYTHON=${PYTHON:-python3}
# WeasyPrint's libraries, harfbuzz's subsetter (without it CJK PDFs are ~30x
# slower), Japanese fonts, the PostgreSQL client for the benchmarks and
# poppler's pdftotext/pdffonts, which the tests read PDFs with.
SYSTEM_PACKAGES="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-noto-cjk postgresql-client poppler-utils"
TEST_PACKAGES="chromium"
for arg in "$@"; do
  case "$arg" in
    --test) SYSTEM_PACKAGES="$SYSTEM_PACKAGES $TEST_PACKAGES"; TOOLS=1 ;;
    *) echo "usage: $0 [--test]" >&2; exit 2 ;;
  esac
done

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

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
stamp="$VENV/.requirements.sha256"
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> installing Python packages (requirements.txt)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  echo "$want" > "$stamp"
fi

if [ -n "$TOOLS" ]; then
  if [ ! -x "$TOOLS_VENV/bin/python" ]; then
    echo "==> creating virtualenv $TOOLS_VENV (checks with pins of their own)"
    "$PYTHON" -m venv "$TOOLS_VENV"
  fi
  stamp="$TOOLS_VENV/.requirements.sha256"
  want=$(sha256sum requirements-tools.txt | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "==> installing the checks (requirements-tools.txt)"
    "$TOOLS_VENV/bin/python" -m pip install -q --upgrade pip
    "$TOOLS_VENV/bin/python" -m pip install -q -r requirements-tools.txt
    echo "$want" > "$stamp"
  fi
fi
