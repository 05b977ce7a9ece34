/**
 * Every message between the app side and the writer worker, as one tagged
 * union. Records and acknowledgements never travel as messages: they move
 * through the shared ring and the durable cursor (ring-layout.ts). Messages
 * carry only lifecycle events, a handful per sink lifetime.
 *
 * App → writer: workerData (WriterInit) once; then only control words in the
 * shared block (close request), because the writer's thread is busy in a
 * synchronous loop and does not read messages. One exception, read
 * synchronously (receiveMessageOnPort) when the writer meets a key-change
 * record in the ring: rotated data keys on the encryption key port
 * (workers/writer/crypt.ts), `{ id, key: KeyObject, epochSalt }`.
 * Writer → app: WriterMessage. An unknown message is an invariant failure.
 */

import type { WireError } from '../errors.js'
import type { StorageSpec } from '../storage.js'
import type { LockReport } from '../lock.js'
import type { MessagePort } from 'node:worker_threads'
import type { KeyObject } from 'node:crypto'

export interface WriterInit {
  sab: SharedArrayBuffer
  dir: string
  eventBytesMax: number
  batchBytesMax: number
  segmentBytesMax: number
  /** A second directory that receives every batch too (byte-identical), or undefined. */
  mirror: string | undefined
  storage: StorageSpec | undefined
  /** Test hook: a fixed clock for segment headers and side-file names (ms). */
  clockMs: number | undefined
  /** Mode of every file the writer creates (0o600 or 0o640); directories get the matching 0o700 / 0o750. */
  fileMode: number
  /**
   * Encryption (docs/encryption.md): the session's data key, durable in the
   * keyring before the writer starts, and the port rotated keys arrive on
   * (workers/writer/crypt.ts). Key bytes travel only as KeyObjects.
   */
  crypt?: { dataKey: { id: string; key: KeyObject; epochSalt: Uint8Array }; keyPort: MessagePort; template: boolean }
  /** Signing: the leaf ring (shared/leaf-ring.ts) the writer puts every record's Merkle leaf hash in. */
  leaves?: SharedArrayBuffer
}

export interface TornTailReport {
  segment: string
  offset: number
  /** Bytes cut from offset to the old end of the segment. */
  bytes: number
  /** Holds the cut bytes up to the last non-zero one (trailing zeros are not copied). */
  sideFile: string
}

/** Only zero bytes followed the last batch (zero-ahead space of a writer that did not close); cut, no side file. */
export interface ZeroTailReport {
  segment: string
  offset: number
  bytes: number
}

export interface MirrorOpenReport {
  dir: string
  /** The torn tail recovery cut in the mirror. */
  tornTail: TornTailReport | undefined
  /** The zero tail recovery cut in the mirror. */
  zeroTail: ZeroTailReport | undefined
  /** The copy that was behind and what it received on open, if one was. */
  caughtUp: { dir: string; bytes: number; segments: number } | undefined
}

export interface OpenReport {
  /** The log's id (32 lowercase hex digits): its checkpoints' origin ends with it, and every ciphertext is bound to it. */
  logId: string
  /** The last seq of the log when open() resolved: the next emit gets lastSeq + 1. */
  lastSeq: number
  /** The last seq that was on disk intact when open() began (after any cut), before open wrote its own records. */
  resumedSeq: number
  /** Seqs the device showed were used past resumedSeq (cut records, side files): recorded as a gap record. */
  gap: { fromSeq: number; toSeq: number } | undefined
  segments: number
  tornTail: TornTailReport | undefined
  zeroTail: ZeroTailReport | undefined
  removedTmp: string[]
  mirror: MirrorOpenReport | undefined
  /** The lock taken in each directory (the WAL, then the mirror), and the stale lock files it replaced. */
  locks: LockReport[]
}

export type WriterMessage =
  | { type: 'ready'; report: OpenReport; locks: { file: string; token: string }[] }
  | { type: 'open-failed'; error: WireError }
  | { type: 'failed'; error: WireError }
  | { type: 'closed'; lastSeq: number }

const TYPES = new Set(['ready', 'open-failed', 'failed', 'closed'])

export function isWriterMessage(m: unknown): m is WriterMessage {
  return typeof m === 'object' && m !== null && TYPES.has((m as { type?: unknown }).type as string)
}
