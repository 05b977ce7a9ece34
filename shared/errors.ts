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
 */

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
  const errno = (cause as { code?: unknown } | null)?.code
  return new AuditError(ERROR_CODES.IO, `${op} failed on ${path}: ${(cause as Error)?.message ?? String(cause)}`, {
    cause,
    details: { op, path, errno: typeof errno === 'string' ? errno : null },
  })
}

export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AuditError(ERROR_CODES.INVARIANT, `invariant violated: ${message}`)
}
