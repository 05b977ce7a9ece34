// Kill9DuringWrite's per-life guard: a life that never reaches its kill point
// (no open, no close, emits that never settle) is a hang, reported as a failure
// of the iteration, and the guard's own SIGKILL is not counted as a kill of the
// schedule. Driven with a real child process that hangs
// (test/helpers/hanging-kill9-child.ts) and a guard of 300 ms instead of 20 s.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Kill9Job } from '../../torture/kill9-child.js'
import { runIteration } from '../../torture/runner.js'
import { ChildPool, life, makeKill9 } from '../../torture/scenarios/kill9.js'

const HANGING = fileURLToPath(new URL('../helpers/hanging-kill9-child.js', import.meta.url))
const LIFE_MS = 300
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-torture-kill9-'))
const job: Kill9Job = { dir: path.join(base, 'wal'), p0: 4, perThread: 10, inflight: 1, salt: 1, opts: {} }

test('a life whose child never opens is a hang in every mode that waits for a later point', async () => {
  const pool = new ChildPool(HANGING)
  try {
    for (const [mode, what] of [
      ['opening', 'kill point'],
      ['running', 'open'],
      ['closing', 'close (every emit settled)'],
    ] as const) {
      const L = await life(pool, job, mode, 0, LIFE_MS)
      assert.ok(L.hung, `${mode}: hung`)
      assert.is(L.signal, 'SIGKILL', `${mode}: the guard killed it`)
      assert.equal(L.errors, [`hang: no ${what} within 0.3 s`], mode)
      assert.is(L.opened, undefined)
      assert.equal(L.acks, [])
    }
  } finally {
    await pool.close()
  }
})

test('an early kill of the same child lands as scheduled: not a hang, no error', async () => {
  const pool = new ChildPool(HANGING)
  try {
    const L = await life(pool, job, 'early', 0, LIFE_MS)
    assert.not.ok(L.hung)
    assert.is(L.signal, 'SIGKILL')
    assert.equal(L.errors, [])
  } finally {
    await pool.close()
  }
})

test('in the scenario a hung life fails the iteration, and only the scheduled kills before it count', async () => {
  const scenario = makeKill9({ child: HANGING, lifeMsMax: LIFE_MS })
  try {
    const seed = 7
    const { result } = await runIteration(scenario, seed, true)
    console.log(`# seed ${seed}`)
    assert.is(result.failures.length, 1, 'one failure: the hang')
    const m = /^life (\d+)\/3 \((\w+) \+\d+ ms.*\): hang: no .* within 0\.3 s$/.exec(result.failures[0]!.message)
    assert.ok(m, result.failures[0]!.message)
    const hungLife = Number(m[1])
    assert.is.not(m[2], 'early')
    // Lives before the hung one can only have been early kills (anything else hangs too).
    assert.is(result.kills, hungLife - 1, 'the guard kill is not a kill')
    assert.is(result.notes['killed early'] ?? 0, hungLife - 1)
    assert.is(result.crashStates, hungLife - 1, 'each early kill was checked')
  } finally {
    await scenario.teardown?.()
  }
})

test.after(() => fs.rmSync(base, { recursive: true, force: true }))

test.run()
