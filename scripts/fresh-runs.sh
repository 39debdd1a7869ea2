#!/usr/bin/env bash
# Issue 19's check: a fresh clone of this repository at COMMIT (default HEAD), npm ci once, then
# `npm test` (README's command) N times in a row, one line per run in $LOG_DIR/fresh-runs.log.
#   scripts/fresh-runs.sh [COMMIT] [N]     (LOG_DIR default /tmp; the clone goes to $LOG_DIR/fresh-clone)
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
COMMIT=${1:-$(git -C "$REPO" rev-parse HEAD)}
N=${2:-10}
LOG_DIR=${LOG_DIR:-/tmp}
DIR=$LOG_DIR/fresh-clone
rm -rf $DIR && git clone -q "$REPO" $DIR && cd $DIR && git checkout -q $COMMIT
export SWITCHBOARD_REQUIRE_SERVICES=1
echo "commit $(git rev-parse --short HEAD) $(date -u +%FT%TZ)" > $LOG_DIR/fresh-runs.log
npm ci --no-audit --no-fund > $LOG_DIR/fresh-ci.log 2>&1 || { echo "npm ci failed" >> $LOG_DIR/fresh-runs.log; exit 1; }
for i in $(seq 1 $N); do
  start=$(date +%s)
  npm test > $LOG_DIR/fresh-run-$i.log 2>&1
  rc=$?
  end=$(date +%s)
  echo "run $i rc=$rc $((end-start))s $(grep -E '^# (tests|pass|fail|skipped)' $LOG_DIR/fresh-run-$i.log | tr '\n' ' ') $(date -u +%T)" >> $LOG_DIR/fresh-runs.log
done
echo done >> $LOG_DIR/fresh-runs.log
