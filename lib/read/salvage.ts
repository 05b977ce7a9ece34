/**
 * Salvage: every intact record of a damaged WAL, and an exact account of the
 * seqs that are not (lib/repair/recover.ts writes them into a new WAL; replay and
 * export use them with --salvage).
 *
 *   segment file(s) ──► scanCopy: walk records from offset 80; at damage, resync
 *   (one per copy:      by scanning for the record magic and checking the CRC
 *    WAL [+ mirror])    with the segment's salt (looksLikeRecord) ──► candidates
 *                                                                     + damage spots
 *                    ──► mergeSegment: candidates of both copies by seq; each one
 *                        is checked against the hash chain where its predecessor
 *                        is known; seqs nobody has become LostRanges naming the
 *                        segment, offset, byte count and the problem found there
 *                    ──► SegmentResult: items in seq order (records and lost ranges)
 *
 * Seq bounds come from the file names (a segment is named by its first seq), so
 * a lost range is exact even when a whole segment is gone. Only the end of the
 * log cannot be bounded: bytes after the last intact record of the last segment
 * are reported as the `tail` (an unknown number of records, or a torn write).
 * Input files are only read. Memory: one segment per copy at a time.
 */

import { listSegments } from './reader.js'
import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { crc32c } from '../../shared/crc32c.js'
import {
  checkRecord,
  decodeSegmentHeader,
  HASH_BYTES,
  looksLikeRecord,
  parseSegmentFileName,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  readI64,
  type RecordFrame,
  RecordFlag,
  type RecordRules,
  RULES_V2,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_BYTES_V1,
  type SegmentHeader,
  segmentFileName,
  sha256,
  versionUnsupported,
} from '../../shared/format.js'
import { LIMITS } from '../../shared/limits.js'
import { nextIntact } from '../../shared/scan.js'
import { readRegular } from '../../shared/files.js'
import { checkDir } from './args.js'

const PAYLOAD_MAX = LIMITS.eventBytesMax.max
const MAGIC = Buffer.alloc(4)
MAGIC.writeUInt32LE(RECORD_MAGIC)

export type CopyName = 'primary' | 'mirror'

/** A record that checks out on its own: magic, length, CRC with the segment's salt, type. */
export interface Candidate {
  type: number
  seq: number
  /** Last seq of the record's range (seq, except for a gap record). */
  lastSeq: number
  timeMs: number
  flags: number
  batchIndex: number
  offset: number
  end: number
  copy: 0 | 1
  buf: Buffer
}

/** Bytes where no record checks out, and the first problem found there (docs/wal-format.md section 6). */
export interface DamagedBytes {
  offset: number
  bytes: number
  problem: string
}

export interface CopyScan {
  copy: 0 | 1
  present: boolean
  size: number
  buf: Buffer | undefined
  header: SegmentHeader | undefined
  headerBytes: Buffer | undefined
  /** Where records start: the header's size (v1 80 bytes, v2 128), from the header or its twin's. */
  start: number
  /** Why the header cannot be used as is: missing, short, magic, checksum, layout, file-name. */
  headerProblem: string | undefined
  /** Whether records could be checked at all (a salt was found). */
  saltKnown: boolean
  cands: Candidate[]
  spots: DamagedBytes[]
}

/** Seqs that no copy holds intact. */
export interface LostRange {
  fromSeq: number
  toSeq: number
  /** The segment file that held (or should have held) them. */
  segment: string
  /** Where the lost records began and how many bytes they spanned (0, 0 for a missing segment). */
  offset: number
  bytes: number
  /** The problem found at offset: checksum, zero, magic, truncated, length, reserved, chain, duplicate, header-<problem>, missing-segment. */
  reason: string
  message: string
}

/** An intact-looking record that was not used. */
export interface SkippedRecord {
  seq: number
  segment: string
  offset: number
  copy: CopyName
  reason: 'chain' | 'duplicate' | 'out-of-place'
  message: string
}

