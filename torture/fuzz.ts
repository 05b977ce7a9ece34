/**
 * The mutated-log fuzzer's engine, shared by the Fuzz scenario
 * (`mtlog-audit torture --scenario Fuzz`) and the suite (test/torture/fuzz.test.ts).
 *
 *   bases (fuzz-bases.ts) ──► mutate (fuzz-mutate.ts) ──► files of one case, on disk
 *                                                            │
 *        verifyLog · readLog (strict, records) · salvageSegments · exportLog
 *        (strict and salvage) · recoverLog → verifyLog of the output
 *                                                            │
 *   oracle: the ORIGINAL bytes (torture/walker.ts) + which bytes survive ──► verdict
 *
 * A case fails when a reader
 *   - throws anything but an AuditError with a documented code (ERROR_CODES:
 *     test/shared/errors.test.ts checks that docs/errors.md documents each),
 *   - does not settle within CASE_MS_MAX (a hang),
 *   - says "ok" for a log that lost data the log itself shows was
 *     acknowledged: a record of a LATER batch than the first lost seq still
 *     stands intact in a segment-named file holding its segment's original
 *     header, or a later segment's original header still stands (its
 *     predecessor had a successor, so it was sealed), or
 *   - yields an event, or recover writes one, that the original log does not
 *     hold at the seq it claims (salvage may yield a record whose link it says
 *     it could not check: counted, not failed), or
 *   - disagrees with itself: readLog or a strict export succeeds where
 *     verifyLog refuses, or fails where it says ok; recover's output does not
 *     verify.
 * Loss that the log cannot show (no later batch, no later header survives:
 * a cut at a batch boundary of the last segment, a deleted last segment,
 * zeros over the end) is counted as undetectable by design, never failed.
 * The oracle never uses shared/scan.ts or a reader's answer to decide what was
 * lost; it uses the library's answer only for what the library accepted (its
 * last seq).
 */

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  AuditError,
  ERROR_CODES,
  exportLog,
  payloadOf,
  readLog,
  recoverLog,
  salvageSegments,
  verifyLog,
} from '../lib/index.js'
import { type Base, buildBases } from './fuzz-bases.js'
import { baseInfo, type BaseInfo, type Entry, type Mutated, mutate } from './fuzz-mutate.js'
import { mulberry32, pick } from './prng.js'
import { frame, parseHeader, parseWal, type PRec, SEG_NAME, T_EVENT, T_GAP, T_SEAL } from './walker.js'

/** A reader call still pending after this long is a hang (generous: the machine may be loaded). */
export const CASE_MS_MAX = 60_000

const CODES = new Set<string>(Object.values(ERROR_CODES))

/** What one case came to. */
export type Verdict =
  | 'intact' // verify ok, nothing acknowledged lost
  | 'detected' // verify refused
  | 'undetectable' // verify ok, data lost that the log cannot show (by design, without checkpoints)
  | 'lost-but-ok' // verify ok, data lost that the log shows was acknowledged: a failure

export interface CaseResult {
  base: string
  what: string[]
  kinds: string[]
  verdict: Verdict
  /** For undetectable loss: why (cut-at-batch, deleted-last-segment, zeros-over-end, other). */
  undetectable?: string
  failures: {
    kind: 'crash' | 'uncoded' | 'hang' | 'ok-for-lost-data' | 'changed' | 'inconsistent' | 'recover'
    message: string
  }[]
  /** Where a failing case's original and mutated files were kept (FUZZ_KEEP_DIR, default <tmp>/mtlog-fuzz-failures). */
  kept?: string
  /** Counters: codes seen, salvage records whose link was unchecked and not the original's. */
  notes: Record<string, number>
}

export interface Oracle {
  info: BaseInfo
  recs: PRec[]
  /** Batch number of each committed record (parallel to recs). */
  batch: number[]
  headers: Map<string, Buffer>
  firstSeqOf: Map<string, number>
  /** Committed events as readLog renders them on the pristine log. */
  eventJson: Map<number, string>
  events: number[]
  gaps: { fromSeq: number; toSeq: number }[]
  /** Every record frame that checks out on its own anywhere in the original segments: seq → type|timeMs|payload. */
  frames: Map<number, Set<string>>
  /** The base's files on disk, unchanged, and each Buffer's name there. */
  pristine: { dir: string; names: Map<Buffer, string> }
}

function frameKey(type: number, timeMs: number, payload: Buffer): string {
  return `${type}|${timeMs}|${payload.toString('base64')}`
}

