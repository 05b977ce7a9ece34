/**
 * Every error mtlog-audit raises is an AuditError with a stable `code`.
 *
 * Contract:
 * - `code` never changes meaning once released; docs/errors.md lists every code
 *   in ERROR_CODES (test/shared/errors.test.ts fails when one is undocumented).
 * - `cause` carries the underlying error (an fs error, a JSON TypeError, ...).
 * - `details` carries the machine-readable facts of the failure: for corruption
 *   that is always { segment, offset, seq }.
 * - Errors cross thread boundaries as plain data (toWire / fromWire): a custom
 *   class sent through postMessage arrives as a plain Error without its code.
 * - A message shows caller data only through preview(): a bounded prefix of a
 *   string, the kind of anything else, never more.
 */

import { types } from 'node:util'
import { FIXED } from './limits.js'

export const ERROR_CODES = {
  /** An option is missing, of the wrong type or out of its range. */
  OPTION_INVALID: 'ERR_AUDIT_OPTION_INVALID',
  /** The event cannot be serialized faithfully (cycle, BigInt, function, bad level, ...). */
  EVENT_INVALID: 'ERR_AUDIT_EVENT_INVALID',
  /** The serialized event is larger than eventBytesMax. */
  EVENT_TOO_LARGE: 'ERR_AUDIT_EVENT_TOO_LARGE',
  /** More than pendingEmitsMax emits of one producer are waiting for ring space. */
  QUEUE_FULL: 'ERR_AUDIT_QUEUE_FULL',
  /** emit() after close() began, or on a sink that is closed. */
  CLOSED: 'ERR_AUDIT_CLOSED',
  /** The sink failed earlier (I/O error, writer crash); the cause is the first failure. */
  FAILED: 'ERR_AUDIT_FAILED',
  /** destroy() was called; pending emits are rejected with this code. */
  DESTROYED: 'ERR_AUDIT_DESTROYED',
  /** A write, fdatasync, rename or other storage call failed. */
  IO: 'ERR_AUDIT_IO',
  /** The writer worker exited or threw unexpectedly. */
  WRITER_CRASHED: 'ERR_AUDIT_WRITER_CRASHED',
  /** Another live writer holds the directory lock. */
  LOCKED: 'ERR_AUDIT_LOCKED',
  /** The directory (or a file in it) is not an mtlog-audit WAL. */
  NOT_A_WAL: 'ERR_AUDIT_NOT_A_WAL',
  /** A segment declares a format version this reader does not know. */
  VERSION_UNSUPPORTED: 'ERR_AUDIT_VERSION_UNSUPPORTED',
  /** Damage in data that was (or may have been) acknowledged; details name segment, offset and seq. */
  CORRUPT: 'ERR_AUDIT_CORRUPT',
  /** The directory does not exist (read side only; open() creates it). */
  NO_WAL: 'ERR_AUDIT_NO_WAL',
  /** The output of export or recover exists already (export overwrites only with force). */
  OUTPUT_EXISTS: 'ERR_AUDIT_OUTPUT_EXISTS',
  /** A signed note (a checkpoint) carries no valid signature of a trusted key, or a trusted key's signature fails. */
  SIGNATURE_INVALID: 'ERR_AUDIT_SIGNATURE_INVALID',
  /** A signed note or checkpoint text does not parse (details.problem names the rule). */
  NOTE_MALFORMED: 'ERR_AUDIT_NOTE_MALFORMED',
  /** A signer or verifier key (text or file) is malformed; the message never shows key bytes. */
  KEY_INVALID: 'ERR_AUDIT_KEY_INVALID',
  /** A private key file is readable or writable by group or others (it must be 0600). */
  KEY_FILE_MODE: 'ERR_AUDIT_KEY_FILE_MODE',
  /** A checkpoint signer task failed for a reason that is not coded otherwise (a crash of its thread); stats() reports it. */
  SIGNER_FAILED: 'ERR_AUDIT_SIGNER_FAILED',
  /** No signed checkpoint in the log covers what was asked (prove --seq, checkpoint on a log that never signed). */
  NO_CHECKPOINT: 'ERR_AUDIT_NO_CHECKPOINT',
  /** A witness refused a checkpoint or gave no answer (details.status, details.size on 409). */
  WITNESS_FAILED: 'ERR_AUDIT_WITNESS_FAILED',
  /** A keyring file does not follow the keyring schema, or an entry does not unwrap under its provider. */
  KEYRING_INVALID: 'ERR_AUDIT_KEYRING_INVALID',
  /** Authenticated decryption failed: ciphertext, tag, IV or bound context (log id, seq, key id) changed. */
  DECRYPT_FAILED: 'ERR_AUDIT_DECRYPT_FAILED',
  /** A key id named by a record or a caller is not in the keyring (details.keyId). */
  KEY_UNKNOWN: 'ERR_AUDIT_KEY_UNKNOWN',
  /** The key provider (a KMS) failed to wrap or unwrap a key; cause is its error. */
  KEY_PROVIDER: 'ERR_AUDIT_KEY_PROVIDER',
  /** A proof bundle or tree state (compact range) is malformed, or a proof was asked outside its tree (details.problem). */
  PROOF_INVALID: 'ERR_AUDIT_PROOF_INVALID',
  /** A path the log opens is a FIFO, device, directory, socket or symlink, not a regular file (details.path, details.kind). */
  NOT_A_FILE: 'ERR_AUDIT_NOT_A_FILE',
  /** An integration's audit call did not reach the sink: its level is filtered out, or the logger dropped it. */
  NOT_LOGGED: 'ERR_AUDIT_NOT_LOGGED',
  /** A health check (readiness, liveness) failed; details.reasons lists the reason codes. */
  UNHEALTHY: 'ERR_AUDIT_UNHEALTHY',
  /** A bounded wait ran out (graceful shutdown's drain and close). */
  TIMEOUT: 'ERR_AUDIT_TIMEOUT',
  /** A record's checksum and chain hold, but its payload is not an event a reader can render (details.seq, details.problem). */
  RECORD_UNREADABLE: 'ERR_AUDIT_RECORD_UNREADABLE',
  /** An internal invariant was violated: a bug in mtlog-audit, please report it. */
  INVARIANT: 'ERR_AUDIT_INVARIANT',
} as const

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES]