/** A byte range that was damaged in one copy and taken from the other (mirror repair). */
export interface RepairRange {
  segment: string
  offset: number
  bytes: number
  fromSeq: number | undefined
  toSeq: number | undefined
  damagedIn: CopyName
  takenFrom: CopyName
  problem: string
}

export interface Chosen extends Candidate {
  /** The record's hash link was checked against its predecessor (false right after a loss). */
  linkVerified: boolean
}

export type SalvageItem = { kind: 'record'; rec: Chosen } | { kind: 'lost'; range: LostRange }

export interface SegmentResult {
  name: string
  nameSeq: number
  last: boolean
  items: SalvageItem[]
  skipped: SkippedRecord[]
  repairs: RepairRange[]
  /** The header bytes (v1 80, v2 128) of a copy whose header checks out and matches the file name. */
  header: Buffer | undefined
  /** Unreadable bytes after the last intact record that hold no known seq (a torn write in the last segment; garbage in a sealed one). */
  tail: { segment: string; offset: number; bytes: number; problem: string } | undefined
  /** Intact records after the last COMMIT of the last segment (an unfinished batch). */
  uncommitted: { fromSeq: number; toSeq: number } | undefined
  /** Copies whose header is bad (or whose file is missing), and whether a good header was available from the other copy. */
  badHeaders: { copy: CopyName; problem: string; repaired: boolean }[]
  /**
   * Byte-for-byte reproducible: good header, intact records tiling the file, nothing lost or skipped in it, ends
   * at a COMMIT. Its items may still end with a lost range of seqs that no file holds (a missing next segment).
   */
  clean: boolean
  /** Bytes read (both copies). */
  bytesRead: number
}

const COPY_NAMES: readonly CopyName[] = ['primary', 'mirror']

/** Segment names of a directory, with the read side's errors. */
export const listWal = listSegments

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readRegular(file, LIMITS.segmentBytesMax.max)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (err instanceof AuditError) throw err // not a regular file: ERR_AUDIT_NOT_A_FILE
    throw new AuditError(ERROR_CODES.IO, `cannot read ${file}: ${(err as Error).message}`, {
      cause: err,
      details: { segment: path.basename(file) },
    })
  }
}

function intactAt(buf: Buffer, off: number, saltSeed: number, rules: RecordRules): RecordFrame | undefined {
  return looksLikeRecord(buf, off, buf.length, saltSeed, PAYLOAD_MAX, rules)
}

/** The problem of the bytes at off, in the order of docs/wal-format.md section 6 (seq and chain are checked later). */
function problemAt(buf: Buffer, off: number, saltSeed: number): string {
  const r = checkRecord(buf, off, buf.length, saltSeed, -1, Buffer.alloc(HASH_BYTES), PAYLOAD_MAX)
  return r.ok ? 'unknown' : r.problem
}

