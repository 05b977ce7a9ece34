/**
 * Signing key files: what `mtlog-audit keygen` writes and what a log, a
 * witness or a verifier loads.
 *
 * - FILE holds one line, the signer key text `PRIVATE+KEY+name+keyid+base64`
 *   (note-keys.ts), mode 0600; FILE.pub holds the verifier key line
 *   `name+keyid+base64`, mode 0644. writeKeyPair creates both with O_EXCL
 *   (never overwrites: ERR_AUDIT_OUTPUT_EXISTS), sets the modes with fchmod
 *   whatever the umask, fsyncs both files and then the directory, and writes no
 *   key byte until both names are its own.
 * - loadSigner refuses a file with any group/other permission bit or that is
 *   not a regular file (ERR_AUDIT_KEY_FILE_MODE, checked on the open
 *   descriptor) and malformed content (ERR_AUDIT_KEY_INVALID). Key material
 *   never appears in an error, and a GeneratedKey prints none when logged.
 * - Rotation: a log signs with the new and the old key during the overlap; a
 *   verifier loads every key it trusts (loadVerifiers: one key per line).
 */

import { randomBytes } from 'node:crypto'
import { closeSync, constants as FS, fstatSync, openSync, promises as fsp, readSync } from 'node:fs'
import path from 'node:path'
import { inspect } from 'node:util'
import { AuditError, ERROR_CODES, ioError, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { fillExclusive, fsyncDir, openExclusive } from './durable-file.js'
import {
  ed25519Signer,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  keyIdHex,
  parseSignerKey,
  parseVerifierKey,
  type NoteSigner,
  type NoteVerifier,
} from './note-keys.js'

export const PRIVATE_KEY_MODE = 0o600
export const PUBLIC_KEY_MODE = 0o644

/** A freshly generated key: the private text only through privateKeyText(), never when logged. */
export class GeneratedKey {
  readonly name: string
  readonly keyId: string
  readonly verifierKey: string
  readonly signer: NoteSigner
  readonly #seed: Buffer

  constructor(name: string, seed: Buffer) {
    this.signer = ed25519Signer(name, seed)
    this.#seed = seed
    this.name = name
    this.keyId = keyIdHex(this.signer.keyId)
    this.verifierKey = formatVerifierKey(this.signer)
  }

  /** The signer key text (a secret): what goes into the 0600 key file. */
  privateKeyText(): string {
    return formatSignerKey(this.name, this.#seed)
  }

  toJSON(): { name: string; keyId: string; verifierKey: string } {
    return { name: this.name, keyId: this.keyId, verifierKey: this.verifierKey }
  }

  [inspect.custom](): string {
    return `GeneratedKey ${inspect(this.toJSON())}`
  }
}

function checkName(name: string): void {
  if (!isValidKeyName(name))
    throw new AuditError(
      ERROR_CODES.OPTION_INVALID,
      `key name ${preview(name)} must be non-empty, at most ${FIXED.keyNameBytesMax} bytes, without spaces or '+'`,
      { details: { option: 'name' } },
    )
}

export function generateSigningKey(name: string): GeneratedKey {
  checkName(name)
  return new GeneratedKey(name, randomBytes(32))
}

export interface WrittenKeyPair {
  file: string
  publicFile: string
  name: string
  keyId: string
  verifierKey: string
}

/** Generate a key and write FILE (0600) and FILE.pub (0644); refuses to overwrite either. */
export async function writeKeyPair(file: string, name: string): Promise<WrittenKeyPair> {
  const key = generateSigningKey(name)
  const publicFile = `${file}.pub`
  const priv = await openExclusive(file, PRIVATE_KEY_MODE)
  let pub: fsp.FileHandle
  try {
    pub = await openExclusive(publicFile, PUBLIC_KEY_MODE)
  } catch (err) {
    await priv.close().catch(() => {})
    await fsp.rm(file, { force: true }).catch(() => {}) // ours, still empty
    throw err
  }
  const secret = Buffer.from(`${key.privateKeyText()}\n`)
  try {
    await fillExclusive(priv, file, secret, PRIVATE_KEY_MODE)
    await fillExclusive(pub, publicFile, Buffer.from(`${key.verifierKey}\n`), PUBLIC_KEY_MODE)
  } catch (err) {
    // Both names are ours: leave neither half of a pair behind.
    await pub.close().catch(() => {})
    await fsp.rm(file, { force: true }).catch(() => {})
    await fsp.rm(publicFile, { force: true }).catch(() => {})
    throw err
  } finally {
    secret.fill(0)
  }
  await fsyncDir(path.dirname(path.resolve(file)))
  return { file, publicFile, name: key.name, keyId: key.keyId, verifierKey: key.verifierKey }
}

/** One key file's text, bounded, read from the descriptor whose mode was checked (no race). */
function readKeyFile(file: string, requirePrivateMode: boolean): string {
  let fd: number
  try {
    // O_NONBLOCK: a FIFO put in the key's place opens at once (and is refused below) instead of hanging.
    // Symlinks are followed on purpose: secret stores (Kubernetes) mount keys as symlinks.
    fd = openSync(file, FS.O_RDONLY | FS.O_NONBLOCK)
  } catch (err) {
    throw ioError('open', file, err)
  }
  try {
    const st = fstatSync(fd)
    const mode = `0${(st.mode & 0o777).toString(8)}`
    if (!st.isFile())
      throw new AuditError(ERROR_CODES.KEY_FILE_MODE, `${file} is not a regular file`, {
        details: { path: file, mode },
      })
    if (requirePrivateMode && (st.mode & 0o077) !== 0)
      throw new AuditError(
        ERROR_CODES.KEY_FILE_MODE,
        `${file} has mode ${mode}: a private key file must not be readable or writable by group or others (chmod 600)`,
        { details: { path: file, mode } },
      )
    if (st.size > FIXED.keyFileBytesMax)
      throw new AuditError(ERROR_CODES.KEY_INVALID, `${file} is ${st.size} bytes, not a key file`, {
        details: { path: file, problem: 'size' },
      })
    const buf = Buffer.alloc(st.size)
    let off = 0
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off)
      if (n === 0) break
      off += n
    }
    const text = buf.subarray(0, off).toString('utf8')
    buf.fill(0)
    return text
  } finally {
    closeSync(fd)
  }
}

