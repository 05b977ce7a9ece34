/**
 * RandomCorruption: damage a closed log (with a mirror): a flipped bit, a
 * zeroed 512-byte sector, two sectors swapped, one sector copied over another.
 * A closed log is sealed: every byte of it is acknowledged data, so it has no
 * tail (docs/wal-format.md §0). verifyLog must report the damage at the record
 * that holds the first damaged byte (segment and offset, exact), and the
 * writer's recovery must refuse with ERR_AUDIT_CORRUPT naming the same place.
 * Reporting damage as a torn or zero tail is a failure, with two exceptions:
 *   - a torn seal: damage only inside the final seal record (the seal is its
 *     own write after the last batch is durable) may be cut, at the seal's
 *     offset exactly, so that no event is lost;
 *   - zeros from the first damaged byte to the end of the file: what a write
 *     that never reached the disk leaves, which the device alone cannot tell
 *     from a torn last batch (wal-format.md §0, "What the rule cannot tell
 *     apart"). Then open with the mirror must give back every event.
 * The mirror copy must hold every record intact. When lib/index.ts exports
 * recoverLog (`mtlog-audit recover`), it is driven too: salvage (no mirror)
 * must carry every event the damage did not touch into the new log at its
 * seq, and repair (with the mirror) must give back every event, 100 %.
 */

import fs from 'node:fs'
import path from 'node:path'
import * as lib from '../../lib/index.js'
import { checkLog, parseWal, type PRec, T_SEAL } from '../checker.js'
import { recoverMirroredAndCheck, recoverState } from '../crashcheck.js'
import { makeOracle } from '../events.js'
import { int, pick, type Rng } from '../prng.js'
import { SimFs } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'
import { type RecoverFn, salvageAndRepair } from './corruption-recover.js'

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

function firstDiff(x: Buffer, y: Buffer): number {
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i
  return -1
}

function lastDiff(x: Buffer, y: Buffer): number {
  for (let i = x.length - 1; i >= 0; i--) if (x[i] !== y[i]) return i
  return -1
}

function allZero(b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i] !== 0) return false
  return true
}

type Tail = { segment: string; offset: number } | undefined

