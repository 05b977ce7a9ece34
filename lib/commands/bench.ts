/**
 * `mtlog-audit bench`, and the end-to-end engine that bench/ builds on: what
 * `await emit()` costs when every ack means fdatasync'ed, on this machine,
 * beside what a user would pick instead (the peers of bench/peers.ts, when a
 * checkout has bench/node_modules). It lives here so an installed package can
 * run it; the repository's harness (bench/run.ts) adds micro benchmarks, peers,
 * a memory soak and the HTML report.
 *
 *   spec ─► repeat × { fresh dir ─► open ─► warm-up ─► mark ─► measure ─► close ─► verify ─► du ─► rm }
 *        ─► median (min–max) of every metric ─► markdown tables (JSON and HTML in bench/)
 *
 *   closed   W emits in flight, each ack starts the next (W = 1, 16, 256, 4096)
 *   open     events due on a clock schedule; latency counts from each event's
 *            INTENDED send time, so a stall shows up instead of slowing the
 *            sender down (no coordinated omission). A run that falls behind is
 *            cut after a grace period and its missing acks are counted at the
 *            cut (a lower bound), and it is marked not sustained.
 *   max      the highest open-loop rate whose p99 stays ≤ sustainP99Ms, by bisection
 *   threads  main + 3 worker_threads (this file is their entry) into one sink
 *   floors   write + fdatasync of big buffers (the disk's limit), and
 *            JSON.stringify + encode with no I/O (the CPU's)
 *
 * Every run records how busy the rest of the machine was (CPU used by other
 * processes, CPU and I/O pressure): other people's work skews the numbers.
 */

import { execFileSync } from 'node:child_process'
import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import type { Command } from 'commander'
import type { AuditEvent } from '../event.js'
import { verifyLog } from '../reader.js'
import { AuditSink, type SinkHandle } from '../sink.js'
import { EXIT } from './common.js'

/** docs/wal-format.md: every record is a 64-byte header + payload. */
export const RECORD_HEADER_BYTES = 64

// ── events: exactly payloadBytes of JSON each ───────────────────────────────

export type MakeEvent = (thread: number, i: number) => AuditEvent

function digits(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

const ACTIONS = ['read', 'edit', 'view', 'copy'] as const

function richEvent(thread: number, i: number, filler: string): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: 'User {UserId} did {Action} on record {RecordId} from {ClientIp} in thread {Thread}',
    properties: {
      UserId: `u-${digits(i % 99_991, 5)}`,
      Action: ACTIONS[i & 3],
      RecordId: `r-${thread}-${digits(i % 1e9, 9)}`,
      ClientIp: `10.${digits((i >>> 16) & 255, 3)}.${digits((i >>> 8) & 255, 3)}.${digits(i & 255, 3)}`,
      Thread: thread,
      Filler: filler,
    },
  }
}

/** Below ~180 B there is no room for properties: a bare message. */
function tinyEvent(_thread: number, i: number, filler: string): AuditEvent {
  return { level: 'Information', messageTemplate: `Login u-${digits(i % 99_991, 5)} ${filler}` }
}

/** The bytes encodeEvent stores for ev (level, messageTemplate, properties). */
export function jsonBytes(ev: AuditEvent): number {
  return Buffer.byteLength(JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }))
}

const makers = new Map<number, MakeEvent>()

/** Events of exactly payloadBytes of JSON (asserted), varied by thread and index. */
export function eventMaker(payloadBytes: number): MakeEvent {
  const known = makers.get(payloadBytes)
  if (known !== undefined) return known
  for (const form of [richEvent, tinyEvent]) {
    const base = jsonBytes(form(0, 0, ''))
    if (base > payloadBytes) continue
    const filler = 'x'.repeat(payloadBytes - base)
    const mk: MakeEvent = (thread, i) => form(thread % 10, i, filler)
    for (const [t, i] of [[0, 0], [9, 987_654_321]] as const) {
      if (jsonBytes(mk(t, i)) !== payloadBytes) throw new Error(`bench: event of thread ${t}, index ${i} is not ${payloadBytes} B`)
    }
    makers.set(payloadBytes, mk)
    return mk
  }
  throw new Error(`bench: the smallest event is ${jsonBytes(tinyEvent(0, 0, ''))} B of JSON (asked for ${payloadBytes})`)
}

// ── latency ─────────────────────────────────────────────────────────────────

/** A growable list of latencies in ms (preallocate for long runs: its growth is memory too). */
export class LatencyLog {
  private buf: Float64Array
  length = 0
  constructor(capacity = 1 << 16) {
    this.buf = new Float64Array(Math.max(16, capacity))
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
    p50: quantile(all, 0.5), p99: quantile(all, 0.99), p999: quantile(all, 0.999), max: n > 0 ? all[n - 1]! : NaN,
    mean: n > 0 ? sum / n : NaN, cdf: CDF_QUANTILES.map((q) => (q === 0 ? (n > 0 ? all[0]! : NaN) : quantile(all, q))),
  }
}

// ── load generators ─────────────────────────────────────────────────────────

export type Emit = (ev: AuditEvent) => Promise<unknown>

/** emit(ev), with a synchronous throw turned into a rejection. */
function call(emit: Emit, ev: AuditEvent): Promise<unknown> {
  try {
    return emit(ev)
  } catch (err) {
    return Promise.reject(err)
  }
}

export interface LoopResult {
  acked: number
  /** emit() calls made (every one is in the store after close, acked or not when the loop ended). */
  emitted: number
}

/**
 * Closed loop: keep `window` emits in flight until durationMs has passed, then
 * let the last ones land. With a blocking emit (sync peers) the window only queues.
 */
export function closedLoop(emit: Emit, mk: MakeEvent, thread: number, window: number, durationMs: number, log: LatencyLog | undefined): Promise<LoopResult> {
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
        if (inflight === 0) resolve({ acked, emitted: i })
        return
      }
      inflight++
      call(emit, mk(thread, i++)).then(
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
    if (inflight === 0 && !failed) resolve({ acked, emitted: i })
  })
}

export interface OpenResult extends LoopResult {
  /** The run fell behind and was cut at the end of its grace period. */
  cut: boolean
  /**
   * Emits the system refused under overload (mtlog-audit: ERR_AUDIT_QUEUE_FULL,
   * its bound on emits waiting for ring space). Still counting after the loop
   * resolved, until the store is closed; emitted includes them.
   */
  refused: number
  /** The sender's worst lateness against its schedule, ms (a blocking emit shows here). */
  lagMaxMs: number
}

/** A refusal under overload is a measured outcome of an open loop, not a harness failure. */
export function isRefusal(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ERR_AUDIT_QUEUE_FULL'
}

/**
 * Open loop: rate × seconds events, each due at t0 + k/rate. Latency counts from
 * the intended time. Everything not acked by t0 + seconds + grace is counted
 * at that instant (a lower bound) and the run is marked cut; so is every
 * refused event, when the loop ends.
 */
