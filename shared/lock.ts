/**
 * One writer per WAL directory.
 *
 * Node has no flock(), so the lock is a file: `LOCK` (generation 0) or
 * `LOCK.<n>` (generation n), holding { pid, start, token, host }. A lock file
 * is made complete before it has its name (written to a temp file, fsync'ed,
 * then link(2)ed to its name, which fails with EEXIST when the name is taken),
 * so a reader never sees half a lock file.
 *
 *   acquire: list the lock files and judge each ─► any live ─► ERR_AUDIT_LOCKED
 *            none, or none live ─► link LOCK.<highest + 1> (LOCK when there is none)
 *              EEXIST: another writer took that generation ─► list again
 *            check: list again; another live lock file ─► remove ours, list again
 *            none ─► ours; remove the lock files judged not live, fsync the directory
 *   release: remove our lock file if it still holds our token; fsync the directory
 *
 * A lock file is live when its process runs: same host, kill(pid, 0) finds it
 * and, on Linux, its start time in /proc/<pid>/stat is the one recorded (a
 * reused pid is not the holder). A file written on another host is always live
 * (this host cannot tell). A file that is not a lock body (null, {}, [], 42,
 * empty, larger than lockFileBytesMax) cannot be from a live writer, because
 * lock files are complete before they are named: it is judged malformed, taken
 * over and reported (LockReport.replaced), never a reason to fail or to wait.
 * A lock file that is not a regular file (a FIFO named LOCK) is refused with
 * ERR_AUDIT_NOT_A_FILE.
 *
 * Why two writers cannot both hold the lock (docs/operations.md, "One writer",
 * has the argument and what a crash at each step leaves): every writer names
 * its file before its check lists the directory, and keeps it until it stops
 * holding; of two writers, the one that named its file first has that file in
 * the directory during the whole of the other's check, which therefore sees a
 * live lock and backs off. Generations only decide, among writers that judged
 * the same stale lock, which one goes first: exactly one can link LOCK.<n+1>.
 *
 * Test seam (off by default): with MTLOG_AUDIT_TEST_LOCK_GATE=<dir> a writer
 * that judged the lock files stale writes <dir>/paused-<pid> and waits until
 * <dir>/open exists (at most FIXED.lockGateWaitMs) before it links its own.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AuditError, ERROR_CODES } from './errors.js'
import { createRegularSync, DEFAULT_FILE_MODE, readRegularSync } from './files.js'
import { FIXED } from './limits.js'

export const LOCK_FILE = 'LOCK'
const GENERATION = /^LOCK\.([1-9]\d{0,14})$/
const TMP = /^LOCK\.[0-9a-f]{16}\.tmp$/
const GATE_ENV = 'MTLOG_AUDIT_TEST_LOCK_GATE'

interface LockBody {
  pid: number
  start: string | null
  token: string
  host: string
}

/** Why a lock file was not live. */
export type StaleReason = 'dead' | 'restarted' | 'malformed'

export interface LockReport {
  dir: string
  /** The lock file this writer holds: LOCK or LOCK.<n>. */
  file: string
  /** Lock files of earlier writers that were not live, removed when this writer took the lock. */
  replaced: { file: string; reason: StaleReason; pid: number | null }[]
}

type Verdict = { live: true; body: LockBody } | { live: false; reason: StaleReason; pid: number | null }

interface Entry {
  name: string
  generation: number
  verdict: Verdict
}

/** The generation a lock file name stands for (LOCK is 0), or undefined for any other name. */
export function lockGeneration(name: string): number | undefined {
  if (name === LOCK_FILE) return 0
  const m = GENERATION.exec(name)
  return m === null ? undefined : Number(m[1])
}

export function lockFileName(generation: number): string {
  return generation === 0 ? LOCK_FILE : `${LOCK_FILE}.${generation}`
}

function processStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
    // Field 22 (starttime) counts from after the ")" that ends the command name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? null
  } catch {
    return null
  }
}

function parseBody(bytes: Buffer): LockBody | undefined {
  let v: unknown
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
  const b = v as Record<string, unknown>
  // pid 0 and negative pids name process groups to kill(2): never a holder.
  if (!Number.isSafeInteger(b.pid) || (b.pid as number) <= 0) return undefined
  if (typeof b.token !== 'string' || b.token === '' || typeof b.host !== 'string') return undefined
  if (b.start !== null && typeof b.start !== 'string') return undefined
  return { pid: b.pid as number, start: b.start as string | null, token: b.token, host: b.host }
}

