/**
 * One measured run, and the engine's settings (EngineConfig, engineConfig):
 *
 *   fresh dir ─► open ─► warm-up ─► mark ─► measure ─► close ─► verify ─► du ─► rm
 *
 * CPU, sync counters, noise and seconds count from the mark. runClosed and
 * runOpen drive the main thread (threads.ts adds worker_threads); the floors
 * need no store: runFloorWrite (write + fdatasync of big buffers: the disk's
 * limit), runFloorSerialize (JSON.stringify + encode, no I/O: the CPU's) and
 * runFloorEmit (encodeEvent + one promise per event through the closed loop,
 * no ring, no writer, no I/O: the ceiling of any main-thread emit()).
 */

import fs from 'node:fs/promises'
import fsSync from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { LIMITS } from '../../shared/limits.js'
import { encodeEvent } from '../../lib/sink/index.js'
import type { Receipt } from '../../lib/sink/index.js'
import { eventMaker, RECORD_HEADER_BYTES } from './events.js'
import { type Latency, LatencyLog, summarize } from './latency.js'
import { closedLoop, type Emit, type LoopResult, openLoop, type OpenResult } from './loops.js'
import { type Noise, noiseMark, noiseSince } from './machine.js'
import type { Session, System } from './system.js'

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
  const dir = path.join(
    cfg.baseDir,
    `mtlog-audit-bench-${process.pid}-${++dirCounter}-${label.replace(/[^\w.-]+/g, '_')}`,
  )
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
export async function measured(
  cfg: EngineConfig,
  sys: System,
  label: string,
  payloadBytes: number,
  body: (s: Session, mark: () => void) => Promise<BodyResult>,
): Promise<Run> {
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
    const framed =
      c1.framedBytes !== undefined && c0.framedBytes !== undefined && events > 0
        ? (c1.framedBytes - c0.framedBytes) / events - RECORD_HEADER_BYTES
        : payloadBytes
    return {
      events: r.acked,
      seconds,
      eventsPerSec: r.acked / seconds,
      latencyMs: r.latency,
      fsyncsPerSec: syncs / seconds,
      eventsPerFsync: syncs > 0 ? events / syncs : NaN,
      cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (r.acked / 1e6),
      diskBytesPerEvent: r.emitted - refused > 0 ? (await dirBytes(dir)) / (r.emitted - refused) : NaN,
      payloadBytes: framed,
      verified: v.ok,
      verifyNote: v.note,
      noise,
      ...r.extra,
      ...(r.refused !== undefined ? { refused } : {}),
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true })
  }
}

