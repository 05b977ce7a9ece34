/**
 * DiskFull: ENOSPC at a random fill level through the simulated disk (short
 * write, then ENOSPC), and for real on a size-limited tmpfs mounted for the
 * iteration where the machine allows mount (root); skipped with the reason
 * otherwise. Fail closed, keep every acknowledged event, reopen cleanly once
 * there is room again (and with a still-full disk: open either works or fails
 * with ERR_AUDIT_IO, and changes nothing it should not).
 */

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink } from '../../lib/index.js'
import { type Ack, checkLog, parseWal } from '../checker.js'
import { dirFiles, recoverAndCheck, recoverState, reopenAndAppend } from '../crashcheck.js'
import { checkHistory, checkNewGap, device } from '../seqs.js'
import { makeOracle } from '../events.js'
import { int } from '../prng.js'
import { POLICIES } from '../sim-fs.js'
import { runSim, SMALL } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'
import { checkFaultedRun } from './faults-common.js'

let mountState: { ok: boolean; reason: string } | undefined

function canMount(probeDir: string): { ok: boolean; reason: string } {
  if (mountState) return mountState
  if (process.platform !== 'linux') return (mountState = { ok: false, reason: 'not Linux' })
  const d = path.join(probeDir, 'probe')
  fs.mkdirSync(d, { recursive: true })
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', d], { stdio: 'pipe' })
    execFileSync('umount', [d], { stdio: 'pipe' })
    mountState = { ok: true, reason: '' }
  } catch (err) {
    mountState = {
      ok: false,
      reason: `mount refused: ${
        String((err as { stderr?: Buffer }).stderr ?? (err as Error).message)
          .trim()
          .split('\n')[0]
      }`,
    }
  }
  return mountState
}

/** Segments and side files (the checker ignores other names). */
function readDirFiles(dir: string): Map<string, Buffer> {
  const m = new Map<string, Buffer>()
  for (const n of fs.readdirSync(dir)) if (n.includes('.wal')) m.set(n, fs.readFileSync(path.join(dir, n)))
  return m
}

