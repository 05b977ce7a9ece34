/**
 * Every bound in mtlog-audit, in one place, with its unit in its name.
 *
 * Each tunable bound has a default and a hard range; lib/sink/options.ts validates
 * user options against these ranges and names the option that is out of range.
 * The relations between bounds (an event must fit in a batch, a batch in a
 * segment, an event in half the ring) are asserted in options validation and,
 * for the defaults, at module load below.
 */

export interface Bound {
  readonly default: number
  readonly min: number
  readonly max: number
}

export const LIMITS = {
  /** Bytes of the shared ring between producers and the writer (power of two). */
  ringBytes: { default: 8 * 1024 * 1024, min: 64 * 1024, max: 1024 * 1024 * 1024 },
  /** Largest serialized event (UTF-8 JSON payload) accepted by emit(). */
  eventBytesMax: { default: 256 * 1024, min: 256, max: 64 * 1024 * 1024 },
  /** Largest framed batch the writer writes with one write + one fdatasync. */
  batchBytesMax: { default: 4 * 1024 * 1024, min: 4 * 1024, max: 256 * 1024 * 1024 },
  /** A segment is rotated before a batch would take it past this size. */
  segmentBytesMax: { default: 64 * 1024 * 1024, min: 64 * 1024, max: 4 * 1024 * 1024 * 1024 },
  /** Emits of one producer that may wait for ring space before emit() rejects with ERR_AUDIT_QUEUE_FULL. */
  pendingEmitsMax: { default: 65_536, min: 1, max: 16_777_216 },
} as const satisfies Record<string, Bound>

/** Fixed bounds (not options). */
export const FIXED = {
  /** Deepest nesting of properties in an event. */
  eventDepthMax: 64,
  /** How long the idle writer sleeps before it looks at the control words again. */
  writerIdleWaitMs: 50,
  /**
   * A producer thread waiting for the durable cursor or for ring space looks at
   * the sink's state again after this long, even if nothing woke it: a failure
   * or close recorded just before it began to wait changes neither word it
   * waits on (found by the DiskFull campaign: an emit that never settled).
   */
  producerRecheckMs: 50,
  /** How long close() lets the writer take to drain and exit before it is terminated. */
  closeTimeoutMs: 30_000,
  /** How long open() waits for the writer to lock and recover the directory. */
  openTimeoutMs: 120_000,
  /** Bytes of the failure message area in the shared control block. */
  failureBytesMax: 4096,
  /** How long the writer waits for a reserved ring record to be published during close. */
  publishWaitMs: 10_000,
  /**
   * Batches of at least this many records are fdatasync'ed on libuv's pool while
   * the writer seals the next batch; smaller ones are synced on the writer's own
   * thread, which answers sooner (no thread hand-off) when there is little to seal.
   */
  asyncSyncMinRecords: 128,
  /**
   * Zero-ahead: after a batch of at most zeroAheadBatchBytesMax bytes that
   * reaches past the zero-filled end of the active segment, the appender writes
   * this many zero bytes after it, synced with that batch. The batches that
   * follow overwrite those zeros without changing the file's size, so their
   * fdatasync commits no metadata (on ext4 here about half the time of an
   * fdatasync that grows the file; docs/operations.md has the measurement).
   * The batch that carries the zeros pays for writing them: 256 KiB keeps that
   * to a fraction of a millisecond on this disk.
   */
  zeroAheadBytes: 256 * 1024,
  /**
   * Larger batches grow the file directly: fewer than four of them would fit
   * in the zeros, too few to pay back writing every byte twice.
   */
  zeroAheadBatchBytesMax: 64 * 1024,
  /** Bytes read per call when scanning segment files. */
  readChunkBytes: 1024 * 1024,
  /**
   * Message templates whose JSON encoding each emitting thread keeps (templates
   * are a small fixed set in a well-behaved app; the cache is emptied when full).
   */
  templateCacheEntries: 256,
  /** Longer templates are encoded on every emit, never cached. */
  templateCacheCharsMax: 512,
} as const

function assertDefaults(): void {
  const ring = LIMITS.ringBytes.default
  if ((ring & (ring - 1)) !== 0) throw new Error('limits: ringBytes default must be a power of two')
  if (LIMITS.eventBytesMax.default + 64 > ring / 2) throw new Error('limits: an event must fit in half the ring')
  if (LIMITS.eventBytesMax.default + 64 > LIMITS.batchBytesMax.default)
    throw new Error('limits: an event must fit in a batch')
  if (LIMITS.batchBytesMax.default + 128 > LIMITS.segmentBytesMax.default)
    throw new Error('limits: a batch must fit in a segment')
}
assertDefaults()
