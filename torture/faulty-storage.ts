/**
 * A Storage (shared/storage.ts) that injects faults on purpose. This is the
 * project's only fault-injection point; tests and the torture runner pass it
 * to AuditSink.open({ storage: { module, config } }) and the writer worker
 * loads it instead of the real file system. Everything not faulted goes to
 * the real file system, with real fdatasync.
 *
 * Faults (FaultConfig.faults), each matched by operation and a 1-based count
 * of that operation in this writer's life:
 *   { op: 'fdatasync', nth: 3, code: 'EIO' }              the 3rd fdatasync fails once
 *   { op: 'pwrite', nth: 5, code: 'ENOSPC', persistent: true }  5th and all later writes fail
 *   { op: 'pwrite', nth: 2, tearAt: 100, code: 'EIO' }    the 2nd write puts only its first
 *                                                          100 bytes on disk, then fails
 * shortWrites: every pwrite writes at most half of what it was asked (> 0),
 * to exercise the loop on short writes.
 * misreadNth: the nth pread (counted from 1) returns its bytes with the last
 * one flipped (a transient wrong read; the file itself is not changed).
 * pathIncludes narrows a fault to files whose path contains the string.
 */

import type { Storage } from '../shared/storage.js'
import { realStorage } from '../shared/storage.js'

export type Op = keyof Storage

export interface Fault {
  op: Op
  nth: number
  code: string
  persistent?: boolean
  pathIncludes?: string
  /** pwrite only: write this many bytes of the request before failing. */
  tearAt?: number
}

export interface FaultConfig {
  faults?: Fault[]
  shortWrites?: boolean
  misreadNth?: number
}

function errnoError(code: string, op: string, path: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: injected fault, ${op} '${path}'`) as NodeJS.ErrnoException
  err.code = code
  err.syscall = op
  return err
}

export function createStorage(config: FaultConfig = {}): Storage {
  const counts = new Map<Op, number>()
  const paths = new Map<number, string>()
  const faults = config.faults ?? []

  function check(op: Op, path: string): Fault | undefined {
    const n = (counts.get(op) ?? 0) + 1
    counts.set(op, n)
    for (const f of faults) {
      if (f.op !== op) continue
      if (f.pathIncludes !== undefined && !path.includes(f.pathIncludes)) continue
      if (n === f.nth || (f.persistent === true && n > f.nth)) return f
    }
    return undefined
  }

  function guard<T>(op: Op, path: string, run: () => T): T {
    const f = check(op, path)
    if (f !== undefined) throw errnoError(f.code, op, path)
    return run()
  }

  const s: Storage = {
    readdir: (dir) => guard('readdir', dir, () => realStorage.readdir(dir)),
    mkdirp: (dir) => guard('mkdirp', dir, () => realStorage.mkdirp(dir)),
    open: (path, flags) =>
      guard('open', path, () => {
        const fd = realStorage.open(path, flags)
        paths.set(fd, path)
        return fd
      }),
    close: (fd) => {
      paths.delete(fd)
      realStorage.close(fd)
    },
    size: (fd) => guard('size', paths.get(fd) ?? '', () => realStorage.size(fd)),
    pread: (fd, buf, off, len, pos) =>
      guard('pread', paths.get(fd) ?? '', () => {
        const n = realStorage.pread(fd, buf, off, len, pos)
        if (config.misreadNth !== undefined && counts.get('pread') === config.misreadNth && n > 0)
          buf[off + n - 1] = buf[off + n - 1]! ^ 0x01
        return n
      }),
    pwrite: (fd, buf, off, len, pos) => {
      const path = paths.get(fd) ?? ''
      const f = check('pwrite', path)
      if (f !== undefined) {
        if (f.tearAt !== undefined && f.tearAt > 0) realStorage.pwrite(fd, buf, off, Math.min(f.tearAt, len), pos)
        throw errnoError(f.code, 'pwrite', path)
      }
      const n = config.shortWrites === true && len > 1 ? Math.ceil(len / 2) : len
      return realStorage.pwrite(fd, buf, off, n, pos)
    },
    fdatasync: (fd) => guard('fdatasync', paths.get(fd) ?? '', () => realStorage.fdatasync(fd)),
    fsync: (fd) => guard('fsync', paths.get(fd) ?? '', () => realStorage.fsync(fd)),
    fsyncDir: (dir) => guard('fsyncDir', dir, () => realStorage.fsyncDir(dir)),
    truncate: (fd, len) => guard('truncate', paths.get(fd) ?? '', () => realStorage.truncate(fd, len)),
    rename: (from, to) => guard('rename', from, () => realStorage.rename(from, to)),
    unlink: (path) => guard('unlink', path, () => realStorage.unlink(path)),
    readSmall: (path) => guard('readSmall', path, () => realStorage.readSmall(path)),
  }
  return s
}