function judge(body: LockBody | undefined): Verdict {
  if (body === undefined) return { live: false, reason: 'malformed', pid: null }
  if (body.host !== os.hostname()) return { live: true, body } // cannot tell: refuse rather than risk two writers
  try {
    process.kill(body.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return { live: false, reason: 'dead', pid: body.pid }
  }
  const start = processStart(body.pid)
  if (body.start !== null && start !== null && start !== body.start)
    return { live: false, reason: 'restarted', pid: body.pid }
  return { live: true, body }
}

/**
 * Read one lock file: undefined when it is gone (removed between listing and
 * reading), a body or undefined-body (malformed) otherwise. A lock file that is
 * not a regular file is ERR_AUDIT_NOT_A_FILE; any other read error is thrown.
 */
function readLock(file: string): { body: LockBody | undefined } | undefined {
  let bytes: Buffer
  try {
    bytes = readRegularSync(file, FIXED.lockFileBytesMax)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    if (err instanceof AuditError && err.code === ERROR_CODES.NOT_A_WAL) return { body: undefined } // too large
    throw err
  }
  return { body: parseBody(bytes) }
}

/** Every lock file of dir, judged, lowest generation first. */
function scan(dir: string): Entry[] {
  const entries: Entry[] = []
  for (const name of fs.readdirSync(dir)) {
    const generation = lockGeneration(name)
    if (generation === undefined) continue
    const read = readLock(path.join(dir, name))
    if (read === undefined) continue
    entries.push({ name, generation, verdict: judge(read.body) })
  }
  return entries.sort((a, b) => a.generation - b.generation)
}

function locked(dir: string, holder: LockBody): AuditError {
  return new AuditError(
    ERROR_CODES.LOCKED,
    `${dir} is locked by a live writer (pid ${holder.pid} on ${holder.host.slice(0, 64)})${holder.pid === process.pid ? ', in this process: close the other sink first' : ''}`,
    { details: { dir, pid: holder.pid, host: holder.host.slice(0, 64) } },
  )
}

/**
 * Make `name` a complete lock file holding text: temp file, fsync, link(2).
 * Returns false when the name is taken (EEXIST) or the temp file was removed
 * under us (ENOENT: the holder cleaned up a temp file it judged left over).
 */
function publish(dir: string, name: string, text: string, mode: number): boolean {
  const tmp = path.join(dir, `${LOCK_FILE}.${randomBytes(8).toString('hex')}.tmp`)
  const fd = createRegularSync(tmp, mode)
  try {
    try {
      const bytes = Buffer.from(text)
      for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, done)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.linkSync(tmp, path.join(dir, name))
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST' || code === 'ENOENT') return false
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS')
      throw new AuditError(
        ERROR_CODES.IO,
        `${dir}: the file system refuses hard links (${code}), which the writer's lock needs (docs/operations.md, "One writer")`,
        { cause: err, details: { op: 'link', path: path.join(dir, name), errno: code } },
      )
    throw err
  } finally {
    unlinkQuietly(tmp)
  }
}

function unlinkQuietly(file: string): void {
  try {
    fs.unlinkSync(file)
  } catch {
    // already gone
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r')
  try {
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** The test seam: wait at the gate after judging the lock stale (docs/operations.md). */
function waitAtGate(): void {
  const gate = process.env[GATE_ENV]
  if (gate === undefined || gate === '') return
  try {
    fs.writeFileSync(path.join(gate, `paused-${process.pid}`), '')
  } catch {
    // the test watches for this file; without it, it only waits longer
  }
  const sleep = new Int32Array(new SharedArrayBuffer(4))
  // performance.now(): a test may replace Date.now in this thread (torture's jumpy clock).
  const until = performance.now() + FIXED.lockGateWaitMs
  while (!fs.existsSync(path.join(gate, 'open')) && performance.now() < until)
    Atomics.wait(sleep, 0, 0, FIXED.lockGatePollMs)
}

export interface LockOptions {
  /** Mode of the lock file (the log's fileMode; default 0o600). */
  fileMode?: number
}

export class DirLock {
  private constructor(
    /** Path of the lock file held. */
    readonly file: string,
    readonly token: string,
    readonly report: LockReport,
  ) {}

  static acquire(dir: string, options: LockOptions = {}): DirLock {
    const mode = options.fileMode ?? DEFAULT_FILE_MODE
    const body: LockBody = {
      pid: process.pid,
      start: processStart(process.pid),
      token: randomBytes(12).toString('hex'),
      host: os.hostname(),
    }
    const text = JSON.stringify(body)
    for (let attempt = 0; attempt < FIXED.lockAttemptsMax; attempt++) {
      const before = scan(dir)
      const live = before.filter((e) => e.verdict.live)
      if (live.length > 0) throw locked(dir, (live.at(-1)!.verdict as { body: LockBody }).body)
      const top = before.at(-1)
      const generation = top === undefined ? 0 : top.generation + 1
      if (generation > FIXED.lockGenerationMax) {
        throw new AuditError(
          ERROR_CODES.LOCKED,
          `${dir}: lock generation ${top!.generation} is the last one; no writer is live, remove the LOCK files by hand`,
          { details: { dir, pid: null, host: null } },
        )
      }
      if (top !== undefined) waitAtGate()
      const name = lockFileName(generation)
      if (!publish(dir, name, text, mode)) continue // another writer took this generation first
      const won = check(dir, name, body.token)
      if (won === undefined) {
        // Lost to a live writer: take our file back (it is ours: nobody else removes a live writer's file).
        if (readLock(path.join(dir, name))?.body?.token === body.token) unlinkQuietly(path.join(dir, name))
        continue
      }
      const report: LockReport = { dir, file: name, replaced: [] }
      for (const e of won) {
        unlinkQuietly(path.join(dir, e.name))
        const v = e.verdict as { reason: StaleReason; pid: number | null }
        report.replaced.push({ file: e.name, reason: v.reason, pid: v.pid })
      }
      for (const n of fs.readdirSync(dir)) if (TMP.test(n)) unlinkQuietly(path.join(dir, n))
      fsyncDir(dir)
      return new DirLock(path.join(dir, name), body.token, report)
    }
    throw new AuditError(
      ERROR_CODES.LOCKED,
      `${dir}: could not take the lock in ${FIXED.lockAttemptsMax} tries (other writers are racing for it)`,
      { details: { dir, pid: null, host: null } },
    )
  }

  /** Remove the lock if it is still ours. Safe to call twice. */
  release(): void {
    releaseLockFile(this.file, this.token)
  }
}

/**
 * After linking `name`: is it ours, with no other live lock file beside it?
 * Returns the other lock files (all judged not live) to remove, or undefined
 * when this writer lost (another live lock file, or ours is no longer there).
 */
function check(dir: string, name: string, token: string): Entry[] | undefined {
  const others: Entry[] = []
  let mine = false
  for (const e of scan(dir)) {
    if (e.name === name) {
      mine = e.verdict.live && e.verdict.body.token === token
      continue
    }
    if (e.verdict.live) return undefined
    others.push(e)
  }
  return mine ? others : undefined
}

/** Remove a lock file if it still holds `token` (the writer's, or the sink's after a writer crash). */
export function releaseLockFile(file: string, token: string): void {
  let read: ReturnType<typeof readLock>
  try {
    read = readLock(file)
  } catch {
    return // not a regular file any more: not ours to remove
  }
  if (read?.body?.token !== token) return
  unlinkQuietly(file)
  try {
    fsyncDir(path.dirname(file))
  } catch {
    // the name is gone either way; a crash now at worst leaves a stale lock, which is taken over
  }
}

/** Who holds dir's lock, for readers (monitor): the live lock file's writer, else the last one seen. */
export function lockHolder(dir: string): { pid: number; host: string; alive: boolean; file: string } | undefined {
  let entries: Entry[]
  try {
    entries = scan(dir)
  } catch {
    return undefined
  }
  const live = entries.filter((e) => e.verdict.live)
  const e = live.at(-1) ?? entries.at(-1)
  if (e === undefined) return undefined
  if (e.verdict.live) return { pid: e.verdict.body.pid, host: e.verdict.body.host, alive: true, file: e.name }
  return e.verdict.pid === null ? undefined : { pid: e.verdict.pid, host: os.hostname(), alive: false, file: e.name }
}
