/**
 * PowerLoss: one journaled run of the real sink over the simulated disk, then
 * a power loss after every op of it (0..J), each in several seeded variants:
 * drop every unsynced write, keep a random subset, reorder them, tear the last
 * one at a byte or at sectors, lose or keep pending creates/renames/unlinks
 * that no directory fsync covered. Every state is recovered with the real
 * recovery code and checked (with the seqs the device showed past the committed
 * end: exactly what recovery must report lost); one state per iteration is
 * reopened end to end (AuditSink.open, append, close): the gap written, the
 * log sealed at close, no seq the device showed given to another record.
 */

import path from 'node:path'
import { ackedAt, recoverAndCheck, reopenAndAppend } from '../crashcheck.js'
import { makeOracle } from '../events.js'
import { int } from '../prng.js'
import { describePolicy, randomPolicy } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, Replayer, type Scenario } from './common.js'

export const powerLoss: Scenario = {
  name: 'PowerLoss',
  description:
    'power loss after every storage op of a run: unsynced writes dropped, kept in part, reordered, torn; unsynced directory ops lost',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed })
    const count = ctx.quick ? int(ctx.rng, 20, 60) : int(ctx.rng, 60, 220)
    const run = await runSim({ dir, oracle, producer: 1, count, rng: ctx.rng, journal: ctx.journal })
    if (run.openError) r.failures.push({ message: `open of a new WAL failed: ${run.openError.message}` })
    if (run.rejected.length > 0)
      r.failures.push({
        message: `${run.rejected.length} emits rejected on a healthy disk, first: ${run.rejected[0]!.code}`,
      })
    r.acked = run.acks.length
    const variants = ctx.quick ? 2 : 8
    const rep = new Replayer(undefined, run.ops)
    for (let c = 0; c <= run.ops.length; c++) {
      const fs = rep.to(c)
      const acked = ackedAt(run.acks, c)
      const n = fs.quiescent() ? 1 : variants
      for (let v = 0; v < n; v++) {
        const policy = randomPolicy(ctx.rng)
        const state = fs.crash(policy, ctx.rng)
        const res = recoverAndCheck(state, dir, oracle, acked)
        r.crashStates++
        r.recovered += res.records
        if (res.outcome.rec?.tornTail) note(r, 'torn tails cut')
        if (res.outcome.rec?.zeroTail) note(r, 'zero tails cut')
        if (res.outcome.rec?.removedTmp.length) note(r, 'half-made segments removed')
        if (res.outcome.rec?.lost) note(r, 'seqs past the committed end reported lost')
        if (res.failures.length > 0) {
          r.failures.push({
            message: res.failures[0]!,
            detail: `crash after op ${c} of ${run.ops.length} (${run.ops[c - 1]?.k ?? 'start'}), ${describePolicy(policy)}, ${acked.length} acked; all: ${res.failures.join(' | ')}`,
            state: { dir, files: state, acked, salt: ctx.seed },
          })
          return r
        }
      }
    }
    // End to end on one state: the real writer reopens it and keeps appending.
    const c = int(ctx.rng, 0, run.ops.length)
    const policy = randomPolicy(ctx.rng)
    const state = new Replayer(undefined, run.ops).to(c).crash(policy, ctx.rng)
    const f = await reopenAndAppend({
      state,
      dir,
      oracle,
      ackedBefore: ackedAt(run.acks, c),
      producer: 2,
      count: int(ctx.rng, 1, 30),
      journal: ctx.journal,
      rng: ctx.rng,
    })
    note(r, 'reopened end to end')
    if (f.length > 0)
      r.failures.push({
        message: f[0]!,
        detail: `end-to-end reopen after op ${c}, ${describePolicy(policy)}; all: ${f.join(' | ')}`,
      })
    return r
  },
}
