#!/usr/bin/env bash
# make demo: the daemon live. trailguard demo starts the loopback emulator
# with a Binance and a Bybit account holding long and short positions, runs
# the real daemon (trailguard run) against it over real sockets, SIGKILLs and
# restarts it halfway, opens a position while it runs, and ends with a
# summary (src/cli/cmd_demo.c). Then it back-tests one trailing stop on the
# seeded path of docs/replay.md, as before.
#   scripts/demo.sh BUILD_DIR   (DEMO_SECONDS=n, default 60; SEED=n, default 42)
set -euo pipefail
build=$(cd "${1:?usage: scripts/demo.sh BUILD_DIR}" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$build/trailguard"
seed=${SEED:-42}
if [ ! -x "$bin" ]; then
  echo "demo: $bin not found; build first (make build)" >&2
  exit 1
fi
cd "$root"
out=demo-out
mkdir -p "$out"
"$bin" demo --duration "${DEMO_SECONDS:-60}" --seed "$seed"
echo
echo "== back-test of the same engine on a seeded path (trailguard replay)"
"$bin" genpath --seed "$seed" --output "$out/path.csv"
rm -f "$out/replay.db" "$out/replay.db-wal" "$out/replay.db-shm"
"$bin" replay --data "$out/path.csv" --symbol DEMOUSDT --store "$out/replay.db" \
  --events-jsonl "$out/events.jsonl" --chart "$out/chart.svg" --quiet
echo "price path  $root/$out/path.csv (seed $seed: a chop, a rally, a pullback; docs/replay.md)"
echo "events      $root/$out/events.jsonl (one engine event per line)"
echo "chart       $root/$out/chart.svg (open it in a browser)"
