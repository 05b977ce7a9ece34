// The short torture campaign that npm test runs: every scenario of torture/
// (the same code `mtlog-audit torture` runs), with short-campaign sizes and a
// few iterations each, one test per scenario, zero failures expected.
// The long campaign and its numbers: docs/torture.md.
//
// Seeded: TORTURE_SEED=<n> replays this campaign; every failure prints the
// iteration seed and the command that reruns just that iteration.
// TORTURE_SCALE=<x> multiplies the iteration counts (default 1).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { seedFrom } from '../helpers/load.js'
import { runCampaign, SCENARIOS } from '../../torture/runner.js'

const seed = seedFrom('TORTURE_SEED')
const scale = Number(process.env.TORTURE_SCALE ?? 1)
console.log(`torture seed=${seed} (replay with TORTURE_SEED=${seed})`)

// Iterations per scenario, sized so the whole file takes 1-1.5 minutes on 2 idle cores (under 3 when they are busy).
const ITER: Record<string, number> = {
  Kill9DuringWrite: 15,
  Kill9DuringCheckpoint: 2,
  PowerLoss: 50,
  IOErrorSweep: 3,
  DiskFull: 10,
  RandomCorruption: 12,
  ClockJumpBackward: 25,
  ByzantineStorage: 50,
  ConcurrentCorruption: 6,
  CrashDuringRecovery: 50,
  EncryptedLog: 4,
  StaleLockRace: 4,
  // test/torture/fuzz.test.ts runs the fuzzer on 2,000 cases: one iteration here checks the scenario wiring.
  Fuzz: 1,
}

for (const s of SCENARIOS) {
  test(`${s.name}: ${s.description}`, async () => {
    const iterations = Math.max(1, Math.round((ITER[s.name] ?? 5) * scale))
    const sum = await runCampaign({
      scenarios: [s.name],
      iterations,
      seed,
      quick: true,
      progress: false,
      command: `TORTURE_SEED=${seed} node dist/test/torture/torture.test.js`,
      log: () => undefined,
    })
    const sc = sum.scenarios[0]!
    console.log(
      `  ${s.name}: ${sc.iterations} iterations, ${sc.kills} real SIGKILLs, ${sc.crashStates} states checked, ${sc.acked} acked, ${sc.failures.length} failures, ${sc.seconds.toFixed(1)} s; ${Object.entries(
        sc.notes,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}${sc.skipped.length ? `; skipped: ${[...new Set(sc.skipped)].join('; ')}` : ''}`,
    )
    assert.is(sc.iterations, iterations)
    const f = sc.failures[0]
    assert.ok(
      f === undefined,
      f &&
        `${sc.failures.length} failures; first: iteration ${f.iteration} seed ${f.seed}: ${f.message}\n  replay: ${f.replay}\n  evidence: ${f.detail ?? ''}`,
    )
    if (s.name === 'Kill9DuringWrite') assert.ok(sc.kills > 0, 'no real SIGKILL happened')
    else if (s.name !== 'ConcurrentCorruption') assert.ok(sc.crashStates > 0, 'no state was checked')
  })
}

test.run()
