/**
 * Kill9DuringWrite: real processes, real SIGKILL. Each iteration is a fresh
 * directory and a few lives; each life is a child process (torture/
 * kill9-child.ts) that opens the sink there (recovering what the previous life
 * left) and emits from its main thread and a worker thread, reporting every
 * receipt over a pipe; the runner SIGKILLs it at a seeded instant: right after
 * the job is handed over, inside open/recovery, while emitting (small segments
 * in some lives: kills land during rotation), or inside close().
 *
 * After every kill the directory is checked as the next reboot finds it
 * (independent checker: every receipt present at its seq, intact, per-producer
 * order, lives in order, nothing never emitted, a life that closed ends
 * sealed); no seq the directory showed after the previous life is given to
 * another record (torture/seqs.ts: receipts across lives, cut tails, side
 * files); the next life's open must recover exactly the committed log and
 * record exactly the seqs the device showed past it as a gap; after the last
 * life the real recovery runs in-process on the final state and is checked too.
 *
 * Fast, and still honest: children are started ahead (a warm spare, its node
 * startup, imports and second thread already done) while the previous life is
 * checked; every kill is a real SIGKILL of a real process mid-flight. The seed
 * fixes the schedule (modes, delays, sizes); where the instant lands inside the
 * process is up to the OS, so a replay repeats the schedule, not the exact
 * instruction.
 *
 * Kill9DuringCheckpoint is the same with signing on (checkpoints every few
 * records and ms, exported): kills land while the signer thread reads, signs,
 * exports and while the checkpoint record is written. After every kill, as
 * the next boot finds the directory: every checkpoint record in the log is
 * signed by the key and its tree is the log's tree at its size, and the
 * exported checkpoint (if one was made) is a tree the log still contains: a
 * checkpoint never covers a record that a crash can lose.
 */

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Ack, checkLog, parseWal } from '../checker.js'
import { recoverAndCheck } from '../crashcheck.js'
import { checkHistory, checkNewGap, type Device, device, expectedLost } from '../seqs.js'
import { makeOracle } from '../events.js'
import type { Kill9Job } from '../kill9-child.js'
import { ChildPool, KILL9_LIFE_MS_MAX, life } from './kill9-life.js'
import { int, pick } from '../prng.js'
import { loadVerifier, verifySigned, writeKeyPair } from '../../lib/index.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

export { ChildPool, KILL9_LIFE_MS_MAX, life, type LifeOut, type Mode } from './kill9-life.js'

const CHILD = fileURLToPath(new URL('../kill9-child.js', import.meta.url))