export function openLoop(emit: Emit, mk: MakeEvent, thread: number, rate: number, seconds: number, graceMs: number,
  log: LatencyLog, service: LatencyLog | undefined, poll = false): Promise<OpenResult> {
  return new Promise((resolve, reject) => {
    const total = Math.max(1, Math.round(rate * seconds))
    const intervalMs = 1000 / rate
    const ackedFlags = new Uint8Array(total)
    const t0 = performance.now()
    const cutAt = t0 + seconds * 1000 + graceMs
    let sent = 0
    let acked = 0
    let lagMax = 0
    let done = false
    const res: OpenResult = { acked: 0, emitted: 0, refused: 0, cut: false, lagMaxMs: 0 }
    let timeout: NodeJS.Timeout | undefined
    let immediate: NodeJS.Immediate | undefined
    const stopTimers = (): void => {
      if (timeout !== undefined) clearTimeout(timeout)
      if (immediate !== undefined) clearImmediate(immediate)
    }
    const finish = (cut: boolean): void => {
      if (done) return
      done = true
      stopTimers()
      const now = performance.now()
      for (let k = 0; k < total; k++) if (ackedFlags[k] === 0) log.push(now - (t0 + k * intervalMs))
      Object.assign(res, { acked, emitted: sent, cut, lagMaxMs: lagMax })
      resolve(res)
    }
    const tick = (): void => {
      timeout = undefined
      immediate = undefined
      if (done) return
      const due = Math.min(total, Math.floor((performance.now() - t0) / intervalMs) + 1)
      // Every event whose intended time has come is sent now, however late we are.
      while (sent < due) {
        const called = performance.now()
        if (called >= cutAt) break
        const k = sent++
        const intended = t0 + k * intervalMs
        lagMax = Math.max(lagMax, called - intended)
        call(emit, mk(thread, k)).then(() => {
          if (done) return
          const t = performance.now()
          ackedFlags[k] = 1
          log.push(t - intended)
          service?.push(t - called)
          if (++acked + res.refused === total) finish(false)
        }, (err: unknown) => {
          if (isRefusal(err)) {
            res.refused++
            if (!done && acked + res.refused === total) finish(false)
            return
          }
          if (done) return
          done = true
          stopTimers()
          reject(err)
        })
      }
      if (done) return
      const now = performance.now()
      if (now >= cutAt) return finish(true)
      if (sent < total) {
        // setTimeout cannot wait less than ~1 ms. Polling with setImmediate keeps
        // the schedule closer but spins a core, which on a small machine is taken
        // from the system's own threads (a writer worker, libuv's fsync pool);
        // sleeping sends up to ~1 ms late, and that lateness is in the latency.
        const wait = t0 + sent * intervalMs - now
        if (wait > 2) timeout = setTimeout(tick, wait - 1)
        else if (poll) immediate = setImmediate(tick)
        else timeout = setTimeout(tick, Math.max(0, wait))
      } else if (acked + res.refused < total) {
        timeout = setTimeout(() => finish(true), cutAt - now)
      }
    }
    tick()
  })
}

// ── systems: mtlog-audit here, the peers in bench/peers.ts ──────────────────

export interface Counters {
  /** Events the store has written so far. */
  events: number
  /** fdatasync / fsync / commit calls so far (what each system syncs per ack). */
  syncs: number
  /** mtlog-audit only: framed bytes the writer wrote. */
  framedBytes?: number
}

export interface Session {
  emit: Emit
  counters(): Counters
  /** mtlog-audit only: what another thread needs to emit into the same log. */
  handle?(): SinkHandle
  close(): Promise<void>
  destroy(err: Error): Promise<void>
  /** After close: does the store hold exactly `expected` events, intact? */
  verify(expected: number): Promise<{ ok: boolean; note: string }>
}

export interface System {
  readonly id: string
  readonly version: string
  /** One line: when an emit counts as acknowledged. */
  readonly durability: string
  /** emit() blocks the thread until durable (a closed-loop window only queues). */
  readonly blocking: boolean
  open(dir: string): Promise<Session>
}

const pkg = JSON.parse(fsSync.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }

export const mtlogAudit: System = {
  id: 'mtlog-audit',
  version: pkg.version,
  durability: 'emit() resolves after the fdatasync of the batch holding the event (group commit, hash-chained WAL)',
  blocking: false,
  async open(dir) {
    const sink = await AuditSink.open({ dir })
    return {
      emit: (ev) => sink.emit(ev),
      counters: () => {
        const s = sink.stats()
        return { events: s.records, syncs: s.fsyncs, framedBytes: s.bytes }
      },
      handle: () => sink.handle(),
      close: () => sink.close(),
      destroy: (err) => sink.destroy(err),
      async verify(expected) {
        const v = await verifyLog(dir)
        const ok = v.ok && v.records === expected && v.lastSeq === expected
        return { ok, note: ok ? `verifyLog: ${v.records} records` : `verifyLog: ok=${v.ok}, records ${v.records}, expected ${expected}${v.firstBad ? `, first bad seq ${v.firstBad.seq}: ${v.firstBad.message}` : ''}` }
      },
    }
  },
}

// ── noise: how busy the rest of the machine was during a run ────────────────

export interface Noise {
  /** CPU cores' worth used by other processes (all CPU time minus this process's), averaged over the run. */
  otherCores: number
  /** Share of the run during which some runnable thread waited for a CPU (/proc/pressure/cpu), %. */
  cpuPressurePct: number
  /** Share of the run during which some task waited for I/O (/proc/pressure/io), %. */
  ioPressurePct: number
}

interface NoiseMark {
  wallMs: number
  busyMs: number
  ownUs: number
  cpuSomeUs: number
  ioSomeUs: number
}

function psiTotal(kind: 'cpu' | 'io'): number {
  try {
    const m = /^some .*total=(\d+)/m.exec(fsSync.readFileSync(`/proc/pressure/${kind}`, 'utf8'))
    return m ? Number(m[1]) : NaN
  } catch {
    return NaN
  }
}

function busyMs(): number {
  let sum = 0
  for (const c of os.cpus()) sum += c.times.user + c.times.nice + c.times.sys + c.times.irq
  return sum
}

export function noiseMark(): NoiseMark {
  const u = process.cpuUsage()
  return { wallMs: performance.now(), busyMs: busyMs(), ownUs: u.user + u.system, cpuSomeUs: psiTotal('cpu'), ioSomeUs: psiTotal('io') }
}

export function noiseSince(m: NoiseMark): Noise {
  const now = noiseMark()
  const wall = Math.max(1, now.wallMs - m.wallMs)
  return {
    otherCores: Math.max(0, (now.busyMs - m.busyMs - (now.ownUs - m.ownUs) / 1000) / wall),
    cpuPressurePct: ((now.cpuSomeUs - m.cpuSomeUs) / 1000 / wall) * 100,
    ioPressurePct: ((now.ioSomeUs - m.ioSomeUs) / 1000 / wall) * 100,
  }
}

// ── one measured run ────────────────────────────────────────────────────────