/** Wrap a key parse failure so it names the file (never its content). */
function inFile<T>(file: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    if (err instanceof AuditError && err.code === ERROR_CODES.KEY_INVALID)
      throw new AuditError(ERROR_CODES.KEY_INVALID, `${file}: ${err.message}`, {
        details: { ...err.details, path: file },
      })
    throw err
  }
}

/** The signer of a 0600 key file written by keygen. */
export async function loadSigner(file: string): Promise<NoteSigner> {
  const text = readKeyFile(file, true)
  return inFile(file, () => {
    const line = text.endsWith('\n') ? text.slice(0, -1) : text
    return parseSignerKey(line)
  })
}

const VERIFIER_TEXT = /^[^+\s]+\+[0-9a-fA-F]{8}\+[A-Za-z0-9+/]+={0,2}$/

function parseVerifierLine(line: string): NoteVerifier {
  if (line.startsWith('PRIVATE+KEY+'))
    throw new AuditError(ERROR_CODES.KEY_INVALID, 'this is a private (signer) key: give its .pub file', {
      details: { problem: 'private' },
    })
  return parseVerifierKey(line)
}

/**
 * Every verifier key in a file (one per line, blank lines ignored) or in the
 * text itself when it is one verifier key line.
 */
export function loadVerifiers(fileOrText: string): NoteVerifier[] {
  if (VERIFIER_TEXT.test(fileOrText)) return [parseVerifierLine(fileOrText)]
  const text = readKeyFile(fileOrText, false)
  return inFile(fileOrText, () => {
    const lines = text.split('\n').filter((l) => l.length > 0)
    if (lines.length === 0)
      throw new AuditError(ERROR_CODES.KEY_INVALID, 'no verifier key in the file', { details: { problem: 'empty' } })
    return lines.map(parseVerifierLine)
  })
}

/** The one verifier key of a .pub file (or a verifier key text). */
export function loadVerifier(fileOrText: string): NoteVerifier {
  const all = loadVerifiers(fileOrText)
  if (all.length !== 1)
    throw new AuditError(ERROR_CODES.KEY_INVALID, `${all.length} verifier keys where one was expected`, {
      details: { problem: 'count' },
    })
  return all[0]!
}
