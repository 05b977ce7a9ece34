/**
 * mtlog-audit/prometheus: the sink's figures as Prometheus metrics, read at
 * scrape time from the ring's shared counters (no timer, no I/O).
 *
 *   import client from 'prom-client'
 *   registerAuditMetrics(() => currentSink, { client, registry: client.register })
 *   // GET /metrics → await registry.metrics()
 *
 * It takes the app's own prom-client (an optional peer dependency, ^15.1.3; a
 * client of the same shape, with Gauge, Counter and a registry with
 * registerMetric, works too) and never imports one.
 *
 * Contract:
 * - Every name is in AUDIT_METRICS (the dashboard and alert tests check
 *   theirs against it), in base units (seconds, bytes, ratio), `_total` only
 *   on counters, under `prefix` (default mtlog_audit_).
 * - Values are the sink's own: stats(), histograms(), openReport; counters
 *   stay monotonic when the source starts returning a reopened sink (the old
 *   sink's totals are carried over).
 * - replication_lag_seconds{backend} exists only when a replication source
 *   is given (the replication issue brings one).
 */

import { createRequire } from 'node:module'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import type { AuditSink, Histogram } from '../sink/index.js'
import { currentSink, type SinkSource } from './common.js'

export interface MetricSpec {
  name: string
  type: 'counter' | 'gauge' | 'histogram'
  help: string
  labels?: readonly string[]
}

/** Every metric this module can register, without the prefix. */
export const AUDIT_METRICS: readonly MetricSpec[] = [
  {
    name: 'events_total',
    type: 'counter',
    help: 'Audit emits by outcome: durable (acknowledged), failed (rejected after acceptance), refused (rejected at the call).',
    labels: ['outcome'],
  },
  { name: 'emit_durable_seconds', type: 'histogram', help: 'emit() call to durable acknowledgement, all threads.' },
  { name: 'fsync_duration_seconds', type: 'histogram', help: "Each batch's fdatasync as the writer saw it." },
  { name: 'batch_records', type: 'histogram', help: 'Records per written batch (group commit size).' },
  { name: 'batches_total', type: 'counter', help: 'Batches written (one write + one fdatasync each).' },
  { name: 'fsyncs_total', type: 'counter', help: 'fdatasync calls of the writer.' },
  { name: 'written_bytes_total', type: 'counter', help: 'Framed bytes written to segments.' },
  { name: 'segments_created_total', type: 'counter', help: 'Segment files created.' },
  { name: 'pending_emits', type: 'gauge', help: 'Emits of every thread holding a seq, not yet durable.' },
  { name: 'ring_fill_ratio', type: 'gauge', help: 'Ring bytes reserved and not yet taken by the writer / ring size.' },
  { name: 'last_durable_seq', type: 'gauge', help: 'Highest durable seq.' },
  {
    name: 'last_durable_timestamp_seconds',
    type: 'gauge',
    help: 'When the writer last made a batch durable (Unix time; 0 before the first).',
  },
  { name: 'torn_tail_cuts_total', type: 'counter', help: 'Torn tails cut by open() (crash recovery).' },
  { name: 'corruptions_total', type: 'counter', help: 'Damage found in acknowledged data (open refused, or failed).' },
  { name: 'failed', type: 'gauge', help: '1 when the sink has failed closed, else 0.' },
  {
    name: 'replication_lag_seconds',
    type: 'gauge',
    help: 'Age of the oldest durable data not yet replicated, per backend.',
    labels: ['backend'],
  },
  { name: 'build_info', type: 'gauge', help: 'mtlog-audit version and Node.js version.', labels: ['version', 'node'] },
]

/** The full names as scraped (histograms also have _bucket, _sum and _count series). */
export function auditMetricNames(prefix = 'mtlog_audit_'): string[] {
  return AUDIT_METRICS.map((m) => prefix + m.name)
}

/** prom-client's Gauge and Counter, as far as collect() uses them. */
interface ScalarLike {
  set?(labels: Record<string, string>, value: number): void
  set?(value: number): void
  inc?(labels: Record<string, string>, value?: number): void
  inc?(value?: number): void
  reset(): void
}
type ScalarCtor<R> = new (cfg: {
  name: string
  help: string
  labelNames?: readonly string[]
  registers?: R[]
  collect?: (this: ScalarLike) => void
}) => ScalarLike

export interface RegistryLike {
  registerMetric(metric: never): void
  removeSingleMetric?(name: string): void
}