export interface Run {
  /** Events acknowledged durable while measuring. */
  events: number
  seconds: number
  eventsPerSec: number
  latencyMs: Latency
  /** Sync calls (fdatasync, fsync, or commit: see the system) per second while measuring. */
  fsyncsPerSec: number
  eventsPerFsync: number
  /** process.cpuUsage() (every thread of the process) per million acked events. */
  cpuSecPerMillion: number
  /** Bytes of every file the system left, after close, per event it holds. */
  diskBytesPerEvent: number
  /** Payload JSON bytes per event (mtlog-audit: measured from the writer's framed bytes). */
  payloadBytes: number
  verified: boolean
  verifyNote: string
  noise: Noise
  /** Open loop only. */
  targetRate?: number
  /** Open loop only: emits refused under overload (ERR_AUDIT_QUEUE_FULL). */
  refused?: number
  sustained?: boolean
  cut?: boolean
  sendLagMaxMs?: number
  /** Open loop only: latency from the actual emit() call. */
  serviceLatencyMs?: Latency
}

export interface EngineConfig {
  quick: boolean
  repeat: number
  warmupSeconds: number
  closedSeconds: number
  openSeconds: number
  openGraceSeconds: number
  probeSeconds: number
  searchProbes: number
  /** An open-loop rate is sustained when every event was acked, none refused, and p99 from intended time ≤ this. */
  sustainP99Ms: number
  /** The highest-sustained search gives up below this rate (events/s). */
  searchFloorRate: number
  /** Open-loop sender: poll with setImmediate between sends (closer schedule, spins a core) instead of sleeping. */
  openPoll: boolean
  /** Skip an open-loop rate above this × the system's best closed-loop throughput. */
  skipAboveClosedFactor: number
  floorSeconds: number
  /** A run is noisy when other processes used more than this many cores. */
  noisyOtherCores: number
  baseDir: string
}

let dirCounter = 0
async function freshDir(cfg: EngineConfig, label: string): Promise<string> {
  const dir = path.join(cfg.baseDir, `mtlog-audit-bench-${process.pid}-${++dirCounter}-${label.replace(/[^\w.-]+/g, '_')}`)
  await fs.rm(dir, { recursive: true, force: true })
  await fs.mkdir(dir, { recursive: true })
  return dir
}

async function dirBytes(dir: string): Promise<number> {
  let sum = 0
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) sum += await dirBytes(p)
    else if (e.isFile()) sum += (await fs.stat(p)).size
  }
  return sum
}

interface BodyResult extends LoopResult {
  latency: Latency
  extra?: Partial<Run>
  /** Read after close: emits the system refused (they take no place in the store). */
  refused?: () => number
}

/**
 * fresh dir ─► open ─► body (warms up, calls mark(), measures) ─► close ─►
 * verify ─► bytes on disk ─► remove. CPU, counters, noise and seconds count from mark().
 */
