/**
 * One writer per WAL directory.
 *
 * Node has no flock(), so the lock is a file, LOCK, created with O_EXCL and
 * holding { pid, start, token, host }. A lock whose process is gone (or whose
 * pid now belongs to a process started at another time, read from
 * /proc/<pid>/stat on Linux) is stale and is taken over. A lock held by a live
 * process, this one included, refuses with ERR_AUDIT_LOCKED naming the holder.
 *
 * Limits (documented in docs/operations.md): a lock file is only as good as
 * the file system's O_EXCL; do not put a WAL on a network file system. Two
 * processes taking over the same stale lock in the same instant is guarded by
 * re-reading the lock after writing it.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AuditError, ERROR_CODES } from './errors.js'

export const LOCK_FILE = 'LOCK'

interface LockBody {
  pid: number
  start: string | null
  token: string
  host: string
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

function alive(body: LockBody): boolean {
  if (body.host !== os.hostname()) return true // cannot tell: refuse rather than risk two writers
  try {
    process.kill(body.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
  }
  const start = processStart(body.pid)
  return body.start === null || start === null || start === body.start
}

export class DirLock {
  private constructor(
    readonly file: string,
    readonly token: string,
  ) {}

  static acquire(dir: string): DirLock {
    const file = path.join(dir, LOCK_FILE)
    const body: LockBody = {
      pid: process.pid,
      start: processStart(process.pid),
      token: randomBytes(12).toString('hex'),
      host: os.hostname(),
    }
    const text = JSON.stringify(body)
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.writeFileSync(file, text, { flag: 'wx' })
        return new DirLock(file, body.token)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const holder = readLock(file)
      if (holder !== undefined && alive(holder)) {
        throw new AuditError(
          ERROR_CODES.LOCKED,
          `${dir} is locked by a live writer (pid ${holder.pid} on ${holder.host})${holder.pid === process.pid ? ', in this process: close the other sink first' : ''}`,
          {
            details: { dir, pid: holder.pid, host: holder.host },
          },
        )
      }
      // Stale: replace it atomically, then make sure we are the one that won.
      const tmp = `${file}.${body.token}.tmp`
      fs.writeFileSync(tmp, text)
      fs.renameSync(tmp, file)
      if (readLock(file)?.token === body.token) return new DirLock(file, body.token)
    }
    throw new AuditError(ERROR_CODES.LOCKED, `${dir}: could not take the lock (another writer is racing for it)`, {
      details: { dir },
    })
  }

  /** Remove the lock if it is still ours. Safe to call twice. */
  release(): void {
    releaseLockFile(this.file, this.token)
  }
}

export function releaseLockFile(file: string, token: string): void {
  if (readLock(file)?.token !== token) return
  try {
    fs.unlinkSync(file)
  } catch {
    // already gone
  }
}

function readLock(file: string): LockBody | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as LockBody
  } catch {
    return undefined // missing, or a torn lock file from a crash: stale either way
  }
}
