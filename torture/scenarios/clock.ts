/**
 * ClockJumpBackward: event timestamps (given by the producer) jump back by
 * hours, forward by a day, before 1970; the writer's own wall clock (segment
 * createdMs, side-file names) is replaced by one that jumps back, forward and
 * sticks, through several restarts, each ending in a power loss. Order, seqs,
 * the chain and every stored timestamp must be exact, side files must not
 * collide, and replaying by time (readLog, then filtering on timestamp) must
 * give exactly the emitted events of that window, in seq order. Each life's
 * open must record the seqs the previous crash left on the device as a gap
 * and give none of them to another record.
 */

import fs from 'node:fs'
import path from 'node:path'
import { readLog, verifyLog } from '../../lib/index.js'
import { type Ack, parseWal } from '../checker.js'
import { ackedAt, dirFiles, recoverAndCheck } from '../crashcheck.js'
import type { Device } from '../seqs.js'
import { makeOracle } from '../events.js'
import { int } from '../prng.js'
import { type Files, randomPolicy } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, Replayer, type Scenario } from './common.js'

export const clockJump: Scenario = {
  name: 'ClockJumpBackward',
  description:
    'producer timestamps and the writer wall clock jump back and forward (and stick) during writes and across restarts',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed, clock: 'jumpy' })
    let state: Files | undefined
    let acked: Ack[] = []
    const lives = ctx.quick ? 3 : 6
    let sideFiles = 0
    // What the device showed at the previous crash: the next life's open must gap it, never reuse it.
    let seen: Device | undefined
    let prev: Files | undefined
    for (let life = 1; life <= lives; life++) {
      const run = await runSim({
        dir,
        initial: state,
        oracle,
        producer: life,
        count: int(ctx.rng, 10, ctx.quick ? 50 : 120),
        rng: ctx.rng,
        journal: ctx.journal,
        sim: { clock: { seed: (ctx.seed ^ life) >>> 0, startMs: 1_767_225_600_000 - life * 3_600_000 } },
      })
      if (run.openError || run.rejected.length > 0) {
        r.failures.push({ message: `life ${life}: ${run.openError?.message ?? run.rejected[0]!.code}` })
        return r
      }
      const c = int(ctx.rng, Math.floor(run.ops.length / 2), run.ops.length)
      const now = ackedAt(run.acks, c)
      r.acked += now.length
      const policy = randomPolicy(ctx.rng)
      const crashed = new Replayer(state, run.ops).to(c).crash(policy, ctx.rng)
      acked = [...acked, ...now]
      const res = recoverAndCheck(crashed, dir, oracle, acked, { epochOf: (p) => p, history: seen ? [seen] : [] })
      r.crashStates++
      seen = res.before
      const earlier = prev
      prev = crashed
      if (res.outcome.rec?.lost) note(r, 'seqs past the committed end reported lost')
      if (res.failures.length > 0) {
        r.failures.push({
          message: `life ${life}: ${res.failures[0]}`,
          detail: `crash after op ${c}`,
          state: {
            dir,
            files: crashed,
            acked,
            salt: ctx.seed,
            clock: 'jumpy',
            epoch: 'p',
            earlier: earlier ? [earlier] : undefined,
          },
        })
        return r
      }
      if (res.outcome.rec!.tornTail) note(r, 'torn tails cut with a jumping clock')
      state = res.outcome.after.volatileFiles()
      // Acknowledged events of this life that recovery kept are part of the log from here on; the rest were not acked.
      const names = [...dirFiles(state, dir).keys()].filter((n) => n.includes('.torn-'))
      if (new Set(names).size !== names.length) r.failures.push({ message: `side files collide: ${names.join(', ')}` })
      sideFiles = names.length
    }
    note(r, 'side files kept', sideFiles)
    // Replay by time on a real directory, with the library's reader.
    const real = path.join(ctx.workDir, 'real')
    fs.mkdirSync(real, { recursive: true })
    for (const [n, b] of dirFiles(state!, dir)) fs.writeFileSync(path.join(real, n), b)
    const parsed = parseWal(dirFiles(state!, dir))
    r.recovered += parsed.events.length
    const bySeq = new Map(parsed.events.map((x) => [x.seq, x]))
    const times = parsed.events.map((x) => x.timeMs)
    if (times.length === 0) return r
    const sorted = [...times].sort((a, b) => a - b)
    const lo = sorted[int(ctx.rng, 0, sorted.length - 1)]!
    const hi = sorted[int(ctx.rng, sorted.indexOf(lo), sorted.length - 1)]!
    const want = parsed.events.filter((x) => x.timeMs >= lo && x.timeMs <= hi).map((x) => x.seq)
    const got: number[] = []
    // readLog yields the events, in seq order, exactly the ones the checker reads (seals and gaps take seqs between them).
    let k = 0
    for await (const rec of readLog(real)) {
      const expect = parsed.events[k++]?.seq
      if (rec.seq !== expect)
        r.failures.push({ message: `readLog gave seq ${rec.seq} where the checker reads event seq ${expect}` })
      const pr = bySeq.get(rec.seq)
      if (pr === undefined || rec.timestamp.getTime() !== pr.timeMs)
        r.failures.push({
          message: `readLog seq ${rec.seq} has timestamp ${rec.timestamp.getTime()}, stored ${pr?.timeMs}`,
        })
      const t = rec.timestamp.getTime()
      if (t >= lo && t <= hi) got.push(rec.seq)
    }
    if (k !== parsed.events.length)
      r.failures.push({ message: `readLog gave ${k} events, the checker reads ${parsed.events.length}` })
    if (JSON.stringify(got) !== JSON.stringify(want))
      r.failures.push({ message: `replay by time [${lo}, ${hi}] gave ${got.length} events, expected ${want.length}` })
    const v = await verifyLog(real)
    if (!v.ok) r.failures.push({ message: `verifyLog: ${v.firstBad?.message}` })
    else if (
      (v.firstTime === undefined ? undefined : Date.parse(v.firstTime)) !== parsed.records[0]?.timeMs ||
      (v.lastTime === undefined ? undefined : Date.parse(v.lastTime)) !== parsed.records.at(-1)?.timeMs
    )
      r.failures.push({
        message: `verifyLog firstTime/lastTime ${v.firstTime === undefined ? undefined : Date.parse(v.firstTime)}/${v.lastTime === undefined ? undefined : Date.parse(v.lastTime)} are not the first/last records' ${parsed.records[0]?.timeMs}/${parsed.records.at(-1)?.timeMs}`,
      })
    else if (v.events !== parsed.events.length || v.lastSeq !== parsed.lastSeq)
      r.failures.push({
        message: `verifyLog counts ${v.events} events up to seq ${v.lastSeq}, the checker ${parsed.events.length} up to ${parsed.lastSeq}`,
      })
    note(r, 'replay-by-time windows checked')
    return r
  },
}
