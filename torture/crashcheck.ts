/**
 * Crash states and what must hold after them. A crash state is the files a
 * reboot finds after a power loss at some point of a journaled run; it is
 * recovered with the real recovery code (workers/writer/resume.ts recover(), the
 * function the writer runs on open) over the simulated disk, in-process (fast:
 * no worker), and the result is checked by the independent checker. A sample of
 * states is also reopened end to end with AuditSink.open and appended to.
 */

import { AuditSink } from '../lib/index.js'
import { LIMITS } from '../shared/limits.js'
import { type MirrorReport, reconcile, recover, type Recovered } from '../workers/writer/index.js'
import { type Ack, checkLog, type CheckInput, parseWal } from './checker.js'
import type { Oracle } from './events.js'
import { journalCount, readJournal, resetJournal } from './journal.js'
import type { Rng } from './prng.js'
import { type SimCounters, type SimConfig, simStorage } from './sim-storage.js'
import { type Files, filesToWire, type Op, SimFs } from './sim-fs.js'
import { SIM_MODULE, SMALL } from './workload.js'

export interface RecoverOutcome {
  rec: Recovered | undefined
  error: { code: string; message: string; details?: unknown } | undefined
  /** The disk after recovery (volatile view). */
  after: SimFs
  /** Ops recovery performed (for crashing again inside it). */
  ops: Op[]
  counters: SimCounters
}

/** The wall clock recovery sees in a crash-state check (side-file names): 2026-01-01. */
const RECOVERY_CLOCK_MS = 1_767_225_600_000

/** Run the real recovery on a state, journaling what it does. */
export function recoverState(
  state: Files,
  dir: string,
  sim: Omit<SimConfig, 'journal' | 'initial'> = {},
  clockMs = RECOVERY_CLOCK_MS,
): RecoverOutcome {
  const fs = SimFs.from(state)
  const ops: Op[] = []
  fs.onOp = (op) => ops.push(op)
  const counters: SimCounters = { calls: new Map(), fired: [] }
  const s = simStorage(fs, sim, counters)
  try {
    if (!fs.hasDir(dir)) fs.mkdir(dir)
    const rec = recover(s, dir, LIMITS.eventBytesMax.max, () => clockMs)
    return { rec, error: undefined, after: fs, ops, counters }
  } catch (err) {
    const e = err as { code?: string; message: string; details?: unknown }
    return {
      rec: undefined,
      error: { code: e.code ?? 'no-code', message: e.message, details: e.details },
      after: fs,
      ops,
      counters,
    }
  }
}

export function dirFiles(f: Files, dir: string): Map<string, Buffer> {
  return f.get(dir) ?? new Map()
}

/**
 * Recover a crash state and check it: recovery succeeds, the log is intact,
 * every acked event is there, no tail is left, recovering again changes nothing.
 * Returns failure messages (empty: fine) and the recovered record count.
 */
export function recoverAndCheck(
  state: Files,
  dir: string,
  oracle: Oracle,
  acked: Ack[],
  extra: Partial<CheckInput> = {},
): { failures: string[]; records: number; outcome: RecoverOutcome } {
  const o = recoverState(state, dir)
  if (o.error !== undefined)
    return {
      failures: [`recovery refused the crash state: ${o.error.code}: ${o.error.message}`],
      records: 0,
      outcome: o,
    }
  const after = o.after.volatileFiles()
  const parsed = parseWal(dirFiles(after, dir))
  const c = checkLog(parsed, { oracle, acked, allowTail: false, ...extra })
  const failures = [...c.failures]
  if (o.rec!.lastSeq !== parsed.records.length)
    failures.push(
      `recovery says the log ends at seq ${o.rec!.lastSeq}, the checker reads ${parsed.records.length} records`,
    )
  // A cut (torn tail, or zeros only) starts at or after the end of the last acknowledged record.
  for (const [kind, cut] of [
    ['torn tail', o.rec!.tornTail],
    ['zero tail', o.rec!.zeroTail],
  ] as const) {
    if (cut === undefined) continue
    let lastAckEnd = 0
    const maxAck = acked.reduce((m, a) => Math.max(m, a.seq), 0)
    const r = parsed.records[maxAck - 1]
    if (r !== undefined && r.segment === cut.segment) lastAckEnd = r.end
    if (cut.offset < lastAckEnd)
      failures.push(
        `${kind} cut at ${cut.segment}@${cut.offset}, before the end (${lastAckEnd}) of the last acknowledged record`,
      )
  }
  if (failures.length === 0) {
    const again = recoverState(after, dir)
    if (again.error !== undefined)
      failures.push(`a second recovery of the recovered log failed: ${again.error.message}`)
    else if (
      again.rec!.tornTail !== undefined ||
      again.rec!.zeroTail !== undefined ||
      again.rec!.lastSeq !== o.rec!.lastSeq
    ) {
      failures.push(
        `a second recovery changed the log again (lastSeq ${again.rec!.lastSeq}, torn ${JSON.stringify(again.rec!.tornTail)}, zeros ${JSON.stringify(again.rec!.zeroTail)})`,
      )
    }
  }
  return { failures, records: parsed.records.length, outcome: o }
}

