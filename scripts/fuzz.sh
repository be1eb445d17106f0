#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD/fuzz for SECONDS seconds each,
# starting from the seed corpus in fuzz/corpus/<target>/ when there is one.
# Targets run JOBS at a time (default: the number of cores).
set -euo pipefail
build=${1:?build dir}
seconds=${2:-60}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# One target: its log and status land in $out/<name>.{log,status}.
fuzz_one() {
  local bin=$1 name work seeds
  name=$(basename "$bin")
  work=$(mktemp -d)
  seeds="$root/fuzz/corpus/$name"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/
  if "$bin" -max_total_time="$seconds" -print_final_stats=1 "$work" >"$out/$name.log" 2>&1; then
    echo 0 >"$out/$name.status"
  else
    echo 1 >"$out/$name.status"
  fi
  rm -rf "$work"
}

running=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  echo "fuzzing $(basename "$bin") for ${seconds}s"
  fuzz_one "$bin" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

status=0
for log in "$out"/*.log; do
  [ -e "$log" ] || continue
  name=$(basename "$log" .log)
  if [ "$(cat "$out/$name.status" 2>/dev/null)" = 0 ]; then
    echo "$name: $(grep -E 'stat::number_of_executed_units' "$log" | tail -n 1 | tr -s ' ')"
  else
    echo "$name: FAILED"
    tail -n 40 "$log"
    status=1
  fi
done
exit $status
