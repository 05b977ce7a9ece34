/**
 * The checker every scenario shares: a log read by the runner's own walker
 * (torture/walker.ts, format v1 and v2) held against what the runner knows,
 * the oracle of emitted events and the acknowledged receipts:
 *   - the log is valid (a raw crash state may end in a tail after the last
 *     COMMIT, never after a seal but zeros); after recovery no tail is left;
 *   - every event is exactly an emitted one (payload and timestamp), and per
 *     producer the emits appear as 0, 1, 2, ... in log order;
 *   - every receipt is an event at its seq, never inside a gap, and no two
 *     receipts share a seq;
 *   - a log closed with close() ends with a seal.
 * Seq history across crash states (no seq given to two records) is
 * torture/seqs.ts.
 */

import type { Oracle } from './events.js'
import { type Parsed, type PRec, T_CHECKPOINT, T_EVENT, T_GAP, T_KEY_CHANGE, T_SEAL, T_TOMBSTONE } from './walker.js'

export {
  frame,
  type Header,
  parseHeader,
  type Parsed,
  parseWal,
  type PRec,
  SEG_NAME,
  T_EVENT,
  T_GAP,
  T_SEAL,
} from './walker.js'

export interface Ack {
  seq: number
  p: number
  n: number
}

export interface CheckInput {
  oracle: Oracle
  /** Receipts that resolved before the crash. */
  acked: Iterable<Ack>
  /** A torn tail may remain (a raw crash state, before recovery). */
  allowTail: boolean
  /** Producers whose emits must start at n = 0 in this log (default: every producer seen). */
  startsAtZero?: (p: number) => boolean
  /** Order of producers along the log must be non-decreasing in this key (e.g. the life of a kill -9 run). */
  epochOf?: (p: number) => number
  /** The log must hold exactly these many events (when known). */
  expectEvents?: number
  /** The log was closed with close(): it must end with a seal record. */
  closed?: boolean
}

export interface CheckResult {
  ok: boolean
  failures: string[]
  /** Events read. */
  records: number
  acked: number
}

/** Hold a parsed log against the oracle and the receipts. */
export function checkLog(parsed: Parsed, c: CheckInput): CheckResult {
  const failures: string[] = []
  const fail = (m: string): void => {
    if (failures.length < 20) failures.push(m)
  }
  const p = parsed.problem
  if (p !== undefined && !(c.allowTail && p.tail))
    fail(`log damaged: ${p.what} (segment ${p.segment}, offset ${p.offset}, seq ${p.seq})`)
  const next = new Map<number, number>()
  let epoch = -Infinity
  const bySeq = new Map<number, PRec>()
  for (const r of parsed.events) {
    bySeq.set(r.seq, r)
    const id = c.oracle.identify(r.payload)
    if (id === undefined) {
      fail(
        `seq ${r.seq} (${r.segment}@${r.offset}) holds bytes no emit sent: ${JSON.stringify(r.payload.subarray(0, 80).toString())}`,
      )
      continue
    }
    if (!r.payload.equals(c.oracle.payload(id.p, id.n)))
      fail(
        `seq ${r.seq} claims emit ${id.p}/${id.n} but its payload differs from what was emitted (never emitted, or damaged)`,
      )
    if (r.timeMs !== c.oracle.timeMs(id.p, id.n))
      fail(`seq ${r.seq} (emit ${id.p}/${id.n}) has timestamp ${r.timeMs}, emitted ${c.oracle.timeMs(id.p, id.n)}`)
    const want = next.get(id.p) ?? (c.startsAtZero === undefined || c.startsAtZero(id.p) ? 0 : id.n)
    if (id.n !== want)
      fail(
        `seq ${r.seq} is emit ${id.n} of producer ${id.p}; expected emit ${want} (lost before it, duplicated, or out of emit order)`,
      )
    next.set(id.p, id.n + 1)
    if (c.epochOf !== undefined) {
      const e = c.epochOf(id.p)
      if (e < epoch) fail(`seq ${r.seq} belongs to epoch ${e} but follows records of epoch ${epoch}`)
      epoch = Math.max(epoch, e)
    }
  }
  const gaps = parsed.records.filter((r) => r.type === T_GAP)
  const receipts = new Map<number, Ack>()
  let acked = 0
  for (const a of c.acked) {
    acked++
    const dup = receipts.get(a.seq)
    if (dup !== undefined && (dup.p !== a.p || dup.n !== a.n))
      fail(
        `seq ${a.seq} was acknowledged twice, to emit ${dup.p}/${dup.n} and to emit ${a.p}/${a.n}: a seq given to two events`,
      )
    receipts.set(a.seq, a)
    const r = bySeq.get(a.seq)
    if (r === undefined) {
      const g = gaps.find((x) => x.seq <= a.seq && a.seq <= x.lastSeq)
      if (g !== undefined)
        fail(
          `acknowledged seq ${a.seq} (emit ${a.p}/${a.n}) lies in the gap [${g.seq}, ${g.lastSeq}]: an acknowledged event declared lost`,
        )
      else if (a.seq > parsed.lastSeq)
        fail(`acknowledged seq ${a.seq} (emit ${a.p}/${a.n}) is missing: the log ends at seq ${parsed.lastSeq}`)
      else fail(`acknowledged seq ${a.seq} (emit ${a.p}/${a.n}) holds a record of another type`)
      continue
    }
    const id = c.oracle.identify(r.payload)
    if (id === undefined || id.p !== a.p || id.n !== a.n)
      fail(
        `acknowledged seq ${a.seq} was emit ${a.p}/${a.n} but the log holds ${id ? `${id.p}/${id.n}` : 'unknown bytes'} there`,
      )
  }
  if (!c.allowTail && parsed.tailBytes > 0)
    fail(`${parsed.tailBytes} bytes after the last COMMIT remain after recovery`)
  if (c.expectEvents !== undefined && parsed.events.length !== c.expectEvents)
    fail(`log holds ${parsed.events.length} events, expected exactly ${c.expectEvents}`)
  if (c.closed === true && (parsed.records.at(-1)?.type !== T_SEAL || !parsed.sealed || parsed.tailBytes > 0))
    fail(
      `the log was closed but does not end with a seal (last record ${describe(parsed.records.at(-1))}, ${parsed.tailBytes} bytes after it)`,
    )
  return { ok: failures.length === 0, failures, records: parsed.events.length, acked }
}

/** A record in a failure message. */
export function describe(r: PRec | undefined): string {
  if (r === undefined) return 'none'
  const what =
    r.type === T_EVENT
      ? 'event'
      : r.type === T_SEAL
        ? 'seal'
        : r.type === T_GAP
          ? `gap [${r.seq}, ${r.lastSeq}]`
          : r.type === T_CHECKPOINT
            ? 'checkpoint'
            : r.type === T_KEY_CHANGE
              ? 'key change'
              : r.type === T_TOMBSTONE
                ? 'tombstone'
                : `type ${r.type}`
  return `${what} seq ${r.seq} (${r.segment}@${r.offset})`
}
