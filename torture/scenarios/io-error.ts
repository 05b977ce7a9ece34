/**
 * IOErrorSweep (SQLite's I/O-error loop): a short workload on a log that needs
 * recovery (a torn tail), then the same workload again with the k-th I/O call
 * failing, for every k the workload makes — open and recovery included — once
 * and persistently. The sink must fail closed, never acknowledge what is not
 * durable, keep every earlier acknowledgement, and reopen cleanly afterwards.
 */

import path from 'node:path'
import { ackedAt, reopenAndAppend } from '../crashcheck.js'
import { makeOracle } from '../events.js'
import { journalIoCalls } from '../journal.js'
import { int, pick } from '../prng.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, Replayer, type Scenario } from './common.js'
import { checkFaultedRun } from './faults-common.js'

export const ioError: Scenario = {
  name: 'IOErrorSweep',
  description:
    'the k-th I/O call fails (EIO/ENOSPC/EROFS), for every k of a workload including open and recovery, once and persistently',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed })
    // A log with a torn tail, so open has recovery work (side file, cut) to fail in.
    const base = await runSim({
      dir,
      oracle,
      producer: 1,
      count: int(ctx.rng, 5, 30),
      rng: ctx.rng,
      journal: ctx.journal,
    })
    let c = base.ops.length
    for (let t = 0; t < 20; t++) {
      const k = int(ctx.rng, 1, base.ops.length)
      if (base.ops[k - 1]?.k === 'write') {
        c = k
        break
      }
    }
    const initial = new Replayer(undefined, base.ops)
      .to(c)
      .crash({ dirOps: 'all', keep: 1, reorder: false, tear: 'prefix' }, ctx.rng)
    const ackedBefore = ackedAt(base.acks, c)
    const count = ctx.quick ? int(ctx.rng, 4, 10) : int(ctx.rng, 8, 24)
    const dry = await runSim({ dir, initial, oracle, producer: 2, count, rng: ctx.rng, journal: ctx.journal })
    const total = journalIoCalls(ctx.journal)
    if (dry.rejected.length > 0 || dry.openError)
      r.failures.push({ message: `fault-free run failed: ${dry.openError?.message ?? dry.rejected[0]!.code}` })
    note(r, 'I/O calls per workload', total)
    for (let k = 1; k <= total + 2; k++) {
      for (const persistent of [false, true]) {
        const code = pick(ctx.rng, ['EIO', 'EIO', 'ENOSPC', 'EROFS'])
        const run = await runSim({
          dir,
          initial,
          oracle,
          producer: 2,
          count,
          rng: ctx.rng,
          journal: ctx.journal,
          sim: { faults: [{ op: 'io', nth: k, code, persistent }] },
        })
        r.acked += run.acks.length
        note(r, 'faulted runs')
        if (run.openError) note(r, 'open failed closed')
        else if (run.rejected.length > 0) note(r, 'sink failed closed')
        else note(r, 'fault hit nothing fatal')
        const where = `fault ${code} on I/O call ${k} of ${total} (${persistent ? 'persistent' : 'once'})`
        const before = r.failures.length
        const dropped = checkFaultedRun(r, run, initial, dir, oracle, ackedBefore, where)
        // Stop at a durability failure; wrong error codes (recorded once each) let the sweep go on.
        if (r.failures.length > before && dropped === undefined) return r
        // Reopen cleanly afterwards, end to end (a sample: it costs a writer thread).
        if (dropped !== undefined && (ctx.rng() < 0.2 || k === total)) {
          const f = await reopenAndAppend({
            state: dropped,
            dir,
            oracle,
            ackedBefore: [...ackedBefore, ...run.acks],
            producer: 3,
            count: 3,
            journal: ctx.journal,
            rng: ctx.rng,
          })
          note(r, 'reopened end to end')
          if (f.length > 0) {
            r.failures.push({ message: `reopen after the fault: ${f[0]}`, detail: where })
            return r
          }
        }
      }
    }
    return r
  },
}
