/**
 * Basic example: three threads write one audit log, and every acknowledged
 * event is on disk.
 *
 *   main thread ──────┐ sink.emit(ev)
 *   worker_thread 1 ──┤ AuditSink.attach(sink.handle()).emit(ev)  ──► one WAL directory
 *   worker_thread 2 ──┘                                                (hash-chained segments)
 *
 * What it shows:
 * - AuditSink.open({ dir }) and `await sink.emit(event)`: the promise resolves
 *   with { seq } only after the event (and every event before it) has been
 *   fdatasync'ed. Nothing is acknowledged from memory.
 * - Several threads feed one sink through sink.handle() / AuditSink.attach():
 *   no message per event crosses threads; they share a ring buffer.
 * - Group commit: with many emits in flight, one write + one fdatasync makes a
 *   whole batch durable, so durable throughput is far above 1 / fsync latency.
 *   The report prints how many events each fdatasync carried.
 * - verifyLog(dir) re-reads the log from seq 1 and checks every checksum, seq
 *   and hash-chain link, the check an auditor runs.
 *
 * Run: npm run demo (builds, then node dist/examples/basic/main.js)
 *   DEMO_DIR=path    the WAL directory (default ./demo-audit; emptied first, and
 *                    only if it holds nothing but WAL files)
 *   DEMO_EVENTS=n    events in total over the three threads (default 200000)
 *   DEMO_WINDOW=n    emits each thread keeps in flight (default 2000)
 * Exit code 0 only if the log verifies and holds exactly the events emitted.
 *
 * In your own code import from 'mtlog-audit' instead of the relative path.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { AuditSink, verifyLog } from '../../lib/index.js'
import { PAYLOAD_BYTES, produce, type Produced, type ProducerInit, type ProducerMessage } from './producer.js'

const WORKERS = 2
const PRODUCER_URL = new URL('./producer.js', import.meta.url)
/** Names a WAL directory may hold (segments, a rotation's temp file, the lock files, cut torn tails). */
const WAL_FILE = /^(\d{20}\.wal(\.tmp)?|LOCK(\.\d+|\.[0-9a-f]{16}\.tmp)?|\d{20}\.wal\.torn-[\d-]+)$/

function intEnv(name: string, fallback: number, min: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const v = Number(raw.replaceAll('_', ''))
  if (!Number.isInteger(v) || v < min)
    throw new Error(`${name} must be an integer ≥ ${min} (got ${JSON.stringify(raw)})`)
  return v
}

