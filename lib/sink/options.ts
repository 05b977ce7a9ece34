/**
 * Options of AuditSink.open(): one type, one defaults object, one validate
 * function. Every error names the option (ERR_AUDIT_OPTION_INVALID with
 * details.option), and bounds come from shared/limits.ts. The options object
 * is read once (snapshotOptions): getters and Proxies run once, and one that
 * throws is ERR_AUDIT_OPTION_INVALID too.
 */

import path from 'node:path'
import { SEGMENT_HEADER_BYTES } from '../../shared/format.js'
import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { type Bound, FIXED, LIMITS } from '../../shared/limits.js'
import type { StorageSpec } from '../../shared/storage.js'
import { checkFileMode, type FileMode } from '../../shared/files.js'
import { type EncryptionOptions, type PersonalDataOptions, resolveCryptoOptions } from './crypt.js'

export interface AuditSinkOptions {
  /** The WAL directory; created if missing. */
  dir: string
  /** Bytes of the shared ring (a power of two). Default 8 MiB. */
  ringBytes?: number
  /** Largest serialized event accepted. Default 256 KiB. */
  eventBytesMax?: number
  /** Largest batch written with one write + one fdatasync. Default 4 MiB. */
  batchBytesMax?: number
  /** Segment size at which the WAL rotates to a new file. Default 64 MiB. */
  segmentBytesMax?: number
  /** Emits per producer that may wait for ring space before emit() rejects. Default 65,536. */
  pendingEmitsMax?: number
  /**
   * A second directory (ideally on another disk) that receives every batch
   * too: an emit resolves only after both copies are fdatasync'ed. The copies
   * are byte-identical, so `mtlog-audit recover --mirror` can repair one from
   * the other. An empty mirror is filled from the WAL on open.
   */
  mirror?: string
  /**
   * Fault injection for tests and the torture runner: a module exporting
   * createStorage(config) that the writer uses instead of the real file system.
   * See docs/testing.md. Never set this in production.
   */
  storage?: StorageSpec
  /**
   * Mode of every file the writer creates (segments, LOCK, side files), whatever
   * the process umask: 0o600 (default, owner only) or 0o640 (owner + a
   * log-reader group). Directories the sink creates get 0o700 or 0o750 to match.
   */
  fileMode?: FileMode
  /**
   * Sign checkpoints of the log's Merkle tree (docs/integrity.md): keyFile is
   * the 0600 private key `mtlog-audit keygen` writes; name (default: the key's
   * name) begins the log's origin line `<name>/<logId>`. rotateFrom, while
   * rotating keys: the previous key's file; every checkpoint is then signed by
   * both, and the signer resumes from checkpoints either key signed.
   */
  signing?: { keyFile: string; name?: string; rotateFrom?: string }
  /**
   * When to sign (needs `signing`): after everyRecords records (default
   * 10,000) or everyMs ms (default 1,000) with anything new, and at close.
   * export.dir receives `<logId>.checkpoint`, the latest signed note, replaced
   * atomically: keep it on another disk or host. witnesses: URLs of C2SP
   * tlog-witnesses (e.g. `mtlog-audit witness serve`): each checkpoint is sent
   * with a consistency proof, and their cosignatures go into the note.
   */
  checkpoints?: { everyRecords?: number; everyMs?: number; export?: { dir: string }; witnesses?: string[] }
  /**
   * Encrypt every event's properties and exception before they reach the disk
   * (docs/encryption.md): `{ keyring: FILE }` (mode 0600, made with `mtlog-audit
   * keys init`), with `provider` for a KMS-held KEK, `template: true` to encrypt
   * message templates too.
   */
  encryption?: EncryptionOptions
  /**
   * Personal fields under a key per data subject, erasable with
   * sink.eraseSubject(id): `{ subject: 'PatientId', fields: ['PatientName', ...] }`.
   * Needs encryption.
   */
  personalData?: PersonalDataOptions
}

export interface ResolvedSigning {
  keyFile: string
  name: string | undefined
  /** The previous key's file while rotating (checkpoints are signed by both). */
  rotateFrom: string | undefined
  everyRecords: number
  everyMs: number
  exportDir: string | undefined
  witnesses: string[]
}

