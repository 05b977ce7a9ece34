/**
 * RandomCorruption: damage acknowledged data of a closed log (with a mirror):
 * a flipped bit, a zeroed 512-byte sector, two sectors swapped, one sector
 * copied over another. verifyLog must report it at the record that holds the
 * first damaged byte (segment and offset), and the writer's recovery must
 * refuse with ERR_AUDIT_CORRUPT naming the same place. Damage inside the last
 * batch of the last segment is indistinguishable from a torn write (docs/
 * wal-format.md section 7): it must then be reported as a torn tail that covers
 * the damage, and is counted apart. The mirror copy must hold every record
 * intact, so a repair from it is possible. When lib/index.ts exports
 * recoverLog (`mtlog-audit recover`), it is driven too: salvage (no mirror) must
 * carry every record the damage did not touch into the new log at its seq, and
 * repair (with the mirror) must give back every record, 100 %.
 */

import fs from 'node:fs'
import path from 'node:path'
import * as lib from '../../lib/index.js'
import { checkLog, parseWal, type PRec } from '../checker.js'
import { recoverState } from '../crashcheck.js'
import { makeOracle } from '../events.js'
import { int, pick, type Rng } from '../prng.js'
import { SimFs } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

const SECTOR = 512
type Kind = 'bit-flip' | 'zero-sector' | 'swap-sectors' | 'dup-sector'

function damage(rng: Rng, b: Buffer, kind: Kind): Buffer {
  const out = Buffer.from(b)
  const sectors = Math.ceil(b.length / SECTOR)
  const sec = (): number => int(rng, 0, sectors - 1) * SECTOR
  if (kind === 'bit-flip') {
    const at = int(rng, 0, b.length - 1)
    out[at] = out[at]! ^ (1 << int(rng, 0, 7))
  } else if (kind === 'zero-sector') {
    const s = sec()
    out.fill(0, s, Math.min(s + SECTOR, b.length))
  } else {
    const a = sec()
    let c = sec()
    if (sectors > 1) while (c === a) c = sec()
    const la = Math.min(SECTOR, b.length - a)
    const lc = Math.min(SECTOR, b.length - c)
    const n = Math.min(la, lc)
    b.copy(out, c, a, a + n)
    if (kind === 'swap-sectors') b.copy(out, a, c, c + n)
  }
  return out
}

function lastDiff(x: Buffer, y: Buffer): number {
  for (let i = x.length - 1; i >= 0; i--) if (x[i] !== y[i]) return i
  return -1
}

