/**
 * Telemetry in the ring's metrics area (shared/ring/layout.ts): counters and
 * histograms that any thread reads without I/O and without a message.
 *
 *   producers (any thread) ── EmitTally: one settle round counted locally,
 *                              then one Atomics.add per bucket touched ──► u64 words
 *   writer (one thread) ───── observeF64 after each fdatasync / batch ──────► f64 words
 *   readers ───────────────── readEmitLatency / readWriterHistograms / ring fill
 *
 * Contract: every emit that resolves is counted once in the latency histogram
 * (its count is the number of durable emits, all threads); every emit rejected
 * after acceptance counts as failed, every emit refused at the call as
 * refused. Counts only grow. Reading is racy by design (a scrape may see a
 * round half added): each value is exact, the set is a snapshot within one round.
 */

import {
  BATCH_HIST_F64,
  BATCH_RECORDS_BUCKETS,
  CONSUMED,
  EMIT_LATENCY_U64,
  EMITS_DURABLE_U64,
  EMITS_FAILED_U64,
  EMITS_REFUSED_U64,
  FSYNC_HIST_F64,
  LATENCY_BUCKETS_MS,
  POS_MASK,
  RESERVE_U64,
  Stat,
} from '../../shared/ring/layout.js'
import type { Ring } from '../../shared/ring/ring.js'

/** A histogram snapshot: counts per bucket (not cumulative); the last bucket is +Inf. */
export interface Histogram {
  /** Upper bounds of every bucket but the last, in the histogram's unit. */
  readonly bounds: readonly number[]
  readonly counts: number[]
  readonly count: number
  readonly sum: number
}

export interface SinkHistograms {
  /** Emit call → promise resolved, in ms, emits of every thread. */
  emitDurableMs: Histogram
  /** Each batch's fdatasync as the writer saw it, in ms. */
  fsyncMs: Histogram
  /** Records per written batch. */
  batchRecords: Histogram
}

const U32 = 0x1_0000_0000
const LATENCY_BUCKETS = LATENCY_BUCKETS_MS.length + 1

/** Index of the bucket of v: the first bound ≥ v, or the +Inf bucket. */
function bucketOf(bounds: readonly number[], v: number): number {
  let i = 0
  while (i < bounds.length && v > bounds[i]!) i++
  return i
}

/** A producer's counting: per settle round locally, then into the shared words. */
export class EmitTally {
  private readonly round = new Float64Array(LATENCY_BUCKETS)
  private roundCount = 0
  private roundSumUs = 0

  constructor(private readonly u64: BigUint64Array) {}

  /** One emit resolved after ms. */
  observe(ms: number): void {
    this.round[bucketOf(LATENCY_BUCKETS_MS, ms)]!++
    this.roundCount++
    this.roundSumUs += ms * 1000
  }

  /** Add the round to the shared words (a few Atomics.add per round, not per emit). */
  commit(): void {
    if (this.roundCount === 0) return
    const { u64, round } = this
    Atomics.add(u64, EMITS_DURABLE_U64, BigInt(this.roundCount))
    Atomics.add(u64, EMIT_LATENCY_U64, BigInt(this.roundCount))
    Atomics.add(u64, EMIT_LATENCY_U64 + 1, BigInt(Math.round(this.roundSumUs)))
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      if (round[i] === 0) continue
      Atomics.add(u64, EMIT_LATENCY_U64 + 2 + i, BigInt(round[i]!))
      round[i] = 0
    }
    this.roundCount = 0
    this.roundSumUs = 0
  }

  /** n accepted emits were rejected (the sink failed, closed or was destroyed). */
  failed(n: number): void {
    if (n > 0) Atomics.add(this.u64, EMITS_FAILED_U64, BigInt(n))
  }

  /** One emit was refused at the call (invalid, too large, queue full, closed). */
  refused(): void {
    Atomics.add(this.u64, EMITS_REFUSED_U64, 1n)
  }
}

export interface EmitCounts {
  durable: number
  failed: number
  refused: number
}

export function readEmitCounts(ring: Ring): EmitCounts {
  const u = ring.u64
  return {
    durable: Number(Atomics.load(u, EMITS_DURABLE_U64)),
    failed: Number(Atomics.load(u, EMITS_FAILED_U64)),
    refused: Number(Atomics.load(u, EMITS_REFUSED_U64)),
  }
}

export function readHistograms(ring: Ring): SinkHistograms {
  const u = ring.u64
  const counts: number[] = []
  for (let i = 0; i < LATENCY_BUCKETS; i++) counts.push(Number(Atomics.load(u, EMIT_LATENCY_U64 + 2 + i)))
  return {
    emitDurableMs: {
      bounds: LATENCY_BUCKETS_MS,
      counts,
      count: Number(Atomics.load(u, EMIT_LATENCY_U64)),
      sum: Number(Atomics.load(u, EMIT_LATENCY_U64 + 1)) / 1000,
    },
    fsyncMs: readF64(ring.f64, FSYNC_HIST_F64, LATENCY_BUCKETS_MS),
    batchRecords: readF64(ring.f64, BATCH_HIST_F64, BATCH_RECORDS_BUCKETS),
  }
}

function readF64(f64: Float64Array, base: number, bounds: readonly number[]): Histogram {
  const counts: number[] = []
  for (let i = 0; i <= bounds.length; i++) counts.push(f64[base + 2 + i]!)
  return { bounds, counts, count: f64[base]!, sum: f64[base + 1]! }
}

/** Ring bytes reserved by producers and not yet released by the writer. */
export function ringUsedBytes(ring: Ring): number {
  const word = Number(Atomics.load(ring.u64, RESERVE_U64) & 0xffff_ffffn)
  return ((word & POS_MASK) - Atomics.load(ring.i32, CONSUMED)) & POS_MASK
}

/** Events of every thread that hold a seq and are not durable yet. */
export function inFlight(ring: Ring): number {
  const reservedLo = Number(Atomics.load(ring.u64, RESERVE_U64) >> 32n)
  const n = (reservedLo - (ring.durableLo() >>> 0) + U32) % U32
  // Durable ahead of reserved (a record the writer made itself took a seq): nothing in flight.
  return n >= U32 / 2 ? 0 : n
}

/** Wall-clock ms of the writer's last durable publish, undefined before the first. */
export function lastDurableAtMs(ring: Ring): number | undefined {
  const v = ring.stat(Stat.LAST_DURABLE_MS)
  return v > 0 ? v : undefined
}
