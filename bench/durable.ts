/**
 * The durable-core benchmark: what `await sink.emit(ev)` costs when every ack
 * means fdatasync'ed, on this machine.
 *
 *   baseline   write + fdatasync with plain node:fs, no sink (the floor the sink builds on)
 *   closed     main thread, windows of 1 / 16 / 256 / 4096 emits in flight:
 *              each ack starts the next emit; throughput and emit→durable latency
 *   open       a fixed rate (10,000/s): events are due on a clock schedule and
 *              latency counts from each event's INTENDED send time, so a stall
 *              shows up in the numbers instead of slowing the sender down
 *              (no coordinated omission)
 *   threads    main + 3 worker_threads, closed loop, one shared sink
 *
 *   each run: fresh dir ─► open ─► warm-up ─► measure ─► close ─► verifyLog
 *             (a run counts as verified only if the log holds exactly the acked events)
 *
 * Each scenario runs BENCH_REPEAT times (default 3); the table shows the
 * median and min–max of each metric over the runs. CPU is process.cpuUsage(),
 * which covers every thread of the process (producers and the writer).
 * Output: a markdown table on stdout and bench/results/durable-<date>.json.
 *
 * Environment:
 *   BENCH_DIR          where run directories go (default os.tmpdir())
 *   BENCH_REPEAT       runs per scenario (default 3)
 *   BENCH_SECONDS      measured seconds of each closed-loop run (default 2)
 *   BENCH_WINDOWS      closed-loop windows, comma-separated (default 1,16,256,4096)
 *   BENCH_RATE         open-loop events/s (default 10000)
 *   BENCH_OPEN_SECONDS open-loop seconds (default 5)
 *   BENCH_MT_WINDOW    emits in flight per thread in the threads scenario (default 1024)
 *   BENCH_OUT_DIR      where the JSON goes (default bench/results of this package)
 *   BENCH_ONLY         run only these scenarios, comma-separated ids (baseline-1, baseline-4096,
 *                      closed-w<window>, open, threads) or groups (baseline, closed)
 *   BENCH_QUICK=1      a smoke run of every scenario in a few seconds (numbers mean little)
 */

import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { AuditSink, verifyLog, type AuditEvent, type Receipt, type SinkHandle } from '../lib/index.js'

// ── events: exactly PAYLOAD_BYTES of JSON each ──────────────────────────────

const PAYLOAD_BYTES = 256
const RECORD_HEADER_BYTES = 64 // docs/wal-format.md: every record is a 64-byte header + payload

function digits(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

function baseEvent(thread: number, i: number, filler: string): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: 'User {UserId} did {Action} on record {RecordId} from {ClientIp} in thread {Thread}',
    properties: {
      UserId: `u-${digits(i % 99_991, 5)}`,
      Action: (['read', 'edit', 'view', 'copy'] as const)[i & 3],
      RecordId: `r-${thread}-${digits(i % 1e9, 9)}`,
      ClientIp: `10.${digits((i >>> 16) & 255, 3)}.${digits((i >>> 8) & 255, 3)}.${digits(i & 255, 3)}`,
      Thread: thread % 10,
      Filler: filler,
    },
  }
}

function jsonBytes(ev: AuditEvent): number {
  return Buffer.byteLength(JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }))
}

const FILLER = 'x'.repeat(PAYLOAD_BYTES - jsonBytes(baseEvent(0, 0, '')))

function makeEvent(thread: number, i: number): AuditEvent {
  return baseEvent(thread % 10, i, FILLER)
}

type Emit = (ev: AuditEvent) => Promise<Receipt>

// ── measurement helpers ─────────────────────────────────────────────────────

/** A growable list of latencies in ms. */
class LatencyLog {
  private buf = new Float64Array(1 << 16)
  length = 0
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

interface Latency {
  p50: number
  p99: number
  p999: number
  max: number
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

function summarize(parts: Float64Array[]): Latency {
  const n = parts.reduce((a, p) => a + p.length, 0)
  const all = new Float64Array(n)
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  all.sort()
  return { p50: percentile(all, 0.5), p99: percentile(all, 0.99), p999: percentile(all, 0.999), max: n > 0 ? all[n - 1]! : NaN }
}

/**
 * Closed loop: keep `window` emits in flight until durationMs has passed, then
 * let the last ones land. Resolves with the number of acked emits.
 */
function closedLoop(emit: Emit, thread: number, window: number, durationMs: number, log: LatencyLog | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + durationMs
    let inflight = 0
    let acked = 0
    let i = 0
    let failed = false
    const start = (): void => {
      if (failed) return
      const sent = performance.now()
      if (sent >= deadline) {
        if (inflight === 0) resolve(acked)
        return
      }
      inflight++
      emit(makeEvent(thread, i++)).then(
        () => {
          log?.push(performance.now() - sent)
          inflight--
          acked++
          start()
        },
        (err: unknown) => {
          failed = true
          reject(err)
        },
      )
    }
    for (let k = 0; k < window; k++) start()
  })
}