/** Every record frame that checks out on its own in the original files (the oracle of "was this in the log at this seq"). */
function allFrames(files: Map<string, Buffer>): Map<number, Set<string>> {
  const out = new Map<number, Set<string>>()
  for (const [name, b] of files) {
    if (!SEG_NAME.test(name)) continue
    const h = parseHeader(b)
    if (typeof h === 'string') continue
    for (let o = h.bytes; o + 64 <= b.length; o++) {
      if (b[o] !== 0x6d || b[o + 1] !== 0x74 || b[o + 2] !== 0x61 || b[o + 3] !== 0x52) continue
      const r = frame(b, o, h, name)
      if (typeof r === 'string') continue
      let s = out.get(r.seq)
      if (s === undefined) out.set(r.seq, (s = new Set()))
      s.add(frameKey(r.type, r.timeMs, r.payload))
    }
  }
  return out
}

async function makeOracle(base: Base, dir: string): Promise<Oracle> {
  const info = baseInfo(base)
  const recs = info.parsed.records
  const batch: number[] = []
  let b = 0
  for (const r of recs) {
    batch.push(b)
    if (r.flags & 1) b++
  }
  const headers = new Map<string, Buffer>()
  const firstSeqOf = new Map<string, number>()
  for (const [s, h] of info.parsed.headers) {
    headers.set(s, Buffer.from(base.files.get(s)!.subarray(0, h.bytes)))
    firstSeqOf.set(s, h.firstSeq)
  }
  writeEntries(dir, new Map([...base.files].map(([n, bytes]) => [n, { kind: 'file', bytes } as Entry])))
  const eventJson = new Map<number, string>()
  for await (const e of readLog(dir)) eventJson.set(e.seq, JSON.stringify(e.event))
  const events = recs.filter((r) => r.type === T_EVENT).map((r) => r.seq)
  if (events.length !== eventJson.size || events.some((s) => !eventJson.has(s)))
    throw new Error(
      `fuzz: base ${base.name}: readLog and the walker disagree on the events (${eventJson.size} vs ${events.length})`,
    )
  const gaps = recs.filter((r) => r.type === T_GAP).map((r) => ({ fromSeq: r.seq, toSeq: r.lastSeq }))
  const names = new Map([...base.files].map(([n, bytes]) => [bytes, n]))
  return {
    info,
    recs,
    batch,
    headers,
    firstSeqOf,
    eventJson,
    events,
    gaps,
    frames: allFrames(base.files),
    pristine: { dir, names },
  }
}

let fifo: string | undefined

function makeFifo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-fuzz-fifo-'))
  const p = path.join(dir, 'fifo')
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  return spawnSync('mkfifo', ['-m', '600', p]).status === 0 ? p : ''
}

/**
 * Write a case's files. A file the mutation left as it was (the same Buffer
 * as the base's) is hard-linked from the pristine copy: the readers only read,
 * and a case costs the bytes it changed, not the whole log.
 */
function writeEntries(
  dir: string,
  files: Map<string, Entry>,
  pristine?: { dir: string; names: Map<Buffer, string> },
): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  for (const [n, e] of files) {
    const p = path.join(dir, n)
    const from = e.kind === 'file' ? pristine?.names.get(e.bytes) : undefined
    if (from !== undefined) fs.linkSync(path.join(pristine!.dir, from), p)
    else if (e.kind === 'file') fs.writeFileSync(p, e.bytes, { mode: 0o600 })
    else if (e.kind === 'dir') fs.mkdirSync(p)
    else if (e.kind === 'fifo') {
      // One FIFO per process, hard-linked (a link to a FIFO is a FIFO): mkfifo(1) once, not per case.
      fifo ??= makeFifo()
      if (fifo !== '') fs.linkSync(fifo, p)
      else fs.writeFileSync(p, '') // no mkfifo here: an empty file stands in
    } else {
      const target =
        e.target === 'dev-zero'
          ? '/dev/zero'
          : e.target === 'outside'
            ? path.join(path.dirname(dir), 'outside.wal')
            : ([...files.keys()].find((k) => SEG_NAME.test(k) && files.get(k)!.kind === 'file') ?? 'missing.wal')
      if (e.target === 'outside') fs.writeFileSync(target, 'MTLAWAL\0 outside')
      fs.symlinkSync(target, p)
    }
  }
}

/**
 * Does the mutated directory still show that data past libLast was
 * acknowledged? From the original: a record of a batch later than the first
 * lost seq's, intact where its segment's original header stands, or a later
 * segment's original header.
 */