/** Walk one copy of a segment; at damage, resync on the next record that checks out. */
export function scanCopy(
  buf: Buffer | undefined,
  copy: 0 | 1,
  nameSeq: number,
  twin: SegmentHeader | undefined,
  name: string,
): CopyScan {
  const scan: CopyScan = {
    copy,
    present: buf !== undefined,
    size: buf?.length ?? 0,
    buf,
    header: undefined,
    headerBytes: undefined,
    start: SEGMENT_HEADER_BYTES,
    headerProblem: undefined,
    saltKnown: false,
    cands: [],
    spots: [],
  }
  if (buf === undefined) {
    scan.headerProblem = 'missing'
    return scan
  }
  const h = decodeSegmentHeader(buf.subarray(0, SEGMENT_HEADER_BYTES))
  let saltSeed: number | undefined
  let rules: RecordRules = RULES_V2
  let start = buf[8] === 1 ? SEGMENT_HEADER_BYTES_V1 : SEGMENT_HEADER_BYTES
  if ('problem' in h) {
    if (h.problem === 'version') {
      throw versionUnsupported(name, h.version)
    }
    scan.headerProblem = h.problem
    // The copies are byte-identical: the twin's salt is this file's salt. Without a
    // twin, try the salt bytes as they are; a record that checks out with them proves them.
    if (twin !== undefined) {
      saltSeed = twin.saltSeed
      rules = twin.rules
      start = twin.bytes
    } else if (buf.length >= 72) saltSeed = crc32c(buf.subarray(64, 72))
  } else {
    saltSeed = h.saltSeed
    rules = h.rules
    start = h.bytes
    if (h.firstSeq !== nameSeq) scan.headerProblem = 'file-name'
    else {
      scan.header = h
      scan.headerBytes = Buffer.from(buf.subarray(0, h.bytes))
    }
  }
  scan.start = start
  if (saltSeed === undefined || buf.length <= start) return scan
  let off = start
  const cands: Candidate[] = []
  while (off < buf.length) {
    const r = intactAt(buf, off, saltSeed, rules)
    if (r !== undefined) {
      cands.push({
        type: r.type,
        lastSeq: r.lastSeq,
        seq: r.seq,
        timeMs: readI64(buf, off + 24),
        flags: r.flags,
        batchIndex: r.batchIndex,
        offset: off,
        end: r.end,
        copy,
        buf,
      })
      off = r.end
      continue
    }
    const problem = problemAt(buf, off, saltSeed)
    // Resync with the one record walker's loose step (shared/scan.ts).
    const next = nextIntact(buf, off + 1, buf.length, saltSeed, PAYLOAD_MAX, rules)?.offset ?? buf.length
    scan.spots.push({ offset: off, bytes: next - off, problem })
    off = next
  }
  scan.cands = cands
  scan.saltKnown = cands.length > 0 || scan.header !== undefined || twin !== undefined
  return scan
}

function linkOk(c: Candidate, prevHash: Buffer): boolean {
  const stored = c.buf.subarray(c.offset + 32, c.offset + 64)
  const bytes = Buffer.from(c.buf.subarray(c.offset + 8, c.end))
  prevHash.copy(bytes, 24)
  return sha256(bytes).equals(stored)
}

function storedHash(c: Candidate): Buffer {
  return Buffer.from(c.buf.subarray(c.offset + 32, c.offset + 64))
}

/** For each candidate, the candidate that ends where it starts in the same copy (its neighbour on disk). */
function precedingRecords(copies: CopyScan[]): Map<Candidate, Candidate> {
  const m = new Map<Candidate, Candidate>()
  for (const c of copies)
    for (let i = 1; i < c.cands.length; i++)
      if (c.cands[i - 1]!.end === c.cands[i]!.offset) m.set(c.cands[i]!, c.cands[i - 1]!)
  return m
}

/**
 * Which of the candidates claiming one seq is the record (finding 7 of issue
 * 14: recover picks the record the chain proves, not the one that claims the
 * seq). With the previous record's hash known, the first candidate that links
 * to it, or none. Without it (right after a loss), the best-proven one: a
 * record of a later seq in the segment links to its stored hash (2), it links
 * to the stored hash of its neighbour on disk (2 when the neighbour's range
 * ends just before its seq, 1 otherwise: a record whose seq was edited keeps
 * its original hash, so the genuine next record still links to it); ties go
 * to the primary copy, then to file order.
 */
function pick(
  list: Candidate[],
  prevHash: Buffer | undefined,
  bySeq: Map<number, Candidate[]>,
  before: Map<Candidate, Candidate>,
): Candidate | undefined {
  if (prevHash !== undefined) return list.find((c) => linkOk(c, prevHash))
  if (list.length === 1) return list[0]
  let best = list[0]!
  let bestScore = -1
  for (const c of list) {
    let score = 0
    const h = storedHash(c)
    if ((bySeq.get(c.lastSeq + 1) ?? []).some((n) => linkOk(n, h))) score += 2
    const p = before.get(c)
    if (p !== undefined && linkOk(c, storedHash(p))) score += p.lastSeq + 1 === c.seq ? 2 : 1
    if (score > bestScore) {
      best = c
      bestScore = score
    }
  }
  return best
}