function readWal(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  if (!fs.existsSync(dir)) return m
  for (const n of fs.readdirSync(dir)) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

/** The signed history as a reboot finds it: every checkpoint in the log holds, and the exported one is contained. */
async function checkSigned(dir: string, exportDir: string, pub: string): Promise<string[]> {
  if (!fs.existsSync(dir) || !fs.readdirSync(dir).some((n) => n.endsWith('.wal'))) return []
  const exported = fs.existsSync(exportDir) ? fs.readdirSync(exportDir).filter((n) => n.endsWith('.checkpoint')) : []
  const note = exported.length > 0 ? fs.readFileSync(path.join(exportDir, exported[0]!), 'utf8') : undefined
  const rep = await verifySigned(dir, { keys: [loadVerifier(pub)], checkpoint: note })
  const out: string[] = []
  if (rep.inLog.firstBad !== undefined)
    out.push(
      `checkpoint record seq ${rep.inLog.firstBad.seq} (size ${rep.inLog.firstBad.size}) does not hold: ${rep.inLog.firstBad.problem}`,
    )
  if (rep.checkpoint !== undefined && !rep.checkpoint.contained)
    out.push(`the exported checkpoint (size ${rep.checkpoint.size}) is not in the log: ${rep.checkpoint.problem}`)
  return out
}

/** The scenario over children of `child` (tests pass a child that hangs, and a short lifeMsMax). */
export function makeKill9(o: { child?: string; lifeMsMax?: number; signed?: boolean } = {}): Scenario {
  const pool = new ChildPool(o.child ?? CHILD)
  const lifeMsMax = o.lifeMsMax ?? KILL9_LIFE_MS_MAX
  return {
    name: o.signed === true ? 'Kill9DuringCheckpoint' : 'Kill9DuringWrite',
    description:
      o.signed === true
        ? 'Kill9DuringWrite with signed checkpoints every few records: every checkpoint in the log and the exported one hold after every kill'
        : 'a real child process emitting from two threads is SIGKILLed at a random instant: before open, in open/recovery, while emitting and rotating, in close',
    async run(ctx: IterCtx): Promise<IterResult> {
      const r = emptyResult()
      const dir = path.join(ctx.workDir, 'wal')
      const exportDir = path.join(ctx.workDir, 'exported')
      const keyFile = path.join(ctx.workDir, 'signing.key')
      if (o.signed === true && !fs.existsSync(keyFile)) await writeKeyPair(keyFile, 'torture.example/log')
      const signing =
        o.signed === true
          ? {
              signing: { keyFile },
              checkpoints: { everyRecords: int(ctx.rng, 1, 400), everyMs: 10, export: { dir: exportDir } },
            }
          : {}
      const salt = ctx.seed
      const oracle = makeOracle({ salt })
      const lives = ctx.quick ? 3 : 5
      const acked: Ack[] = []
      let committed = 0
      // What the device showed after the previous life: every seq in it stays that record, or becomes a gap.
      let seen: Device = { committed: [], cut: [], maxSeen: 0, lastSeq: 0 }
      for (let l = 1; l <= lives; l++) {
        const mode = pick(ctx.rng, ['early', 'opening', 'opening', 'running', 'running', 'running', 'closing'] as const)
        const small = ctx.rng() < 0.6
        const delayMs =
          mode === 'early'
            ? int(ctx.rng, 0, 30)
            : mode === 'opening'
              ? int(ctx.rng, 0, 25)
              : mode === 'running'
                ? int(ctx.rng, 0, 80)
                : int(ctx.rng, 0, 6)
        const job: Kill9Job = {
          dir,
          p0: l * 4,
          salt,
          inflight: int(ctx.rng, 1, 2000),
          perThread: mode === 'closing' ? int(ctx.rng, 20, 600) : 50_000,
          opts: small
            ? {
                eventBytesMax: 1024,
                batchBytesMax: 4096,
                segmentBytesMax: 64 * 1024,
                ringBytes: pick(ctx.rng, [64 * 1024, 1024 * 1024]),
                ...signing,
              }
            : { eventBytesMax: 4096, ...signing },
        }
        const where = `life ${l}/${lives} (${mode} +${delayMs} ms, ${small ? 'small segments' : 'default sizes'}, inflight ${job.inflight})`
        const L = await life(pool, job, mode, delayMs, lifeMsMax)
        if (!L.hung) note(r, `killed ${mode}`)
        if (L.signal === 'SIGKILL' && !L.hung) r.kills++
        if (L.finished) note(r, 'finished before the kill')
        if (L.errors.length > 0) {
          r.failures.push({ message: `${where}: ${L.errors[0]}`, detail: L.stderr })
          return r
        }
        if (L.signal !== 'SIGKILL' && !(L.finished && L.code === 0)) {
          r.failures.push({
            message: `${where}: the child died on its own (code ${L.code}, signal ${L.signal})`,
            detail: L.stderr,
          })
          return r
        }
        if (L.opened !== undefined) {
          const want = expectedLost(seen)
          if (L.opened.resumedSeq !== committed)
            r.failures.push({
              message: `${where}: open recovered up to seq ${L.opened.resumedSeq}, the log was committed up to ${committed}`,
            })
          else if (JSON.stringify(L.opened.gap) !== JSON.stringify(want))
            r.failures.push({
              message: `${where}: open recorded the gap ${JSON.stringify(L.opened.gap)}; the device showed ${want === undefined ? 'no seq' : `seqs [${want.fromSeq}, ${want.toSeq}]`} past the committed end ${committed}`,
            })
          if (L.opened.gap !== undefined) note(r, 'gaps recorded by the next open')
          if (L.opened.torn > 0) note(r, 'torn tails cut by the next open')
          if (L.opened.zeros > 0) note(r, 'zero tails cut by the next open')
          if (L.opened.tmp > 0) note(r, 'half-made segments removed by the next open')
        } else if (L.acks.length > 0) r.failures.push({ message: `${where}: receipts without an open` })
        acked.push(...L.acks)
        r.acked += L.acks.length
        // The directory exactly as the next boot finds it (a life that closed: sealed, no tail).
        const files = readWal(dir)
        const parsed = parseWal(files)
        const c = checkLog(parsed, {
          oracle,
          acked,
          allowTail: !L.finished,
          closed: L.finished,
          epochOf: (p) => p >> 2,
        })
        r.crashStates++
        r.recovered += c.records
        if (!c.ok) r.failures.push({ message: `${where}: ${c.failures[0]}`, detail: c.failures.join(' | ') })
        if (parsed.lastSeq < committed)
          r.failures.push({ message: `${where}: the log shrank from seq ${committed} to seq ${parsed.lastSeq}` })
        // No seq given to two records across the kill, and the open's gap exactly what the device showed.
        const now = device(files, parsed)
        const seq = [...checkHistory(seen, now), ...checkNewGap(seen, parsed)]
        if (seq.length > 0) r.failures.push({ message: `${where}: ${seq[0]}`, detail: seq.join(' | ') })
        seen = now
        committed = parsed.lastSeq
        if (o.signed === true && r.failures.length === 0) {
          const bad = await checkSigned(dir, exportDir, `${keyFile}.pub`)
          if (bad.length > 0) r.failures.push({ message: `${where}: ${bad[0]}`, detail: bad.join(' | ') })
          else note(r, 'signed history held')
        }
        if (r.failures.length > 0) return r
      }
      // The real recovery, in-process, on the final state (the disk is not touched).
      const files = readWal(dir)
      if (files.size > 0) {
        const res = recoverAndCheck(new Map([[dir, files]]), dir, oracle, acked, { epochOf: (p) => p >> 2 })
        if (res.failures.length > 0)
          r.failures.push({
            message: `final recovery: ${res.failures[0]}`,
            state: { dir, files: new Map([[dir, files]]), acked, salt, epoch: 'p>>2' },
          })
        else if (res.outcome.rec!.lastSeq !== committed)
          r.failures.push({
            message: `final recovery kept the log up to seq ${res.outcome.rec!.lastSeq}, it was committed up to ${committed}`,
          })
      }
      return r
    },
    teardown: () => pool.close(),
  }
}

export const kill9: Scenario = makeKill9()
export const kill9Signed: Scenario = makeKill9({ signed: true })
