/**
 * The file-system edge: which files the log opens, how it creates them, and
 * which directory it means.
 *
 * Contract:
 * - openRegular / openRegularSync(file, flags): lstat first, so a FIFO, a
 *   device, a directory, a socket or a symlink is refused before anything opens
 *   it; then open with O_NOFOLLOW | O_NONBLOCK (a swap to a symlink after the
 *   lstat fails with ELOOP, a swap to a FIFO opens at once instead of waiting
 *   for a writer), then fstat the descriptor and refuse what is not a regular
 *   file. A refusal is ERR_AUDIT_NOT_A_FILE naming the file and its kind. Any
 *   other failure is the fs error itself (ENOENT stays ENOENT: callers keep
 *   their own meaning of a missing file).
 * - createRegular / createRegularSync(file, mode): O_CREAT | O_EXCL | O_NOFOLLOW
 *   (never through a symlink, never over an existing file), then fchmod to
 *   exactly `mode`: the umask only takes bits away at create, and a umask of 000
 *   must not make audit data world-writable.
 * - readRegular / readRegularSync(file, bytesMax): a whole regular file, read
 *   with positioned reads up to the size fstat gave; a file larger than
 *   bytesMax is refused (ERR_AUDIT_NOT_A_WAL) without reading a byte of it, so
 *   memory is bounded by bytesMax, never by what the file claims or streams.
 * - makeDirs(dir, dirMode): mkdir -p; every directory it creates gets exactly
 *   dirMode. Directories that existed keep their mode (their owner chose it).
 * - pinDir(dir, fileMode): the log directory made (dirModeFor(fileMode)) and
 *   resolved to its real path once; the writer, the mirror and the lock use
 *   that path only, so a symlink changed later (`ln -sfn B cur`) cannot split
 *   one log across two directories. A path that is not a directory is
 *   ERR_AUDIT_NOT_A_WAL.
 * - realPathOf(p) and assertOutside(output, inputs): "the output must not be
 *   inside the input" compared on real paths; an output that does not exist yet
 *   is judged by the real path of its nearest existing ancestor.
 * - File modes: FILE_MODES lists what `fileMode` may be (0o600, or 0o640 for a
 *   log-reader group), dirModeFor gives the matching directory mode, and
 *   checkFileMode validates a caller's value.
 */

import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from './errors.js'

/** What a log file's mode may be: owner only, or owner + a log-reader group. */
export const FILE_MODES = [0o600, 0o640] as const
export type FileMode = (typeof FILE_MODES)[number]
export const DEFAULT_FILE_MODE: FileMode = 0o600

/** The directory mode that goes with a file mode: search (x) wherever read is allowed. */
export function dirModeFor(fileMode: number): number {
  return fileMode | ((fileMode & 0o444) >> 2)
}

/** Validate a `fileMode` option; undefined gives the default. */
export function checkFileMode(value: unknown, option = 'fileMode'): FileMode {
  if (value === undefined) return DEFAULT_FILE_MODE
  if (typeof value !== 'number' || !(FILE_MODES as readonly number[]).includes(value)) {
    const got = typeof value === 'number' ? `0o${value.toString(8)}` : typeof value
    throw new AuditError(
      ERROR_CODES.OPTION_INVALID,
      `option ${option}: must be 0o600 (owner only) or 0o640 (owner + a log-reader group) (got ${got.slice(0, 32)})`,
      { details: { option } },
    )
  }
  return value as FileMode
}

const C = fs.constants
const READ_FLAGS = { r: C.O_RDONLY, 'r+': C.O_RDWR } as const
export type OpenFlags = keyof typeof READ_FLAGS
const CREATE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW

function kindOf(st: fs.Stats): string | undefined {
  if (st.isFile()) return undefined
  if (st.isFIFO()) return 'FIFO'
  if (st.isSymbolicLink()) return 'symbolic link'
  if (st.isDirectory()) return 'directory'
  if (st.isCharacterDevice()) return 'character device'
  if (st.isBlockDevice()) return 'block device'
  if (st.isSocket()) return 'socket'
  return 'special file'
}

function notAFile(file: string, kind: string): AuditError {
  return new AuditError(
    ERROR_CODES.NOT_A_FILE,
    `${file} is a ${kind}, not a regular file; mtlog-audit opens regular files only`,
    { details: { path: file, kind } },
  )
}

/** Throw ERR_AUDIT_NOT_A_FILE unless st is a regular file. */
function mustBeRegular(file: string, st: fs.Stats): void {
  const kind = kindOf(st)
  if (kind !== undefined) throw notAFile(file, kind)
}