/** Where the salvage stands between segments. */
export interface SalvageState {
  nextSeq: number
  /** Stored hash of the record nextSeq − 1 when it was used, else undefined (the next link cannot be checked). */
  prevHash: Buffer | undefined
  /** Last intact record with COMMIT seen (for the uncommitted tail). */
  lastCommitSeq: number
}

export function initialState(): SalvageState {
  return { nextSeq: 1, prevHash: Buffer.alloc(HASH_BYTES), lastCommitSeq: 0 }
}

/** What the steps of mergeSegment share while they merge one segment. */
interface MergeCtx {
  name: string
  nameSeq: number
  nextNameSeq: number | undefined
  copies: CopyScan[]
  state: SalvageState
  /** The copy whose header checks out and matches the file name. */
  good: CopyScan | undefined
  /** Lost ranges are located in the primary copy unless it is absent or unreadable. */
  pref: CopyScan
  /** The first header problem other than a missing file. */
  headerReason: string | undefined
  items: SalvageItem[]
  skipped: SkippedRecord[]
  repairs: RepairRange[]
  clean: boolean
  /** The last record used in this segment. */
  prevChosen: Chosen | undefined
  /** Where the last record used (or lost for the chain) in this segment ends. */
  prevEndInSeg: number
}

function newMergeCtx(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  copies: CopyScan[],
  state: SalvageState,
): MergeCtx {
  const good = copies.find((c) => c.header !== undefined)
  const pref = copies.find((c) => c.present && c.saltKnown) ?? copies.find((c) => c.present) ?? copies[0]!
  return {
    name,
    nameSeq,
    nextNameSeq,
    copies,
    state,
    good,
    pref,
    headerReason: copies.map((c) => c.headerProblem).find((p) => p !== undefined && p !== 'missing'),
    items: [],
    skipped: [],
    repairs: [],
    clean: good !== undefined,
    prevChosen: undefined,
    prevEndInSeg: good?.start ?? pref.start,
  }
}

function skip(ctx: MergeCtx, c: Candidate, reason: SkippedRecord['reason'], message: string): void {
  ctx.skipped.push({ seq: c.seq, segment: ctx.name, offset: c.offset, copy: COPY_NAMES[c.copy]!, reason, message })
  ctx.clean = false
}

function sameBytes(a: Candidate, b: Candidate): boolean {
  return a.buf.subarray(a.offset, a.end).equals(b.buf.subarray(b.offset, b.end))
}

/** Seqs before this segment that no segment holds: a missing segment. */
function lostBeforeSegment(ctx: MergeCtx): void {
  const { state, nameSeq } = ctx
  if (state.nextSeq >= nameSeq) return
  ctx.items.push({
    kind: 'lost',
    range: {
      fromSeq: state.nextSeq,
      toSeq: nameSeq - 1,
      segment: segmentFileName(state.nextSeq),
      offset: 0,
      bytes: 0,
      reason: 'missing-segment',
      message: `no segment holds seqs ${state.nextSeq}..${nameSeq - 1}: the segment file(s) before ${ctx.name} are missing`,
    },
  })
  state.nextSeq = nameSeq
  state.prevHash = undefined
  ctx.clean = false
}

/**
 * The chain start of a good header: it is the link to check when the segment
 * before is unknown; when it is known, a header that does not continue its
 * chain is reported (its records are still checked against that segment's last
 * hash). Returns whether the chain start is broken.
 */
function checkChainStart(ctx: MergeCtx): boolean {
  const { state, good } = ctx
  if (state.nextSeq !== ctx.nameSeq || good === undefined) return false
  if (state.prevHash === undefined) {
    state.prevHash = Buffer.from(good.header!.chainStart)
    return false
  }
  if (state.prevHash.equals(good.header!.chainStart)) return false
  ctx.clean = false
  return true
}

