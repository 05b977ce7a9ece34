/**
 * Layout of the SharedArrayBuffer shared by producers (app threads) and the
 * writer worker. One control block, then the data ring.
 *
 *   bytes 0 .. CONTROL_BYTES                      bytes DATA_OFFSET .. + ringBytes
 *   ┌────────┬────────┬────────┬───────┬───────┬───────┬─────────┬─────────┐┌────────────────────┐
 *   │reserve │consumed│durable │ state │ wake  │ stats │ failure │ metrics ││ records, 8-aligned │
 *   └────────┴────────┴────────┴───────┴───────┴───────┴─────────┴─────────┘└────────────────────┘
 *   each hot word on its own 64-byte cache line (written by different threads)
 *
 * reserve (u64, line 0): high 32 bits = low 32 bits of the last reserved seq,
 *   low 32 bits = ring position (mod 2^31) | CLOSED_BIT. Producers CAS it to
 *   claim space and a seq in one step, so ring order = seq order.
 * consumed (i32, line 1): ring position up to which the writer released space.
 * durable (line 2): DURABLE_LO (i32, waited on) = low 32 bits of the durable
 *   seq; DURABLE_SEQ (u64) = the whole durable seq.
 * state (i32, line 3): STATE_OPEN | STATE_FAILED | STATE_CLOSED.
 * wake (line 4): WRITER_SLEEPING (the writer sets 1 before it sleeps; a
 *   producer that sees 1 clears it and notifies), CLOSE_REQUESTED.
 *
 * Ring record: i32 lenWord, i32 seqLo, f64 timeMs, payload, padded to 8 bytes.
 * lenWord 0 = not yet published, PAD = skip to ring end, > 0 = a record: bits
 * [0, 27) its payload bytes, bits [27, 31) its kind (RING_KIND_EVENT for an
 * emit; otherwise the WAL record type of a record the sink makes itself, such
 * as a checkpoint: shared/format.ts RecordType).
 */

export const CACHE_LINE_BYTES = 64
const I32_PER_LINE = CACHE_LINE_BYTES / 4

// Int32 indexes
export const CONSUMED = 1 * I32_PER_LINE
export const DURABLE_LO = 2 * I32_PER_LINE
export const STATE = 3 * I32_PER_LINE
export const WRITER_SLEEPING = 4 * I32_PER_LINE
export const CLOSE_REQUESTED = 4 * I32_PER_LINE + 1
export const FAILURE_LEN = 7 * I32_PER_LINE

// BigUint64 indexes
export const RESERVE_U64 = 0
export const DURABLE_SEQ_U64 = (2 * CACHE_LINE_BYTES + 8) / 8

// Float64 indexes: counters written by the writer only, read by anyone (monitoring).
export const STATS_F64 = (5 * CACHE_LINE_BYTES) / 8
export const Stat = {
  BATCHES: 0,
  RECORDS: 1,
  BYTES: 2,
  FSYNCS: 3,
  SEGMENTS: 4,
  LAST_BATCH_RECORDS: 5,
  /** Wall-clock ms (epoch) of the writer's last publishDurable; 0 before the first (lib/adapters metrics, health). */
  LAST_DURABLE_MS: 6,
} as const
const STATS_COUNT = 7

export const FAILURE_OFFSET = 8 * CACHE_LINE_BYTES
export const FAILURE_BYTES = 4096
// ── metrics area (lib/adapters/prometheus.ts, sink.stats/histograms): begin ──
// After the failure record. Producers add their settle-round counts with
// Atomics.add on u64 words (any thread); the writer fills its histograms with
// plain f64 stores (one writer). Buckets are per range (not cumulative), the
// last one is +Inf; each histogram is [count, sum, bucket 0 .. bucket n].
export const METRICS_OFFSET = FAILURE_OFFSET + FAILURE_BYTES
/** Emit → durable latency and fsync duration buckets, upper bounds in ms (0.1 ms … 5 s). */
export const LATENCY_BUCKETS_MS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000] as const
/** Records per batch, upper bounds. */
export const BATCH_RECORDS_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536] as const
/** BigUint64 indexes (Atomics.add): emits settled durable, rejected after acceptance, refused at the call. */
export const EMITS_DURABLE_U64 = METRICS_OFFSET / 8
export const EMITS_FAILED_U64 = EMITS_DURABLE_U64 + 1
export const EMITS_REFUSED_U64 = EMITS_DURABLE_U64 + 2
/** BigUint64 histogram of emit → durable latency; its sum is in microseconds. */
export const EMIT_LATENCY_U64 = EMITS_DURABLE_U64 + 3
/** Float64 histograms the writer fills: fsync duration (sum in ms) and records per batch. */
export const FSYNC_HIST_F64 = (METRICS_OFFSET + 4 * CACHE_LINE_BYTES) / 8
export const BATCH_HIST_F64 = FSYNC_HIST_F64 + 2 + LATENCY_BUCKETS_MS.length + 1
export const METRICS_BYTES = 8 * CACHE_LINE_BYTES

/** Writer side: count v (ms or records) into the f64 histogram at base with these bounds. */
export function observeF64(f64: Float64Array, base: number, bounds: readonly number[], v: number): void {
  let i = 0
  while (i < bounds.length && v > bounds[i]!) i++
  f64[base] = f64[base]! + 1
  f64[base + 1] = f64[base + 1]! + v
  f64[base + 2 + i] = f64[base + 2 + i]! + 1
}
// ── metrics area: end ──

export const CONTROL_BYTES = METRICS_OFFSET + METRICS_BYTES
export const DATA_OFFSET = CONTROL_BYTES

export const STATE_OPEN = 0
export const STATE_FAILED = 1
export const STATE_CLOSED = 2
/** Transient: the first failure is being written to the failure area. */
export const STATE_FAILING = 3

export const POS_MASK = 0x7fff_ffff
export const CLOSED_BIT = 0x8000_0000
export const RING_RECORD_HEADER_BYTES = 16
export const PAD = -1
/** lenWord bits: payload bytes below RING_KIND_SHIFT, the record's kind above (never bit 31). */
export const RING_KIND_SHIFT = 27
export const RING_LEN_MASK = (1 << RING_KIND_SHIFT) - 1
export const RING_KIND_MAX = 0xf
/** The kind of an emitted event (lenWord = payload bytes). */
export const RING_KIND_EVENT = 0

export function align8(n: number): number {
  return (n + 7) & ~7
}

// Size relations, checked once at load.
if (STATS_F64 * 8 + STATS_COUNT * 8 > 6 * CACHE_LINE_BYTES) throw new Error('ring-layout: stats overflow their line')
if (FAILURE_LEN * 4 >= FAILURE_OFFSET) throw new Error('ring-layout: failure length overlaps the message')
if (DURABLE_SEQ_U64 * 8 < DURABLE_LO * 4 + 4 || DURABLE_SEQ_U64 * 8 + 8 > 3 * CACHE_LINE_BYTES)
  throw new Error('ring-layout: durable words')
if (DATA_OFFSET % 8 !== 0) throw new Error('ring-layout: data must be 8-aligned')
if ((EMIT_LATENCY_U64 + 2 + LATENCY_BUCKETS_MS.length + 1) * 8 > FSYNC_HIST_F64 * 8)
  throw new Error('ring-layout: emit counters overlap the writer histograms')
if ((BATCH_HIST_F64 + 2 + BATCH_RECORDS_BUCKETS.length + 1) * 8 > METRICS_OFFSET + METRICS_BYTES)
  throw new Error('ring-layout: histograms overflow the metrics area')