export interface ResolvedOptions {
  dir: string
  ringBytes: number
  eventBytesMax: number
  batchBytesMax: number
  segmentBytesMax: number
  pendingEmitsMax: number
  mirror: string | undefined
  storage: StorageSpec | undefined
  fileMode: FileMode
  signing: ResolvedSigning | undefined
  encryption: EncryptionOptions | undefined
  personalData: PersonalDataOptions | undefined
}

const KNOWN = new Set([
  'dir',
  'ringBytes',
  'eventBytesMax',
  'batchBytesMax',
  'segmentBytesMax',
  'pendingEmitsMax',
  'mirror',
  'storage',
  'fileMode',
  'signing',
  'checkpoints',
  'encryption',
  'personalData',
])

function bad(option: string, message: string): AuditError {
  // An unknown option's name is caller data: only a bounded prefix is shown.
  const name = option.length > FIXED.previewCharsMax ? `${option.slice(0, FIXED.previewCharsMax)}…` : option
  return new AuditError(ERROR_CODES.OPTION_INVALID, `option ${name}: ${message}`, { details: { option: name } })
}

function isPath(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && v.length <= FIXED.pathCharsMax && !v.includes('\0')
}

/**
 * One read of the options object: its own enumerable keys and the known
 * options (own or inherited), each read exactly once into plain data, so a
 * getter or a Proxy cannot answer one thing to the check and another to the
 * use. A getter or trap that throws is an option error naming the option.
 */
function snapshotOptions(input: object, what: string): Record<string, unknown> {
  const out: Record<string, unknown> = Object.create(null)
  let at = what
  try {
    for (const k of Object.keys(input)) {
      at = k
      out[k] = (input as Record<string, unknown>)[k]
    }
    if (what === 'options')
      for (const k of KNOWN) {
        at = k
        if (!(k in out)) out[k] = (input as Record<string, unknown>)[k]
      }
  } catch (err) {
    throw bad(at, `reading it threw ${preview(err)}`)
  }
  return out
}

function bounded(
  opts: Record<string, unknown>,
  name: keyof typeof LIMITS,
  key: string = name,
  label: string = key,
): number {
  const bound: Bound = LIMITS[name]
  const v = opts[key]
  if (v === undefined) return bound.default
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw bad(label, `must be an integer (got ${typeof v === 'number' ? v : typeof v})`)
  if (v < bound.min || v > bound.max) throw bad(label, `must be between ${bound.min} and ${bound.max} (got ${v})`)
  return v
}

export function resolveOptions(input: unknown): ResolvedOptions {
  if (typeof input !== 'object' || input === null) throw bad('options', 'must be an object with at least { dir }')
  const opts = snapshotOptions(input, 'options')
  for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw bad(k, `unknown option (known: ${[...KNOWN].join(', ')})`)
  if (!isPath(opts.dir)) throw bad('dir', `must be a non-empty path string of at most ${FIXED.pathCharsMax} characters`)
  const ringBytes = bounded(opts, 'ringBytes')
  if ((ringBytes & (ringBytes - 1)) !== 0) throw bad('ringBytes', `must be a power of two (got ${ringBytes})`)
  const eventBytesMax = bounded(opts, 'eventBytesMax')
  const batchBytesMax = bounded(opts, 'batchBytesMax')
  const segmentBytesMax = bounded(opts, 'segmentBytesMax')
  const pendingEmitsMax = bounded(opts, 'pendingEmitsMax')
  if (eventBytesMax + 64 > ringBytes / 2)
    throw bad(
      'eventBytesMax',
      `an event must fit in half the ring: at most ${ringBytes / 2 - 64} with ringBytes ${ringBytes}`,
    )
  if (eventBytesMax + 64 > batchBytesMax)
    throw bad('batchBytesMax', `must hold the largest event plus its 64-byte header: at least ${eventBytesMax + 64}`)
  if (batchBytesMax + SEGMENT_HEADER_BYTES > segmentBytesMax)
    throw bad(
      'segmentBytesMax',
      `must hold a whole batch plus the ${SEGMENT_HEADER_BYTES}-byte header: at least ${batchBytesMax + SEGMENT_HEADER_BYTES}`,
    )
  let mirror: string | undefined
  if (opts.mirror !== undefined) {
    if (!isPath(opts.mirror))
      throw bad('mirror', `must be a non-empty path string of at most ${FIXED.pathCharsMax} characters`)
    mirror = path.resolve(opts.mirror)
    if (mirror === path.resolve(opts.dir)) throw bad('mirror', 'must be another directory than dir')
  }
  let storage: StorageSpec | undefined
  if (opts.storage !== undefined) {
    const s = typeof opts.storage === 'object' && opts.storage !== null ? snapshotOptions(opts.storage, 'storage') : {}
    if (typeof s.module !== 'string') throw bad('storage', 'must be { module: string, config?: unknown }')
    storage = s.config === undefined ? { module: s.module } : { module: s.module, config: s.config }
  }
  const signing = resolveSigning(opts.signing, opts.checkpoints)
  if (signing?.exportDir !== undefined && isInside(signing.exportDir, path.resolve(opts.dir)))
    throw bad(
      'checkpoints.export.dir',
      'must be outside the log directory: a checkpoint kept beside the log proves nothing',
    )
  return {
    dir: path.resolve(opts.dir),
    ringBytes,
    eventBytesMax,
    batchBytesMax,
    segmentBytesMax,
    pendingEmitsMax,
    mirror,
    storage,
    fileMode: checkFileMode(opts.fileMode),
    signing,
    ...resolveCryptoOptions(opts.encryption, opts.personalData),
  }
}