export async function measured(cfg: EngineConfig, sys: System, label: string, payloadBytes: number,
  body: (s: Session, mark: () => void) => Promise<BodyResult>): Promise<Run> {
  const dir = await freshDir(cfg, `${sys.id}-${label}`)
  try {
    const s = await sys.open(dir)
    let r: BodyResult
    let c0 = s.counters()
    let cpu0 = process.cpuUsage()
    let n0 = noiseMark()
    let t0 = performance.now()
    try {
      r = await body(s, () => {
        c0 = s.counters()
        cpu0 = process.cpuUsage()
        n0 = noiseMark()
        t0 = performance.now()
      })
    } catch (err) {
      await s.destroy(err as Error)
      throw err
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const noise = noiseSince(n0)
    const c1 = s.counters()
    await s.close()
    const refused = r.refused?.() ?? 0
    const v = await s.verify(r.emitted - refused)
    const events = c1.events - c0.events
    const syncs = c1.syncs - c0.syncs
    const framed = c1.framedBytes !== undefined && c0.framedBytes !== undefined && events > 0 ? (c1.framedBytes - c0.framedBytes) / events - RECORD_HEADER_BYTES : payloadBytes
    return {
      events: r.acked, seconds, eventsPerSec: r.acked / seconds, latencyMs: r.latency,
      fsyncsPerSec: syncs / seconds, eventsPerFsync: syncs > 0 ? events / syncs : NaN,
      cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (r.acked / 1e6),
      diskBytesPerEvent: r.emitted - refused > 0 ? (await dirBytes(dir)) / (r.emitted - refused) : NaN,
      payloadBytes: framed, verified: v.ok, verifyNote: v.note, noise, ...r.extra, ...(r.refused !== undefined ? { refused } : {}),
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

function warmWindow(window: number): number {
  return Math.min(window, 256)
}

export async function runClosed(cfg: EngineConfig, sys: System, payloadBytes: number, window: number): Promise<Run> {
  const mk = eventMaker(payloadBytes)
  return measured(cfg, sys, `closed-${payloadBytes}-w${window}`, payloadBytes, async (s, mark) => {
    const warm = await closedLoop(s.emit, mk, 0, warmWindow(window), cfg.warmupSeconds * 1000, undefined)
    const log = new LatencyLog()
    mark()
    const r = await closedLoop(s.emit, mk, 0, window, cfg.closedSeconds * 1000, log)
    return { acked: r.acked, emitted: warm.emitted + r.emitted, latency: summarize([log.values()]) }
  })
}

export function openExtra(cfg: EngineConfig, rate: number, r: OpenResult, latency: Latency, service: Latency | undefined): Partial<Run> {
  return {
    targetRate: rate, cut: r.cut, sustained: !r.cut && r.refused === 0 && latency.p99 <= cfg.sustainP99Ms, sendLagMaxMs: r.lagMaxMs,
    ...(service ? { serviceLatencyMs: service } : {}),
  }
}

export async function runOpen(cfg: EngineConfig, sys: System, payloadBytes: number, rate: number, seconds = cfg.openSeconds): Promise<Run> {
  const mk = eventMaker(payloadBytes)
  return measured(cfg, sys, `open-${payloadBytes}-r${Math.round(rate)}`, payloadBytes, async (s, mark) => {
    const warm = await closedLoop(s.emit, mk, 0, 16, cfg.warmupSeconds * 1000, undefined)
    const log = new LatencyLog(Math.min(rate * seconds + 16, 1 << 24))
    const service = new LatencyLog(Math.min(rate * seconds + 16, 1 << 24))
    mark()
    const r = await openLoop(s.emit, mk, 0, rate, seconds, cfg.openGraceSeconds * 1000, log, service, cfg.openPoll)
    const latency = summarize([log.values()])
    return { acked: r.acked, emitted: warm.emitted + r.emitted, latency, extra: openExtra(cfg, rate, r, latency, summarize([service.values()])), refused: () => r.refused }
  })
}

// ── threads: main + workers (this file) emitting into one sink ──────────────

const WORKER_KIND = 'mtlog-audit/bench-producer@1'

interface ProducerInit {
  kind: typeof WORKER_KIND
  handle: SinkHandle
  thread: number
  payloadBytes: number
  mode: 'closed' | 'open'
  window: number
  rate: number
  warmupMs: number
  durationMs: number
  graceMs: number
  poll: boolean
}

/** Every message between the bench's threads. An unknown message is an error. */
type FromProducer =
  | { type: 'ready'; warmEmitted: number }
  | { type: 'done'; acked: number; emitted: number; refused: number; cut: boolean; lagMaxMs: number; lat: Float64Array }
  | { type: 'error'; message: string }
type ToProducer = { type: 'go' }

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
  promise.catch(() => {}) // awaited by the caller; a worker that fails first is not an unhandled rejection
  return { promise, resolve, reject }
}

/**
 * producers − 1 workers + the main thread. Closed: the window is the total in
 * flight, split evenly. Open: the rate is the total, split evenly.
 */
export async function runThreads(cfg: EngineConfig, sys: System, payloadBytes: number, producers: number,
  o: { window: number } | { rate: number }): Promise<Run> {
  const mode = 'window' in o ? 'closed' : 'open'
  const perWindow = 'window' in o ? Math.max(1, Math.round(o.window / producers)) : 0
  const perRate = 'rate' in o ? o.rate / producers : 0
  const mk = eventMaker(payloadBytes)
  const label = `threads${producers}-${payloadBytes}-${mode === 'closed' ? `w${'window' in o ? o.window : 0}` : `r${perRate * producers}`}`
  return measured(cfg, sys, label, payloadBytes, async (s, mark) => {
    if (s.handle === undefined) throw new Error(`bench: ${sys.id} cannot take emits from other threads`)
    const workers = Array.from({ length: producers - 1 }, (_, k) => {
      const init: ProducerInit = {
        kind: WORKER_KIND, handle: s.handle!(), thread: k + 1, payloadBytes, mode, window: perWindow, rate: perRate,
        warmupMs: cfg.warmupSeconds * 1000, durationMs: (mode === 'closed' ? cfg.closedSeconds : cfg.openSeconds) * 1000,
        graceMs: cfg.openGraceSeconds * 1000, poll: cfg.openPoll,
      }
      const w = new Worker(new URL(import.meta.url), { workerData: init, name: `bench producer ${k + 1}` })
      const ready = deferred<number>()
      const done = deferred<Extract<FromProducer, { type: 'done' }>>()
      const fail = (e: Error): void => {
        ready.reject(e)
        done.reject(e)
      }
      w.on('message', (m: FromProducer) => {
        if (m?.type === 'ready') ready.resolve(m.warmEmitted)
        else if (m?.type === 'done') done.resolve(m)
        else if (m?.type === 'error') fail(new Error(`bench producer ${k + 1}: ${m.message}`))
        else fail(new Error(`bench producer ${k + 1}: unknown message ${JSON.stringify(m)}`))
      })
      w.once('error', fail)
      w.once('exit', (code) => fail(new Error(`bench producer ${k + 1} exited (code ${code}) before it reported`)))
      return { w, ready: ready.promise, done: done.promise }
    })
    try {
      const [mainWarm, ...workerWarm] = await Promise.all([
        closedLoop(s.emit, mk, 0, warmWindow(Math.max(perWindow, 16)), cfg.warmupSeconds * 1000, undefined), ...workers.map((x) => x.ready)])
      const log = new LatencyLog()
      mark()
      for (const x of workers) x.w.postMessage({ type: 'go' } satisfies ToProducer)
      const main = mode === 'closed'
        ? closedLoop(s.emit, mk, 0, perWindow, cfg.closedSeconds * 1000, log).then((r): OpenResult => ({ ...r, refused: 0, cut: false, lagMaxMs: 0 }))
        : openLoop(s.emit, mk, 0, perRate, cfg.openSeconds, cfg.openGraceSeconds * 1000, log, undefined, cfg.openPoll)
      const [m, ...rest] = await Promise.all([main, ...workers.map((x) => x.done)])
      const latency = summarize([log.values(), ...rest.map((r) => r.lat)])
      const all = [m, ...rest]
      const refused = (): number => all.reduce((a, x) => a + x.refused, 0) // the main thread's count is live until close
      const r: OpenResult = {
        acked: all.reduce((a, x) => a + x.acked, 0), emitted: all.reduce((a, x) => a + x.emitted, 0), refused: refused(),
        cut: all.some((x) => x.cut), lagMaxMs: Math.max(...all.map((x) => x.lagMaxMs)),
      }
      return {
        acked: r.acked, emitted: mainWarm.emitted + workerWarm.reduce((a, n) => a + n, 0) + r.emitted, latency, refused,
        ...(mode === 'open' ? { extra: openExtra(cfg, perRate * producers, r, latency, undefined) } : {}),
      }
    } finally {
      for (const x of workers) void x.w.terminate()
    }
  })
}

async function producerWorker(init: ProducerInit): Promise<void> {
  const port = parentPort!
  const send = (m: FromProducer, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)
  try {
    const producer = AuditSink.attach(init.handle)
    const emit: Emit = (ev) => producer.emit(ev)
    const mk = eventMaker(init.payloadBytes)
    const warm = await closedLoop(emit, mk, init.thread, warmWindow(Math.max(init.window, 16)), init.warmupMs, undefined)
    const go = new Promise<void>((resolve, reject) => port.once('message', (m: ToProducer) => (m?.type === 'go' ? resolve() : reject(new Error(`unknown message ${JSON.stringify(m)}`)))))
    send({ type: 'ready', warmEmitted: warm.emitted })
    await go
    const log = new LatencyLog()
    const r: OpenResult = init.mode === 'closed'
      ? { ...(await closedLoop(emit, mk, init.thread, init.window, init.durationMs, log)), refused: 0, cut: false, lagMaxMs: 0 }
      : await openLoop(emit, mk, init.thread, init.rate, init.durationMs / 1000, init.graceMs, log, undefined, init.poll)
    await producer.close() // every emit of this thread settled: r.refused is final
    const lat = log.values().slice()
    send({ type: 'done', acked: r.acked, emitted: r.emitted, refused: r.refused, cut: r.cut, lagMaxMs: r.lagMaxMs, lat }, [lat.buffer as ArrayBuffer])
  } catch (err) {
    send({ type: 'error', message: (err as Error)?.message ?? String(err) })
  }
}

// ── floors ──────────────────────────────────────────────────────────────────

/** Plain node:fs: write `bytes` with one writeSync, then fdatasyncSync; events counted at eventBytes each. */
export async function runFloorWrite(cfg: EngineConfig, bytes: number, eventBytes: number): Promise<Run> {
  const dir = await freshDir(cfg, `floor-write-${bytes}`)
  const fd = fsSync.openSync(path.join(dir, 'floor.dat'), 'wx')
  try {
    const chunk = Buffer.alloc(bytes, 0x61)
    let pos = 0
    const warmEnd = performance.now() + cfg.warmupSeconds * 1000
    while (performance.now() < warmEnd) {
      fsSync.writeSync(fd, chunk, 0, chunk.length, pos)
      fsSync.fdatasyncSync(fd)
      pos += chunk.length
    }
    const log = new LatencyLog()
    const n0 = noiseMark()
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const end = t0 + cfg.floorSeconds * 1000
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
    const events = (ops * bytes) / eventBytes
    return {
      events, seconds, eventsPerSec: events / seconds, latencyMs: summarize([log.values()]),
      fsyncsPerSec: ops / seconds, eventsPerFsync: bytes / eventBytes,
      cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (events / 1e6), diskBytesPerEvent: eventBytes,
      payloadBytes: eventBytes - RECORD_HEADER_BYTES, verified: true, verifyNote: 'n/a (no store)', noise: noiseSince(n0),
    }
  } finally {
    fsSync.closeSync(fd)
    await fs.rm(dir, { recursive: true, force: true })
  }
}

/** No I/O: JSON.stringify + TextEncoder.encodeInto of each event into one scratch buffer. */
export async function runFloorSerialize(cfg: EngineConfig, payloadBytes: number): Promise<Run> {
  const mk = eventMaker(payloadBytes)
  const encoder = new TextEncoder()
  const scratch = new Uint8Array(64 * 1024)
  let i = 0
  const chunk = (): number => {
    let bytes = 0
    for (let k = 0; k < 1024; k++) {
      const ev = mk(0, i++)
      bytes += encoder.encodeInto(JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }), scratch).written
    }
    return bytes
  }
  const warmEnd = performance.now() + cfg.warmupSeconds * 1000
  while (performance.now() < warmEnd) chunk()
  const n0 = noiseMark()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const end = t0 + cfg.floorSeconds * 1000
  let events = 0
  let bytes = 0
  while (performance.now() < end) {
    bytes += chunk()
    events += 1024
  }
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const nan = summarize([])
  return {
    events, seconds, eventsPerSec: events / seconds, latencyMs: nan, fsyncsPerSec: 0, eventsPerFsync: NaN,
    cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (events / 1e6), diskBytesPerEvent: 0, payloadBytes: bytes / events,
    verified: true, verifyNote: 'n/a (no I/O)', noise: noiseSince(n0),
  }
}

// ── scenarios: specs, repeats, summaries ────────────────────────────────────

export type Group = 'floor' | 'closed' | 'open' | 'soak'

export interface Scenario {
  id: string
  title: string
  group: Group
  system: string
  producers: number
  payloadBytes: number
  window?: number
  rate?: number
  runs: Run[]
  /** Why the scenario was not run. */
  skipped?: string
  meta?: Record<string, unknown>
}

export interface Spec extends Omit<Scenario, 'runs' | 'skipped'> {
  /** Runs of this scenario (default: the config's repeat). */
  repeat?: number
  /** Called once before the repeats, with every scenario done so far; a string skips the scenario. */
  prepare?(done: Scenario[]): Promise<string | undefined> | string | undefined
  run(): Promise<Run>
}

export interface Spread {
  median: number
  min: number
  max: number
}

export function spread(values: number[]): Spread {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN }
  const mid = s.length >> 1
  return { median: s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s[s.length - 1]! }
}

