// The mutated-log fuzzer in npm test: real logs written with the public API
// (torture/fuzz-bases.ts), seeded mutations of copies of their files
// (torture/fuzz-mutate.ts), each mutated directory through verifyLog, readLog,
// and on every FULL_EVERY-th case salvage, export and recover too, judged by
// torture/fuzz.ts from the original bytes: coded errors only, no hang, never
// "ok" for data the log shows was acknowledged, never an event the original
// does not hold at its seq. The long run: `mtlog-audit torture --scenario Fuzz`
// (docs/torture.md).
//
// Seeded: FUZZ_SEED=<n> replays the run, FUZZ_SEED=<n> FUZZ_CASE=<i> one case;
// FUZZ_CASES=<n> changes the count (default 2000).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { seedFrom } from '../helpers/load.js'
import { type CaseResult, FuzzEngine, lossEvidence } from '../../torture/fuzz.js'
import { MUTATION_KINDS, type Entry } from '../../torture/fuzz-mutate.js'
import { mix } from '../../torture/prng.js'

const seed = seedFrom('FUZZ_SEED')
const only = process.env.FUZZ_CASE === undefined ? undefined : Number(process.env.FUZZ_CASE)
const CASES = Number(process.env.FUZZ_CASES ?? 2000)
const FULL_EVERY = 8
const SIDE_BY_SIDE = 4
console.log(`fuzz seed=${seed} (replay with FUZZ_SEED=${seed}; one case with FUZZ_CASE=<i> too)`)

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-fuzz-test-'))
let engine: FuzzEngine

test.before(async () => {
  engine = await FuzzEngine.create(root, (l) => console.log(l))
})
test.after(() => fs.rmSync(root, { recursive: true, force: true }))

test('the bases are real logs of every kind: sealed, rotated, reopened, crashed, raw crash states, with gaps', () => {
  const names = engine.baseNames
  for (const want of ['closed', 'rotated', 'reopened', 'crashed', 'crash-only'])
    assert.ok(names.includes(want), names.join())
  const rotated = engine.oracles.find((o) => o.info.base.name === 'rotated')!
  assert.ok(rotated.info.parsed.segments.length >= 2, 'rotated has several segments')
  assert.ok(rotated.info.parsed.sealed, 'a closed log is sealed')
  const crashed = engine.oracles.find((o) => o.info.base.name === 'crashed')!
  assert.not.ok(crashed.info.parsed.sealed, 'a SIGKILLed log is not sealed')
  if (names.some((n) => n.startsWith('healed-')))
    assert.ok(
      engine.oracles.some((o) => o.gaps.length > 0),
      'a healed crash state holds a gap record',
    )
})

test('the oracle sees acknowledged loss: a later batch or a later header standing means evidence', () => {
  const o = engine.oracles.find((x) => x.info.base.name === 'rotated')!
  const files = (): Map<string, Entry> =>
    new Map([...o.info.base.files].map(([n, bytes]) => [n, { kind: 'file', bytes }]))
  const segs = o.info.parsed.segments
  const firstEnd = o.recs.filter((r) => r.segment === segs[0]).at(-1)!.lastSeq
  // A middle segment deleted: the later segment's header and records still stand.
  const gone = files()
  gone.delete(segs[1]!)
  const e1 = lossEvidence(o, gone, firstEnd)
  assert.ok(e1.lost && e1.evidence !== undefined, JSON.stringify(e1))
  // The last segment cut at a batch boundary: lost, and nothing shows it.
  const last = segs.at(-1)!
  const lastRecs = o.recs.filter((r) => r.segment === last)
  const cutAt = lastRecs.find((r, i) => i > 0 && lastRecs[i - 1]!.flags & 1)!
  const cut = files()
  cut.set(last, { kind: 'file', bytes: o.info.base.files.get(last)!.subarray(0, cutAt.offset) })
  const e2 = lossEvidence(o, cut, cutAt.seq - 1)
  assert.ok(e2.lost && e2.evidence === undefined, JSON.stringify(e2))
  // The first batch of the last segment zeroed, the rest standing: evidence.
  const zeroed = files()
  const b = Buffer.from(o.info.base.files.get(last)!)
  b.fill(0, lastRecs[0]!.offset, lastRecs[0]!.end)
  zeroed.set(last, { kind: 'file', bytes: b })
  const e3 = lossEvidence(o, zeroed, lastRecs[0]!.seq - 1)
  assert.ok(e3.lost && e3.evidence !== undefined, JSON.stringify(e3))
  // Nothing lost: no loss.
  assert.equal(lossEvidence(o, files(), o.info.parsed.lastSeq), { lost: false })
})

test(`${only === undefined ? CASES : 1} mutated logs through verify, readLog, salvage, export and recover`, async () => {
  const counts: Record<string, number> = {}
  const add = (k: string): void => {
    counts[k] = (counts[k] ?? 0) + 1
  }
  const failures: string[] = []
  const indices = only === undefined ? Array.from({ length: CASES }, (_, i) => i) : [only]
  for (let i = 0; i < indices.length; i += SIDE_BY_SIDE) {
    const batch = indices.slice(i, i + SIDE_BY_SIDE)
    const results: [number, CaseResult][] = await Promise.all(
      batch.map(
        async (k) => [k, await engine.runCase(mix(seed, k), { full: k % FULL_EVERY === 0 })] as [number, CaseResult],
      ),
    )
    for (const [k, c] of results) {
      add(`verdict ${c.verdict}`)
      if (c.undetectable !== undefined) add(`undetectable ${c.undetectable}`)
      for (const m of c.kinds) add(`mutation ${m}`)
      for (const f of c.failures)
        failures.push(
          `case ${k} (FUZZ_SEED=${seed} FUZZ_CASE=${k}) ${f.kind}: ${f.message}\n    base ${c.base}; ${c.what.join('; ')}${c.kept ? ` (kept: ${c.kept})` : ''}`,
        )
    }
  }
  console.log(JSON.stringify(counts, Object.keys(counts).sort(), 1))
  assert.equal(failures, [], failures.slice(0, 10).join('\n'))
  if (only === undefined && CASES >= 1000) {
    // The run exercised what it claims to: every mutation kind, refusals, intact answers and undetectable loss.
    for (const k of MUTATION_KINDS) assert.ok((counts[`mutation ${k}`] ?? 0) > 0, `mutation ${k} never applied`)
    assert.ok((counts['verdict detected'] ?? 0) > 0)
    assert.ok((counts['verdict intact'] ?? 0) > 0)
    assert.ok((counts['verdict undetectable'] ?? 0) > 0)
  }
})

test.run()