function readWal(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.wal')) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

type RecoverFn = (
  dir: string,
  o: { output: string; mirror?: string },
) => Promise<{ ok: boolean; records: { intact: number; lost: number; fromMirror: number } }>

function firstDiff(x: Buffer, y: Buffer): number {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i
  return -1
}

export const corruption: Scenario = {
  name: 'RandomCorruption',
  description:
    'bit flips, zeroed, swapped and duplicated sectors in acknowledged data: detected and located by verify and by open; the mirror holds every record',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const mirror = path.join(ctx.workDir, 'mirror')
    const oracle = makeOracle({ salt: ctx.seed })
    const run = await runSim({
      dir,
      mirror,
      oracle,
      producer: 1,
      count: ctx.quick ? int(ctx.rng, 40, 150) : int(ctx.rng, 100, 400),
      rng: ctx.rng,
      journal: ctx.journal,
    })
    if (run.openError || run.rejected.length > 0 || run.closeError) {
      r.failures.push({
        message: `building the log failed: ${run.openError?.message ?? run.closeError?.message ?? run.rejected[0]!.code}`,
      })
      return r
    }
    r.acked = run.acks.length
    const simfs = SimFs.from(undefined)
    for (const op of run.ops) simfs.apply(op)
    const all = simfs.volatileFiles()
    const primary = all.get(dir)!
    const copy = all.get(mirror)!
    const pristine = parseWal(primary)
    const base = checkLog(pristine, { oracle, acked: run.acks, allowTail: false, expectRecords: run.acks.length })
    if (!base.ok) {
      r.failures.push({ message: `the undamaged log does not check: ${base.failures[0]}` })
      return r
    }
    const m = checkLog(parseWal(copy), { oracle, acked: run.acks, allowTail: false, expectRecords: run.acks.length })
    if (!m.ok) r.failures.push({ message: `the mirror copy does not hold every record: ${m.failures[0]}` })
    // A real directory for verifyLog (it reads the file system).
    const scratch = path.join(ctx.workDir, 'scratch')
    fs.mkdirSync(scratch, { recursive: true })
    for (const [n, b] of primary) fs.writeFileSync(path.join(scratch, n), b)
    const recoverLog = (lib as Record<string, unknown>).recoverLog as RecoverFn | undefined
    const mirrorDir = path.join(ctx.workDir, 'mirror-real')
    if (recoverLog !== undefined) {
      fs.mkdirSync(mirrorDir, { recursive: true })
      for (const [n, b] of copy) fs.writeFileSync(path.join(mirrorDir, n), b)
    } else note(r, 'salvage/repair not driven: lib/index.ts exports no recoverLog')
    const names = pristine.segments
    const bySeg = new Map<string, PRec[]>()
    for (const rec of pristine.records)
      (bySeg.get(rec.segment) ?? bySeg.set(rec.segment, []).get(rec.segment)!).push(rec)
    const lastSeg = names.at(-1)!
    const lastRecs = bySeg.get(lastSeg) ?? []
    // The last batch of the last segment starts after the second-to-last COMMIT there.
    let lastBatchStart = 80
    {
      const recsL = lastRecs
      const lastAck = recsL.at(-1)
      if (lastAck) {
        // batch boundaries come from the oracle-free parse: a record ends a batch when the next batch's first record follows; use the flags on disk.
        const b = primary.get(lastSeg)!
        for (const rec of recsL) if (rec.end < lastAck.end && (b[rec.offset + 13]! & 1) === 1) lastBatchStart = rec.end
      }
    }
    // recover: salvage without the mirror, repair with it.
    const salvageAndRepair = async (i: number, seg: string, from: number, to: number): Promise<void> => {
      const where = `recover after damage to ${seg} bytes ${from}..${to}`
      const out1 = path.join(ctx.workDir, `salvage-${i}`)
      try {
        await recoverLog!(scratch, { output: out1 })
      } catch (err) {
        r.failures.push({ message: `recover (salvage) threw: ${(err as Error).message}`, detail: where })
        return
      }
      const got = parseWal(readWal(out1)).records
      let intact = 0
      let kept = 0
      for (const rec of pristine.records) {
        const touched = rec.segment === seg && (from < 80 || (rec.offset <= to && rec.end > from))
        if (touched) continue
        intact++
        const o = got[rec.seq - 1]
        if (o !== undefined && o.seq === rec.seq && o.payload.equals(rec.payload) && o.timeMs === rec.timeMs) kept++
      }
      note(r, 'salvage: intact records', intact)
      note(r, 'salvage: intact records kept', kept)
      if (kept !== intact)
        r.failures.push({
          message: `recover (salvage) kept ${kept} of ${intact} records the damage did not touch`,
          detail: where,
        })
      const out2 = path.join(ctx.workDir, `repair-${i}`)
      try {
        await recoverLog!(scratch, { output: out2, mirror: mirrorDir })
      } catch (err) {
        r.failures.push({ message: `recover (repair from the mirror) threw: ${(err as Error).message}`, detail: where })
        return
      }
      const rc = checkLog(parseWal(readWal(out2)), {
        oracle,
        acked: run.acks,
        allowTail: false,
        expectRecords: run.acks.length,
      })
      if (!rc.ok)
        r.failures.push({
          message: `recover with the mirror did not repair everything: ${rc.failures[0]}`,
          detail: where,
        })
      else note(r, 'repaired 100 % from the mirror')
      fs.rmSync(out1, { recursive: true, force: true })
      fs.rmSync(out2, { recursive: true, force: true })
    }
    const cases = ctx.quick ? 12 : 40
    for (let i = 0; i < cases; i++) {
      const seg = pick(ctx.rng, names)
      const kind = pick(ctx.rng, ['bit-flip', 'zero-sector', 'swap-sectors', 'dup-sector'] as const)
      const orig = primary.get(seg)!
      const bad = damage(ctx.rng, orig, kind)
      const at = firstDiff(orig, bad)
      if (at < 0) continue // e.g. two identical (zero) sectors
      note(r, `${kind} cases`)
      r.crashStates++
      const rec = (bySeg.get(seg) ?? []).find((x) => x.offset <= at && at < x.end)
      const expectOffset = at < 80 ? 0 : (rec?.offset ?? -1)
      const inLastBatch = seg === lastSeg && at >= lastBatchStart
      // In the last segment, damage that leaves no intact record of a later batch behind it also reads as a torn write.
      const inLastSeg = seg === lastSeg
      const where = `${kind} in ${seg}, first damaged byte ${at} (record at ${expectOffset}${inLastBatch ? ', last batch' : ''})`
      fs.writeFileSync(path.join(scratch, seg), bad)
      try {
        const v = await lib.verifyLog(scratch)
        // A tail cut at or before the damage, torn or (damage that left only zeros) a zero tail, reports it.
        const covers = (t: { segment: string; offset: number } | undefined): boolean =>
          t !== undefined && t.segment === seg && t.offset <= at
        const tailKind = covers(v.tornTail) ? 'a torn tail' : covers(v.zeroTail) ? 'a zero tail' : undefined
        const tornCovers = tailKind !== undefined
        if (inLastSeg && !inLastBatch && v.ok && tornCovers) {
          note(r, `last-segment damage with no intact later batch reported as ${tailKind}`)
        } else if (inLastBatch) {
          const covered = tornCovers || (v.firstBad?.segment === seg && v.firstBad.offset <= at)
          if (!covered)
            r.failures.push({
              message: `verify did not report damage in the last batch: ${JSON.stringify({ ok: v.ok, firstBad: v.firstBad, tornTail: v.tornTail, zeroTail: v.zeroTail })}`,
              detail: where,
            })
          else note(r, v.ok ? `last-batch damage reported as ${tailKind}` : 'last-batch damage reported as corrupt')
        } else if (v.ok || v.firstBad === undefined) {
          r.failures.push({ message: `verify missed the damage: ok=${v.ok}, records ${v.records}`, detail: where })
        } else if (v.firstBad.segment !== seg || v.firstBad.offset !== expectOffset) {
          r.failures.push({
            message: `verify located the damage at ${v.firstBad.segment}@${v.firstBad.offset} (${v.firstBad.problem}), expected ${seg}@${expectOffset}`,
            detail: where,
          })
        } else note(r, 'detected and located by verify')
        // The writer's recovery on the same bytes.
        const files = new Map(primary)
        files.set(seg, bad)
        const o = recoverState(new Map([[dir, files]]), dir)
        if (inLastBatch || (inLastSeg && v.ok && tornCovers)) {
          const t = o.rec?.tornTail ?? o.rec?.zeroTail
          if (o.error === undefined && !covers(t))
            r.failures.push({
              message: `open neither refused nor cut the damaged last batch (${JSON.stringify(t)})`,
              detail: where,
            })
        } else if (o.error === undefined) {
          r.failures.push({
            message: `open accepted a log with damage in acknowledged data (lastSeq ${o.rec!.lastSeq})`,
            detail: where,
          })
        } else if (o.error.code === 'ERR_AUDIT_CORRUPT') {
          const d = o.error.details as { segment?: string; offset?: number }
          if (d.segment !== seg || d.offset !== expectOffset)
            r.failures.push({
              message: `open refused but named ${d.segment}@${d.offset}, expected ${seg}@${expectOffset}: ${o.error.message}`,
              detail: where,
            })
          else note(r, 'refused and located by open')
        } else if (!(
          seg === names[0] &&
          expectOffset === 0 &&
          (o.error.code === 'ERR_AUDIT_NOT_A_WAL' || o.error.code === 'ERR_AUDIT_VERSION_UNSUPPORTED')
        )) {
          r.failures.push({
            message: `open refused with ${o.error.code}, expected ERR_AUDIT_CORRUPT: ${o.error.message}`,
            detail: where,
          })
        } else note(r, 'first header damage refused as not-a-WAL')
        // Repairable: the mirror's copy of the damaged range is intact.
        const twin = copy.get(seg)
        if (twin === undefined || !twin.equals(orig))
          r.failures.push({
            message: 'the mirror copy of the damaged segment differs from what was acknowledged',
            detail: where,
          })
        else note(r, 'mirror copy intact (repairable)')
        r.recovered += pristine.records.length
        if (recoverLog !== undefined && r.failures.length === 0) await salvageAndRepair(i, seg, at, lastDiff(orig, bad))
      } finally {
        fs.writeFileSync(path.join(scratch, seg), orig)
      }
      if (r.failures.length > 0) return r
    }
    if (typeof (lib as Record<string, unknown>).recover === 'function') note(r, 'recover API present but not driven')
    return r
  },
}