/**
 * The same for a WAL with a mirror, as open() does it: each copy recovered,
 * then the two made to agree (workers/writer/mirror.ts reconcile: the copy behind
 * catches up). A refusal is returned, not judged (the caller knows whether
 * refusing is right); otherwise both copies must pass the checker with every
 * acknowledged receipt and hold byte-for-byte the same segments.
 */
export function recoverMirroredAndCheck(
  state: Files,
  dirs: readonly [string, string],
  oracle: Oracle,
  acked: Ack[],
): {
  failures: string[]
  records: number
  refused: { code: string; message: string } | undefined
  caughtUp: MirrorReport['caughtUp']
} {
  const fs = SimFs.from(state)
  const s = simStorage(fs, {}, { calls: new Map(), fired: [] })
  let report: MirrorReport
  try {
    for (const d of dirs) if (!fs.hasDir(d)) fs.mkdir(d)
    const recs = dirs.map((d) => recover(s, d, LIMITS.eventBytesMax.max, () => RECOVERY_CLOCK_MS)) as [
      Recovered,
      Recovered,
    ]
    report = reconcile(s, dirs, recs).report
  } catch (err) {
    const e = err as { code?: string; message: string }
    return { failures: [], records: 0, refused: { code: e.code ?? 'no-code', message: e.message }, caughtUp: undefined }
  }
  const after = fs.volatileFiles()
  const failures: string[] = []
  const segs = dirs.map((d) => new Map([...dirFiles(after, d)].filter(([n]) => n.endsWith('.wal'))))
  const parsed = segs.map((m) => parseWal(m))
  dirs.forEach((d, i) => {
    const c = checkLog(parsed[i]!, { oracle, acked, allowTail: false })
    for (const f of c.failures) failures.push(`${i === 0 ? 'WAL' : 'mirror'} ${d}: ${f}`)
  })
  const [a, b] = segs as [Map<string, Buffer>, Map<string, Buffer>]
  const names = new Set([...a.keys(), ...b.keys()])
  for (const n of names)
    if (!(a.get(n)?.equals(b.get(n) ?? Buffer.alloc(0)) ?? false))
      failures.push(
        `after open the copies differ in ${n} (${a.get(n)?.length ?? 'missing'} and ${b.get(n)?.length ?? 'missing'} bytes)`,
      )
  return { failures, records: parsed[0]!.records.length, refused: undefined, caughtUp: report.caughtUp }
}

/** Acknowledged receipts at crash point c (c ops had happened). */
export function ackedAt(acks: readonly (Ack & { at: number })[], c: number): Ack[] {
  return acks.filter((a) => a.at <= c)
}

/**
 * End to end: AuditSink.open on a crash state (real writer, real recovery),
 * emit `count` more events as a new producer, close, and check the final log
 * holds everything acknowledged before and after.
 */
export async function reopenAndAppend(o: {
  state: Files
  dir: string
  oracle: Oracle
  ackedBefore: Ack[]
  producer: number
  count: number
  journal: SharedArrayBuffer
  rng: Rng
}): Promise<string[]> {
  resetJournal(o.journal)
  const failures: string[] = []
  let sink: AuditSink
  try {
    sink = await AuditSink.open({
      dir: o.dir,
      ...SMALL,
      storage: { module: SIM_MODULE, config: { journal: o.journal, initial: filesToWire(o.state) } },
    })
  } catch (err) {
    return [`AuditSink.open refused the crash state: ${(err as { code?: string }).code}: ${(err as Error).message}`]
  }
  const acks: Ack[] = []
  const rs = await Promise.allSettled(
    Array.from({ length: o.count }, (_, n) =>
      sink.emit(o.oracle.event(o.producer, n)).then((r) => acks.push({ seq: r.seq, p: o.producer, n })),
    ),
  )
  for (const r of rs)
    if (r.status === 'rejected') failures.push(`emit after reopen rejected: ${(r.reason as Error).message}`)
  await sink.close().catch((e: Error) => failures.push(`close after reopen failed: ${e.message}`))
  const fs = SimFs.from(o.state)
  for (const op of readJournal(o.journal)) fs.apply(op)
  void journalCount
  const parsed = parseWal(dirFiles(fs.volatileFiles(), o.dir))
  const c = checkLog(parsed, { oracle: o.oracle, acked: [...o.ackedBefore, ...acks], allowTail: false })
  failures.push(...c.failures)
  const lastBefore = sink.openReport.lastSeq
  for (const a of acks)
    if (a.seq <= lastBefore)
      failures.push(`after reopen, seq ${a.seq} was handed out again (the recovered log ended at ${lastBefore})`)
  return failures
}