export function summary(sc: Scenario): Record<string, Spread> {
  const pick = (f: (r: Run) => number | undefined): Spread => spread(sc.runs.map((r) => f(r) ?? NaN))
  return {
    eventsPerSec: pick((r) => r.eventsPerSec),
    p50: pick((r) => r.latencyMs.p50),
    p99: pick((r) => r.latencyMs.p99),
    p999: pick((r) => r.latencyMs.p999),
    max: pick((r) => r.latencyMs.max),
    fsyncsPerSec: pick((r) => r.fsyncsPerSec),
    eventsPerFsync: pick((r) => r.eventsPerFsync),
    cpuSecPerMillion: pick((r) => r.cpuSecPerMillion),
    diskBytesPerEvent: pick((r) => r.diskBytesPerEvent),
    payloadBytes: pick((r) => r.payloadBytes),
    sendLagMaxMs: pick((r) => r.sendLagMaxMs),
    serviceP99: pick((r) => r.serviceLatencyMs?.p99),
    otherCores: pick((r) => r.noise.otherCores),
  }
}

const fmtN = new Map<number, Intl.NumberFormat>()
export function fmt(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '-'
  let f = fmtN.get(digits)
  if (f === undefined) fmtN.set(digits, (f = new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })))
  return f.format(v)
}