export function warmWindow(window: number): number {
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

export function openExtra(
  cfg: EngineConfig,
  rate: number,
  r: OpenResult,
  latency: Latency,
  service: Latency | undefined,
): Partial<Run> {
  return {
    targetRate: rate,
    cut: r.cut,
    sustained: !r.cut && r.refused === 0 && latency.p99 <= cfg.sustainP99Ms,
    sendLagMaxMs: r.lagMaxMs,
    ...(service ? { serviceLatencyMs: service } : {}),
  }
}

export async function runOpen(
  cfg: EngineConfig,
  sys: System,
  payloadBytes: number,
  rate: number,
  seconds = cfg.openSeconds,
): Promise<Run> {
  const mk = eventMaker(payloadBytes)
  return measured(cfg, sys, `open-${payloadBytes}-r${Math.round(rate)}`, payloadBytes, async (s, mark) => {
    const warm = await closedLoop(s.emit, mk, 0, 16, cfg.warmupSeconds * 1000, undefined)
    const log = new LatencyLog(Math.min(rate * seconds + 16, 1 << 24))
    const service = new LatencyLog(Math.min(rate * seconds + 16, 1 << 24))
    mark()
    const r = await openLoop(s.emit, mk, 0, rate, seconds, cfg.openGraceSeconds * 1000, log, service, cfg.openPoll)
    const latency = summarize([log.values()])
    return {
      acked: r.acked,
      emitted: warm.emitted + r.emitted,
      latency,
      extra: openExtra(cfg, rate, r, latency, summarize([service.values()])),
      refused: () => r.refused,
    }
  })
}

export function engineConfig(quick: boolean, over: Partial<EngineConfig> = {}): EngineConfig {
  return {
    quick,
    repeat: quick ? 1 : 3,
    warmupSeconds: quick ? 0.05 : 0.3,
    closedSeconds: quick ? 0.2 : 1.5,
    openSeconds: quick ? 0.3 : 2,
    openGraceSeconds: quick ? 0.5 : 1,
    probeSeconds: quick ? 0.2 : 1.5,
    searchProbes: quick ? 2 : 5,
    sustainP99Ms: 100,
    searchFloorRate: 100,
    openPoll: false,
    skipAboveClosedFactor: 3,
    floorSeconds: quick ? 0.1 : 1,
    noisyOtherCores: 0.25,
    baseDir: os.tmpdir(),
    ...over,
  }
}

// ── floors ──────────────────────────────────────────────────────────────────

/** Bytes zero-filled (and fsync'ed) before an in-place floor run; its writes wrap around inside them. */
const IN_PLACE_FILE_BYTES = 64 * 1024 * 1024

/**
 * Plain node:fs: write `bytes` with one writeSync, then fdatasyncSync; events
 * counted at eventBytes each. Appending (the file grows with every write, so
 * every fdatasync also commits the new size) or, with inPlace, into a file
 * zero-filled and synced beforehand (the size never changes: what the sink's
 * zero-ahead gives small batches, workers/writer/appender.ts).
 */
export async function runFloorWrite(
  cfg: EngineConfig,
  bytes: number,
  eventBytes: number,
  inPlace = false,
): Promise<Run> {
  const dir = await freshDir(cfg, `floor-write-${bytes}${inPlace ? '-in-place' : ''}`)
  const fd = fsSync.openSync(path.join(dir, 'floor.dat'), 'wx')
  try {
    const chunk = Buffer.alloc(bytes, 0x61)
    const wrapAt = inPlace ? IN_PLACE_FILE_BYTES - (IN_PLACE_FILE_BYTES % bytes) : Number.MAX_SAFE_INTEGER
    if (inPlace) {
      const zeros = Buffer.alloc(1 << 20)
      for (let at = 0; at < IN_PLACE_FILE_BYTES; at += zeros.length) fsSync.writeSync(fd, zeros, 0, zeros.length, at)
      fsSync.fsyncSync(fd)
    }
    let pos = 0
    const warmEnd = performance.now() + cfg.warmupSeconds * 1000
    while (performance.now() < warmEnd) {
      fsSync.writeSync(fd, chunk, 0, chunk.length, pos)
      fsSync.fdatasyncSync(fd)
      pos = (pos + chunk.length) % wrapAt
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
      pos = (pos + chunk.length) % wrapAt
      const after = performance.now()
      log.push(after - now)
      now = after
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const events = (ops * bytes) / eventBytes
    return {
      events,
      seconds,
      eventsPerSec: events / seconds,
      latencyMs: summarize([log.values()]),
      fsyncsPerSec: ops / seconds,
      eventsPerFsync: bytes / eventBytes,
      cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (events / 1e6),
      diskBytesPerEvent: eventBytes,
      payloadBytes: eventBytes - RECORD_HEADER_BYTES,
      verified: true,
      verifyNote: 'n/a (no store)',
      noise: noiseSince(n0),
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
      bytes += encoder.encodeInto(
        JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }),
        scratch,
      ).written
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
    events,
    seconds,
    eventsPerSec: events / seconds,
    latencyMs: nan,
    fsyncsPerSec: 0,
    eventsPerFsync: NaN,
    cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (events / 1e6),
    diskBytesPerEvent: 0,
    payloadBytes: bytes / events,
    verified: true,
    verifyNote: 'n/a (no I/O)',
    noise: noiseSince(n0),
  }
}

/**
 * The cheapest emit() that still does a main-thread emit's own work: the real
 * encodeEvent (validation + JSON) on the calling thread, then one promise per
 * event. Resolvers queue; one setImmediate, scheduled when the queue goes
 * non-empty, resolves them all in order with { seq } (from 1): a group commit
 * that costs nothing. No ring, no writer, no I/O.
 */
export function ceilingEmit(eventBytesMax: number = LIMITS.eventBytesMax.default): Emit {
  let seq = 0
  let queue: ((r: Receipt) => void)[] = []
  const commit = (): void => {
    const q = queue
    queue = []
    for (const resolve of q) resolve({ seq: ++seq })
  }
  return (ev) => {
    encodeEvent(ev, eventBytesMax)
    return new Promise<Receipt>((resolve) => {
      if (queue.length === 0) setImmediate(commit)
      queue.push(resolve)
    })
  }
}

/**
 * ceilingEmit driven by the closed loop the real closed runs use (same events,
 * warm-up, durations, latency log): the most a main-thread producer can have
 * acknowledged per second, whatever happens behind emit().
 */
export async function runFloorEmit(cfg: EngineConfig, payloadBytes: number, window: number): Promise<Run> {
  const mk = eventMaker(payloadBytes)
  const emit = ceilingEmit()
  await closedLoop(emit, mk, 0, warmWindow(window), cfg.warmupSeconds * 1000, undefined)
  const log = new LatencyLog()
  const n0 = noiseMark()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const r = await closedLoop(emit, mk, 0, window, cfg.closedSeconds * 1000, log)
  const seconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return {
    events: r.acked,
    seconds,
    eventsPerSec: r.acked / seconds,
    latencyMs: summarize([log.values()]),
    fsyncsPerSec: 0,
    eventsPerFsync: NaN,
    cpuSecPerMillion: (cpu.user + cpu.system) / 1e6 / (r.acked / 1e6),
    diskBytesPerEvent: 0,
    payloadBytes,
    verified: true,
    verifyNote: 'n/a (no store)',
    noise: noiseSince(n0),
  }
}