/** Open an existing regular file ('r' or 'r+'); see the contract above. */
export function openRegularSync(file: string, flags: OpenFlags): number {
  mustBeRegular(file, fs.lstatSync(file))
  const fd = openNoFollowSync(file, READ_FLAGS[flags] | C.O_NOFOLLOW | C.O_NONBLOCK)
  try {
    mustBeRegular(file, fs.fstatSync(fd))
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
  return fd
}

/** The async twin of openRegularSync, for the readers. */
export async function openRegular(file: string, flags: OpenFlags): Promise<fsp.FileHandle> {
  mustBeRegular(file, await fsp.lstat(file))
  let fh: fsp.FileHandle
  try {
    fh = await fsp.open(file, READ_FLAGS[flags] | C.O_NOFOLLOW | C.O_NONBLOCK)
  } catch (err) {
    throw symlinkSwap(file, err)
  }
  try {
    mustBeRegular(file, await fh.stat())
  } catch (err) {
    await fh.close()
    throw err
  }
  return fh
}

function openNoFollowSync(file: string, flags: number, mode?: number): number {
  try {
    return fs.openSync(file, flags, mode)
  } catch (err) {
    throw symlinkSwap(file, err)
  }
}

/** O_NOFOLLOW on a symlink fails with ELOOP: a symlink put there after the lstat. */
function symlinkSwap(file: string, err: unknown): unknown {
  return (err as NodeJS.ErrnoException).code === 'ELOOP' ? notAFile(file, 'symbolic link') : err
}

/** Create a new file (never an existing one, never through a symlink) with exactly `mode`. */
export function createRegularSync(file: string, mode: number): number {
  const fd = openNoFollowSync(file, CREATE_FLAGS, mode)
  try {
    fs.fchmodSync(fd, mode)
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
  return fd
}

/** The async twin of createRegularSync. */
export async function createRegular(file: string, mode: number): Promise<fsp.FileHandle> {
  let fh: fsp.FileHandle
  try {
    fh = await fsp.open(file, CREATE_FLAGS, mode)
  } catch (err) {
    throw symlinkSwap(file, err)
  }
  try {
    await fh.chmod(mode)
  } catch (err) {
    await fh.close()
    throw err
  }
  return fh
}

/** A file larger than any of its kind can be (ERR_AUDIT_NOT_A_WAL): refused without reading it. */
export function tooLarge(file: string, bytes: number, bytesMax: number): AuditError {
  return new AuditError(
    ERROR_CODES.NOT_A_WAL,
    `${file} holds ${bytes} bytes, more than the ${bytesMax} a file of its kind can hold: not a file mtlog-audit wrote`,
    { details: { path: file, bytes, bytesMax } },
  )
}

/** A whole regular file of at most bytesMax bytes (its size when opened; later growth is not read). */
export function readRegularSync(file: string, bytesMax: number): Buffer {
  const fd = openRegularSync(file, 'r')
  try {
    const size = fs.fstatSync(fd).size
    if (size > bytesMax) throw tooLarge(file, size, bytesMax)
    const buf = Buffer.alloc(size)
    let done = 0
    while (done < size) {
      const n = fs.readSync(fd, buf, done, size - done, done)
      if (n === 0) break
      done += n
    }
    return done === size ? buf : buf.subarray(0, done)
  } finally {
    fs.closeSync(fd)
  }
}

/** The async twin of readRegularSync. */
export async function readRegular(file: string, bytesMax: number): Promise<Buffer> {
  const fh = await openRegular(file, 'r')
  try {
    const size = (await fh.stat()).size
    if (size > bytesMax) throw tooLarge(file, size, bytesMax)
    const buf = Buffer.alloc(size)
    let done = 0
    while (done < size) {
      const { bytesRead } = await fh.read(buf, done, size - done, done)
      if (bytesRead === 0) break
      done += bytesRead
    }
    return done === size ? buf : buf.subarray(0, done)
  } finally {
    await fh.close()
  }
}

/** mkdir -p dir; each directory created gets exactly dirMode (the umask does not decide). */
export function makeDirs(dir: string, dirMode: number): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode: dirMode })
  if (first === undefined) return
  // mkdir created `first` and every directory below it on the way to dir.
  const made: string[] = []
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    made.push(d)
    if (d === path.resolve(first) || d === path.dirname(d)) break
  }
  for (const d of made) fs.chmodSync(d, dirMode)
}

/**
 * Make the log directory and return its real path, once, at open. Every file
 * of the log is then named from that path, whatever a symlink in `dir` says later.
 */
export function pinDir(dir: string, fileMode: number): string {
  try {
    makeDirs(dir, dirModeFor(fileMode))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST' || code === 'ENOTDIR') throw notADirectory(dir, err)
    throw new AuditError(ERROR_CODES.IO, `cannot create WAL directory ${dir}: ${(err as Error).message}`, {
      cause: err,
      details: { op: 'mkdir', path: dir, errno: code ?? null },
    })
  }
  let real: string
  try {
    real = fs.realpathSync.native(dir)
  } catch (err) {
    throw new AuditError(ERROR_CODES.IO, `cannot resolve WAL directory ${dir}: ${(err as Error).message}`, {
      cause: err,
      details: { op: 'realpath', path: dir, errno: (err as NodeJS.ErrnoException).code ?? null },
    })
  }
  if (!fs.statSync(real).isDirectory()) throw notADirectory(dir, undefined)
  return real
}

function notADirectory(dir: string, cause: unknown): AuditError {
  return new AuditError(ERROR_CODES.NOT_A_WAL, `${dir} is not a directory (a WAL is a directory of segment files)`, {
    cause,
    details: { dir },
  })
}

/**
 * The real path of p; for a path that does not exist (yet), the real path of
 * its nearest existing ancestor joined with the rest. A dangling symlink counts
 * as itself: creating the output replaces the link, it does not follow it.
 */
export function realPathOf(p: string): string {
  const abs = path.resolve(p)
  try {
    return fs.realpathSync.native(abs)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const parent = path.dirname(abs)
    if ((code === 'ENOENT' || code === 'ENOTDIR') && parent !== abs)
      return path.join(realPathOf(parent), path.basename(abs))
    throw err
  }
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/**
 * Refuse (ERR_AUDIT_OPTION_INVALID, option 'output') an output that is, or is
 * inside, one of the inputs, or that contains one: judged on real paths, so a
 * symlink into the log directory is seen for what it is.
 */
export function assertOutside(output: string, inputs: readonly string[]): void {
  const out = realPathOf(output)
  for (const input of inputs) {
    const real = realPathOf(input)
    if (inside(out, real) || inside(real, out)) {
      throw new AuditError(
        ERROR_CODES.OPTION_INVALID,
        `output ${output} must be outside the log ${input} (its real path ${out} is inside ${real}, or holds it); the input is never modified`,
        { details: { option: 'output' } },
      )
    }
  }
}