function cell(s: Spread | undefined, digits: number, runs: number): string {
  if (s === undefined) return '-'
  if (runs <= 1 || s.min === s.max || !Number.isFinite(s.min)) return fmt(s.median, digits)
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`
}

function verifiedCell(sc: Scenario): string {
  const n = sc.runs.length
  const ok = sc.runs.filter((r) => r.verified).length
  return ok === n ? `${ok}/${n}` : `FAILED ${n - ok}/${n}`
}

function mdRow(cells: string[]): string {
  return `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`
}

function mdHead(head: string[]): string[] {
  return [mdRow(head), `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`]
}

/** Floors and closed loops: one row per scenario. */
export function closedTable(scenarios: Scenario[]): string {
  const lines = mdHead(['scenario', 'durable events/s', 'p50 ms', 'p99 ms', 'p999 ms', 'CPU s / M events', 'disk B / event', 'fdatasyncs/s', 'events/fdatasync', 'verified'])
  for (const sc of scenarios.filter((s) => s.group === 'floor' || s.group === 'closed')) {
    const n = sc.runs.length
    if (sc.skipped !== undefined) {
      lines.push(mdRow([sc.title, `not run: ${sc.skipped}`, '', '', '', '', '', '', '', '']))
      continue
    }
    const s = summary(sc)
    lines.push(mdRow([sc.title, cell(s.eventsPerSec, 0, n), cell(s.p50, 3, n), cell(s.p99, 3, n), cell(s.p999, 3, n), cell(s.cpuSecPerMillion, 2, n),
      cell(s.diskBytesPerEvent, 1, n), cell(s.fsyncsPerSec, 0, n), cell(s.eventsPerFsync, 1, n), verifiedCell(sc)]))
  }
  return lines.join('\n')
}

/** Open loops and the soak: latency from the intended send time. */
export function openTable(scenarios: Scenario[]): string {
  const lines = mdHead(['scenario', 'target events/s', 'durable events/s', 'p50 ms', 'p99 ms', 'p999 ms', 'max ms', 'sustained', 'sender lag max ms', 'verified'])
  for (const sc of scenarios.filter((s) => s.group === 'open' || s.group === 'soak')) {
    const n = sc.runs.length
    if (sc.skipped !== undefined) {
      lines.push(mdRow([sc.title, sc.rate !== undefined ? fmt(sc.rate, 0) : '-', `not run: ${sc.skipped}`, '', '', '', '', '', '', '']))
      continue
    }
    const s = summary(sc)
    const sustained = sc.runs.filter((r) => r.sustained).length
    const cut = sc.runs.filter((r) => r.cut).length
    const refused = spread(sc.runs.map((r) => r.refused ?? 0))
    const why = [cut > 0 ? `${cut} cut` : '', refused.max > 0 ? `${cell(refused, 0, n)} refused` : ''].filter((x) => x !== '').join(', ')
    lines.push(mdRow([sc.title, fmt(sc.rate ?? NaN, 0), cell(s.eventsPerSec, 0, n), cell(s.p50, 3, n), cell(s.p99, 3, n), cell(s.p999, 3, n), cell(s.max, 2, n),
      `${sustained}/${n}${why !== '' ? ` (${why})` : ''}`, cell(s.sendLagMaxMs, 2, n), verifiedCell(sc)]))
  }
  return lines.join('\n')
}

/** Run every spec cfg.repeat times (those whose id matches `only`, if given). */
export async function runSpecs(cfg: EngineConfig, specs: Spec[], only: string[], progress: (s: string) => void): Promise<Scenario[]> {
  const done: Scenario[] = []
  for (const spec of specs) {
    if (only.length > 0 && !only.some((o) => spec.id === o || spec.id.startsWith(`${o}-`) || spec.group === o || spec.system === o)) continue
    const { prepare: _p, run: _r, repeat: _n, ...meta } = spec
    const sc: Scenario = { ...meta, runs: [] }
    const repeat = spec.repeat ?? cfg.repeat
    const skip = await spec.prepare?.(done)
    // prepare may settle the rate and title (the max-rate search)
    Object.assign(sc, { title: spec.title, rate: spec.rate, meta: spec.meta })
    if (skip !== undefined) {
      sc.skipped = skip
      progress(`  ${sc.title}: not run: ${skip}`)
    } else {
      for (let i = 0; i < repeat; i++) {
        const r = await spec.run()
        progress(`  ${sc.title} run ${i + 1}/${repeat}: ${fmt(r.eventsPerSec, 0)} events/s, p50 ${fmt(r.latencyMs.p50, 3)} ms, p99 ${fmt(r.latencyMs.p99, 3)} ms` +
          `${r.sustained === false ? ' NOT SUSTAINED' : ''}${r.refused ? ` (${r.refused} refused)` : ''}${r.cut ? ' (cut)' : ''}, other processes ${fmt(r.noise.otherCores, 2)} cores, ${r.verifyNote}`)
        sc.runs.push(r)
      }
      if (spec.meta !== undefined) sc.meta = spec.meta // a run may leave its details (the soak's samples)
    }
    done.push(sc)
  }
  return done
}

// ── spec builders ───────────────────────────────────────────────────────────

function bestClosed(done: Scenario[], system: string, payloadBytes: number, producers: number): number {
  const xs = done.filter((s) => s.group === 'closed' && s.system === system && s.payloadBytes === payloadBytes && s.producers === producers && s.runs.length > 0)
  return Math.max(0, ...xs.map((s) => spread(s.runs.map((r) => r.eventsPerSec)).median))
}

export function floorWriteSpec(cfg: EngineConfig, bytes: number, eventBytes: number, id?: string, title?: string): Spec {
  return {
    id: id ?? `floor-write-${bytes >= 1 << 20 ? `${bytes / (1 << 20)}MiB` : `${bytes / 1024}KiB`}`,
    title: title ?? `floor: write ${bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`} + fdatasync (node:fs; events of ${eventBytes} B on disk)`,
    group: 'floor', system: 'node:fs', producers: 1, payloadBytes: eventBytes - RECORD_HEADER_BYTES,
    run: () => runFloorWrite(cfg, bytes, eventBytes),
  }
}

export function floorSerializeSpec(cfg: EngineConfig, payloadBytes: number): Spec {
  return {
    id: `floor-serialize-${payloadBytes}B`, title: `floor: JSON.stringify + encodeInto, ${payloadBytes} B, no I/O`,
    group: 'floor', system: 'none', producers: 1, payloadBytes, run: () => runFloorSerialize(cfg, payloadBytes),
  }
}

function who(sys: System, producers: number): string {
  return producers > 1 ? `${sys.id}, main + ${producers - 1} worker_threads` : sys.id
}

export function closedSpec(cfg: EngineConfig, sys: System, o: { payloadBytes: number; window: number; producers?: number; id?: string; title?: string }): Spec {
  const producers = o.producers ?? 1
  return {
    id: o.id ?? `closed-${sys.id}-${producers > 1 ? `${producers}threads-` : ''}${o.payloadBytes}B-w${o.window}`,
    title: o.title ?? `closed, ${who(sys, producers)}, ${o.payloadBytes} B, window ${o.window}`,
    group: 'closed', system: sys.id, producers, payloadBytes: o.payloadBytes, window: o.window,
    run: () => (producers > 1 ? runThreads(cfg, sys, o.payloadBytes, producers, { window: o.window }) : runClosed(cfg, sys, o.payloadBytes, o.window)),
  }
}

export function openSpec(cfg: EngineConfig, sys: System, o: { payloadBytes: number; rate: number; producers?: number; id?: string; title?: string; always?: boolean }): Spec {
  const producers = o.producers ?? 1
  return {
    id: o.id ?? `open-${sys.id}-${producers > 1 ? `${producers}threads-` : ''}${o.payloadBytes}B-r${o.rate}`,
    title: o.title ?? `open ${fmt(o.rate, 0)}/s, ${who(sys, producers)}, ${o.payloadBytes} B`,
    group: 'open', system: sys.id, producers, payloadBytes: o.payloadBytes, rate: o.rate,
    prepare(done) {
      if (o.always === true) return undefined
      const best = bestClosed(done, sys.id, o.payloadBytes, producers)
      if (best > 0 && o.rate > cfg.skipAboveClosedFactor * best) return `above ${cfg.skipAboveClosedFactor}× its best closed loop (${fmt(best, 0)}/s)`
      return undefined
    },
    run: () => (producers > 1 ? runThreads(cfg, sys, o.payloadBytes, producers, { rate: o.rate }) : runOpen(cfg, sys, o.payloadBytes, o.rate)),
  }
}

/**
 * The highest sustained rate: bisect (geometrically) between the highest fixed
 * rate that was sustained and the lowest that was not (or 1.5 × the best closed
 * loop), with short probes on fresh stores; then measure at the rate found.
 */