export type ErrorDetails = Record<string, string | number | boolean | null>

export class AuditError extends Error {
  readonly code: ErrorCode
  readonly details: ErrorDetails | undefined

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AuditError'
    this.code = code
    this.details = options.details
  }
}

/** The shape an error takes on the wire between threads. */
export interface WireError {
  code: string
  message: string
  stack?: string
  details?: ErrorDetails
  cause?: WireError
}

export function toWire(err: unknown, depth = 0): WireError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; details?: ErrorDetails }
    const wire: WireError = {
      code: typeof e.code === 'string' ? e.code : 'ERR_UNKNOWN',
      message: e.message,
    }
    if (e.stack !== undefined) wire.stack = e.stack
    if (e.details !== undefined) wire.details = e.details
    if (e.cause !== undefined && depth < 4) wire.cause = toWire(e.cause, depth + 1)
    return wire
  }
  return { code: 'ERR_UNKNOWN', message: String(err) }
}

const KNOWN = new Set<string>(Object.values(ERROR_CODES))

/** Rebuild an error from the wire: AuditError for our codes, an Error with `code` for others (fs errors). */
export function fromWire(wire: WireError): Error {
  const cause = wire.cause === undefined ? undefined : fromWire(wire.cause)
  let err: Error
  if (KNOWN.has(wire.code)) {
    err = new AuditError(wire.code as ErrorCode, wire.message, { cause, details: wire.details })
  } else {
    err = new Error(wire.message, cause === undefined ? undefined : { cause })
    ;(err as Error & { code: string }).code = wire.code
  }
  if (wire.stack !== undefined) err.stack = wire.stack
  return err
}

