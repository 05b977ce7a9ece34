// A long campaign is cut into pieces (lanes with --shard k/K, later sessions
// with --from I); the pieces must name exactly the iterations they ran, and
// adding them up must never count one iteration twice.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { runCampaign, type CampaignSummary } from '../torture/runner.js'
import { indicesOf, mergePieces } from '../torture/summarize.js'

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-torture-campaign-'))
const quiet = (): void => undefined

async function piece(shard: { k: number; of: number }, from: number, iterations: number): Promise<CampaignSummary> {
  return runCampaign({
    scenarios: ['ClockJumpBackward'], iterations, seed: 77, shard, from, quick: true, progress: false, command: 'test', commit: 'test-commit', log: quiet,
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
  const asPieces = (x: CampaignSummary, file: string) => x.scenarios.map((s) => ({ ...s, file, seed: x.seed, commit: x.commit }))
  const merged = mergePieces([...asPieces(a, 'a'), ...asPieces(b, 'b'), ...asPieces(c, 'c')])
  const m = merged.get('ClockJumpBackward')!
  assert.is(m.total.iterations, 5)
  assert.is(m.total.crashStates, a.scenarios[0]!.crashStates + b.scenarios[0]!.crashStates + c.scenarios[0]!.crashStates)
  const again = await piece({ k: 0, of: 1 }, 3, 1) // 3 again: b ran it
  assert.throws(() => mergePieces([...asPieces(b, 'b'), ...asPieces(again, 'again')]), /iteration 3 of ClockJumpBackward \(seed 77\) is in both b and again/)
})

test('a bad shard is refused before anything runs', async () => {
  try {
    await piece({ k: 3, of: 3 }, 0, 1)
    assert.unreachable('shard 3/3 was accepted')
  } catch (err) {
    assert.match((err as Error).message, /bad shard 3\/3/)
  }
})

test.after(() => fs.rmSync(base, { recursive: true, force: true }))

test.run()
