/**
 * Small files written durably: key files (created once, never replaced) and a
 * witness's per-log state (replaced atomically).
 *
 * Contract:
 * - createExclusive: O_CREAT|O_EXCL (an existing file is never touched:
 *   ERR_AUDIT_OUTPUT_EXISTS), the mode set with fchmod so the umask cannot
 *   widen or narrow it, data written and fsync'ed before close. The caller
 *   fsyncs the directory once after its last create.
 * - replaceFile: write a fresh temp file beside the target (exclusive, fchmod,
 *   fsync), rename it over the target, fsync the directory. When it resolves,
 *   the new content is what a crash leaves; when it rejects, the old content
 *   is (a failed fsync is never retried on the same descriptor).
 * - readSmallFile: a regular file of at most bytesMax bytes, or undefined when
 *   it does not exist; a FIFO or device never blocks it (O_NONBLOCK, fstat).
 * - Every failure is ERR_AUDIT_IO (or ERR_AUDIT_OUTPUT_EXISTS) naming the path;
 *   the data never appears in an error.
 */

import { randomBytes } from 'node:crypto'
import { constants as FS, promises as fsp } from 'node:fs'
import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'

async function writeAndSync(fh: fsp.FileHandle, file: string, data: Buffer, mode: number): Promise<void> {
  try {
    await fh.chmod(mode)
  } catch (err) {
    throw ioError('fchmod', file, err)
  }
  let off = 0
  while (off < data.length) {
    let n: number
    try {
      n = (await fh.write(data, off, data.length - off, off)).bytesWritten
    } catch (err) {
      throw ioError('write', file, err)
    }
    off += n
  }
  try {
    await fh.sync()
  } catch (err) {
    throw ioError('fsync', file, err)
  }
}

/** Open a new file that must not exist (ERR_AUDIT_OUTPUT_EXISTS when it does). */
export async function openExclusive(file: string, mode: number): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(file, FS.O_WRONLY | FS.O_CREAT | FS.O_EXCL, mode)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${file} exists: refusing to overwrite it`, {
        details: { path: file },
      })
    throw ioError('open', file, err)
  }
}

/** Write data into a handle from openExclusive with the given mode, fsync, close. */
export async function fillExclusive(fh: fsp.FileHandle, file: string, data: Buffer, mode: number): Promise<void> {
  try {
    await writeAndSync(fh, file, data, mode)
  } finally {
    await fh.close().catch(() => {})
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined
  try {
    fh = await fsp.open(dir, FS.O_RDONLY)
    await fh.sync()
  } catch (err) {
    throw ioError('fsync', dir, err)
  } finally {
    await fh?.close().catch(() => {})
  }
}

/** Atomically replace file with data (temp + fsync + rename + directory fsync). */
export async function replaceFile(file: string, data: Buffer, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`
  const fh = await openExclusive(tmp, mode)
  try {
    await fillExclusive(fh, tmp, data, mode)
    try {
      await fsp.rename(tmp, file)
    } catch (err) {
      throw ioError('rename', tmp, err)
    }
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {})
    throw err
  }
  await fsyncDir(path.dirname(file))
}

/** A small regular file's bytes (undefined when it does not exist); ERR_AUDIT_IO when it is not one. */
export async function readSmallFile(file: string, bytesMax: number): Promise<Buffer | undefined> {
  let fh: fsp.FileHandle
  try {
    fh = await fsp.open(file, FS.O_RDONLY | FS.O_NONBLOCK)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw ioError('open', file, err)
  }
  try {
    const st = await fh.stat()
    if (!st.isFile() || st.size > bytesMax)
      throw ioError('read', file, new Error(`not a regular file of at most ${bytesMax} bytes`))
    const buf = Buffer.alloc(st.size)
    let off = 0
    while (off < buf.length) {
      const { bytesRead } = await fh.read(buf, off, buf.length - off, off)
      if (bytesRead === 0) break
      off += bytesRead
    }
    return buf.subarray(0, off)
  } catch (err) {
    throw err instanceof AuditError ? err : ioError('read', file, err)
  } finally {
    await fh.close().catch(() => {})
  }
}
