/**
 * Fuzz: one mutated log per iteration (torture/fuzz.ts is the engine,
 * torture/fuzz-mutate.ts the mutations, torture/fuzz-bases.ts the real logs
 * they start from). The bases are built once per process, on first use, and
 * removed at teardown. Every case runs verifyLog and readLog; salvage, export
 * and recover run on every case in --quick (the suite's sizes) and on one case
 * in MTLOG_FUZZ_FULL_EVERY (default 1: all) otherwise, so a long run can
 * trade depth for count and say so. A failing case prints its mutations;
 * `mtlog-audit torture --scenario Fuzz --replay <seed>` runs it again (exactly
 * when MTLOG_FUZZ_BASES names the directory the bases were kept in).
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { FuzzEngine } from '../fuzz.js'
import { mix } from '../prng.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

/** Mutated logs per iteration, run side by side (so reads overlap on a loaded machine). */
export const CASES_PER_ITERATION = Number(process.env.MTLOG_FUZZ_PARALLEL ?? 1)

let engine: Promise<FuzzEngine> | undefined
let root: string | undefined

function fullEvery(): number {
  const n = Number(process.env.MTLOG_FUZZ_FULL_EVERY ?? 1)
  return Number.isSafeInteger(n) && n >= 1 ? n : 1
}

export const fuzz: Scenario = {
  name: 'Fuzz',
  description:
    'mutated copies of real logs (bit flips, byte runs, cuts, zeroed ranges, removed/duplicated/renamed/reordered segments and records, header and CRC-valid edits, stray and special files, huge lengths) through verifyLog, readLog, salvage, export and recover: coded errors only, no hang, never ok for data the log shows was acknowledged, never an event the original does not hold',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    if (engine === undefined) {
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-fuzz-'))
      engine = FuzzEngine.create(root, (l) => process.stderr.write(`${l}\n`))
    }
    const e = await engine
    const every = fullEvery()
    // CASES_PER_ITERATION cases side by side: their reads overlap, each from its own seed.
    const results = await Promise.all(
      Array.from({ length: CASES_PER_ITERATION }, (_, k) => {
        const seed = mix(ctx.seed, k)
        const full = ctx.quick || seed % every === 0
        return e.runCase(seed, { full }, path.join(ctx.workDir, `case-${k}`)).then((c) => ({ c, seed, full }))
      }),
    )
    for (const { c, seed, full } of results) {
      r.crashStates++
      note(r, `verdict ${c.verdict}`)
      if (c.undetectable !== undefined) note(r, `undetectable ${c.undetectable}`)
      if (full) note(r, 'full (salvage, export, recover)')
      for (const k of c.kinds) note(r, `mutation ${k}`)
      for (const [k, v] of Object.entries(c.notes)) note(r, k, v)
      for (const f of c.failures) {
        note(r, `failed ${f.kind}`)
        r.failures.push({
          message: `${f.kind} (case seed ${seed}): ${f.message} [base ${c.base}; ${c.what.join('; ')}]${c.kept ? ` (kept: ${c.kept})` : ''}`,
        })
      }
    }
    return r
  },
  async teardown(): Promise<void> {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true })
    engine = undefined
    root = undefined
  },
}