/** prom-client (the module), or a client of the same shape. */
export interface PromClientLike<R extends RegistryLike = RegistryLike> {
  Gauge: ScalarCtor<R>
  Counter: ScalarCtor<R>
  register: R
}

export interface AuditMetricsOptions<R extends RegistryLike = RegistryLike> {
  client: PromClientLike<R>
  /** Default: client.register. */
  registry?: R
  prefix?: string
  /** Replication lag per backend, seconds. When given, replication_lag_seconds{backend} is registered. */
  replication?: () => Record<string, number>
}

export interface AuditMetrics {
  /** The names registered. */
  names: string[]
  /** Count a refused open (ERR_AUDIT_CORRUPT counts as a corruption). */
  noteOpenFailure(err: unknown): void
  unregister(): void
}

/** Counters summed over the sinks the source returned before the current one. */
interface Totals {
  durable: number
  failed: number
  refused: number
  batches: number
  fsyncs: number
  bytes: number
  segments: number
  tornCuts: number
  corruptions: number
  latency: Histogram | undefined
  fsync: Histogram | undefined
  batch: Histogram | undefined
}

function addHist(a: Histogram | undefined, b: Histogram): Histogram {
  if (a === undefined) return b
  return {
    bounds: b.bounds,
    counts: b.counts.map((c, i) => c + (a.counts[i] ?? 0)),
    count: a.count + b.count,
    sum: a.sum + b.sum,
  }
}

function failedWithCorruption(sink: AuditSink): boolean {
  return sink.health().failureCodes.includes(ERROR_CODES.CORRUPT)
}

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version

