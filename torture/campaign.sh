#!/bin/sh
# The long torture campaign of docs/torture.md, as two lanes side by side:
#   lane A: Kill9DuringWrite (real SIGKILLs) for KILL9_S seconds from index FROM_KILL9 (KILL9_S=0: no lane A);
#   lane B: the eight simulated scenarios one after another (SIM_SPEC name:seconds:from; SIM_SPEC= runs none).
# It runs a snapshot of dist/ (copied to $OUT/snap) so rebuilds during the run change nothing,
# records the commit under test in every summary, and writes one JSON + HTML per lane and scenario.
# A later session continues a lane with FROM_* = the nextIndex its JSON shows
# (node dist/torture/summarize.js $OUT/*.json prints every piece's index range and refuses overlaps).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/torture/results/campaign-$(date -u +%Y%m%d)}
SEED=${SEED:-20261125}
KILL9_S=${KILL9_S:-7200}
FROM_KILL9=${FROM_KILL9:-0}
SIM_SPEC=${SIM_SPEC-"PowerLoss:3000:0 CrashDuringRecovery:1000:0 ByzantineStorage:400:0 RandomCorruption:300:0 IOErrorSweep:300:0 DiskFull:200:0 ClockJumpBackward:200:0 ConcurrentCorruption:200:0"}
COMMIT=$(git -C "$ROOT" rev-parse HEAD)$(git -C "$ROOT" diff --quiet HEAD -- lib shared workers torture || echo "+dirty")
mkdir -p "$OUT/snap"
OUT=$(cd "$OUT" && pwd) # the lanes cd into it
rm -rf "$OUT/snap/dist" && cp -r "$ROOT/dist" "$OUT/snap/dist" && cp "$ROOT/package.json" "$OUT/snap/"
[ -e "$OUT/snap/node_modules" ] || ln -s "$ROOT/node_modules" "$OUT/snap/node_modules"
CLI="nice -n ${NICE:-10} node $OUT/snap/dist/lib/cli/main.js torture --seed $SEED --commit $COMMIT --iterations 10000000 --no-progress"
cd "$OUT"
lane_a() {
  [ "$KILL9_S" = 0 ] && return 0
  $CLI --scenario Kill9DuringWrite --seconds "$KILL9_S" --from "$FROM_KILL9" --report "kill9-from$FROM_KILL9.html" > "kill9-from$FROM_KILL9.log" 2>&1 || true
}
lane_b() {
  for spec in $SIM_SPEC; do
    name=${spec%%:*}; rest=${spec#*:}; secs=${rest%%:*}; from=${rest#*:}
    $CLI --scenario "$name" --seconds "$secs" --from "$from" --report "sim-$name-from$from.html" > "sim-$name-from$from.log" 2>&1 || true
  done
}
echo "$(date -u +%FT%TZ) start seed $SEED commit $COMMIT" >> campaign.txt
lane_a & lane_b & wait
echo "$(date -u +%FT%TZ) end" >> campaign.txt