// ── runs ────────────────────────────────────────────────────────────────────

interface Run {
  events: number
  seconds: number
  eventsPerSec: number
  latencyMs: Latency
  fsyncsPerSec: number
  eventsPerFsync: number
  cpuSecPerMillion: number
  /** Payload bytes per record as the writer framed them: stats bytes / records − 64. */
  payloadBytes: number
  verified: boolean
  verifyNote: string
  /** Open loop only: the sender's worst lateness against the schedule, ms (timer jitter of this harness). */
  sendLagMaxMs?: number
  /** Open loop only: the rate asked for. */
  targetRate?: number
  /** Open loop only: latency from the actual emit() call (what the sink alone adds), ms. */
  serviceLatencyMs?: Latency
}

interface Config {
  quick: boolean
  repeat: number
  closedSeconds: number
  warmupSeconds: number
  windows: number[]
  openRate: number
  openSeconds: number
  mtWorkers: number
  mtWindow: number
  baselineSeconds: number
  baseDir: string
  outDir: string
  only: string[]
}

let runCounter = 0
async function freshDir(cfg: Config, label: string): Promise<string> {
  const dir = path.join(cfg.baseDir, `mtlog-audit-bench-${process.pid}-${++runCounter}-${label}`)
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(dir, { recursive: true })
  return dir
}

/**
 * One sink measurement: fresh dir ─► open ─► body (warms up, calls mark(), measures)
 * ─► close ─► verifyLog ─► remove. CPU, stats and seconds count from mark().
 */
