#!/usr/bin/env bash
# The README's test command as a slow machine runs it: a fresh clone of this checkout's HEAD,
# venv + install + the suite, all on one core that a busy loop shares (`taskset -c CORE`).
# Prints the seconds of the whole command and of the suite alone.
#
#   bash scripts/slow_check.sh [CORE]          # CORE default 0
set -euo pipefail
CORE=${1:-0}
SRC=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'kill $BUSY 2>/dev/null || true; rm -rf "$WORK"' EXIT
git clone -q "$SRC" "$WORK/ssr"
# the datasets are found at ../shared from the checkout, as in CI
[ -d "$SRC/../shared" ] && ln -s "$SRC/../shared" "$WORK/shared"
taskset -c "$CORE" yes > /dev/null & BUSY=$!
cd "$WORK/ssr"
t0=$(date +%s)
taskset -c "$CORE" bash -c 'python3 -m venv .venv && . .venv/bin/activate && pip install -q torch==2.13.0 -e ".[test]" > pip.log 2>&1'
t1=$(date +%s)
set +e
taskset -c "$CORE" .venv/bin/python -m pytest -p no:cacheprovider > pytest.log 2>&1
rc=$?
set -e
t2=$(date +%s)
grep -E "^(FAILED|ERROR) " pytest.log || true
grep -E "[0-9]+ (passed|failed)" pytest.log | tail -1
echo "exit status $rc; whole command $((t2 - t0)) s (install $((t1 - t0)) s, suite $((t2 - t1)) s) on core $CORE beside a busy loop"
exit $rc