export function lossEvidence(
  o: Oracle,
  files: Map<string, Entry>,
  libLast: number,
): { lost: boolean; evidence?: string } {
  const firstLost = o.recs.findIndex((r) => r.lastSeq > libLast)
  if (firstLost < 0) return { lost: false }
  const bL = o.batch[firstLost]!
  const holders = new Map<string, { name: string; bytes: Buffer }[]>()
  for (const [name, e] of files) {
    if (e.kind !== 'file' || !SEG_NAME.test(name)) continue
    for (const [s, h] of o.headers) {
      if (e.bytes.length >= h.length && e.bytes.subarray(0, h.length).equals(h)) {
        let l = holders.get(s)
        if (l === undefined) holders.set(s, (l = []))
        l.push({ name, bytes: e.bytes })
      }
    }
  }
  for (const [s, first] of o.firstSeqOf) {
    if (first > libLast + 1 && holders.has(s))
      return {
        lost: true,
        evidence: `segment ${s}'s original header (first seq ${first}) stands in ${holders.get(s)![0]!.name}`,
      }
  }
  const orig = o.info.base.files
  for (let i = firstLost; i < o.recs.length; i++) {
    if (o.batch[i]! <= bL) continue
    const r = o.recs[i]!
    const src = orig.get(r.segment)!.subarray(r.offset, r.end)
    for (const h of holders.get(r.segment) ?? []) {
      if (h.bytes.length >= r.end && h.bytes.subarray(r.offset, r.end).equals(src))
        return {
          lost: true,
          evidence: `record seq ${r.seq} of a later batch stands intact in ${h.name} at offset ${r.offset}`,
        }
    }
  }
  return { lost: true }
}

/** Why undetectable loss is undetectable, from the shape of the mutation. */
function undetectableClass(o: Oracle, m: Mutated, libLast: number): string {
  const lost = o.recs.filter((r) => r.lastSeq > libLast)
  if (lost.length === 1 && lost[0]!.type === T_SEAL) return 'final-seal-damaged'
  const segs = o.info.parsed.segments
  const gone = segs.filter((s) => !m.files.has(s))
  if (gone.length > 0 && gone.every((s) => segs.indexOf(s) >= segs.length - gone.length)) return 'deleted-last-segment'
  const last = segs.at(-1)!
  const e = m.files.get(last)
  const orig = o.info.base.files.get(last)!
  if (e?.kind === 'file') {
    if (e.bytes.length < orig.length && orig.subarray(0, e.bytes.length).equals(e.bytes)) {
      return o.info.batchEnds.get(last)!.includes(e.bytes.length) ? 'cut-at-batch' : 'cut-inside-batch'
    }
    let i = 0
    while (i < e.bytes.length && e.bytes[i] === orig[i]) i++
    let zeros = true
    for (let k = i; k < e.bytes.length; k++) if (e.bytes[k] !== 0) zeros = false
    if (zeros) return 'zeros-over-end'
  }
  return 'other'
}

function note(res: CaseResult, key: string): void {
  res.notes[key] = (res.notes[key] ?? 0) + 1
}

/**
 * A failing case's evidence: the original log and the mutated directory, as
 * files, so the failure can be looked at exactly (a replay from the seed
 * rebuilds the bases, whose batch boundaries depend on timing).
 */
function keepEvidence(o: Oracle, m: Mutated, seed: number): string | undefined {
  try {
    const dir = path.join(process.env.FUZZ_KEEP_DIR ?? path.join(os.tmpdir(), 'mtlog-fuzz-failures'), `case-${seed}`)
    fs.rmSync(dir, { recursive: true, force: true })
    writeEntries(
      path.join(dir, 'original'),
      new Map([...o.info.base.files].map(([n, bytes]) => [n, { kind: 'file', bytes } as Entry])),
    )
    writeEntries(path.join(dir, 'mutated'), m.files)
    fs.writeFileSync(path.join(dir, 'mutations.txt'), `base ${o.info.base.name}\n${m.what.join('\n')}\n`)
    return dir
  } catch {
    return undefined
  }
}

type Outcome<T> = { ok: true; v: T } | { ok: false; err: unknown } | { hung: true }

async function guarded<T>(fn: () => Promise<T>): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined
  const watchdog = new Promise<{ hung: true }>(
    (resolve) => (timer = setTimeout(() => resolve({ hung: true }), CASE_MS_MAX)),
  )
  try {
    return await Promise.race([
      fn().then(
        (v): Outcome<T> => ({ ok: true, v }),
        (err: unknown): Outcome<T> => ({ ok: false, err }),
      ),
      watchdog,
    ])
  } finally {
    clearTimeout(timer)
  }
}

function short(err: unknown): string {
  if (err instanceof AuditError) return `${err.code}: ${err.message.slice(0, 300)}`
  return `${(err as Error)?.name ?? typeof err}: ${String((err as Error)?.message ?? err).slice(0, 300)}\n${String((err as Error)?.stack ?? '').slice(0, 800)}`
}

