/**
 * CrashDuringRecovery: take a crash state that recovery has work on (a torn
 * tail to cut into a side file, a half-made segment to delete), journal what
 * the real recovery does, then lose power after each of its ops (in several
 * variants) and recover again; once per iteration crash a third time inside
 * that second recovery. Every end state must be correct, and must still show
 * every seq the first crash state showed (or record it as a gap): a crash
 * inside a cut never makes the next open hand a used seq out again.
 */

import path from 'node:path'
import { ackedAt, dirFiles, recoverAndCheck, recoverState } from '../crashcheck.js'
import { device } from '../seqs.js'
import { makeOracle } from '../events.js'
import { int } from '../prng.js'
import { describePolicy, type Files, randomPolicy, SimFs } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, Replayer, type Scenario } from './common.js'

function replayOnto(state: Files, ops: ReturnType<typeof recoverState>['ops'], upTo: number): SimFs {
  const fs = SimFs.from(state)
  for (let k = 0; k < upTo; k++) fs.apply(ops[k]!)
  return fs
}

export const recoveryCrash: Scenario = {
  name: 'CrashDuringRecovery',
  description:
    'power loss inside open(): while it deletes a half-made segment, writes the side file, cuts the torn tail; then again inside the next recovery',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed })
    const run = await runSim({
      dir,
      oracle,
      producer: 1,
      count: ctx.quick ? int(ctx.rng, 20, 60) : int(ctx.rng, 40, 160),
      rng: ctx.rng,
      journal: ctx.journal,
    })
    r.acked = run.acks.length
    const variants = ctx.quick ? 2 : 4
    const attempts = ctx.quick ? 4 : 12
    for (let a = 0; a < attempts; a++) {
      // A crash point with unsynced data, kept in part: recovery will have to cut.
      const c = int(ctx.rng, 1, run.ops.length)
      const fs0 = new Replayer(undefined, run.ops).to(c)
      if (fs0.quiescent()) continue
      const p0 = { ...randomPolicy(ctx.rng), dirOps: 'all' as const, keep: 0.5 + ctx.rng() / 2 }
      const state = fs0.crash(p0, ctx.rng)
      const acked = ackedAt(run.acks, c)
      const first = recoverState(state, dir)
      if (first.error !== undefined) {
        r.failures.push({
          message: `recovery refused a power-loss state: ${first.error.message}`,
          detail: `crash after op ${c}, ${describePolicy(p0)}`,
        })
        return r
      }
      if (first.ops.length === 0) continue
      // What the device showed before any recovery: a crash inside recovery must not make it forget a used seq.
      const history = [device(dirFiles(state, dir))]
      note(r, 'recoveries interrupted')
      if (first.rec!.lost) note(r, 'with seqs past the committed end to record as a gap')
      if (first.rec!.tornTail) note(r, 'with a torn tail to cut')
      if (first.rec!.zeroTail) note(r, 'with a zero tail to cut')
      if (first.rec!.removedTmp.length > 0) note(r, 'with a half-made segment to delete')
      for (let k = 0; k <= first.ops.length; k++) {
        const mid = replayOnto(state, first.ops, k)
        const n = mid.quiescent() ? 1 : variants
        for (let v = 0; v < n; v++) {
          const p1 = randomPolicy(ctx.rng)
          const s1 = mid.crash(p1, ctx.rng)
          const res = recoverAndCheck(s1, dir, oracle, acked, { history })
          r.crashStates++
          r.recovered += res.records
          if (res.failures.length > 0) {
            r.failures.push({
              message: res.failures[0]!,
              detail: `run crashed after op ${c} (${describePolicy(p0)}); recovery crashed after its op ${k} of ${first.ops.length} (${first.ops[k - 1]?.k ?? 'start'}), ${describePolicy(p1)}`,
              state: { dir, files: s1, acked, salt: ctx.seed, earlier: [state] },
            })
            return r
          }
          // Once per interrupted recovery: crash again inside the second one.
          if (v === 0 && k === Math.floor(first.ops.length / 2) && res.outcome.ops.length > 0) {
            const k2 = int(ctx.rng, 0, res.outcome.ops.length)
            const p2 = randomPolicy(ctx.rng)
            const s2 = replayOnto(s1, res.outcome.ops, k2).crash(p2, ctx.rng)
            const res2 = recoverAndCheck(s2, dir, oracle, acked, { history: [...history, res.before] })
            r.crashStates++
            note(r, 'second recoveries interrupted')
            if (res2.failures.length > 0) {
              r.failures.push({
                message: res2.failures[0]!,
                detail: `third recovery after crashes at run op ${c}, recovery op ${k}, second recovery op ${k2}`,
                state: { dir, files: s2, acked, salt: ctx.seed, earlier: [state, s1] },
              })
              return r
            }
          }
        }
      }
    }
    return r
  },
}