async function realFull(ctx: IterCtx, r: IterResult): Promise<void> {
  const m = canMount(ctx.workDir)
  if (!m.ok) {
    note(r, 'real tmpfs runs skipped')
    r.skipped = `real disk-full part: ${m.reason}`
    return
  }
  const mnt = path.join(ctx.workDir, 'tmpfs')
  fs.mkdirSync(mnt, { recursive: true })
  const kb = int(ctx.rng, 40, 400)
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kb}k`, 'tmpfs', mnt], { stdio: 'pipe' })
  try {
    const oracle = makeOracle({ salt: ctx.seed ^ 0x5eed })
    const acks: Ack[] = []
    let failed: string | undefined
    const sink = await AuditSink.open({ dir: mnt, ...SMALL })
    let n = 0
    let ackedAfterFailure = 0
    while (n < 5000) {
      const wave = int(ctx.rng, 1, 24)
      const issuedAfter = failed !== undefined
      const ps = Array.from({ length: wave }, (_, k) => {
        const my = n + k
        return sink.emit(oracle.event(1, my)).then(
          (x) => {
            acks.push({ seq: x.seq, p: 1, n: my })
            if (issuedAfter) ackedAfterFailure++
          },
          (e: { code?: string }) => {
            failed ??= e.code
          },
        )
      })
      n += wave
      await Promise.all(ps)
      if (failed !== undefined && issuedAfter) break
    }
    await sink.close().catch(() => undefined)
    r.acked += acks.length
    note(r, 'real tmpfs fills')
    if (failed === undefined) r.failures.push({ message: `a ${kb} KiB tmpfs never filled up` })
    else if (failed !== 'ERR_AUDIT_FAILED' && failed !== 'ERR_AUDIT_IO')
      r.failures.push({ message: `the full tmpfs rejected emits with ${failed}` })
    if (ackedAfterFailure > 0)
      r.failures.push({ message: `${ackedAfterFailure} emits resolved after the disk-full failure was reported` })
    const rawFiles = readDirFiles(mnt)
    const rawParsed = parseWal(rawFiles)
    const raw = checkLog(rawParsed, { oracle, acked: acks, allowTail: true })
    if (!raw.ok) r.failures.push({ message: `real full disk: ${raw.failures[0]}`, detail: `tmpfs ${kb} KiB` })
    // Room again: reopen (real recovery), append, close, check everything.
    execFileSync('mount', ['-o', `remount,size=${kb * 4}k`, mnt], { stdio: 'pipe' })
    const again = await AuditSink.open({ dir: mnt, ...SMALL })
    const more = await Promise.all(
      Array.from({ length: 5 }, (_, k) => again.emit(oracle.event(2, k)).then((x) => ({ seq: x.seq, p: 2, n: k }))),
    )
    await again.close()
    const finFiles = readDirFiles(mnt)
    const finParsed = parseWal(finFiles)
    const fin = checkLog(finParsed, { oracle, acked: [...acks, ...more], allowTail: false, closed: true })
    const was = device(rawFiles, rawParsed)
    fin.failures.push(...checkHistory(was, device(finFiles, finParsed)), ...checkNewGap(was, finParsed))
    r.crashStates++
    r.recovered += fin.records
    if (fin.failures.length > 0)
      r.failures.push({ message: `reopen after the real disk-full: ${fin.failures[0]}`, detail: `tmpfs ${kb} KiB` })
  } finally {
    execFileSync('umount', [mnt], { stdio: 'pipe' })
  }
}

export const diskFull: Scenario = {
  name: 'DiskFull',
  description:
    'ENOSPC at random fill levels (simulated: short write then ENOSPC), and a real size-limited tmpfs filled up',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed })
    const diskBytes = int(ctx.rng, 200, ctx.quick ? 40_000 : 200_000)
    const run = await runSim({
      dir,
      oracle,
      producer: 1,
      count: 2000,
      rng: ctx.rng,
      journal: ctx.journal,
      sim: { diskBytes },
    })
    r.acked += run.acks.length
    const where = `simulated disk of ${diskBytes} bytes`
    if (run.openError) note(r, 'open failed closed (disk too small)')
    else if (run.rejected.length === 0) r.failures.push({ message: `${where} never filled`, detail: where })
    else note(r, 'sink failed closed')
    const dropped = checkFaultedRun(r, run, undefined, dir, oracle, [], where)
    if (r.failures.length > 0 || dropped === undefined) return r
    // Still full: open must work or fail with IO; whatever it did must be correct after a power loss.
    const still = recoverState(dropped, dir, { diskBytes })
    if (still.error && still.error.code !== 'ERR_AUDIT_IO')
      r.failures.push({
        message: `reopen on the still-full disk failed with ${still.error.code}: ${still.error.message}`,
        detail: where,
      })
    const after = still.after.crash(POLICIES.dropAll!, () => 0.5)
    const res = recoverAndCheck(after, dir, oracle, run.acks, { history: [device(dirFiles(dropped, dir))] })
    r.crashStates++
    if (res.failures.length > 0)
      r.failures.push({ message: `after an open on the still-full disk: ${res.failures[0]}`, detail: where })
    // Room again: reopen end to end.
    const f = await reopenAndAppend({
      state: dropped,
      dir,
      oracle,
      ackedBefore: run.acks,
      producer: 2,
      count: 5,
      journal: ctx.journal,
      rng: ctx.rng,
    })
    note(r, 'reopened with room again')
    if (f.length > 0) r.failures.push({ message: `reopen with room again: ${f[0]}`, detail: where })
    if (r.failures.length === 0 && (ctx.quick || ctx.rng() < 0.25)) await realFull(ctx, r)
    return r
  },
}
