/**
 * The keyring file on disk: read with its mode checked, written atomically.
 *
 * Contract:
 * - `readKeyringFile` opens without following a symlink and without blocking on
 *   a FIFO, refuses anything but a regular file (ERR_AUDIT_KEYRING_INVALID), a
 *   file with any group/other permission bit (ERR_AUDIT_KEY_FILE_MODE, before a
 *   byte is read) and a file larger than keyringBytesMax; a missing file or an
 *   unreadable one is ERR_AUDIT_IO.
 * - `writeKeyringFile` never leaves a half-written keyring under the name: it
 *   writes a temp file in the same directory (created 0600 and fchmod'ed 0600,
 *   whatever the umask), fsyncs it, then renames it over the file (`replace`) or
 *   links it to the name (`create`: fails with ERR_AUDIT_OUTPUT_EXISTS when the
 *   name exists, so init never overwrites), and fsyncs the directory. When it
 *   returns, the new keyring is durable; when it throws, the old one is intact.
 *   This is what makes erasure atomic and a new data key durable before use.
 */

import { constants as C } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

export const KEYRING_FILE_MODE = 0o600

function fsCode(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code
  return typeof c === 'string' ? c : undefined
}

/** One version of the keyring file: every rewrite makes a new inode, so (inode, size, mtime) changes with it. */
export interface FileStamp {
  ino: bigint
  size: bigint
  mtimeNs: bigint
}

function stampOf(st: { ino: bigint; size: bigint; mtimeNs: bigint }): FileStamp {
  return { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs }
}

export function sameStamp(a: FileStamp | undefined, b: FileStamp | undefined): boolean {
  return a !== undefined && b !== undefined && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs
}

/** The stamp of the file now, or undefined when it is missing or not a regular file (the caller then reads it fully). */
export async function statKeyringFile(file: string): Promise<FileStamp | undefined> {
  try {
    const st = await fs.lstat(file, { bigint: true })
    return st.isFile() ? stampOf(st) : undefined
  } catch {
    return undefined
  }
}

export async function readKeyringFile(file: string): Promise<{ bytes: Buffer; stamp: FileStamp }> {
  let fh: fs.FileHandle
  try {
    fh = await fs.open(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK)
  } catch (err) {
    if (fsCode(err) === 'ELOOP')
      throw new AuditError(ERROR_CODES.KEYRING_INVALID, `keyring: ${file} is a symbolic link`, {
        details: { problem: 'not-regular', path: file },
      })
    throw ioError('open', file, err)
  }
  try {
    const st = await fh.stat({ bigint: true })
    if (!st.isFile())
      throw new AuditError(ERROR_CODES.KEYRING_INVALID, `keyring: ${file} is not a regular file`, {
        details: { problem: 'not-regular', path: file },
      })
    const mode = Number(st.mode) & 0o777
    if ((mode & 0o077) !== 0)
      throw new AuditError(
        ERROR_CODES.KEY_FILE_MODE,
        `keyring ${file} has mode ${mode.toString(8).padStart(4, '0')}; it must not be readable or writable by group or others (chmod 600)`,
        { details: { path: file, mode: mode.toString(8).padStart(4, '0') } },
      )
    if (st.size > BigInt(FIXED.keyringBytesMax))
      throw new AuditError(
        ERROR_CODES.KEYRING_INVALID,
        `keyring: ${file} is larger than ${FIXED.keyringBytesMax} bytes`,
        {
          details: { problem: 'size', path: file },
        },
      )
    // Read at most one byte past the bound: a file that grows while we read is still refused.
    const buf = Buffer.alloc(Math.min(Number(st.size) + 1, FIXED.keyringBytesMax + 1))
    let got = 0
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got)
      if (bytesRead === 0) break
      got += bytesRead
    }
    if (got > FIXED.keyringBytesMax)
      throw new AuditError(
        ERROR_CODES.KEYRING_INVALID,
        `keyring: ${file} is larger than ${FIXED.keyringBytesMax} bytes`,
        {
          details: { problem: 'size', path: file },
        },
      )
    return { bytes: buf.subarray(0, got), stamp: stampOf(st) }
  } catch (err) {
    if (err instanceof AuditError) throw err
    throw ioError('read', file, err)
  } finally {
    await fh.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, C.O_RDONLY)
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/** Write bytes to a fresh 0600 temp file beside `file` and fsync it; returns its path and stamp (rename keeps both). */
async function writeTemp(file: string, bytes: Buffer): Promise<{ tmp: string; stamp: FileStamp }> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`)
  const fh = await fs.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, KEYRING_FILE_MODE)
  let stamp: FileStamp
  try {
    await fh.chmod(KEYRING_FILE_MODE) // the umask may have taken bits away, never added: set it exactly
    let off = 0
    while (off < bytes.length) off += (await fh.write(bytes, off, bytes.length - off, off)).bytesWritten
    await fh.sync()
    stamp = stampOf(await fh.stat({ bigint: true }))
  } catch (err) {
    await fh.close()
    await fs.rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  return { tmp, stamp }
}

/** Returns the new file's stamp. */
export async function writeKeyringFile(file: string, bytes: Buffer, how: 'create' | 'replace'): Promise<FileStamp> {
  let tmp: string | undefined
  try {
    const written = await writeTemp(file, bytes)
    tmp = written.tmp
    if (how === 'create') {
      try {
        await fs.link(tmp, file)
      } catch (err) {
        if (fsCode(err) === 'EEXIST')
          throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `keyring ${file} exists already; it is never overwritten`, {
            details: { path: file },
          })
        throw err
      }
      await fs.unlink(tmp)
    } else {
      await fs.rename(tmp, file)
    }
    tmp = undefined
    await syncDir(path.dirname(file))
    return written.stamp
  } catch (err) {
    if (tmp !== undefined) await fs.rm(tmp, { force: true })
    if (err instanceof AuditError) throw err
    throw ioError(how === 'create' ? 'create keyring' : 'replace keyring', file, err)
  }
}