async function withSink(cfg: Config, label: string,
  body: (sink: AuditSink, mark: () => void) => Promise<{ acked: number; warmAcked: number; latency: Latency; extra?: Partial<Run> }>): Promise<Run> {
  const dir = await freshDir(cfg, label)
  const sink = await AuditSink.open({ dir })
  try {
    let s0 = sink.stats()
    let cpu0 = process.cpuUsage()
    let t0 = performance.now()
    const r = await body(sink, () => {
      s0 = sink.stats()
      cpu0 = process.cpuUsage()
      t0 = performance.now()
    })
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const s1 = sink.stats()
    await sink.close()
    const v = await verifyLog(dir)
    const expected = r.warmAcked + r.acked
    const verified = v.ok && v.records === expected && v.lastSeq === expected
    const records = s1.records - s0.records
    const fsyncs = s1.fsyncs - s0.fsyncs
    return {
      events: r.acked,
      seconds,
      eventsPerSec: r.acked / seconds,
      latencyMs: r.latency,
      fsyncsPerSec: fsyncs / seconds,
      eventsPerFsync: fsyncs > 0 ? records / fsyncs : NaN,
      cpuSecPerMillion: ((cpu.user + cpu.system) / 1e6) / (r.acked / 1e6),
      payloadBytes: records > 0 ? (s1.bytes - s0.bytes) / records - RECORD_HEADER_BYTES : NaN,
      verified,
      verifyNote: verified ? `verified ${v.records} records` : `NOT VERIFIED: ok=${v.ok}, records ${v.records}, expected ${expected}${v.firstBad ? `, first bad seq ${v.firstBad.seq}: ${v.firstBad.message}` : ''}`,
      ...r.extra,
    }
  } catch (err) {
    await sink.destroy(err as Error)
    throw err
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

interface Deferred<T> {
  promise: Promise<T>
  resolve: (v: T) => void
  reject: (e: Error) => void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void
  let reject!: (e: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {}) // awaited by the caller; a worker that fails before then is not an unhandled rejection
  return { promise, resolve, reject }
}

async function runClosed(cfg: Config, window: number): Promise<Run> {
  return withSink(cfg, `closed-w${window}`, async (sink, mark) => {
    const emit: Emit = (ev) => sink.emit(ev)
    const warmAcked = await closedLoop(emit, 0, window, cfg.warmupSeconds * 1000, undefined)
    const log = new LatencyLog()
    mark()
    const acked = await closedLoop(emit, 0, window, cfg.closedSeconds * 1000, log)
    return { acked, warmAcked, latency: summarize([log.values()]) }
  })
}

async function runOpen(cfg: Config): Promise<Run> {
  return withSink(cfg, 'open', async (sink, mark) => {
    const emit: Emit = (ev) => sink.emit(ev)
    const warmAcked = await closedLoop(emit, 0, 16, cfg.warmupSeconds * 1000, undefined)
    const log = new LatencyLog()
    const service = new LatencyLog()
    const rate = cfg.openRate
    const total = Math.max(1, Math.round(rate * cfg.openSeconds))
    const intervalMs = 1000 / rate
    mark()
    let lagMax = 0
    await new Promise<void>((resolve, reject) => {
      const t0 = performance.now()
      let sent = 0
      let ackedCount = 0
      const tick = (): void => {
        const now = performance.now()
        // Every event whose intended time has come is sent now, however late we are.
        const due = Math.min(total, Math.floor((now - t0) / intervalMs) + 1)
        while (sent < due) {
          const intended = t0 + sent * intervalMs
          const called = performance.now()
          lagMax = Math.max(lagMax, called - intended)
          emit(makeEvent(0, sent++)).then(() => {
            const acked = performance.now()
            log.push(acked - intended)
            service.push(acked - called)
            if (++ackedCount === total) resolve()
          }, reject)
        }
        if (sent < total) {
          // setTimeout cannot wait less than ~1 ms; closer than 2 ms to the next
          // intended send, poll with setImmediate so the schedule is kept.
          const wait = t0 + sent * intervalMs - performance.now()
          if (wait > 2) setTimeout(tick, wait - 1)
          else setImmediate(tick)
        }
      }
      tick()
    })
    return { acked: total, warmAcked, latency: summarize([log.values()]), extra: { sendLagMaxMs: lagMax, targetRate: rate, serviceLatencyMs: summarize([service.values()]) } }
  })
}

// The threads scenario: workers run this file.
interface BenchWorkerInit {
  kind: 'mtlog-audit-bench-producer'
  handle: SinkHandle
  thread: number
  window: number
  warmupMs: number
  durationMs: number
}
type BenchWorkerMessage =
  | { type: 'ready'; warmAcked: number }
  | { type: 'done'; acked: number; lat: Float64Array }
  | { type: 'error'; message: string }

async function runThreads(cfg: Config): Promise<Run> {
  return withSink(cfg, 'threads', async (sink, mark) => {
    const workers = Array.from({ length: cfg.mtWorkers }, (_, k) => {
      const init: BenchWorkerInit = {
        kind: 'mtlog-audit-bench-producer', handle: sink.handle(), thread: k + 1, window: cfg.mtWindow,
        warmupMs: cfg.warmupSeconds * 1000, durationMs: cfg.closedSeconds * 1000,
      }
      const w = new Worker(new URL(import.meta.url), { workerData: init, name: `bench producer ${k + 1}` })
      const ready = deferred<number>()
      const done = deferred<{ acked: number; lat: Float64Array }>()
      const fail = (e: Error): void => {
        ready.reject(e)
        done.reject(e)
      }
      w.on('message', (m: BenchWorkerMessage) => {
        if (m.type === 'ready') ready.resolve(m.warmAcked)
        else if (m.type === 'done') done.resolve({ acked: m.acked, lat: m.lat })
        else fail(new Error(`bench worker ${k + 1}: ${m.message}`))
      })
      w.once('error', fail)
      w.once('exit', (code) => fail(new Error(`bench worker ${k + 1} exited (code ${code}) before it reported`)))
      return { w, ready: ready.promise, done: done.promise }
    })
    try {
      const emit: Emit = (ev) => sink.emit(ev)
      const [mainWarm, ...workerWarm] = await Promise.all([closedLoop(emit, 0, cfg.mtWindow, cfg.warmupSeconds * 1000, undefined), ...workers.map((x) => x.ready)])
      const log = new LatencyLog()
      mark()
      for (const x of workers) x.w.postMessage('go')
      const [mainAcked, ...rest] = await Promise.all([closedLoop(emit, 0, cfg.mtWindow, cfg.closedSeconds * 1000, log), ...workers.map((x) => x.done)])
      return {
        acked: mainAcked + rest.reduce((a, r) => a + r.acked, 0),
        warmAcked: mainWarm + workerWarm.reduce((a, n) => a + n, 0),
        latency: summarize([log.values(), ...rest.map((r) => r.lat)]),
      }
    } finally {
      for (const x of workers) void x.w.terminate()
    }
  })
}

async function benchWorker(init: BenchWorkerInit): Promise<void> {
  const port = parentPort!
  try {
    const producer = AuditSink.attach(init.handle)
    const emit: Emit = (ev) => producer.emit(ev)
    const warmAcked = await closedLoop(emit, init.thread, init.window, init.warmupMs, undefined)
    const go = new Promise((resolve) => port.once('message', resolve))
    port.postMessage({ type: 'ready', warmAcked } satisfies BenchWorkerMessage)
    await go
    const log = new LatencyLog()
    const acked = await closedLoop(emit, init.thread, init.window, init.durationMs, log)
    await producer.close()
    const lat = log.values().slice()
    port.postMessage({ type: 'done', acked, lat } satisfies BenchWorkerMessage, [lat.buffer])
  } catch (err) {
    port.postMessage({ type: 'error', message: (err as Error)?.message ?? String(err) } satisfies BenchWorkerMessage)
  }
}

/** Plain node:fs: append `records` framed-size records with one write, then fdatasync. */
async function runBaseline(cfg: Config, records: number): Promise<Run> {
  const dir = await freshDir(cfg, `baseline-${records}`)
  const file = path.join(dir, 'baseline.dat')
  const fd = fsSync.openSync(file, 'wx')
  try {
    const chunk = Buffer.alloc(records * (PAYLOAD_BYTES + RECORD_HEADER_BYTES), 0x61)
    const log = new LatencyLog()
    let pos = 0
    const warmEnd = performance.now() + cfg.warmupSeconds * 1000
    while (performance.now() < warmEnd) {
      fsSync.writeSync(fd, chunk, 0, chunk.length, pos)
      fsSync.fdatasyncSync(fd)
      pos += chunk.length
    }
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const end = t0 + cfg.baselineSeconds * 1000
    let ops = 0
    for (let now = t0; now < end; ops++) {
      fsSync.writeSync(fd, chunk, 0, chunk.length, pos)
      fsSync.fdatasyncSync(fd)
      pos += chunk.length
      const after = performance.now()
      log.push(after - now)
      now = after
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const events = ops * records
    return {
      events, seconds, eventsPerSec: events / seconds, latencyMs: summarize([log.values()]),
      fsyncsPerSec: ops / seconds, eventsPerFsync: records,
      cpuSecPerMillion: ((cpu.user + cpu.system) / 1e6) / (events / 1e6),
      payloadBytes: PAYLOAD_BYTES, verified: true, verifyNote: 'n/a (no log)',
    }
  } finally {
    fsSync.closeSync(fd)
    await fs.rm(dir, { recursive: true, force: true })
  }
}

// ── report ──────────────────────────────────────────────────────────────────

interface Scenario {
  id: string
  title: string
  runs: Run[]
}

interface Spread {
  median: number
  min: number
  max: number
}

function spread(values: number[]): Spread {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = s.length >> 1
  const median = s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
  return { median, min: s[0]!, max: s[s.length - 1]! }
}

function fmt(v: number, digits: number): string {
  if (Number.isNaN(v)) return '-'
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function cell(s: Spread, digits: number, runs: number): string {
  if (runs <= 1 || s.min === s.max) return fmt(s.median, digits)
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

function summary(sc: Scenario): Record<string, Spread> {
  const pick = (f: (r: Run) => number): Spread => spread(sc.runs.map(f))
  return {
    eventsPerSec: pick((r) => r.eventsPerSec),
    p50: pick((r) => r.latencyMs.p50),
    p99: pick((r) => r.latencyMs.p99),
    p999: pick((r) => r.latencyMs.p999),
    max: pick((r) => r.latencyMs.max),
    fsyncsPerSec: pick((r) => r.fsyncsPerSec),
    eventsPerFsync: pick((r) => r.eventsPerFsync),
    cpuSecPerMillion: pick((r) => r.cpuSecPerMillion),
  }
}

function table(scenarios: Scenario[]): string {
  const head = ['scenario', 'durable events/s', 'p50 ms', 'p99 ms', 'p999 ms', 'max ms', 'fdatasyncs/s', 'events/fdatasync', 'CPU s / M events', 'verified']
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((h, i) => (i === 0 || i === head.length - 1 ? '---' : '---:')).join('|')}|`]
  for (const sc of scenarios) {
    const s = summary(sc)
    const n = sc.runs.length
    const verified = sc.runs.every((r) => r.verified) ? `${sc.runs.filter((r) => r.verified).length}/${n}` : `FAILED ${sc.runs.filter((r) => !r.verified).length}/${n}`
    lines.push(`| ${[
      sc.title, cell(s.eventsPerSec!, 0, n), cell(s.p50!, 3, n), cell(s.p99!, 3, n), cell(s.p999!, 3, n), cell(s.max!, 2, n),
      cell(s.fsyncsPerSec!, 0, n), cell(s.eventsPerFsync!, 1, n), cell(s.cpuSecPerMillion!, 2, n), verified,
    ].join(' | ')} |`)
  }
  return lines.join('\n')
}

// ── machine ─────────────────────────────────────────────────────────────────

function fileSystemOf(dir: string): string {
  try {
    const out = execFileSync('df', ['-PT', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')
    const f = out[out.length - 1]!.split(/\s+/)
    if (f.length >= 7) return `${f[1]} (${f[0]} mounted on ${f[6]})`
  } catch {
    // no df: try stat
  }
  try {
    return execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return 'unknown'
  }
}

/** Linux PSI: the share of time runnable threads waited for a CPU (other work on the machine shows here). */
function cpuPressure(): string {
  try {
    const some = /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(fsSync.readFileSync('/proc/pressure/cpu', 'utf8'))
    return some ? `${some[1]}% (10 s), ${some[2]}% (60 s)` : 'n/a'
  } catch {
    return 'n/a'
  }
}

function load(): string {
  return `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, CPU pressure ${cpuPressure()}`
}

function machine(cfg: Config): Record<string, string | number> {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    benchDir: cfg.baseDir,
    fileSystem: fileSystemOf(cfg.baseDir),
    loadAtStart: load(),
    date: new Date().toISOString(),
  }
}

// ── main ────────────────────────────────────────────────────────────────────

function numEnv(name: string, fallback: number, min: number, integer = false): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const v = Number(raw.replaceAll('_', ''))
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw new Error(`${name} must be a${integer ? 'n integer' : ' number'} ≥ ${min} (got ${JSON.stringify(raw)})`)
  return v
}

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fsSync.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir)
    if (up === dir) return process.cwd()
    dir = up
  }
  return dir
}

function config(): Config {
  const quick = process.env.BENCH_QUICK === '1'
  const windows = (process.env.BENCH_WINDOWS ?? '1,16,256,4096').split(',').map((s) => {
    const v = Number(s.trim())
    if (!Number.isInteger(v) || v < 1) throw new Error(`BENCH_WINDOWS must list integers ≥ 1 (got ${JSON.stringify(process.env.BENCH_WINDOWS)})`)
    return v
  })
  return {
    quick,
    repeat: numEnv('BENCH_REPEAT', quick ? 1 : 3, 1, true),
    closedSeconds: numEnv('BENCH_SECONDS', quick ? 0.2 : 2, 0.01),
    warmupSeconds: quick ? 0.05 : 0.3,
    windows,
    openRate: numEnv('BENCH_RATE', quick ? 2_000 : 10_000, 1),
    openSeconds: numEnv('BENCH_OPEN_SECONDS', quick ? 0.3 : 5, 0.01),
    mtWorkers: 3,
    mtWindow: numEnv('BENCH_MT_WINDOW', 1024, 1, true),
    baselineSeconds: quick ? 0.1 : 1,
    baseDir: path.resolve(process.env.BENCH_DIR ?? os.tmpdir()),
    outDir: path.resolve(process.env.BENCH_OUT_DIR ?? path.join(packageRoot(), 'bench', 'results')),
    only: (process.env.BENCH_ONLY ?? '').split(',').map((x) => x.trim()).filter((x) => x !== ''),
  }
}

async function main(): Promise<void> {
  const cfg = config()
  await fs.mkdir(cfg.baseDir, { recursive: true })
  const m = machine(cfg)
  const started = performance.now()
  console.log('# mtlog-audit durable-core benchmark\n')
  console.log(`- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`)
  console.log(`- node ${m.node}; bench dir ${m.benchDir} on ${m.fileSystem}`)
  console.log(`- date ${m.date}${cfg.quick ? ' (BENCH_QUICK: a smoke run, numbers mean little)' : ''}`)
  console.log(`- at start: ${m.loadAtStart} (other work on the machine skews the numbers)`)
  console.log(`- ${cfg.repeat} run(s) per scenario, fresh directory each; cells are median (min–max); latency is emit() call → promise resolved (fdatasync'ed)`)

  const scenarios: Scenario[] = []
  const progress = (s: string): void => void process.stderr.write(`${s}\n`)
  const repeat = async (id: string, title: string, fn: () => Promise<Run>): Promise<void> => {
    if (cfg.only.length > 0 && !cfg.only.some((o) => id === o || id.startsWith(`${o}-`))) return
    const sc: Scenario = { id, title, runs: [] }
    for (let i = 0; i < cfg.repeat; i++) {
      const r = await fn()
      progress(`  ${title} run ${i + 1}/${cfg.repeat}: ${fmt(r.eventsPerSec, 0)} events/s, p50 ${fmt(r.latencyMs.p50, 3)} ms, p99 ${fmt(r.latencyMs.p99, 3)} ms, ${r.verifyNote}`)
      sc.runs.push(r)
    }
    scenarios.push(sc)
  }

  const framed = PAYLOAD_BYTES + RECORD_HEADER_BYTES
  await repeat('baseline-1', `baseline: write ${framed} B + fdatasync (node:fs, no sink)`, () => runBaseline(cfg, 1))
  await repeat('baseline-4096', `baseline: write 4096 × ${framed} B + fdatasync (node:fs, no sink)`, () => runBaseline(cfg, 4096))
  for (const w of cfg.windows) await repeat(`closed-w${w}`, `closed loop, main thread, window ${w}`, () => runClosed(cfg, w))
  await repeat('open', `open loop ${fmt(cfg.openRate, 0)}/s for ${cfg.openSeconds} s (latency from intended send time)`, () => runOpen(cfg))
  await repeat('threads', `closed loop, main + ${cfg.mtWorkers} worker_threads, window ${cfg.mtWindow} each`, () => runThreads(cfg))

  const payloads = scenarios.filter((s) => !s.id.startsWith('baseline')).flatMap((s) => s.runs.map((r) => r.payloadBytes))
  const payloadMeasured = spread(payloads)
  console.log(`- event payload: ${fmt(payloadMeasured.median, 1)} B of JSON (measured by the writer: framed bytes / records − ${RECORD_HEADER_BYTES} B header; ${framed} B per record on disk)\n`)
  console.log(table(scenarios))
  const open = scenarios.find((s) => s.id === 'open')
  if (open !== undefined) {
    const lag = spread(open.runs.map((r) => r.sendLagMaxMs ?? NaN))
    const svc = (f: (l: Latency) => number): string => fmt(spread(open.runs.map((r) => (r.serviceLatencyMs ? f(r.serviceLatencyMs) : NaN))).median, 3)
    console.log(`\nopen loop: latencies above count from each event's intended send time. The sender's own worst lateness against its schedule was ${fmt(lag.median, 2)} ms (median of runs);` +
      ` from the actual emit() call the sink took p50 ${svc((l) => l.p50)} / p99 ${svc((l) => l.p99)} / p999 ${svc((l) => l.p999)} / max ${svc((l) => l.max)} ms.`)
  }
  const allVerified = scenarios.every((s) => s.runs.every((r) => r.verified))
  const totalSeconds = (performance.now() - started) / 1000
  const loadAtEnd = load()
  console.log(`verified: ${allVerified ? 'every run' : 'FAILED'}; at the end: ${loadAtEnd}; total ${totalSeconds.toFixed(1)} s`)

  await fs.mkdir(cfg.outDir, { recursive: true })
  const stamp = String(m.date).slice(0, 19).replaceAll(':', '-')
  const out = path.join(cfg.outDir, `durable-${stamp}.json`)
  const json = {
    benchmark: 'mtlog-audit durable core',
    machine: m,
    config: cfg,
    payloadBytes: payloadMeasured,
    seconds: totalSeconds,
    loadAtEnd,
    verified: allVerified,
    scenarios: scenarios.map((s) => ({ id: s.id, title: s.title, summary: summary(s), runs: s.runs })),
  }
  await fs.writeFile(out, `${JSON.stringify(json, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`)
  console.log(`wrote ${out}`)
  if (!allVerified) process.exitCode = 1
}

if (isMainThread) {
  await main()
} else if ((workerData as Partial<BenchWorkerInit> | null)?.kind === 'mtlog-audit-bench-producer') {
  await benchWorker(workerData as BenchWorkerInit)
}
