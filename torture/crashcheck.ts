/**
 * Crash states and what must hold after them. A crash state is the files a
 * reboot finds after a power loss at some point of a journaled run; it is
 * recovered with the real recovery code (workers/writer/resume.ts resume(), the
 * function the writer runs on open) over the simulated disk, in-process (fast:
 * no worker), and the result is checked by the independent checker. A sample of
 * states is also reopened end to end with AuditSink.open and appended to.
 */

import { AuditSink } from '../lib/index.js'
import { LIMITS } from '../shared/limits.js'
import { type MirrorReport, reconcile, resume, type Resumed } from '../workers/writer/index.js'
import { type Ack, checkLog, type CheckInput, parseWal } from './checker.js'
import { checkHistory, checkNewGap, type Device, device, expectedLost, union } from './seqs.js'
import type { Oracle } from './events.js'
import { readJournal, resetJournal } from './journal.js'
import type { Rng } from './prng.js'
import { type SimCounters, type SimConfig, simStorage } from './sim-storage.js'
import { type Files, filesToWire, type Op, SimFs } from './sim-fs.js'
import { SIM_MODULE, SMALL } from './workload.js'

export interface RecoverOutcome {
  rec: Resumed | undefined
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
    const rec = resume(s, dir, LIMITS.eventBytesMax.max, () => clockMs)
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

/** What must hold of a crash state's history, beyond the log itself. */
export interface HistoryInput {
  /** Earlier crash states of the same history, at most one open() from each to this one (torture/seqs.ts rules 1-4). */
  history?: readonly Device[]
}

/**
 * Recover a crash state and check it: recovery succeeds, the log is intact,
 * every acked event is there, no tail is left, the seqs the device showed past
 * the committed end are exactly what recovery reports lost (the writer's gap),
 * nothing the device showed is forgotten or given to another record,
 * recovering again changes nothing. Returns failure messages (empty: fine), the
 * recovered event count, and what the device showed before and after.
 */
export function recoverAndCheck(
  state: Files,
  dir: string,
  oracle: Oracle,
  acked: Ack[],
  extra: Partial<CheckInput> & HistoryInput = {},
): { failures: string[]; records: number; outcome: RecoverOutcome; before: Device; after: Device | undefined } {
  const { history = [], ...checkExtra } = extra
  const raw = parseWal(dirFiles(state, dir))
  const before = device(dirFiles(state, dir), raw)
  const o = recoverState(state, dir)
  if (o.error !== undefined)
    return {
      failures: [`recovery refused the crash state: ${o.error.code}: ${o.error.message}`],
      records: 0,
      outcome: o,
      before,
      after: undefined,
    }
  const after = o.after.volatileFiles()
  const parsed = parseWal(dirFiles(after, dir))
  const c = checkLog(parsed, { oracle, acked, allowTail: false, ...checkExtra })
  const failures = [...c.failures]
  const rec = o.rec!
  if (rec.lastSeq !== parsed.lastSeq)
    failures.push(`recovery says the log ends at seq ${rec.lastSeq}, the checker reads it up to seq ${parsed.lastSeq}`)
  if ((rec.active?.sealed ?? false) !== parsed.sealed)
    failures.push(
      `recovery says the last segment is ${rec.active?.sealed ? '' : 'not '}sealed, the checker reads the opposite`,
    )
  const want = expectedLost(before)
  if (JSON.stringify(rec.lost) !== JSON.stringify(want))
    failures.push(
      `recovery reports lost seqs ${JSON.stringify(rec.lost)}, the device showed ${want === undefined ? 'none' : `[${want.fromSeq}, ${want.toSeq}]`} past the committed end ${before.lastSeq}`,
    )
  const afterDevice = device(dirFiles(after, dir), parsed)
  failures.push(...checkHistory(before, afterDevice, 'across recovery: '))
  history.forEach((h, i) => {
    failures.push(...checkHistory(h, afterDevice, `from earlier crash state ${i + 1}: `))
    failures.push(...checkNewGap(h, raw, `from earlier crash state ${i + 1}: `))
  })
  // A cut (torn tail, or zeros only) starts at or after the end of the last acknowledged record.
  for (const [kind, cut] of [
    ['torn tail', rec.tornTail],
    ['zero tail', rec.zeroTail],
  ] as const) {
    if (cut === undefined) continue
    let lastAckEnd = 0
    const maxAck = acked.reduce((m, a) => Math.max(m, a.seq), 0)
    const r = parsed.events.find((x) => x.seq === maxAck)
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
    } else if (JSON.stringify(again.rec!.lost) !== JSON.stringify(rec.lost))
      failures.push(
        `a second recovery reports lost seqs ${JSON.stringify(again.rec!.lost)}, the first ${JSON.stringify(rec.lost)}: the cut forgot what it cut`,
      )
  }
  return { failures, records: parsed.events.length, outcome: o, before, after: afterDevice }
}

