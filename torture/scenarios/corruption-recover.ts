/**
 * RandomCorruption's recover part (lib/repair, `mtlog-audit recover`): on the
 * damaged copy, salvage without the mirror must carry every event the damage
 * did not touch into the new log at its seq; repair with the mirror must give
 * back every event, 100 %.
 */

import fs from 'node:fs'
import path from 'node:path'
import { checkLog, parseWal, type PRec } from '../checker.js'
import type { IterCtx, IterResult } from './common.js'
import { note } from './common.js'

export type RecoverFn = (
  dir: string,
  o: { output: string; mirror?: string },
) => Promise<{ ok: boolean; records: { intact: number; lost: number; fromMirror: number } }>

export function readWal(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.wal')) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

/** recover: salvage without the mirror (every event the damage did not touch, at its seq), repair with it (all). */
export async function salvageAndRepair(
  ctx: IterCtx,
  r: IterResult,
  recoverLog: RecoverFn,
  scratch: string,
  mirrorDir: string,
  d: { i: number; seg: string; from: number; to: number; headerBytes: number },
  events: readonly PRec[],
  closed: Parameters<typeof checkLog>[1],
): Promise<void> {
  const where = `recover after damage to ${d.seg} bytes ${d.from}..${d.to}`
  const out1 = path.join(ctx.workDir, `salvage-${d.i}`)
  try {
    await recoverLog(scratch, { output: out1 })
  } catch (err) {
    r.failures.push({ message: `recover (salvage) threw: ${(err as Error).message}`, detail: where })
    return
  }
  const got = new Map(parseWal(readWal(out1)).events.map((x) => [x.seq, x]))
  let intact = 0
  let kept = 0
  for (const rec of events) {
    const touched = rec.segment === d.seg && (d.from < d.headerBytes || (rec.offset <= d.to && rec.end > d.from))
    if (touched) continue
    intact++
    const o = got.get(rec.seq)
    if (o !== undefined && o.payload.equals(rec.payload) && o.timeMs === rec.timeMs) kept++
  }
  note(r, 'salvage: intact records', intact)
  note(r, 'salvage: intact records kept', kept)
  if (kept !== intact)
    r.failures.push({
      message: `recover (salvage) kept ${kept} of ${intact} events the damage did not touch`,
      detail: where,
    })
  const out2 = path.join(ctx.workDir, `repair-${d.i}`)
  try {
    await recoverLog(scratch, { output: out2, mirror: mirrorDir })
  } catch (err) {
    r.failures.push({ message: `recover (repair from the mirror) threw: ${(err as Error).message}`, detail: where })
    return
  }
  const rc = checkLog(parseWal(readWal(out2)), { ...closed, closed: false })
  if (!rc.ok)
    r.failures.push({ message: `recover with the mirror did not repair everything: ${rc.failures[0]}`, detail: where })
  else note(r, 'repaired 100 % from the mirror')
  fs.rmSync(out1, { recursive: true, force: true })
  fs.rmSync(out2, { recursive: true, force: true })
}
