/**
 * "A seq names one record, for ever" (docs/wal-format.md §0), checked across
 * crash states by the torture runner's own walker (torture/walker.ts).
 *
 * What the device shows: the committed log, every record that checks out on
 * its own (framing, CRC with its segment's salt, type, range) after the last
 * COMMIT of the last segment, and in the side files of earlier cuts
 * (<segment>.torn-<ms>[-k], with that segment's salt). A seq any of them names
 * was used. From one crash state to a later one of the same history (recovery,
 * a writer's open and appends, crashes in between):
 *   1. every committed record stays, byte for byte the same record (same hash);
 *   2. a seq the earlier state showed holds, later, the same record or a gap:
 *      never another event or seal (a gap the device showed is never followed
 *      by an event inside its range);
 *   3. no used seq is forgotten: the later state still shows a seq at least as
 *      high (else the next open would hand it out again);
 *   4. a gap written by the open in between is exactly [L + 1, M]: L the
 *      earlier committed end, M the highest seq the earlier state showed.
 * Within one state, a record cut earlier (tail, side file) and a committed
 * record at the same seq must be the same record, unless the committed one is
 * a gap. Rules 1-4 need a writer's honest disk: lying storage forgets by design.
 */

import { describe } from './checker.js'
import { frame, parseHeader, parseWal, type Parsed, type PRec, T_GAP } from './walker.js'

export interface Device {
  /** The committed log, in order (of a mirrored log: the copy that is further). */
  committed: PRec[]
  /** Records that check out on their own past the last COMMIT and in side files (and the other copy's own). */
  cut: PRec[]
  /** The highest seq any of them names (0 when none). */
  maxSeen: number
  /** The committed end (the highest over the copies of a mirrored log). */
  lastSeq: number
}

const SIDE = /^(\d{20}\.wal)\.torn-[\d-]+$/
const MAGIC = Buffer.from([0x6d, 0x74, 0x61, 0x52])

/** Records that check out on their own in b[from, end), found by their magic. */
function loose(b: Buffer, from: number, segment: string, header: Buffer, out: PRec[]): void {
  const h = parseHeader(header)
  if (typeof h === 'string') return
  for (let i = b.indexOf(MAGIC, from); i !== -1;) {
    const r = frame(b, i, h, segment)
    if (typeof r === 'string') i = b.indexOf(MAGIC, i + 1)
    else {
      out.push(r)
      i = b.indexOf(MAGIC, r.end)
    }
  }
}

const maxSeq = (rs: readonly PRec[], from = 0): number => rs.reduce((x, r) => Math.max(x, r.lastSeq), from)

/** What one WAL directory (name → bytes) shows. */
export function device(files: Map<string, Buffer>, parsed: Parsed = parseWal(files)): Device {
  const cut: PRec[] = []
  const last = parsed.segments.at(-1)
  if (last !== undefined && parsed.headers.has(last)) {
    const b = files.get(last)!
    loose(b, parsed.commitEnd, last, b, cut)
  }
  for (const [name, b] of files) {
    const m = SIDE.exec(name)
    const seg = m === null ? undefined : files.get(m[1]!)
    if (seg !== undefined) loose(b, 0, name, seg, cut)
  }
  return { committed: parsed.records, cut, maxSeen: maxSeq(cut, parsed.lastSeq), lastSeq: parsed.lastSeq }
}

/** Both copies of a mirrored log, as one device: what the further copy committed, and everything else either shows. */
export function union(a: Device, b: Device): Device {
  const [long, short] = a.lastSeq >= b.lastSeq ? [a, b] : [b, a]
  // The shorter copy's committed records are the longer's, or they are seen beside them (and checked as such).
  const own = short.committed.filter((r, i) => !(long.committed[i]?.hash.equals(r.hash) ?? false))
  return {
    committed: long.committed,
    cut: [...long.cut, ...short.cut, ...own],
    maxSeen: Math.max(a.maxSeen, b.maxSeen),
    lastSeq: long.lastSeq,
  }
}

/** Non-gap records by seq, and their seqs sorted (for range look-ups under a gap). */
function index(records: readonly PRec[]): { at: Map<number, PRec[]>; seqs: number[] } {
  const at = new Map<number, PRec[]>()
  for (const r of records) {
    if (r.type === T_GAP) continue
    const l = at.get(r.seq)
    if (l === undefined) at.set(r.seq, [r])
    else l.push(r)
  }
  return { at, seqs: [...at.keys()].sort((x, y) => x - y) }
}

function firstAtOrAfter(seqs: number[], s: number): number {
  let lo = 0
  let hi = seqs.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (seqs[mid]! < s) lo = mid + 1
    else hi = mid
  }
  return lo
}

const key = (r: PRec): string => `${r.seq}:${r.hash.toString('latin1')}`

