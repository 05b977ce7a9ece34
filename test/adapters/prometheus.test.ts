// mtlog-audit/prometheus with the real prom-client 15, scraped over a real
// HTTP port on 127.0.0.1 with fetch: the exposition parses, its values match
// sink.stats() / histograms(), names are the declared ones, counters survive a
// reopen, the failed gauge and the replication hook.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import client from 'prom-client'
import { AuditSink } from '../../lib/index.js'
import { AUDIT_METRICS, auditMetricNames, registerAuditMetrics } from '../../lib/adapters/prometheus.js'
import { ev, FAULTY, tempDir } from '../helpers/dirs.js'

const SEED = Number(process.env.PROM_SEED ?? Date.now() % 2 ** 31)
console.log('prometheus seed', SEED)

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** The text exposition format, strictly: every line a comment or `name{labels} value`. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
    if (t) {
      types.set(t[1]!, t[2]!)
      continue
    }
    if (line.startsWith('# HELP ')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    assert.ok(m, `not an exposition line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (m![2] ?? '').split(',').filter(Boolean)) {
      const lm = /^([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"$/.exec(l)
      assert.ok(lm, `bad label ${l}`)
      labels[lm![1]!] = lm![2]!
    }
    const value = m![3] === '+Inf' ? Infinity : Number(m![3])
    assert.ok(!Number.isNaN(value), `bad value in ${line}`)
    samples.push({ name: m![1]!, labels, value })
  }
  return { samples, types }
}

function one(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  assert.is(hits.length, 1, `${name} ${JSON.stringify(labels)}: ${hits.length} samples`)
  return hits[0]!.value
}

async function serve(registry: client.Registry): Promise<{ server: http.Server; url: string }> {
  const server = http.createServer((_req, res) => {
    registry.metrics().then((body) => {
      res.setHeader('content-type', registry.contentType)
      res.end(body)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics` }
}

async function scrape(url: string): Promise<ReturnType<typeof parse>> {
  const r = await fetch(url)
  assert.is(r.status, 200)
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/)
  return parse(await r.text())
}

test('a real scrape parses and matches sink.stats() and sink.histograms()', async () => {
  const sink = await AuditSink.open({ dir: tempDir('prom') })
  const registry = new client.Registry()
  const reg = registerAuditMetrics(() => sink, { client, registry })
  const { server, url } = await serve(registry)
  try {
    const n = 100 + (SEED % 900)
    await Promise.all(Array.from({ length: n }, (_, i) => sink.emit(ev(i))))
    await sink.emit({ level: 'Bad' as 'Information', messageTemplate: 'x' }).catch(() => undefined)
    const { samples, types } = await scrape(url)
    const st = sink.stats()
    const h = sink.histograms()
    const p = 'mtlog_audit_'
    assert.is(one(samples, `${p}events_total`, { outcome: 'durable' }), st.emitsDurable)
    assert.is(st.emitsDurable, n)
    assert.is(one(samples, `${p}events_total`, { outcome: 'refused' }), 1)
    assert.is(one(samples, `${p}events_total`, { outcome: 'failed' }), 0)
    assert.is(one(samples, `${p}batches_total`), st.batches)
    assert.is(one(samples, `${p}fsyncs_total`), st.fsyncs)
    assert.is(one(samples, `${p}written_bytes_total`), st.bytes)
    assert.is(one(samples, `${p}segments_created_total`), st.segmentsCreated)
    assert.is(one(samples, `${p}last_durable_seq`), st.durableSeq)
    assert.is(one(samples, `${p}last_durable_timestamp_seconds`), st.lastDurableAtMs! / 1000)
    assert.is(one(samples, `${p}pending_emits`), 0)
    assert.is(one(samples, `${p}ring_fill_ratio`), 0)
    assert.is(one(samples, `${p}failed`), 0)
    assert.is(one(samples, `${p}torn_tail_cuts_total`), 0)
    assert.is(one(samples, `${p}build_info`, { node: process.version }), 1)
    // Histograms: cumulative buckets ending in +Inf = count, sum in seconds.
    for (const [name, hist, div] of [
      ['emit_durable_seconds', h.emitDurableMs, 1000],
      ['fsync_duration_seconds', h.fsyncMs, 1000],
      ['batch_records', h.batchRecords, 1],
    ] as const) {
      assert.is(types.get(p + name), 'histogram')
      const buckets = samples.filter((s) => s.name === `${p}${name}_bucket`)
      assert.is(buckets.length, hist.bounds.length + 1)
      let cum = 0
      hist.bounds.forEach((b, i) => {
        cum += hist.counts[i]!
        assert.is(buckets[i]!.labels.le, String(b / div))
        assert.is(buckets[i]!.value, cum)
      })
      assert.is(buckets.at(-1)!.labels.le, '+Inf')
      assert.is(buckets.at(-1)!.value, hist.count)
      assert.is(one(samples, `${p}${name}_count`), hist.count)
      assert.ok(Math.abs(one(samples, `${p}${name}_sum`) - hist.sum / div) < 1e-9)
    }
    assert.is(one(samples, `${p}emit_durable_seconds_count`), n)
    // Every family scraped is declared, in base units, _total only on counters.
    const declared = new Set(auditMetricNames())
    for (const [fam, type] of types) {
      assert.ok(declared.has(fam), `${fam} is not in AUDIT_METRICS`)
      assert.is(fam.endsWith('_total'), type === 'counter', `${fam}: _total and counter go together`)
    }
    assert.not.ok(types.has(`${p}replication_lag_seconds`), 'replication lag without a replicator')
    assert.is(reg.names.length, AUDIT_METRICS.length - 1)
  } finally {
    server.close()
    await sink.close()
  }
})

