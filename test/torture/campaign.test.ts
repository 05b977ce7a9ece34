// A long campaign is cut into pieces (lanes with --shard k/K, later sessions
// with --from I); the pieces must name exactly the iterations they ran, and
// adding them up must never count one iteration twice.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCampaign, runIteration, type CampaignSummary } from '../../torture/runner.js'
import type { Scenario } from '../../torture/scenarios/common.js'
import { indicesOf, mergePieces } from '../../torture/summarize.js'

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-torture-campaign-'))
const quiet = (): void => undefined

async function piece(shard: { k: number; of: number }, from: number, iterations: number): Promise<CampaignSummary> {
  return runCampaign({
    scenarios: ['ClockJumpBackward'],
    iterations,
    seed: 77,
    shard,
    from,
    quick: true,
    progress: false,
    command: 'test',
    commit: 'test-commit',
    log: quiet,
    reportJson: path.join(base, `p-${shard.k}-${shard.of}-${from}.json`),
  })
}

test('a shard runs the indices i ≡ k (mod K) from the first one ≥ from, and its summary says so', async () => {
  const c = await piece({ k: 1, of: 3 }, 5, 2)
  const s = c.scenarios[0]!
  assert.is(c.commit, 'test-commit')
  assert.equal(c.shard, { k: 1, of: 3 })
  assert.is(s.iterations, 2)
  assert.is(s.firstIndex, 7) // 5 → the first index ≥ 5 with i mod 3 = 1
  assert.is(s.nextIndex, 13)
  assert.is(s.step, 3)
  assert.equal(indicesOf(s), [7, 10])
  assert.is(s.failures.length, 0)
  const written = JSON.parse(fs.readFileSync(path.join(base, 'p-1-3-5.json'), 'utf8')) as CampaignSummary
  assert.equal(indicesOf(written.scenarios[0]!), [7, 10])
})

test('pieces add up; a piece that repeats an iteration is refused', async () => {
  const a = await piece({ k: 0, of: 2 }, 0, 2) // 0, 2
  const b = await piece({ k: 1, of: 2 }, 0, 2) // 1, 3
  const c = await piece({ k: 0, of: 1 }, 4, 1) // 4
  const asPieces = (x: CampaignSummary, file: string) =>
    x.scenarios.map((s) => ({ ...s, file, seed: x.seed, commit: x.commit }))
  const merged = mergePieces([...asPieces(a, 'a'), ...asPieces(b, 'b'), ...asPieces(c, 'c')])
  const m = merged.get('ClockJumpBackward')!
  assert.is(m.total.iterations, 5)
  assert.is(
    m.total.crashStates,
    a.scenarios[0]!.crashStates + b.scenarios[0]!.crashStates + c.scenarios[0]!.crashStates,
  )
  const again = await piece({ k: 0, of: 1 }, 3, 1) // 3 again: b ran it
  assert.throws(
    () => mergePieces([...asPieces(b, 'b'), ...asPieces(again, 'again')]),
    /iteration 3 of ClockJumpBackward \(seed 77\) is in both b and again/,
  )
})

test('a bad shard is refused before anything runs', async () => {
  try {
    await piece({ k: 3, of: 3 }, 0, 1)
    assert.unreachable('shard 3/3 was accepted')
  } catch (err) {
    assert.match((err as Error).message, /bad shard 3\/3/)
  }
})

test('the watchdog: an iteration that never settles is a hang, recorded with its directory kept', async () => {
  const never: Scenario = { name: 'Never', description: 'never settles', run: () => new Promise(() => undefined) }
  const h = await runIteration(never, 5, true, false, 200)
  assert.ok(h.hung)
  assert.match(h.result.failures[0]!.message, /^hang: the iteration did not finish within 0.2 s/)
  assert.ok(fs.existsSync(h.workDir), 'the hung iteration keeps its directory')
  fs.rmSync(h.workDir, { recursive: true, force: true })
  const quick: Scenario = {
    name: 'Quick',
    description: 'settles at once',
    run: async () => ({ crashStates: 1, kills: 0, acked: 0, recovered: 0, failures: [], notes: {} }),
  }
  const q = await runIteration(quick, 5, true, false, 200)
  assert.not.ok(q.hung)
  assert.is(q.result.crashStates, 1)
  assert.not.ok(fs.existsSync(q.workDir), 'a passing iteration leaves nothing behind')
})

test('a hang ends the campaign: the summary names the scenario, iteration and seed, and counts it as a failure', async () => {
  // A watchdog of 1 ms is shorter than any real iteration, so the first one "hangs".
  const c = await runCampaign({
    scenarios: ['ClockJumpBackward', 'DiskFull'],
    iterations: 3,
    seed: 77,
    quick: true,
    progress: false,
    command: 'test',
    log: quiet,
    iterationMsMax: 1,
    reportJson: path.join(base, 'hung.json'),
  })
  assert.equal(c.hung?.scenario, 'ClockJumpBackward')
  assert.is(c.hung?.iteration, 0)
  assert.is(c.scenarios.length, 1, 'the campaign stopped at the hang: DiskFull never started')
  assert.is(c.scenarios[0]!.iterations, 1)
  assert.is(c.totals.failures, 1)
  assert.match(c.scenarios[0]!.failures[0]!.message, /^hang: /)
  assert.equal((JSON.parse(fs.readFileSync(path.join(base, 'hung.json'), 'utf8')) as CampaignSummary).hung, c.hung)
  const kept = /directory kept: (.*)\)$/.exec(c.scenarios[0]!.failures[0]!.message)![1]!
  await new Promise((resolve) => setTimeout(resolve, 3000)) // the abandoned iteration finishes on its own
  fs.rmSync(kept, { recursive: true, force: true })
})

test.after(() => fs.rmSync(base, { recursive: true, force: true }))

test.run()