/**
 * Rule 2 for records `was` against records `now`: the same record or a gap at
 * every shared seq. Under a gap `was` showed, a record that `known` (the
 * earlier state) showed too is not new (a side file cut before the gap).
 * Only records of `now` at or past the lowest seq of `was` are looked at.
 */
function conflicts(
  was: readonly PRec[],
  now: readonly PRec[],
  known: readonly PRec[],
  fail: (m: string) => void,
): void {
  if (was.length === 0) return
  const from = was.reduce((m, r) => Math.min(m, r.seq), Infinity)
  const near = now.filter((r) => r.lastSeq >= from)
  const { at } = index(near)
  const old = was.some((r) => r.type === T_GAP) ? new Set(known.filter((r) => r.lastSeq >= from).map(key)) : undefined
  const fresh = old === undefined ? undefined : index(near.filter((r) => !old.has(key(r))))
  for (const r of was) {
    if (r.type !== T_GAP) {
      for (const x of at.get(r.seq) ?? [])
        if (!x.hash.equals(r.hash))
          fail(`seq ${r.seq} was ${describe(r)} and is now ${describe(x)}: a seq given to two records`)
      continue
    }
    const { at: fat, seqs } = fresh!
    for (let i = firstAtOrAfter(seqs, r.seq); i < seqs.length && seqs[i]! <= r.lastSeq; i++)
      for (const x of fat.get(seqs[i]!)!)
        fail(
          `seq ${x.seq} was in ${describe(r)} and is now ${describe(x)}: a seq the device showed as used was handed out again`,
        )
  }
}

/** A failure sink: the first 10 distinct messages (both copies of a mirrored log say the same thing twice). */
function collect(failures: string[], label: string): (m: string) => void {
  return (m) => {
    const line = label + m
    if (failures.length < 10 && !failures.includes(line)) failures.push(line)
  }
}

/** Within one state: what was cut (tail, side files) against what is committed. */
export function checkDevice(d: Device, label = ''): string[] {
  const failures: string[] = []
  const fail = collect(failures, label)
  conflicts(d.cut, d.committed, d.cut, fail)
  // Two records that were cut, at one seq: the seq was written twice (a gap and an event may be in either order).
  for (const [seq, rs] of index(d.cut).at)
    for (const x of rs)
      if (!x.hash.equals(rs[0]!.hash))
        fail(`seq ${seq} is both ${describe(rs[0])} and ${describe(x)}: a seq given to two records`)
  return failures
}

/** Rules 1-3 from an earlier crash state to a later one of the same history. */
export function checkHistory(was: Device, now: Device, label = ''): string[] {
  const failures: string[] = []
  const fail = collect(failures, label)
  // Rule 1: the committed log only grows (both are in log order).
  for (let i = 0; i < was.committed.length; i++) {
    const r = was.committed[i]!
    const x = now.committed[i]
    if (x === undefined || x.seq !== r.seq || x.lastSeq !== r.lastSeq || !x.hash.equals(r.hash)) {
      fail(`committed ${describe(r)} is ${x === undefined ? 'gone' : `now ${describe(x)}`}`)
      break
    }
  }
  // Rule 2 for what `was` cut; its committed records are rule 1's, what `now` cut beside them checkDevice(now)'s.
  conflicts(was.cut, [...now.committed, ...now.cut], [...was.committed, ...was.cut], fail)
  if (was.maxSeen > now.maxSeen)
    fail(
      `seq ${was.maxSeen} was used on the device and is forgotten (the device now shows up to ${now.maxSeen}): the next open would hand it out again`,
    )
  failures.push(...checkDevice(now, label))
  return failures
}

/** What open() must record as lost when it resumes from a state: [L + 1, M], or nothing. */
export function expectedLost(d: Device): { fromSeq: number; toSeq: number } | undefined {
  return d.maxSeen > d.lastSeq ? { fromSeq: d.lastSeq + 1, toSeq: d.maxSeen } : undefined
}

/** Rule 4: the record after the earlier committed end, when one open ran in between. */
export function checkNewGap(was: Device, now: Parsed, label = ''): string[] {
  const want = expectedLost(was)
  const next = now.records.find((r) => r.seq === was.lastSeq + 1)
  const newGaps = now.records.filter((r) => r.type === T_GAP && r.seq > was.lastSeq)
  const failures: string[] = []
  if (want !== undefined && next !== undefined && !(next.type === T_GAP && next.lastSeq === want.toSeq))
    failures.push(
      `${label}the device showed seqs up to ${want.toSeq} past the committed end ${was.lastSeq}, but the next record is ${describe(next)}, not the gap [${want.fromSeq}, ${want.toSeq}]`,
    )
  for (const g of newGaps)
    if (want === undefined || g.seq !== want.fromSeq || g.lastSeq !== want.toSeq)
      failures.push(
        `${label}${describe(g)} written, but the seqs lost were ${want === undefined ? 'none' : `[${want.fromSeq}, ${want.toSeq}]`}`,
      )
  return failures
}