/** The one place a storage-call failure becomes an AuditError. */
export function ioError(op: string, path: string, cause: unknown): AuditError {
  // A cause that is already coded (ERR_AUDIT_NOT_A_FILE from an open, say) keeps its code.
  if (cause instanceof AuditError) return cause
  const errno = (cause as { code?: unknown } | null)?.code
  return new AuditError(ERROR_CODES.IO, `${op} failed on ${path}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    details: { op, path, errno: typeof errno === 'string' ? errno : null },
  })
}

/**
 * A short, safe description of caller data for an error message: a string as
 * its first `max` characters, quoted, with its length when cut; any other
 * value as its kind ("a Map", "a Proxy", "an array of 3"); a string longer
 * than FIXED.previewScanCharsMax as its length only. It runs no caller
 * code: no getter, toString, toJSON or Proxy trap (only node:util's type
 * checks and own data properties), so describing a value can neither throw
 * nor change it. The result is at most about max + 30 characters.
 */
export function preview(value: unknown, max: number = FIXED.previewCharsMax): string {
  switch (typeof value) {
    case 'string':
      return quoted(value, max)
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value)
    case 'bigint':
      // Printing a huge BigInt costs time of its size: only small ones are shown.
      return BigInt.asIntN(64, value) === value ? `${value}n` : 'a BigInt wider than 64 bits'
    case 'symbol':
      return value.description === undefined ? 'a Symbol' : `a Symbol(${quoted(value.description, max)})`
    case 'function':
      return types.isProxy(value) ? 'a Proxy' : `a function${nameOf(value, max)}`
  }
  return value === null ? 'null' : describeObject(value as object, max)
}

function quoted(s: string, max: number): string {
  // Reading a character of a string built by concatenation makes the engine
  // flatten all of it (512 MiB for the longest): a long string shows its length only.
  if (s.length > FIXED.previewScanCharsMax) return `a string of ${s.length} chars`
  let out = '"'
  let i = 0
  for (; i < s.length && out.length <= max; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) out += `\\u${c.toString(16).padStart(4, '0')}`
    else if (c === 0x22 || c === 0x5c) out += `\\${s[i]}`
    else out += s[i]
  }
  return i < s.length ? `${out}"… (${s.length} chars)` : `${out}"`
}

function describeObject(v: object, max: number): string {
  if (types.isProxy(v)) return 'a Proxy'
  if (types.isDate(v)) {
    const t = Date.prototype.getTime.call(v)
    return Number.isNaN(t) ? 'an invalid Date' : `a Date (${Date.prototype.toISOString.call(v)})`
  }
  const name = constructorName(v, max)
  if (types.isNativeError(v)) {
    const d = Object.getOwnPropertyDescriptor(v, 'message')
    const message = d !== undefined && typeof d.value === 'string' ? ` (${quoted(d.value, max)})` : ''
    return `${article(name ?? 'Error')}${message}`
  }
  // A real array's length is an own data property: reading it runs no caller code.
  if (Array.isArray(v)) return `an array of ${(v as unknown[]).length}`
  if (name === undefined) return Object.getPrototypeOf(v) === null ? 'an object with a null prototype' : 'an object'
  return name === 'Object' ? 'an object' : article(name)
}

/** The name of v's constructor, found through own data properties only (undefined when that is not possible). */
function constructorName(v: object, max: number): string | undefined {
  const proto: unknown = Object.getPrototypeOf(v)
  if (proto === null || typeof proto !== 'object' || types.isProxy(proto)) return undefined
  const ctor: unknown = Object.getOwnPropertyDescriptor(proto, 'constructor')?.value
  if (typeof ctor !== 'function' || types.isProxy(ctor)) return undefined
  const name: unknown = Object.getOwnPropertyDescriptor(ctor, 'name')?.value
  return typeof name === 'string' && name !== '' ? cut(name, max) : undefined
}

function nameOf(fn: object, max: number): string {
  const name: unknown = Object.getOwnPropertyDescriptor(fn, 'name')?.value
  return typeof name === 'string' && name !== '' ? ` ${cut(name, max)}` : ''
}

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`
}

function article(name: string): string {
  return /^[AEIO]/i.test(name) ? `an ${name}` : `a ${name}` // a Uint8Array, a URIError
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AuditError(ERROR_CODES.INVARIANT, `invariant violated: ${message}`)
}