/**
 * Candidates by seq, primary copy first, then in file order. Two records of
 * one copy may claim the same seq (a seq edited with its CRC recomputed, or a
 * batch written again): the hash chain decides which one is the record (pick).
 */
function groupBySeq(ctx: MergeCtx): Map<number, Candidate[]> {
  const bySeq = new Map<number, Candidate[]>()
  for (const c of ctx.copies) {
    for (const cand of c.cands) {
      if (cand.seq < ctx.nameSeq || (ctx.nextNameSeq !== undefined && cand.seq >= ctx.nextNameSeq)) {
        skip(ctx, cand, 'out-of-place', `seq ${cand.seq} does not belong in ${ctx.name}`)
        continue
      }
      const list = bySeq.get(cand.seq)
      if (list === undefined) bySeq.set(cand.seq, [cand])
      else list.push(cand)
    }
  }
  return bySeq
}

/** Seqs fromSeq..toSeq lost in this segment, from the end of the last record used up to endOff (the file's end when undefined). */
function lostHere(
  ctx: MergeCtx,
  fromSeq: number,
  toSeq: number,
  endOff: number | undefined,
  reasonHint?: string,
): void {
  const { copies, pref, name } = ctx
  const startOff = ctx.prevEndInSeg
  const stop = endOff ?? Math.max(...copies.map((c) => c.size))
  const seqs = fromSeq === toSeq ? `seq ${fromSeq} is` : `seqs ${fromSeq}..${toSeq} are`
  if (endOff === undefined && copies.every((c) => !c.present || c.size <= startOff)) {
    // The segment ends cleanly at a record boundary, before the next segment's
    // first seq: nothing of this segment is lost (it stays clean), the seqs are in no file.
    ctx.items.push({
      kind: 'lost',
      range: {
        fromSeq,
        toSeq,
        segment: segmentFileName(fromSeq),
        offset: 0,
        bytes: 0,
        reason: 'missing-segment',
        message: `${seqs} in no segment: ${name} ends cleanly at offset ${startOff} and the next segment starts at seq ${toSeq + 1} (a segment file is missing, or ${name} was cut at a record boundary)`,
      },
    })
    return
  }
  ctx.clean = false
  const spotIn = (c: CopyScan): DamagedBytes | undefined =>
    c.spots.find((s) => s.offset + s.bytes > startOff && s.offset < stop)
  // No damage there, but a record that checks out and was not used: it does not fit the chain (an edited seq).
  const unfit = ctx.skipped.some((k) => k.reason === 'chain' && k.offset >= startOff && k.offset < stop)
  let reason = reasonHint ?? spotIn(pref)?.problem ?? (unfit ? 'chain' : undefined)
  if (!pref.saltKnown && ctx.headerReason !== undefined) reason = `header-${ctx.headerReason}`
  if (!pref.present) reason = 'missing-segment'
  reason ??= startOff >= pref.size ? 'truncated' : 'unknown'
  let message = `${seqs} not intact in the ${COPY_NAMES[pref.copy]} copy of ${name} from offset ${startOff} (${reason})`
  for (const other of copies) {
    if (other === pref) continue
    const why = !other.present
      ? 'missing-segment'
      : !other.saltKnown
        ? `header-${other.headerProblem}`
        : (spotIn(other)?.problem ?? (startOff >= other.size ? 'truncated' : 'chain'))
    message += `, nor in the ${COPY_NAMES[other.copy]} copy (${why})`
  }
  ctx.items.push({
    kind: 'lost',
    range: { fromSeq, toSeq, segment: name, offset: startOff, bytes: Math.max(0, stop - startOff), reason, message },
  })
}

