#!/bin/sh
# The long campaign of docs/torture.md, run from a snapshot of dist/ so rebuilds do not change it mid-run.
cd "$(dirname "$0")"
CLI="node snap/dist/lib/cli.js torture"
SEED=${SEED:-20261123}
lane_a() {
  $CLI --scenario Kill9DuringWrite --iterations 1000000 --seconds ${KILL9_S:-3000} --seed $SEED --report kill9.html --json kill9.json > kill9.log 2>&1
}
lane_b() {
  for spec in PowerLoss:1500 CrashDuringRecovery:500 IOErrorSweep:250 DiskFull:150 RandomCorruption:150 ClockJumpBackward:120 ByzantineStorage:200 ConcurrentCorruption:130; do
    name=${spec%%:*}; secs=${spec##*:}
    $CLI --scenario $name --iterations 1000000 --seconds $secs --seed $SEED --report sim-$name.html --json sim-$name.json > sim-$name.log 2>&1
  done
}
date -u +%FT%TZ > started.txt
lane_a & lane_b & wait
date -u +%FT%TZ > finished.txt
