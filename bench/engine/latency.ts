/**
 * The numbers of a run: LatencyLog records latencies (ms) as acks arrive,
 * summarize() turns them into quantiles and a CDF, spread() gives the median
 * (min–max) of one metric over a scenario's repeats.
 */

/**
 * A growable list of latencies in ms. For a memory measurement, preallocate
 * and pass resident = true: the pages are written at once, so the log's
 * memory is in RSS before the run instead of growing into it sample by sample.
 */
export class LatencyLog {
  private buf: Float64Array
  length = 0
  constructor(capacity = 1 << 16, resident = false) {
    this.buf = new Float64Array(Math.max(16, capacity))
    if (resident) this.buf.fill(0)
  }
  push(v: number): void {
    if (this.length === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2)
      next.set(this.buf)
      this.buf = next
    }
    this.buf[this.length++] = v
  }
  values(): Float64Array {
    return this.buf.subarray(0, this.length)
  }
}

/** The quantiles every latency distribution keeps (the report draws its CDF from them). */
export const CDF_QUANTILES = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1] as const

export interface Latency {
  p50: number
  p99: number
  p999: number
  max: number
  mean: number
  /** ms at each of CDF_QUANTILES. */
  cdf: number[]
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export function summarize(parts: Float64Array[]): Latency {
  const n = parts.reduce((a, p) => a + p.length, 0)
  const all = new Float64Array(n)
  let at = 0
  let sum = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
    for (let k = 0; k < p.length; k++) sum += p[k]!
  }
  all.sort()
  return {
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    p999: quantile(all, 0.999),
    max: n > 0 ? all[n - 1]! : NaN,
    mean: n > 0 ? sum / n : NaN,
    cdf: CDF_QUANTILES.map((q) => (q === 0 ? (n > 0 ? all[0]! : NaN) : quantile(all, q))),
  }
}

export interface Spread {
  median: number
  min: number
  max: number
}

/** "median (min–max)" of a spread, each with `digits` decimals. */
export function spreadText(s: Spread, digits: number): string {
  return `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`
}

/** The spread of after[i] / before[i]: a paired ratio, round by round. */
export function pairedRatio(after: number[], before: number[]): Spread {
  return spread(after.map((a, i) => a / before[i]!))
}

export function spread(values: number[]): Spread {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = s.length >> 1
  return { median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! }
}