export function maxSpec(cfg: EngineConfig, sys: System, o: { payloadBytes: number }): Spec {
  const spec: Spec = {
    id: `open-${sys.id}-${o.payloadBytes}B-max`, title: `open at highest sustained, ${sys.id}, ${o.payloadBytes} B`,
    group: 'open', system: sys.id, producers: 1, payloadBytes: o.payloadBytes,
    async prepare(done) {
      const fixed = done.filter((s) => s.group === 'open' && s.system === sys.id && s.payloadBytes === o.payloadBytes && s.producers === 1 && s.rate !== undefined && s.runs.length > 0)
      const ok = (s: Scenario): boolean => s.runs.filter((r) => r.sustained).length * 2 > s.runs.length
      let lo = Math.max(0, ...fixed.filter(ok).map((s) => s.rate!))
      const failed = fixed.filter((s) => !ok(s)).map((s) => s.rate!).filter((r) => r > lo)
      const best = bestClosed(done, sys.id, o.payloadBytes, 1)
      let hi = failed.length > 0 ? Math.min(...failed) : Math.max(1.5 * best, 2 * lo, 1000)
      const probes: { rate: number; sustained: boolean; p99Ms: number; eventsPerSec: number }[] = []
      for (let k = 0; k < cfg.searchProbes; k++) {
        const rate = Math.round(lo > 0 ? Math.sqrt(lo * hi) : hi / 4)
        if (rate < cfg.searchFloorRate) break
        const r = await runOpen(cfg, sys, o.payloadBytes, rate, cfg.probeSeconds)
        probes.push({ rate, sustained: r.sustained === true, p99Ms: r.latencyMs.p99, eventsPerSec: r.eventsPerSec })
        if (r.sustained) lo = rate
        else hi = rate
      }
      spec.meta = { probes, probeSeconds: cfg.probeSeconds, sustainP99Ms: cfg.sustainP99Ms }
      if (lo === 0) return `no rate ≥ ${fmt(cfg.searchFloorRate, 0)}/s sustained (lowest tried ${fmt(hi, 0)}/s)`
      spec.rate = lo
      spec.title = `open at highest sustained (${fmt(lo, 0)}/s), ${sys.id}, ${o.payloadBytes} B`
      return undefined
    },
    run: () => runOpen(cfg, sys, o.payloadBytes, spec.rate!),
  }
  return spec
}

export interface PlanOptions {
  /** Payload size of the main sweep. */
  payloadBytes: number
  windows: number[]
  /** Other sizes, each at sizeWindow, for every system. */
  sizes: number[]
  sizeWindow: number
  /** Total in flight for main + 3 workers (mtlog-audit only). */
  threadWindows: number[]
  rates: number[]
  threadRates: number[]
  max: boolean
  floors: boolean
}

/** The end-to-end plan: floors, closed sweep, sizes, threads, open rates, max rate, for every system. */
export function e2ePlan(cfg: EngineConfig, systems: System[], p: PlanOptions): Spec[] {
  const specs: Spec[] = []
  if (p.floors) {
    const framed = p.payloadBytes + RECORD_HEADER_BYTES
    specs.push(floorWriteSpec(cfg, 64 * 1024, framed), floorWriteSpec(cfg, 1 << 20, framed), floorSerializeSpec(cfg, p.payloadBytes))
  }
  for (const sys of systems) for (const w of p.windows) specs.push(closedSpec(cfg, sys, { payloadBytes: p.payloadBytes, window: w }))
  for (const size of p.sizes) for (const sys of systems) specs.push(closedSpec(cfg, sys, { payloadBytes: size, window: p.sizeWindow }))
  const mt = systems.find((s) => s.id === mtlogAudit.id)
  if (mt !== undefined) for (const w of p.threadWindows) specs.push(closedSpec(cfg, mt, { payloadBytes: p.payloadBytes, window: w, producers: 4 }))
  for (const sys of systems) {
    for (const rate of p.rates) specs.push(openSpec(cfg, sys, { payloadBytes: p.payloadBytes, rate }))
    if (p.max) specs.push(maxSpec(cfg, sys, { payloadBytes: p.payloadBytes }))
  }
  if (mt !== undefined) for (const rate of p.threadRates) specs.push(openSpec(cfg, mt, { payloadBytes: p.payloadBytes, rate, producers: 4 }))
  return specs
}

// ── machine ─────────────────────────────────────────────────────────────────

function sh(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return undefined
  }
}

function readTrim(file: string): string | undefined {
  try {
    return fsSync.readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** File system, device and (where /sys tells) the disk's model and kind. */
function diskOf(dir: string): { fileSystem: string; disk: string } {
  const out = sh('df', ['-PT', dir])?.split('\n')
  const f = out?.[out.length - 1]?.split(/\s+/)
  if (f === undefined || f.length < 7) return { fileSystem: sh('stat', ['-f', '-c', '%T', dir]) ?? 'unknown', disk: 'unknown' }
  const dev = f[0]!
  let disk = dev
  try {
    let name = path.basename(fsSync.realpathSync(dev))
    if (!fsSync.existsSync(`/sys/block/${name}`)) {
      const parent = path.basename(path.dirname(fsSync.realpathSync(`/sys/class/block/${name}`)))
      if (fsSync.existsSync(`/sys/block/${parent}`)) name = parent
    }
    const model = readTrim(`/sys/block/${name}/device/model`)
    const rot = readTrim(`/sys/block/${name}/queue/rotational`)
    const sizeGiB = Number(readTrim(`/sys/block/${name}/size`) ?? NaN) * 512 / 2 ** 30
    disk = `${name}${model ? ` ${model}` : ''}${rot === '0' ? ', non-rotational' : rot === '1' ? ', rotational' : ''}${Number.isFinite(sizeGiB) ? `, ${sizeGiB.toFixed(0)} GiB` : ''}`
  } catch {
    // keep the device name
  }
  return { fileSystem: `${f[1]} (${dev} mounted on ${f[6]})`, disk }
}

function psiAvg(kind: 'cpu' | 'io'): string {
  const some = /^some avg10=([\d.]+) avg60=([\d.]+)/m.exec(readTrim(`/proc/pressure/${kind}`) ?? '')
  return some ? `${some[1]}% (10 s), ${some[2]}% (60 s)` : 'n/a'
}

/** Load average and CPU / I/O pressure right now (printed at the start and end of every run). */
export function loadLine(): string {
  return `load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, CPU pressure ${psiAvg('cpu')}, I/O pressure ${psiAvg('io')}`
}

export interface Machine {
  cpu: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  benchDir: string
  fileSystem: string
  disk: string
  loadAtStart: string
  date: string
}

export function machineInfo(baseDir: string): Machine {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown', cores: cpus.length, memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.version, benchDir: baseDir, ...diskOf(baseDir),
    loadAtStart: loadLine(), date: new Date().toISOString(),
  }
}

export function machineLines(m: Machine): string[] {
  return [
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}`,
    `- node ${m.node}; bench dir ${m.benchDir} on ${m.fileSystem}; disk ${m.disk}`,
    `- date ${m.date}`,
    `- at start: ${m.loadAtStart}`,
  ]
}

export interface NoiseReport {
  runs: number
  noisyRuns: number
  thresholdCores: number
  otherCores: Spread
  cpuPressurePct: Spread
  ioPressurePct: Spread
  loadAtStart: string
  loadAtEnd: string
  noisy: boolean
  verdict: string
}

/** Noisy: more than a tenth of the runs had other processes above the threshold, or the load at either end exceeded half the cores. */
export function noiseReport(runs: Run[], thresholdCores: number, loadAtStart: string, loadAtEnd: string, load1Start: number, load1End: number): NoiseReport {
  const noisyRuns = runs.filter((r) => r.noise.otherCores > thresholdCores).length
  const cores = os.cpus().length
  const busyLoad = Math.max(load1Start, load1End) > cores / 2
  const noisy = noisyRuns * 10 > runs.length || busyLoad
  const other = spread(runs.map((r) => r.noise.otherCores))
  const verdict = `${noisy ? 'NOISY' : 'quiet'}: ${noisyRuns} of ${runs.length} runs had other processes above ${thresholdCores} cores ` +
    `(other processes: median ${fmt(other.median, 2)}, max ${fmt(other.max, 2)} cores); 1-min load ${load1Start.toFixed(2)} at start, ${load1End.toFixed(2)} at end on ${cores} cores`
  return {
    runs: runs.length, noisyRuns, thresholdCores, otherCores: other, cpuPressurePct: spread(runs.map((r) => r.noise.cpuPressurePct)),
    ioPressurePct: spread(runs.map((r) => r.noise.ioPressurePct)), loadAtStart, loadAtEnd, noisy, verdict,
  }
}

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fsSync.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir)
    if (up === dir) return process.cwd()
    dir = up
  }
  return dir
}

/** JSON with NaN and ±Infinity as null. */
export function toJson(v: unknown): string {
  return `${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? null : x), 2)}\n`
}

// ── the command ─────────────────────────────────────────────────────────────

export function engineConfig(quick: boolean, over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    quick, repeat: quick ? 1 : 3, warmupSeconds: quick ? 0.05 : 0.3, closedSeconds: quick ? 0.2 : 1.5,
    openSeconds: quick ? 0.3 : 2, openGraceSeconds: quick ? 0.5 : 1, probeSeconds: quick ? 0.2 : 1.5, searchProbes: quick ? 2 : 5,
    sustainP99Ms: 100, searchFloorRate: 100, openPoll: false, skipAboveClosedFactor: 3, floorSeconds: quick ? 0.1 : 1, noisyOtherCores: 0.25, baseDir: os.tmpdir(), ...over,
  }
}

export function defaultPlan(quick: boolean): PlanOptions {
  return {
    payloadBytes: 256, windows: [1, 16, 256, 4096], sizes: [64, 1024], sizeWindow: 256, threadWindows: [4, 16, 256, 4096],
    rates: quick ? [1000, 10_000] : [1000, 10_000, 100_000], threadRates: [10_000], max: true, floors: true,
  }
}

/** Where a checkout keeps the peers' modules, and the built module that wraps them. */
export interface PeerLoad {
  systems: System[]
  notes: string[]
}

export async function loadPeersFromCheckout(root = packageRoot()): Promise<PeerLoad> {
  const wrapper = path.join(root, 'dist', 'bench', 'peers.js')
  if (!fsSync.existsSync(wrapper)) {
    return { systems: [], notes: [`peers not run: ${wrapper} does not exist (the peers live in the repository's bench/: in a checkout, npm install --prefix bench && npx tsc -p .)`] }
  }
  const mod = (await import(pathToFileURL(wrapper).href)) as { loadPeers(modulesDir: string): Promise<PeerLoad> }
  return mod.loadPeers(process.env.BENCH_MODULES_DIR ?? path.join(root, 'bench', 'node_modules'))
}