test('counters stay monotonic when the source returns a reopened sink; a replication source adds the lag', async () => {
  const dir = tempDir('prom-reopen')
  let sink: AuditSink | undefined = await AuditSink.open({ dir })
  const registry = new client.Registry()
  registerAuditMetrics(() => sink, {
    client,
    registry,
    prefix: 'app_audit_',
    replication: () => ({ s3: 12.5, gcs: 0 }),
  })
  const { server, url } = await serve(registry)
  try {
    await Promise.all(Array.from({ length: 50 }, (_, i) => sink!.emit(ev(i))))
    const a = (await scrape(url)).samples
    assert.is(one(a, 'app_audit_events_total', { outcome: 'durable' }), 50)
    assert.is(one(a, 'app_audit_replication_lag_seconds', { backend: 's3' }), 12.5)
    await sink.close()
    sink = undefined
    const b = (await scrape(url)).samples
    assert.is(one(b, 'app_audit_events_total', { outcome: 'durable' }), 50, 'no sink open: totals kept')
    sink = await AuditSink.open({ dir })
    await Promise.all(Array.from({ length: 7 }, (_, i) => sink!.emit(ev(i))))
    const c = (await scrape(url)).samples
    assert.is(one(c, 'app_audit_events_total', { outcome: 'durable' }), 57)
    assert.is(one(c, 'app_audit_emit_durable_seconds_count'), 57)
    assert.ok(one(c, 'app_audit_batches_total') >= one(a, 'app_audit_batches_total'))
  } finally {
    server.close()
    await sink?.close()
  }
})

test('the failed gauge turns 1 when the sink fails closed', async () => {
  const sink = await AuditSink.open({
    dir: tempDir('prom-failed'),
    storage: { module: FAULTY, config: { faults: [{ op: 'fdatasync', nth: 2, code: 'EIO', persistent: true }] } },
  })
  const registry = new client.Registry()
  registerAuditMetrics(sink, { client, registry })
  const { server, url } = await serve(registry)
  try {
    for (let w = 0; w < 50 && sink.stats().state !== 'failed'; w++)
      await Promise.allSettled(Array.from({ length: 10 }, (_, i) => sink.emit(ev(i))))
    const s = (await scrape(url)).samples
    assert.is(one(s, 'mtlog_audit_failed'), 1)
    assert.ok(
      one(s, 'mtlog_audit_events_total', { outcome: 'failed' }) +
        one(s, 'mtlog_audit_events_total', { outcome: 'refused' }) >
        0,
    )
  } finally {
    server.close()
    await sink.close().catch(() => undefined)
  }
})

test('registerAuditMetrics refuses a missing client and a bad prefix (coded)', () => {
  for (const [opts, option] of [
    [{}, 'client'],
    [{ client, prefix: '9bad' }, 'prefix'],
  ] as const) {
    try {
      registerAuditMetrics(() => undefined, opts as never)
      assert.unreachable()
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_AUDIT_OPTION_INVALID')
      assert.is((e as { details?: { option?: string } }).details?.option, option)
    }
  }
})

test.run()