function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

function subObject(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, 'must be an object')
  return snapshotOptions(v, what)
}

function onlyKnown(o: Record<string, unknown>, what: string, known: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw bad(`${what}.${k}`, `unknown option (known: ${known.join(', ')})`)
}

function resolveSigning(signingIn: unknown, checkpointsIn: unknown): ResolvedSigning | undefined {
  if (signingIn === undefined) {
    if (checkpointsIn !== undefined) throw bad('checkpoints', 'needs signing: { keyFile } (a checkpoint is signed)')
    return undefined
  }
  const signing = subObject(signingIn, 'signing')
  onlyKnown(signing, 'signing', ['keyFile', 'name', 'rotateFrom'])
  if (!isPath(signing.keyFile))
    throw bad('signing.keyFile', `must be a non-empty path string of at most ${FIXED.pathCharsMax} characters`)
  if (signing.rotateFrom !== undefined && !isPath(signing.rotateFrom))
    throw bad('signing.rotateFrom', `must be a non-empty path string of at most ${FIXED.pathCharsMax} characters`)
  if (signing.rotateFrom !== undefined && path.resolve(signing.rotateFrom) === path.resolve(signing.keyFile))
    throw bad('signing.rotateFrom', 'is the same file as signing.keyFile')
  if (
    signing.name !== undefined &&
    (typeof signing.name !== 'string' || !/^[\x21-\x2a\x2c-\x7e]{1,200}$/.test(signing.name))
  )
    throw bad('signing.name', "must be 1 to 200 printable ASCII characters, no space and no '+'")
  const cp = checkpointsIn === undefined ? {} : subObject(checkpointsIn, 'checkpoints')
  onlyKnown(cp, 'checkpoints', ['everyRecords', 'everyMs', 'export', 'witnesses'])
  const witnesses = cp.witnesses === undefined ? [] : cp.witnesses
  if (
    !Array.isArray(witnesses) ||
    witnesses.length > FIXED.witnessesMax ||
    !witnesses.every((u) => typeof u === 'string' && isHttpUrl(u))
  )
    throw bad('checkpoints.witnesses', `must be a list of at most ${FIXED.witnessesMax} http(s) URLs`)
  let exportDir: string | undefined
  if (cp.export !== undefined) {
    const ex = subObject(cp.export, 'checkpoints.export')
    onlyKnown(ex, 'checkpoints.export', ['dir'])
    if (!isPath(ex.dir))
      throw bad('checkpoints.export.dir', `must be a non-empty path string of at most ${FIXED.pathCharsMax} characters`)
    exportDir = path.resolve(ex.dir)
  }
  return {
    keyFile: path.resolve(signing.keyFile),
    name: signing.name as string | undefined,
    rotateFrom: signing.rotateFrom === undefined ? undefined : path.resolve(signing.rotateFrom),
    everyRecords: bounded(cp, 'checkpointEveryRecords', 'everyRecords', 'checkpoints.everyRecords'),
    everyMs: bounded(cp, 'checkpointEveryMs', 'everyMs', 'checkpoints.everyMs'),
    exportDir,
    witnesses: [...(witnesses as string[])],
  }
}

function isHttpUrl(u: string): boolean {
  if (u.length > FIXED.pathCharsMax) return false
  try {
    const p = new URL(u).protocol
    return p === 'http:' || p === 'https:'
  } catch {
    return false
  }
}