/** Report the candidates for seq s that were not chosen and are not the chosen record's identical twin. */
function skipRivals(ctx: MergeCtx, s: number, list: Candidate[], chosen: Candidate): void {
  for (const c of list) {
    if (c === chosen) continue
    if (c.copy === chosen.copy && sameBytes(c, chosen)) skip(ctx, c, 'duplicate', `a second record with seq ${s}`)
    else if (c.copy !== chosen.copy && !sameBytes(c, chosen))
      skip(ctx, c, 'chain', `the ${COPY_NAMES[c.copy]} copy of seq ${s} differs and does not chain`)
    else if (!sameBytes(c, chosen))
      skip(
        ctx,
        c,
        'chain',
        `seq ${s} is claimed by two records; the one at offset ${chosen.offset} is the one the hash chain proves, this one is not (its seq or content was changed, or it was written by someone else)`,
      )
  }
}

/** Seq s has candidates but none chains: they are skipped and their range is lost. */
function loseUnchained(ctx: MergeCtx, s: number, list: Candidate[]): void {
  for (const c of list)
    skip(
      ctx,
      c,
      'chain',
      `seq ${s} checks out on its own but does not chain to seq ${s - 1} (modified, or re-sealed by someone else)`,
    )
  lostHere(ctx, s, list[0]!.lastSeq, list[0]!.end, 'chain')
  ctx.state.nextSeq = list[0]!.lastSeq + 1
  ctx.state.prevHash = undefined
  ctx.prevEndInSeg = list[0]!.end
}

/** Mirror repair: the chosen record (seq s) is damaged or absent in the other copy; adjacent repairs are merged. */
function mirrorRepairs(ctx: MergeCtx, s: number, list: Candidate[], chosen: Candidate): void {
  const { repairs } = ctx
  for (const c of ctx.copies) {
    if (c.copy === chosen.copy || !c.present) continue // a whole missing file is one repair, see headerRepairs
    const twin = list.find((x) => x.copy === c.copy && sameBytes(x, chosen)) ?? list.find((x) => x.copy === c.copy)
    if (twin !== undefined && (twin === chosen || sameBytes(twin, chosen))) continue
    const spot = c.spots.find((x) => x.offset <= chosen.offset && x.offset + x.bytes > chosen.offset)
    const problem = !c.present
      ? 'missing-segment'
      : !c.saltKnown
        ? `header-${c.headerProblem}`
        : twin !== undefined
          ? 'chain'
          : (spot?.problem ?? 'absent')
    const prev = repairs[repairs.length - 1]
    if (
      prev !== undefined &&
      prev.damagedIn === COPY_NAMES[c.copy] &&
      prev.problem === problem &&
      prev.offset + prev.bytes === chosen.offset &&
      prev.toSeq === s - 1
    ) {
      prev.bytes += chosen.end - chosen.offset
      prev.toSeq = chosen.lastSeq
    } else {
      repairs.push({
        segment: ctx.name,
        offset: chosen.offset,
        bytes: chosen.end - chosen.offset,
        fromSeq: s,
        toSeq: chosen.lastSeq,
        damagedIn: COPY_NAMES[c.copy]!,
        takenFrom: COPY_NAMES[chosen.copy]!,
        problem,
      })
    }
  }
}

/** Decide seq s: the record the chain proves (pick), the rivals it beats, the seqs lost before it, its mirror repairs. */
function mergeSeq(ctx: MergeCtx, s: number, bySeq: Map<number, Candidate[]>, before: Map<Candidate, Candidate>): void {
  const { state } = ctx
  const list = bySeq.get(s)!
  if (s < state.nextSeq) {
    for (const c of list) skip(ctx, c, 'duplicate', `seq ${s} appears again after seq ${state.nextSeq - 1}`)
    return
  }
  // After a loss the link to the record before cannot be checked: the chain
  // around each candidate decides instead (pick).
  const prevHash = s === state.nextSeq ? state.prevHash : undefined
  const chosen = pick(list, prevHash, bySeq, before)
  if (chosen !== undefined) skipRivals(ctx, s, list, chosen)
  if (s > state.nextSeq) {
    lostHere(ctx, state.nextSeq, s - 1, (chosen ?? list[0]!).offset)
    state.nextSeq = s
    state.prevHash = undefined
  }
  if (chosen === undefined) {
    loseUnchained(ctx, s, list)
    return
  }
  const rec: Chosen = { ...chosen, linkVerified: state.prevHash !== undefined }
  if (!rec.linkVerified || chosen.offset !== ctx.prevEndInSeg) ctx.clean = false
  mirrorRepairs(ctx, s, list, chosen)
  ctx.items.push({ kind: 'record', rec })
  ctx.prevChosen = rec
  ctx.prevEndInSeg = chosen.end
  state.nextSeq = chosen.lastSeq + 1
  state.prevHash = storedHash(chosen)
  if (chosen.flags & RecordFlag.COMMIT) state.lastCommitSeq = chosen.lastSeq
}