/**
 * The same for a WAL with a mirror, as open() does it: each copy recovered,
 * then the two made to agree (workers/writer/mirror.ts reconcile: the copy behind
 * catches up). A refusal is returned, not judged (the caller knows whether
 * refusing is right); otherwise both copies must pass the checker with every
 * acknowledged receipt and hold byte-for-byte the same segments, and open must
 * go on past every seq either copy showed (lost exactly those past the agreed
 * end), forgetting none and giving none to another record.
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
  /** The seqs open would record as a gap. */
  lost: Resumed['lost']
} {
  const fs = SimFs.from(state)
  const s = simStorage(fs, {}, { calls: new Map(), fired: [] })
  const before = union(device(dirFiles(state, dirs[0])), device(dirFiles(state, dirs[1])))
  let report: MirrorReport
  let rec: Resumed
  try {
    for (const d of dirs) if (!fs.hasDir(d)) fs.mkdir(d)
    const recs = dirs.map((d) => resume(s, d, LIMITS.eventBytesMax.max, () => RECOVERY_CLOCK_MS)) as [Resumed, Resumed]
    ;({ rec, report } = reconcile(s, dirs, recs))
  } catch (err) {
    const e = err as { code?: string; message: string }
    return {
      failures: [],
      records: 0,
      refused: { code: e.code ?? 'no-code', message: e.message },
      caughtUp: undefined,
      lost: undefined,
    }
  }
  const after = fs.volatileFiles()
  const failures: string[] = []
  const segs = dirs.map((d) => new Map([...dirFiles(after, d)].filter(([n]) => n.endsWith('.wal'))))
  const parsed = segs.map((m) => parseWal(m))
  dirs.forEach((d, i) => {
    const c = checkLog(parsed[i]!, { oracle, acked, allowTail: false })
    for (const f of c.failures) failures.push(`${i === 0 ? 'WAL' : 'mirror'} ${d}: ${f}`)
  })
  // Open goes on from the copies agreed: the seqs either copy showed past the agreed end are lost, and no seq is forgotten.
  const want = expectedLost(before)
  if (rec.lastSeq !== parsed[0]!.lastSeq || JSON.stringify(rec.lost) !== JSON.stringify(want))
    failures.push(
      `after reconcile open resumes at seq ${rec.lastSeq} with lost seqs ${JSON.stringify(rec.lost)}; the checker reads the log up to ${parsed[0]!.lastSeq} and the two copies showed ${want === undefined ? 'nothing' : `[${want.fromSeq}, ${want.toSeq}]`} past the committed end ${before.lastSeq}`,
    )
  const now = union(device(dirFiles(after, dirs[0]), parsed[0]), device(dirFiles(after, dirs[1]), parsed[1]))
  failures.push(...checkHistory(before, now, 'across recovery and reconcile: '))
  const [a, b] = segs as [Map<string, Buffer>, Map<string, Buffer>]
  const names = new Set([...a.keys(), ...b.keys()])
  for (const n of names)
    if (!(a.get(n)?.equals(b.get(n) ?? Buffer.alloc(0)) ?? false))
      failures.push(
        `after open the copies differ in ${n} (${a.get(n)?.length ?? 'missing'} and ${b.get(n)?.length ?? 'missing'} bytes)`,
      )
  return { failures, records: parsed[0]!.events.length, refused: undefined, caughtUp: report.caughtUp, lost: rec.lost }
}

/** Acknowledged receipts at crash point c (c ops had happened). */
export function ackedAt(acks: readonly (Ack & { at: number })[], c: number): Ack[] {
  return acks.filter((a) => a.at <= c)
}

/**
 * End to end: AuditSink.open on a crash state (real writer, real recovery),
 * emit `count` more events as a new producer, close, and check the final log
 * (both copies, with a mirror): everything acknowledged before and after is
 * there, the log ends with a seal, the open recorded exactly the seqs the
 * device showed past the committed end as a gap, and no seq the device showed
 * was given to another record (torture/seqs.ts).
 */
export async function reopenAndAppend(o: {
  state: Files
  dir: string
  mirror?: string
  oracle: Oracle
  ackedBefore: Ack[]
  producer: number
  count: number
  journal: SharedArrayBuffer
  rng: Rng
}): Promise<string[]> {
  resetJournal(o.journal)
  const failures: string[] = []
  const dirs = o.mirror === undefined ? [o.dir] : [o.dir, o.mirror]
  const before = dirs.map((d) => device(dirFiles(o.state, d))).reduce(union)
  let sink: AuditSink
  try {
    sink = await AuditSink.open({
      dir: o.dir,
      mirror: o.mirror,
      ...SMALL,
      storage: { module: SIM_MODULE, config: { journal: o.journal, initial: filesToWire(o.state) } },
    })
  } catch (err) {
    return [`AuditSink.open refused the crash state: ${(err as { code?: string }).code}: ${(err as Error).message}`]
  }
  const want = expectedLost(before)
  const { resumedSeq, gap, lastSeq: lastBefore } = sink.openReport
  if (resumedSeq !== before.lastSeq || JSON.stringify(gap) !== JSON.stringify(want))
    failures.push(
      `open resumed at seq ${resumedSeq} with gap ${JSON.stringify(gap)}; the device showed the log committed up to ${before.lastSeq} and ${want === undefined ? 'no seq' : `seqs [${want.fromSeq}, ${want.toSeq}]`} past it`,
    )
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
  const final = fs.volatileFiles()
  const now: Device[] = []
  for (const d of dirs) {
    const label = dirs.length > 1 ? `${d === o.dir ? 'WAL' : 'mirror'}: ` : ''
    const parsed = parseWal(dirFiles(final, d))
    const c = checkLog(parsed, { oracle: o.oracle, acked: [...o.ackedBefore, ...acks], allowTail: false, closed: true })
    failures.push(...c.failures.map((f) => label + f))
    failures.push(...checkNewGap(before, parsed, label))
    now.push(device(dirFiles(final, d), parsed))
  }
  failures.push(...checkHistory(before, now.reduce(union), 'across reopen: '))
  for (const a of acks)
    if (a.seq <= lastBefore)
      failures.push(`after reopen, seq ${a.seq} was handed out again (the recovered log ended at ${lastBefore})`)
  return failures
}