export function registerAuditMetrics<R extends RegistryLike>(
  source: SinkSource,
  opts: AuditMetricsOptions<R>,
): AuditMetrics {
  const client = opts?.client
  if (typeof client?.Gauge !== 'function' || typeof client.Counter !== 'function')
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'registerAuditMetrics needs { client } (prom-client)', {
      details: { option: 'client' },
    })
  const registry = opts.registry ?? client.register
  const prefix = opts.prefix ?? 'mtlog_audit_'
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix))
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'prefix must be a Prometheus metric name prefix', {
      details: { option: 'prefix' },
    })

  const base: Totals = {
    durable: 0,
    failed: 0,
    refused: 0,
    batches: 0,
    fsyncs: 0,
    bytes: 0,
    segments: 0,
    tornCuts: 0,
    corruptions: 0,
    latency: undefined,
    fsync: undefined,
    batch: undefined,
  }
  let seen: AuditSink | undefined
  /** Sinks whose counters are in the base already (a source may hand one back again). */
  const folded = new WeakSet<AuditSink>()
  /** The current sink; when it changed, the previous one's counters join the base. */
  const sink = (): AuditSink | undefined => {
    const s = currentSink(source)
    if (s === seen) return s !== undefined && folded.has(s) ? undefined : s
    if (seen !== undefined && !folded.has(seen)) {
      folded.add(seen)
      const st = seen.stats()
      const h = seen.histograms()
      base.durable += st.emitsDurable
      base.failed += st.emitsFailed
      base.refused += st.emitsRefused
      base.batches += st.batches
      base.fsyncs += st.fsyncs
      base.bytes += st.bytes
      base.segments += st.segmentsCreated
      base.latency = addHist(base.latency, h.emitDurableMs)
      base.fsync = addHist(base.fsync, h.fsyncMs)
      base.batch = addHist(base.batch, h.batchRecords)
      if (failedWithCorruption(seen)) base.corruptions++
    }
    if (s !== undefined && !folded.has(s) && s.openReport.tornTail !== undefined) base.tornCuts++
    seen = s
    return s !== undefined && folded.has(s) ? undefined : s
  }

  const names: string[] = []
  const scalar = (kind: 'Gauge' | 'Counter', name: string, read: (m: ScalarLike) => void): void => {
    const spec = AUDIT_METRICS.find((m) => m.name === name)!
    names.push(prefix + name)
    new client[kind]({
      name: prefix + name,
      help: spec.help,
      labelNames: spec.labels ?? [],
      registers: [registry],
      collect(this: ScalarLike) {
        this.reset()
        read(this)
      },
    })
  }
  const count = (m: ScalarLike, v: number, labels?: Record<string, string>): void =>
    labels === undefined ? m.inc!(v) : m.inc!(labels, v)
  const gauge = (m: ScalarLike, v: number, labels?: Record<string, string>): void =>
    labels === undefined ? m.set!(v) : m.set!(labels, v)

  scalar('Counter', 'events_total', (m) => {
    const st = sink()?.stats()
    count(m, base.durable + (st?.emitsDurable ?? 0), { outcome: 'durable' })
    count(m, base.failed + (st?.emitsFailed ?? 0), { outcome: 'failed' })
    count(m, base.refused + (st?.emitsRefused ?? 0), { outcome: 'refused' })
  })
  scalar('Counter', 'batches_total', (m) => count(m, base.batches + (sink()?.stats().batches ?? 0)))
  scalar('Counter', 'fsyncs_total', (m) => count(m, base.fsyncs + (sink()?.stats().fsyncs ?? 0)))
  scalar('Counter', 'written_bytes_total', (m) => count(m, base.bytes + (sink()?.stats().bytes ?? 0)))
  scalar('Counter', 'segments_created_total', (m) => count(m, base.segments + (sink()?.stats().segmentsCreated ?? 0)))
  scalar('Gauge', 'pending_emits', (m) => gauge(m, sink()?.stats().inFlight ?? 0))
  scalar('Gauge', 'ring_fill_ratio', (m) => {
    const st = sink()?.stats()
    gauge(m, st === undefined ? 0 : st.ringUsedBytes / st.ringBytes)
  })
  scalar('Gauge', 'last_durable_seq', (m) => gauge(m, sink()?.stats().durableSeq ?? 0))
  scalar('Gauge', 'last_durable_timestamp_seconds', (m) => gauge(m, (sink()?.stats().lastDurableAtMs ?? 0) / 1000))
  scalar('Counter', 'torn_tail_cuts_total', (m) => {
    sink()
    count(m, base.tornCuts)
  })
  scalar('Counter', 'corruptions_total', (m) => {
    const s = sink()
    count(m, base.corruptions + (s !== undefined && failedWithCorruption(s) ? 1 : 0))
  })
  scalar('Gauge', 'failed', (m) => gauge(m, sink()?.stats().state === 'failed' ? 1 : 0))
  if (opts.replication !== undefined) {
    const lag = opts.replication
    scalar('Gauge', 'replication_lag_seconds', (m) => {
      for (const [backend, seconds] of Object.entries(lag())) gauge(m, seconds, { backend })
    })
  }
  scalar('Gauge', 'build_info', (m) => gauge(m, 1, { version: VERSION, node: process.version }))

  const histogram = (name: string, read: () => Histogram | undefined, div: number): void => {
    const spec = AUDIT_METRICS.find((m) => m.name === name)!
    const full = prefix + name
    names.push(full)
    const get = async (): Promise<object> => {
      const h = read()
      const values: { metricName: string; labels: Record<string, string>; value: number }[] = []
      if (h !== undefined) {
        let cum = 0
        h.bounds.forEach((b, i) => {
          cum += h.counts[i]!
          values.push({ metricName: `${full}_bucket`, labels: { le: String(b / div) }, value: cum })
        })
        values.push({ metricName: `${full}_bucket`, labels: { le: '+Inf' }, value: h.count })
        values.push({ metricName: `${full}_sum`, labels: {}, value: h.sum / div })
        values.push({ metricName: `${full}_count`, labels: {}, value: h.count })
      }
      return { name: full, help: spec.help, type: 'histogram', values, aggregator: 'sum' }
    }
    // A metric object by shape (prom-client has no API to set bucket counts): what its registry reads.
    const metric = { name: full, help: spec.help, type: 'histogram', aggregator: 'sum', get, reset() {} }
    registry.registerMetric(metric as never)
  }
  const both = (b: Histogram | undefined, cur: Histogram | undefined): Histogram | undefined =>
    cur === undefined ? b : addHist(b, cur)
  histogram('emit_durable_seconds', () => both(base.latency, sink()?.histograms().emitDurableMs), 1000)
  histogram('fsync_duration_seconds', () => both(base.fsync, sink()?.histograms().fsyncMs), 1000)
  histogram('batch_records', () => both(base.batch, sink()?.histograms().batchRecords), 1)

  return {
    names,
    noteOpenFailure(err: unknown): void {
      if ((err as { code?: unknown } | null)?.code === ERROR_CODES.CORRUPT) base.corruptions++
    },
    unregister(): void {
      for (const n of names) registry.removeSingleMetric?.(n)
    },
  }
}