/** Empty (or create) the demo directory, refusing to delete anything that is not a WAL. */
async function freshDir(dir: string): Promise<void> {
  let names: string[] = []
  try {
    names = await fs.readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const foreign = names.filter((n) => !WAL_FILE.test(n))
  if (foreign.length > 0) {
    throw new Error(
      `${dir} holds files that are not a WAL (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); pick another DEMO_DIR`,
    )
  }
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(dir, { recursive: true })
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** Start a producer worker; resolves once it has attached and waits for 'go'. */
function startWorker(init: ProducerInit): Promise<{ worker: Worker; result: Promise<Produced> }> {
  const worker = new Worker(PRODUCER_URL, { workerData: init, name: `demo producer ${init.thread}` })
  return new Promise((resolveReady, rejectReady) => {
    let ready = false
    let settle: { resolve: (p: Produced) => void; reject: (e: Error) => void } | undefined
    const result = new Promise<Produced>((resolve, reject) => {
      settle = { resolve, reject }
    })
    result.catch(() => {}) // observed by the caller; never an unhandled rejection here
    const fail = (err: Error): void => (ready ? settle!.reject(err) : rejectReady(err))
    worker.on('message', (m: ProducerMessage) => {
      if (m.type === 'ready') {
        ready = true
        resolveReady({ worker, result })
      } else if (m.type === 'done') settle!.resolve({ latMs: m.latMs, seqs: m.seqs, elapsedMs: m.elapsedMs })
      else fail(new Error(`producer thread ${m.thread}: ${m.code ?? 'error'}: ${m.message}`))
    })
    worker.once('error', fail)
    worker.once('exit', (code) =>
      fail(new Error(`producer thread ${init.thread} exited (code ${code}) before it finished`)),
    )
  })
}

async function main(): Promise<number> {
  const dir = path.resolve(process.env.DEMO_DIR ?? 'demo-audit')
  const total = intEnv('DEMO_EVENTS', 200_000, 1)
  const window = intEnv('DEMO_WINDOW', 2_000, 1)
  const threads = 1 + WORKERS
  // Split the events: the main thread takes the remainder.
  const per = Math.floor(total / threads)
  const counts = [total - per * WORKERS, ...Array.from({ length: WORKERS }, () => per)]

  await freshDir(dir)
  const sink = await AuditSink.open({ dir })
  let produced: Produced[]
  let seconds: number
  let stats: ReturnType<AuditSink['stats']>
  try {
    const workers = await Promise.all(
      counts
        .slice(1)
        .map((count, k) =>
          startWorker({ kind: 'mtlog-audit-demo-producer', handle: sink.handle(), thread: k + 1, count, window }),
        ),
    )
    const t0 = performance.now()
    for (const w of workers) w.worker.postMessage('go')
    try {
      produced = await Promise.all([
        produce((ev) => sink.emit(ev), 0, counts[0]!, window),
        ...workers.map((w) => w.result),
      ])
    } finally {
      for (const w of workers) void w.worker.terminate()
    }
    seconds = (performance.now() - t0) / 1000
    stats = sink.stats()
  } catch (err) {
    await sink.destroy(err as Error)
    throw err
  }
  await sink.close()
  const verify = await verifyLog(dir)

  // Receipts: every seq 1..total exactly once, and increasing in each thread's emit order.
  const seen = new Uint8Array(total + 1)
  let receiptsOk = true
  for (const p of produced) {
    let prev = 0
    for (const s of p.seqs) {
      if (!(s > prev && s <= total) || seen[s] === 1) receiptsOk = false
      else seen[s] = 1
      prev = s
    }
  }

  const lat = new Float64Array(total)
  let at = 0
  for (const p of produced) {
    lat.set(p.latMs, at)
    at += p.latMs.length
  }
  lat.sort()

  let walBytes = 0
  for (const name of await fs.readdir(dir)) {
    if (/^\d{20}\.wal$/.test(name)) walBytes += (await fs.stat(path.join(dir, name))).size
  }

  // The events, then the seal close() wrote (it takes the next seq).
  const ok = verify.ok && verify.events === total && verify.firstSeq === 1 && verify.lastSeq === total + 1 && receiptsOk
  const n = (v: number, digits = 0): string =>
    v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  const ms = (v: number): string => v.toFixed(2)
  const row = (label: string, value: string): string => `  ${label.padEnd(22)} ${value}`
  const payload = stats.records > 0 ? stats.bytes / stats.records - 64 : NaN
  console.log(
    [
      'mtlog-audit basic demo: three threads, one durable hash-chained audit log',
      row('directory', verify.dir),
      row('events', `${total} (${PAYLOAD_BYTES}-byte JSON payloads; writer saw ${n(payload, 1)} B average)`),
      row('threads', `${threads} (main + ${WORKERS} worker_threads), ${window} emits in flight per thread`),
      row('seconds', seconds.toFixed(3)),
      row('durable events/s', n(total / seconds)),
      row(
        'ack latency ms',
        `p50 ${ms(percentile(lat, 0.5))}  p99 ${ms(percentile(lat, 0.99))}  max ${ms(lat[lat.length - 1]!)}`,
      ),
      row('batches', `${stats.batches} (fdatasyncs ${stats.fsyncs})`),
      row('events per fdatasync', stats.fsyncs > 0 ? n(stats.records / stats.fsyncs, 1) : '-'),
      row('segments', String(verify.segments)),
      row('bytes on disk/event', `${n(walBytes / total, 1)} (${n(walBytes)} bytes of segments)`),
      row(
        'receipts',
        receiptsOk
          ? `ok: seqs 1..${total} once each, in emit order per thread`
          : 'FAILED: missing, repeated or out-of-order seqs',
      ),
      row(
        'verify',
        `${verify.ok ? 'ok' : 'FAILED'}: events ${verify.events}, seq ${verify.firstSeq ?? '-'}..${verify.lastSeq ?? '-'}, ${n(verify.bytesPerSecond / 1e6, 1)} MB/s` +
          (verify.firstBad
            ? `; first bad seq ${verify.firstBad.seq} in ${verify.firstBad.segment} at ${verify.firstBad.offset}: ${verify.firstBad.message}`
            : '') +
          (verify.tornTail ? `; torn tail of ${verify.tornTail.bytes} bytes` : ''),
      ),
      `result: ${ok ? 'ok' : 'FAILED'}`,
    ].join('\n'),
  )
  return ok ? 0 : 1
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const e = err as { code?: string; stack?: string }
    console.error(`demo failed: ${e?.code ? `${e.code}: ` : ''}${e?.stack ?? String(err)}`)
    console.log('result: FAILED')
    process.exitCode = 1
  },
)
