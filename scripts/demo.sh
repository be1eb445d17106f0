#!/usr/bin/env bash
# make demo: back-tests the trailing stop on the seeded synthetic price path
# described in docs/replay.md, then says where the chart and events are.
#   scripts/demo.sh BUILD_DIR        (SEED=n to pick another path; default 42)
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
"$bin" genpath --seed "$seed" --output "$out/path.csv"
rm -f "$out/trailguard.db" "$out/trailguard.db-wal" "$out/trailguard.db-shm"
"$bin" replay --data "$out/path.csv" --symbol DEMOUSDT --store "$out/trailguard.db" \
  --events-jsonl "$out/events.jsonl" --chart "$out/chart.svg"
echo
echo "the journaled state (trailguard state list --all --store $out/trailguard.db):"
"$bin" state list --all --store "$out/trailguard.db"
echo
echo "price path  $root/$out/path.csv (seed $seed: a chop, a rally, a pullback; docs/replay.md)"
echo "events      $root/$out/events.jsonl (one engine event per line)"
echo "chart       $root/$out/chart.svg (open it in a browser)"
echo "store       $root/$out/trailguard.db (trailguard state show DEMOUSDT --store ...)"