export const corruption: Scenario = {
  name: 'RandomCorruption',
  description:
    'bit flips, zeroed, swapped and duplicated sectors in a sealed log: detected and located by verify and by open, never cut as a tail; the mirror holds every record',
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
    const closed = { oracle, acked: run.acks, allowTail: false, expectEvents: run.acks.length, closed: true }
    const base = checkLog(pristine, closed)
    if (!base.ok) {
      r.failures.push({ message: `the undamaged log does not check: ${base.failures[0]}` })
      return r
    }
    const m = checkLog(parseWal(copy), closed)
    if (!m.ok) r.failures.push({ message: `the mirror copy does not hold every record: ${m.failures[0]}` })
    // A real directory for verifyLog (it reads the file system).
    const scratch = path.join(ctx.workDir, 'scratch')
    fs.mkdirSync(scratch, { recursive: true })
    for (const [n, b] of primary) fs.writeFileSync(path.join(scratch, n), b)
    const v0 = await lib.verifyLog(scratch)
    if (
      !v0.ok ||
      !v0.sealed ||
      v0.tornTail ||
      v0.zeroTail ||
      v0.events !== run.acks.length ||
      v0.lastSeq !== pristine.lastSeq
    )
      r.failures.push({
        message: `verify of the undamaged closed log: ${JSON.stringify({ ok: v0.ok, sealed: v0.sealed, events: v0.events, lastSeq: v0.lastSeq, tornTail: v0.tornTail, zeroTail: v0.zeroTail })}, the checker reads ${run.acks.length} events up to seq ${pristine.lastSeq}, sealed`,
      })
    if (r.failures.length > 0) return r
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
    const seal = pristine.records.at(-1)!
    const headerBytes = (seg: string): number => pristine.headers.get(seg)!.bytes
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
      const expectOffset = at < headerBytes(seg) ? 0 : (rec?.offset ?? -1)
      // The two tails a sealed log may show (see the header comment).
      const to = lastDiff(orig, bad)
      const inSeal = seg === lastSeg && seal.type === T_SEAL && at >= seal.offset
      const lostWrite = seg === lastSeg && !inSeal && to >= seal.offset && allZero(bad, at, to + 1)
      const where = `${kind} in ${seg} (${orig.length} bytes, seal at ${seal.offset}), damaged bytes ${at}..${to} (record at ${expectOffset}${inSeal ? ', the seal' : lostWrite ? ', zeros over the end of the last batch and the seal' : ''})`
      /** A tail a sealed log may show for this damage, or why not. */
      const tailOk = (t: Tail): string | undefined =>
        t === undefined || t.segment !== seg
          ? 'none'
          : inSeal
            ? t.offset === seal.offset
              ? undefined
              : `a torn seal cut at ${t.offset}, not at the seal's offset ${seal.offset}`
            : lostWrite && t.offset <= at
              ? undefined
              : 'damage in a sealed log'
      fs.writeFileSync(path.join(scratch, seg), bad)
      let restoreFromMirror = false
      try {
        const v = await lib.verifyLog(scratch)
        const vt: Tail = v.tornTail ?? v.zeroTail
        if (v.ok && vt !== undefined) {
          const why = tailOk(vt)
          if (why !== undefined)
            r.failures.push({
              message: `verify reported ${why} as a ${v.tornTail ? 'torn' : 'zero'} tail at ${vt.segment}@${vt.offset}: a sealed log has no tail`,
              detail: where,
            })
          else if (inSeal) note(r, 'torn seal reported by verify (no event in it)')
          else
            note(
              r,
              'zeros over the last batch and the seal reported as a tail by verify (a lost write, wal-format.md §0)',
            )
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
        if (o.error === undefined) {
          const cut: Tail = o.rec!.tornTail ?? o.rec!.zeroTail
          const why = tailOk(cut)
          if (why !== undefined)
            r.failures.push({
              message: `open accepted ${why === 'none' ? 'the damaged log without a word' : `${why}, cut as a ${o.rec!.tornTail ? 'torn' : 'zero'} tail at ${cut!.segment}@${cut!.offset}`} (lastSeq ${o.rec!.lastSeq})`,
              detail: where,
            })
          else if (inSeal) {
            if (o.rec!.lastSeq !== seal.seq - 1)
              r.failures.push({
                message: `open cut a torn seal but resumed at seq ${o.rec!.lastSeq}, not ${seal.seq - 1}`,
                detail: where,
              })
            else note(r, 'torn seal cut by open (no event lost)')
          } else restoreFromMirror = true
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
        // A lost write at the end of the log: the device cannot tell, the mirror can.
        if (restoreFromMirror) {
          const mo = recoverMirroredAndCheck(
            new Map([
              [dir, files],
              [mirror, copy],
            ]),
            [dir, mirror],
            oracle,
            run.acks,
          )
          if (mo.refused !== undefined || mo.failures.length > 0 || mo.records !== run.acks.length)
            r.failures.push({
              message: `zeros over the end of the closed log were cut, and open with the mirror did not give every event back: ${mo.refused?.message ?? mo.failures[0] ?? `${mo.records} events`}`,
              detail: where,
            })
          else
            note(
              r,
              'zeros over the last batch and the seal cut by open alone, every event given back by open with the mirror',
            )
        }
        // Repairable: the mirror's copy of the damaged range is intact.
        const twin = copy.get(seg)
        if (twin === undefined || !twin.equals(orig))
          r.failures.push({
            message: 'the mirror copy of the damaged segment differs from what was acknowledged',
            detail: where,
          })
        else note(r, 'mirror copy intact (repairable)')
        r.recovered += pristine.events.length
        if (recoverLog !== undefined && r.failures.length === 0)
          await salvageAndRepair(
            ctx,
            r,
            recoverLog,
            scratch,
            mirrorDir,
            { i, seg, from: at, to, headerBytes: headerBytes(seg) },
            pristine.events,
            closed,
          )
      } finally {
        fs.writeFileSync(path.join(scratch, seg), orig)
      }
      if (r.failures.length > 0) return r
    }
    if (typeof (lib as Record<string, unknown>).recover === 'function') note(r, 'recover API present but not driven')
    return r
  },
}