export interface FuzzOptions {
  /** Run salvage, export and recover on this case too (verify and readLog always run). */
  full: boolean
}

export class FuzzEngine {
  private constructor(
    readonly root: string,
    readonly oracles: Oracle[],
  ) {}

  /** Build the bases (real logs) under root and learn them. */
  static async create(root: string, log: (l: string) => void = () => {}): Promise<FuzzEngine> {
    fs.mkdirSync(root, { recursive: true, mode: 0o700 })
    const bases = await buildBases(path.join(root, 'bases'), log)
    const oracles: Oracle[] = []
    for (const b of bases) oracles.push(await makeOracle(b, path.join(root, 'pristine', b.name)))
    return new FuzzEngine(root, oracles)
  }

  get baseNames(): string[] {
    return this.oracles.map((o) => o.info.base.name)
  }

  /** One case from its seed alone: the base, the mutations and every reader's verdict. */
  async runCase(seed: number, opts: FuzzOptions, workDir?: string): Promise<CaseResult> {
    const rng = mulberry32(seed)
    const o = pick(rng, this.oracles)
    const m = mutate(o.info, rng)
    const caseDir = workDir ?? fs.mkdtempSync(path.join(this.root, 'case-'))
    const dir = path.join(caseDir, 'wal')
    const res: CaseResult = {
      base: o.info.base.name,
      what: m.what,
      kinds: m.kinds,
      verdict: 'detected',
      failures: [],
      notes: {},
    }
    const fail = (kind: CaseResult['failures'][number]['kind'], message: string): void => {
      res.failures.push({ kind, message })
    }
    const errOf = (what: string, out: { ok: false; err: unknown } | { hung: true }): void => {
      if ('hung' in out) return fail('hang', `${what} did not settle within ${CASE_MS_MAX / 1000} s`)
      const err = out.err
      if (!(err instanceof AuditError)) return fail('crash', `${what} threw a non-AuditError: ${short(err)}`)
      if (!CODES.has(err.code)) return fail('uncoded', `${what} threw an undocumented code: ${short(err)}`)
      note(res, `${what} ${err.code}`)
    }
    try {
      writeEntries(dir, m.files, o.pristine)
      // verifyLog: the verdict.
      const v = await guarded(() => verifyLog(dir))
      let okLast: number | undefined
      if ('ok' in v && v.ok) {
        if (v.v.ok) {
          okLast = v.v.lastSeq ?? 0
          const ev = lossEvidence(o, m.files, okLast)
          if (!ev.lost) res.verdict = 'intact'
          else if (ev.evidence !== undefined) {
            res.verdict = 'lost-but-ok'
            fail(
              'ok-for-lost-data',
              `verifyLog said ok at last seq ${okLast} (original ${o.info.parsed.lastSeq}), but ${ev.evidence}`,
            )
          } else {
            res.verdict = 'undetectable'
            res.undetectable = undetectableClass(o, m, okLast)
          }
          const want = o.gaps.filter((g) => g.toSeq <= okLast!)
          const got = (v.v.gaps ?? []).map((g) => ({ fromSeq: g.fromSeq, toSeq: g.toSeq }))
          if (JSON.stringify(want) !== JSON.stringify(got))
            fail('changed', `verifyLog reported gaps ${JSON.stringify(got)}, the log holds ${JSON.stringify(want)}`)
        }
      } else errOf('verifyLog', v as { ok: false; err: unknown })
      // readLog, strict, every record: never an event the original does not hold at its seq; agrees with verify.
      let seen = 0
      const r = await guarded(async () => {
        for await (const e of readLog(dir, { records: true })) {
          if (e.kind !== undefined && e.kind !== 'event') continue // (undefined: builds before gap and seal records)
          seen++
          if (o.eventJson.get(e.seq) !== JSON.stringify(e.event))
            fail('changed', `readLog yielded seq ${e.seq} with content the original does not hold there`)
        }
      })
      if ('ok' in r && !r.ok) errOf('readLog', r)
      if ('hung' in r) errOf('readLog', r)
      if (okLast !== undefined) {
        const want = o.events.filter((s) => s <= okLast!).length
        if ('ok' in r && !r.ok) fail('inconsistent', `verifyLog said ok, readLog threw ${short(r.err)}`)
        else if (seen !== want)
          fail(
            'inconsistent',
            `verifyLog said ok through seq ${okLast}: readLog yielded ${seen} events, the original holds ${want} there`,
          )
      } else if ('ok' in r && r.ok) {
        fail(
          'inconsistent',
          `verifyLog refused (${'ok' in v && v.ok ? v.v.firstBad?.message : 'it threw'}), readLog read the log without an error`,
        )
      }
      if (opts.full) await this.fullReaders(o, dir, caseDir, rng, okLast, v, res, fail, errOf)
    } catch (err) {
      fail('crash', `the case itself threw: ${short(err)}`)
    } finally {
      if (res.failures.length > 0) res.kept = keepEvidence(o, m, seed)
      if (workDir === undefined) fs.rmSync(caseDir, { recursive: true, force: true })
    }
    return res
  }

