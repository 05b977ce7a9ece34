/**
 * The storage layer: every byte the writer puts on disk, and every byte
 * recovery reads back, goes through this interface. Nothing else in the write
 * path calls fs directly.
 *
 * Why an interface: the torture runner and the fault tests swap in a storage
 * that loses unsynced writes, tears a write, or fails call k with EIO/ENOSPC
 * (torture/faulty-storage.ts). That is the only sanctioned way to inject faults;
 * the default is the real file system with real fdatasync.
 *
 * Calls are synchronous: the writer worker owns its thread, and a synchronous
 * fdatasync is exactly the group-commit window in which producers fill the
 * next batch. Every call throws the fs error on failure (with errno `code`).
 */

import fs from 'node:fs'
import {
  createRegularSync,
  DEFAULT_FILE_MODE,
  dirModeFor,
  makeDirs,
  openRegularSync,
  readRegularSync,
} from './files.js'
import { FIXED } from './limits.js'

export interface Storage {
  /** List the names in a directory. */
  readdir(dir: string): string[]
  /** Create a directory (and parents); no error if it exists. The real storage gives what it creates the log's directory mode. */
  mkdirp(dir: string): void
  /**
   * Open a file. flags: 'r' read, 'r+' read/write (the real storage opens regular
   * files only: ERR_AUDIT_NOT_A_FILE otherwise), 'wx' create exclusively (the real
   * storage: with the log's file mode, whatever the umask).
   */
  open(path: string, flags: 'r' | 'r+' | 'wx'): number
  close(fd: number): void
  /** Size of an open file in bytes. */
  size(fd: number): number
  /** Read up to len bytes at pos; returns the count read (0 at end of file). */
  pread(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number
  /** Write up to len bytes at pos; returns the count written (may be short). */
  pwrite(fd: number, buf: Uint8Array, off: number, len: number, pos: number): number
  fdatasync(fd: number): void
  /**
   * Optional: fdatasync on another thread (libuv's pool), so the writer can
   * seal the next batch meanwhile. Without it the writer calls fdatasync().
   */
  fdatasyncAsync?(fd: number): Promise<void>
  fsync(fd: number): void
  /** fsync a directory, making creates, renames and unlinks in it durable. */
  fsyncDir(dir: string): void
  truncate(fd: number, len: number): void
  rename(from: string, to: string): void
  unlink(path: string): void
  /** Read a whole small file (lock files); undefined if it does not exist. */
  readSmall(path: string): Buffer | undefined
}

/**
 * The real file system. Files are opened only if they are regular files
 * (shared/files.ts: a FIFO or device named like a segment is refused, never
 * waited on), and every file or directory the writer creates gets exactly
 * fileMode (directories: dirModeFor(fileMode)), whatever the umask.
 */
export function realStorageWith(fileMode: number): Storage {
  const dirMode = dirModeFor(fileMode)
  return {
    readdir: (dir) => fs.readdirSync(dir),
    mkdirp: (dir) => makeDirs(dir, dirMode),
    open: (path, flags) => (flags === 'wx' ? createRegularSync(path, fileMode) : openRegularSync(path, flags)),
    close: (fd) => fs.closeSync(fd),
    size: (fd) => fs.fstatSync(fd).size,
    pread: (fd, buf, off, len, pos) => fs.readSync(fd, buf, off, len, pos),
    pwrite: (fd, buf, off, len, pos) => fs.writeSync(fd, buf, off, len, pos),
    fdatasync: (fd) => fs.fdatasyncSync(fd),
    fdatasyncAsync: (fd) =>
      new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
    fsync: (fd) => fs.fsyncSync(fd),
    fsyncDir: (dir) => {
      const fd = fs.openSync(dir, 'r')
      try {
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },
    truncate: (fd, len) => fs.ftruncateSync(fd, len),
    rename: (from, to) => fs.renameSync(from, to),
    unlink: (path) => fs.unlinkSync(path),
    readSmall: (path) => {
      try {
        return readRegularSync(path, FIXED.lockFileBytesMax)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw err
      }
    },
  }
}

/** The real file system with the default mode (0600 files, 0700 directories). */
export const realStorage: Storage = realStorageWith(DEFAULT_FILE_MODE)

/** Write all of buf[off, off+len) at pos, looping on short writes. */
export function writeFully(s: Storage, fd: number, buf: Uint8Array, off: number, len: number, pos: number): void {
  let done = 0
  while (done < len) {
    const n = s.pwrite(fd, buf, off + done, len - done, pos + done)
    if (n <= 0) throw Object.assign(new Error(`write made no progress (${n} bytes)`), { code: 'EIO' })
    done += n
  }
}

/** Read exactly len bytes at pos unless the file ends first; returns the count read. */
export function readFully(s: Storage, fd: number, buf: Uint8Array, off: number, len: number, pos: number): number {
  let done = 0
  while (done < len) {
    const n = s.pread(fd, buf, off + done, len - done, pos + done)
    if (n === 0) break
    done += n
  }
  return done
}

/**
 * How a writer finds its storage: the real file system, or a module that
 * exports createStorage(config) (fault injection; see docs/testing.md). The
 * fileMode applies to the real file system; fault-injecting storages built on
 * realStorage create files with the default mode.
 */
export interface StorageSpec {
  module: string
  config?: unknown
}

export async function loadStorage(
  spec: StorageSpec | undefined,
  fileMode: number = DEFAULT_FILE_MODE,
): Promise<Storage> {
  if (spec === undefined) return fileMode === DEFAULT_FILE_MODE ? realStorage : realStorageWith(fileMode)
  const mod = (await import(spec.module)) as { createStorage?: (config: unknown) => Storage }
  if (typeof mod.createStorage !== 'function')
    throw new Error(`storage module ${spec.module} does not export createStorage()`)
  const s = mod.createStorage(spec.config)
  // A storage built as { ...realStorage, fdatasync() {...} } would inherit the real
  // fdatasyncAsync and so bypass its own fdatasync: use its fdatasync then.
  if (s.fdatasync !== realStorage.fdatasync && s.fdatasyncAsync === realStorage.fdatasyncAsync)
    return { ...s, fdatasyncAsync: undefined }
  return s
}