/** Header repairs (a copy's header is bad, the other's is good) and whole-file repairs (a copy is missing), listed first. */
function headerRepairs(ctx: MergeCtx): void {
  const { good, copies, repairs, name } = ctx
  if (good === undefined) return
  for (const c of copies) {
    if (c.header !== undefined || !c.present) continue
    repairs.unshift({
      segment: name,
      offset: 0,
      bytes: good.start,
      fromSeq: undefined,
      toSeq: undefined,
      damagedIn: COPY_NAMES[c.copy]!,
      takenFrom: COPY_NAMES[good.copy]!,
      problem: `header-${c.headerProblem}`,
    })
  }
  for (const c of copies) {
    if (c.present) continue
    const size = Math.max(...copies.map((x) => x.size))
    repairs.unshift({
      segment: name,
      offset: 0,
      bytes: size,
      fromSeq: ctx.nameSeq,
      toSeq: ctx.prevChosen?.seq,
      damagedIn: COPY_NAMES[c.copy]!,
      takenFrom: COPY_NAMES[good.copy]!,
      problem: 'missing-segment',
    })
  }
}

/**
 * The end of the segment: seqs up to the next segment that no copy holds, the
 * bytes after the last intact record (a torn write at the end of the log, or
 * garbage at the end of a sealed segment), and the uncommitted last batch.
 */
function segmentEnd(ctx: MergeCtx): Pick<SegmentResult, 'tail' | 'uncommitted'> {
  const { state, prevChosen, copies, pref } = ctx
  let tail: SegmentResult['tail']
  let uncommitted: SegmentResult['uncommitted']
  let endGap = false
  if (ctx.nextNameSeq !== undefined) {
    if (state.nextSeq < ctx.nextNameSeq) {
      lostHere(ctx, state.nextSeq, ctx.nextNameSeq - 1, undefined)
      endGap = true
    }
    state.nextSeq = Math.max(state.nextSeq, ctx.nextNameSeq)
    state.prevHash = endGap ? undefined : state.prevHash
    if (prevChosen === undefined || !(prevChosen.flags & RecordFlag.COMMIT)) ctx.clean = false
  }
  const end = ctx.prevEndInSeg
  const present = copies.filter((c) => c.present)
  if (!endGap && present.length > 0 && present.every((c) => c.size > end)) {
    const c = present.includes(pref) ? pref : present[0]!
    const spot = c.spots.find((s) => s.offset + s.bytes > end)
    const problem = !c.saltKnown ? `header-${c.headerProblem ?? 'unknown'}` : (spot?.problem ?? 'unknown')
    tail = { segment: ctx.name, offset: end, bytes: c.size - end, problem }
    ctx.clean = false
  }
  if (ctx.nextNameSeq === undefined && prevChosen !== undefined && state.lastCommitSeq < prevChosen.seq) {
    uncommitted = { fromSeq: Math.max(state.lastCommitSeq + 1, ctx.nameSeq), toSeq: prevChosen.seq }
    ctx.clean = false
  }
  return { tail, uncommitted }
}

