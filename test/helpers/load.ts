// Shared by the multi-producer, ring and crash tests: a seeded PRNG, the
// deterministic content of load events (so readLog can check every byte of a
// record against what its thread emitted), and a pump that keeps many emits
// in flight.
import type { AuditEvent, Receipt } from '../../lib/index.js'

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A seed from env (to replay a failure) or a fresh one. */
export function seedFrom(envName: string): number {
  const v = process.env[envName]
  if (v !== undefined && v !== '') {
    const s = Number(v)
    if (!Number.isInteger(s)) throw new Error(`${envName} must be an integer (got ${v})`)
    return s >>> 0
  }
  return (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 0x7fffffff)) >>> 0
}

/** Deterministic hash of (salt, tag, n): the same in every thread and process. */
function mix(salt: number, tag: number, n: number): number {
  let h = (salt ^ Math.imul(tag + 1, 0x9e3779b1) ^ Math.imul(n + 1, 0x85ebca6b)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
  return (h ^ (h >>> 16)) >>> 0
}

export interface PadSpec {
  salt: number
  min: number
  max: number
}

/** The pad string of event n of thread `tag`: its length varies in [min, max]. */
export function padFor(spec: PadSpec, tag: number, n: number): string {
  const len = spec.min + (mix(spec.salt, tag, n) % (spec.max - spec.min + 1))
  return String.fromCharCode(97 + (n % 26)).repeat(len)
}

export interface LoadProps {
  thread: number
  n: number
  pad: string
  [k: string]: unknown
}

export function loadEvent(thread: number, n: number, pad: PadSpec, extra?: Record<string, unknown>): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: 'load {thread} {n}',
    properties: { ...extra, thread, n, pad: padFor(pad, thread, n) },
  }
}

export interface PumpResult {
  /** seqs[n] = the seq of the receipt of emit n (undefined if it rejected). */
  seqs: (number | undefined)[]
  /** "n: code message" of every emit that rejected. */
  errors: string[]
  /** Order in which receipts resolved, as n values. */
  resolveOrder: number[]
}

/**
 * Call emit(0..count-1) in order, keeping at most `inflight` unsettled, and
 * resolve when every one has settled. onReceipt sees each receipt as it lands.
 */
export function pump(
  emit: (n: number) => Promise<Receipt>,
  count: number,
  inflight: number,
  onReceipt?: (n: number, seq: number) => void,
): Promise<PumpResult> {
  const seqs: (number | undefined)[] = new Array(count).fill(undefined)
  const errors: string[] = []
  const resolveOrder: number[] = []
  return new Promise((resolve) => {
    if (count === 0) return resolve({ seqs, errors, resolveOrder })
    let next = 0
    let settled = 0
    let inFlight = 0
    const launch = (): void => {
      while (inFlight < inflight && next < count) {
        const n = next++
        inFlight++
        emit(n)
          .then(
            (r) => {
              seqs[n] = r.seq
              resolveOrder.push(n)
              onReceipt?.(n, r.seq)
            },
            (e: unknown) => {
              const err = e as { code?: string; message?: string }
              errors.push(`${n}: ${err?.code ?? 'no code'} ${err?.message ?? String(e)}`)
            },
          )
          .finally(() => {
            inFlight--
            settled++
            if (settled === count) resolve({ seqs, errors, resolveOrder })
            else launch()
          })
      }
    }
    launch()
  })
}

/** Reject with a clear message if p has not settled in ms (a liveness guard against hangs, not a speed check). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`hang: ${what} did not finish within ${ms} ms`)), ms)
  })
  return Promise.race([p, guard]).finally(() => clearTimeout(timer))
}