interface BenchOptions {
  quick?: boolean
  repeat?: string
  seconds?: string
  dir?: string
  json?: string
  peers?: boolean
}

function positive(name: string, v: string | undefined, integer: boolean): number | undefined {
  if (v === undefined) return undefined
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${v})`)
  return n
}

export function register(program: Command): void {
  program.command('bench')
    .description('measure durable emits on this machine (closed and open loop, worker threads, the disk\'s floor), beside the peers when a checkout has bench/node_modules')
    .option('--quick', 'a smoke run of every scenario in a few seconds (numbers mean little)')
    .option('--repeat <n>', 'runs per scenario (default 3, quick 1)')
    .option('--seconds <s>', 'measured seconds per closed-loop run (default 1.5)')
    .option('--dir <path>', 'where the run directories go (default: the OS temp dir; put it on the disk you care about)')
    .option('--json <file>', 'also write every run as JSON')
    .option('--no-peers', 'run mtlog-audit alone even when the peers are installed')
    .action(async (opts: BenchOptions) => {
      let cfg: EngineConfig
      try {
        const repeat = positive('repeat', opts.repeat, true)
        const seconds = positive('seconds', opts.seconds, false)
        cfg = engineConfig(opts.quick === true, {
          ...(repeat !== undefined ? { repeat } : {}), ...(seconds !== undefined ? { closedSeconds: seconds } : {}),
          ...(opts.dir !== undefined ? { baseDir: path.resolve(opts.dir) } : {}),
        })
      } catch (err) {
        console.error(`mtlog-audit bench: ${(err as Error).message}`)
        process.exitCode = EXIT.USAGE
        return
      }
      await fs.mkdir(cfg.baseDir, { recursive: true })
      const peers = opts.peers === false ? { systems: [], notes: ['peers not run: --no-peers'] } : await loadPeersFromCheckout()
      const systems = [mtlogAudit, ...peers.systems]
      const m = machineInfo(cfg.baseDir)
      const load1Start = os.loadavg()[0]!
      const started = performance.now()
      console.log(`# mtlog-audit bench${cfg.quick ? ' (quick: a smoke run, numbers mean little)' : ''}\n`)
      for (const l of machineLines(m)) console.log(l)
      console.log(`- systems: ${systems.map((s) => `${s.id} ${s.version}`).join(', ')}`)
      for (const n of peers.notes) console.log(`- ${n}`)
      console.log(`- ${cfg.repeat} run(s) per scenario, fresh directory each; cells are median (min–max)\n`)
      const scenarios = await runSpecs(cfg, e2ePlan(cfg, systems, defaultPlan(cfg.quick)), [], (s) => void process.stderr.write(`${s}\n`))
      console.log(closedTable(scenarios))
      console.log(`\nOpen loop: latency from each event's intended send time; sustained = every event acked, none refused, and p99 ≤ ${cfg.sustainP99Ms} ms.\n`)
      console.log(openTable(scenarios))
      const runs = scenarios.flatMap((s) => s.runs)
      const loadAtEnd = loadLine()
      const noise = noiseReport(runs, cfg.noisyOtherCores, m.loadAtStart, loadAtEnd, load1Start, os.loadavg()[0]!)
      const verified = runs.every((r) => r.verified)
      const seconds = (performance.now() - started) / 1000
      console.log(`\n- at end: ${loadAtEnd}`)
      console.log(`- noise: ${noise.verdict}`)
      console.log(`- verified: ${verified ? 'every run' : 'FAILED'}; total ${seconds.toFixed(1)} s`)
      if (opts.json !== undefined) {
        const file = path.resolve(opts.json)
        await fs.writeFile(file, toJson({ benchmark: 'mtlog-audit bench', machine: m, config: cfg, peers: peers.notes, systems: systems.map(({ id, version, durability, blocking }) => ({ id, version, durability, blocking })), noise, seconds, verified, scenarios: scenarios.map((s) => ({ ...s, summary: summary(s) })) }))
        console.log(`wrote ${file}`)
      }
      process.exitCode = verified ? EXIT.OK : EXIT.INTEGRITY
    })
}

if (!isMainThread && (workerData as Partial<ProducerInit> | null)?.kind === WORKER_KIND) {
  await producerWorker(workerData as ProducerInit)
}