  private async fullReaders(
    o: Oracle,
    dir: string,
    caseDir: string,
    rng: () => number,
    okLast: number | undefined,
    v: Outcome<Awaited<ReturnType<typeof verifyLog>>>,
    res: CaseResult,
    fail: (kind: CaseResult['failures'][number]['kind'], message: string) => void,
    errOf: (what: string, out: { ok: false; err: unknown } | { hung: true }) => void,
  ): Promise<void> {
    // Salvage: every record it calls linked must be the original's at its seq.
    const s = await guarded(async () => {
      for await (const seg of salvageSegments(dir)) {
        for (const it of seg.items) {
          if (it.kind !== 'record') continue
          const c = it.rec
          // (`?? T_EVENT`: builds before format v2 had events only and no type field, for before/after runs)
          const key = frameKey(c.type ?? T_EVENT, c.timeMs, payloadOf(c))
          if (o.frames.get(c.seq)?.has(key) !== true) {
            if (c.linkVerified)
              fail('changed', `salvageSegments yielded seq ${c.seq} (linked) that the original does not hold there`)
            else note(res, 'salvage: unlinked record not the original')
          }
        }
      }
    })
    if (!('ok' in s && s.ok)) errOf('salvageSegments', s as { ok: false; err: unknown })
    // Export, strict and salvage.
    const format = pick(rng, ['jsonl', 'clef', 'csv', 'jsonl', 'clef', 'csv', 'parquet'] as const)
    const ex = await guarded(() => exportLog(dir, { format, output: path.join(caseDir, `strict.${format}`) }))
    if ('ok' in ex && ex.ok) {
      if (okLast === undefined) fail('inconsistent', `exportLog (${format}) wrote a file where verifyLog refused`)
      else if (ex.v.records !== o.events.filter((q) => q <= okLast).length)
        fail('inconsistent', `exportLog (${format}) wrote ${ex.v.records} events, verify said ok through seq ${okLast}`)
    } else {
      errOf(`exportLog ${format}`, ex as { ok: false; err: unknown })
      if (okLast !== undefined && 'ok' in ex)
        fail('inconsistent', `verifyLog said ok, exportLog threw ${short(ex.err)}`)
    }
    const exs = await guarded(() =>
      exportLog(dir, { format, output: path.join(caseDir, `salvage.${format}`), salvage: true }),
    )
    if (!('ok' in exs && exs.ok)) errOf(`exportLog ${format} salvage`, exs as { ok: false; err: unknown })
    // Recover into a fresh directory: the output verifies and holds only the original's events at their seqs.
    const out = path.join(caseDir, 'recovered')
    const rc = await guarded(() => recoverLog(dir, { output: out }))
    if (!('ok' in rc && rc.ok)) {
      errOf('recoverLog', rc as { ok: false; err: unknown })
      return
    }
    const rv = await guarded(() => verifyLog(out))
    if (!('ok' in rv && rv.ok)) return errOf('verifyLog of the recovered log', rv as { ok: false; err: unknown })
    if (!rv.v.ok) return fail('recover', `recoverLog's output does not verify: ${rv.v.firstBad?.message}`)
    const files = new Map<string, Buffer>()
    for (const n of fs.readdirSync(out)) if (SEG_NAME.test(n)) files.set(n, fs.readFileSync(path.join(out, n)))
    const p = parseWal(files)
    if (p.problem !== undefined)
      fail(
        'recover',
        `recoverLog's output is not a valid log by the walker: ${p.problem.what} at ${p.problem.segment}:${p.problem.offset}`,
      )
    const unverified = new Set(rc.v.unverifiedLinks)
    for (const e of p.events) {
      if (o.frames.get(e.seq)?.has(frameKey(e.type, e.timeMs, e.payload)) === true) continue
      if (unverified.has(e.seq)) note(res, 'recover: unlinked record not the original (reported)')
      else
        fail(
          'changed',
          `recoverLog wrote seq ${e.seq}, which the original does not hold at that seq, and did not report its link as unchecked`,
        )
    }
    void v
  }
}