/** Copies whose header is bad or missing, and a header that breaks the chain of the segment before. */
function badHeadersOf(ctx: MergeCtx, chainStartBroken: boolean): SegmentResult['badHeaders'] {
  const { good } = ctx
  const badHeaders = ctx.copies
    .filter((c) => c.headerProblem !== undefined)
    .map((c) => ({ copy: COPY_NAMES[c.copy]!, problem: c.headerProblem!, repaired: good !== undefined }))
  if (chainStartBroken) badHeaders.push({ copy: COPY_NAMES[good!.copy]!, problem: 'chain-start', repaired: false })
  return badHeaders
}

/** Merge the scans of one segment (one or two copies) into records and lost ranges, in seq order. */
export function mergeSegment(
  name: string,
  nameSeq: number,
  nextNameSeq: number | undefined,
  copies: CopyScan[],
  state: SalvageState,
): Omit<SegmentResult, 'bytesRead'> {
  const ctx = newMergeCtx(name, nameSeq, nextNameSeq, copies, state)
  lostBeforeSegment(ctx)
  const chainStartBroken = checkChainStart(ctx)
  const bySeq = groupBySeq(ctx)
  const before = precedingRecords(copies)
  for (const s of [...bySeq.keys()].sort((a, b) => a - b)) mergeSeq(ctx, s, bySeq, before)
  headerRepairs(ctx)
  const { tail, uncommitted } = segmentEnd(ctx)
  const badHeaders = badHeadersOf(ctx, chainStartBroken)
  return {
    name,
    nameSeq,
    last: nextNameSeq === undefined,
    items: ctx.items,
    skipped: ctx.skipped,
    repairs: ctx.repairs,
    header: ctx.good?.headerBytes,
    tail,
    uncommitted,
    clean: ctx.clean,
    badHeaders,
  }
}

/**
 * Salvage a WAL (and its mirror), one segment at a time, in seq order. The
 * union of both copies' segment names is walked; a name missing in one copy is
 * taken from the other.
 */
export async function* salvageSegments(dir: string, mirror?: string): AsyncGenerator<SegmentResult> {
  checkDir(dir, 'salvageSegments')
  if (mirror !== undefined) checkDir(mirror, 'salvageSegments', 'mirror')
  const dirs = mirror === undefined ? [path.resolve(dir)] : [path.resolve(dir), path.resolve(mirror)]
  const lists = await Promise.all(dirs.map((d) => listWal(d)))
  const names = [...new Set(lists.flatMap((l) => l.segments))].sort()
  const state = initialState()
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    const nameSeq = parseSegmentFileName(name)!
    const nextNameSeq = i + 1 < names.length ? parseSegmentFileName(names[i + 1]!)! : undefined
    const bufs = await Promise.all(dirs.map((d) => readIfPresent(path.join(d, name))))
    const first = bufs.map((b, k) => scanCopy(b, k as 0 | 1, nameSeq, undefined, name))
    // A copy whose header is damaged is scanned again with its twin's salt.
    const good = first.find((c) => c.header !== undefined)?.header
    const scans = first.map((c, k) =>
      c.present && c.header === undefined && good !== undefined
        ? scanCopy(bufs[k], k as 0 | 1, nameSeq, good, name)
        : c,
    )
    if (good !== undefined) {
      for (const c of scans) {
        if (c.header !== undefined && !c.header.salt.equals(good.salt)) {
          throw new AuditError(
            ERROR_CODES.CORRUPT,
            `the WAL and its mirror hold different histories: segment headers differ (segment ${name}, offset 0, seq ${nameSeq})`,
            {
              details: { segment: name, offset: 0, seq: nameSeq, problem: 'mirror-diverged' },
            },
          )
        }
      }
    }
    const merged = mergeSegment(name, nameSeq, nextNameSeq, scans, state)
    yield { ...merged, bytesRead: bufs.reduce((a, b) => a + (b?.length ?? 0), 0) }
  }
}

/** The payload bytes of a chosen record. */
export function payloadOf(c: Candidate): Buffer {
  return c.buf.subarray(c.offset + RECORD_HEADER_BYTES, c.end)
}
