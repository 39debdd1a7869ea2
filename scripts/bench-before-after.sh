#!/usr/bin/env bash
# The pairs knee with receipts on two checkouts, same load generator (this one's): BEFORE_DIR=/path/to/built/old/checkout scripts/bench-before-after.sh
# (docs/BENCHMARKS.md, "The send path before and after issues 20-24").
set -u
run() {
  local tag=$1 dir=$2 port=$3
  local data; data=$(mktemp -d)
  ( cd "$dir" && PORT=$port HOST=127.0.0.1 DATA_DIR=$data LOG_LEVEL=warn PASSWORD_HASH_KIB=1024 RATE_LIMITS=off exec node packages/cli/dist/main.js serve ) &
  local pid=$!
  for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/healthz >/dev/null && break; sleep 0.2; done
  local spid; spid=$(pgrep -P $pid node || echo $pid)
  echo "=== $tag ($dir @ $(cd $dir && git rev-parse --short HEAD)) server pid $spid"
  (cd ${AFTER_DIR:-$(pwd)} && node packages/bench/dist/main.js pairs --url http://127.0.0.1:$port --pid $spid --rates 1000,1500,2000,2500,3000,4000 --step-seconds 8 2>&1 | tail -25)
  kill $spid $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data"
}
lscpu | grep 'Model name'; uptime
run before ${BEFORE_DIR:?a checkout of the before commit, built} 18101
run after ${AFTER_DIR:-$(pwd)} 18102
run before ${BEFORE_DIR:?a checkout of the before commit, built} 18103
run after ${AFTER_DIR:-$(pwd)} 18104
