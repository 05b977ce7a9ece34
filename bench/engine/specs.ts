/**
 * Scenarios: the specs of what to measure, and running them.
 *
 *   spec ─► prepare (may skip it, or settle its rate) ─► repeat × run ─► Scenario
 *
 *   floors   write + fdatasync (4 KiB appended and in place, 64 KiB, 1 MiB), JSON.stringify + encode with no I/O,
 *            encodeEvent + one promise per event in a closed loop (no ring, no I/O)
 *   closed   W emits in flight (W = 1, 16, 256, 4096), also main + 3 worker_threads
 *   open     a fixed rate, skipped above skipAboveClosedFactor × the best closed loop
 *   max      the highest open-loop rate whose p99 stays ≤ sustainP99Ms, by bisection
 *
 * e2ePlan with defaultPlan is what `mtlog-audit bench` runs; bench/ adds its own specs.
 */

import {
  type EngineConfig,
  type Run,
  runClosed,
  runFloorEmit,
  runFloorSerialize,
  runFloorWrite,
  runOpen,
} from './engine.js'
import { RECORD_HEADER_BYTES } from './events.js'
import { spread } from './latency.js'
import { mtlogAudit, type System } from './system.js'
import { fmt } from './tables.js'
import { runThreads } from './threads.js'

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

/** Run every spec cfg.repeat times (those whose id matches `only`, if given). */
export async function runSpecs(
  cfg: EngineConfig,
  specs: Spec[],
  only: string[],
  progress: (s: string) => void,
): Promise<Scenario[]> {
  const done: Scenario[] = []
  for (const spec of specs) {
    if (
      only.length > 0 &&
      !only.some((o) => spec.id === o || spec.id.startsWith(`${o}-`) || spec.group === o || spec.system === o)
    )
      continue
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
        progress(
          `  ${sc.title} run ${i + 1}/${repeat}: ${fmt(r.eventsPerSec, 0)} events/s, p50 ${fmt(r.latencyMs.p50, 3)} ms, p99 ${fmt(r.latencyMs.p99, 3)} ms` +
            `${r.sustained === false ? ' NOT SUSTAINED' : ''}${r.refused ? ` (${r.refused} refused)` : ''}${r.cut ? ' (cut)' : ''}, other processes ${fmt(r.noise.otherCores, 2)} cores, ${r.verifyNote}`,
        )
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
  const xs = done.filter(
    (s) =>
      s.group === 'closed' &&
      s.system === system &&
      s.payloadBytes === payloadBytes &&
      s.producers === producers &&
      s.runs.length > 0,
  )
  return Math.max(0, ...xs.map((s) => spread(s.runs.map((r) => r.eventsPerSec)).median))
}

export function floorWriteSpec(
  cfg: EngineConfig,
  bytes: number,
  eventBytes: number,
  id?: string,
  title?: string,
): Spec {
  return {
    id: id ?? `floor-write-${bytes >= 1 << 20 ? `${bytes / (1 << 20)}MiB` : `${bytes / 1024}KiB`}`,
    title:
      title ??
      `floor: write ${bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes / 1024} KiB`} + fdatasync (node:fs; events of ${eventBytes} B on disk)`,
    group: 'floor',
    system: 'node:fs',
    producers: 1,
    payloadBytes: eventBytes - RECORD_HEADER_BYTES,
    run: () => runFloorWrite(cfg, bytes, eventBytes),
  }
}

/** Write + fdatasync into a file zero-filled beforehand: the size never changes (what zero-ahead gives small batches). */
export function floorWriteInPlaceSpec(cfg: EngineConfig, bytes: number, eventBytes: number): Spec {
  return {
    id: `floor-write-${bytes / 1024}KiB-in-place`,
    title: `floor: write ${bytes / 1024} KiB + fdatasync into zero-filled space (node:fs; file size unchanged; events of ${eventBytes} B on disk)`,
    group: 'floor',
    system: 'node:fs',
    producers: 1,
    payloadBytes: eventBytes - RECORD_HEADER_BYTES,
    run: () => runFloorWrite(cfg, bytes, eventBytes, true),
  }
}

export function floorSerializeSpec(cfg: EngineConfig, payloadBytes: number): Spec {
  return {
    id: `floor-serialize-${payloadBytes}B`,
    title: `floor: JSON.stringify + encodeInto, ${payloadBytes} B, no I/O`,
    group: 'floor',
    system: 'none',
    producers: 1,
    payloadBytes,
    run: () => runFloorSerialize(cfg, payloadBytes),
  }
}

/** The ceiling of a main-thread emit(): encodeEvent + one promise per event, closed loop, nothing behind it. */
export function floorEmitSpec(cfg: EngineConfig, payloadBytes: number, window = 4096): Spec {
  return {
    id: `floor-emit-${payloadBytes}B`,
    title: `floor: encodeEvent + one promise per event, ${payloadBytes} B, closed loop, window ${window}, no ring, no I/O (the ceiling of a main-thread emit())`,
    group: 'floor',
    system: 'none',
    producers: 1,
    payloadBytes,
    window,
    run: () => runFloorEmit(cfg, payloadBytes, window),
  }
}

function who(sys: System, producers: number): string {
  return producers > 1 ? `${sys.id}, main + ${producers - 1} worker_threads` : sys.id
}

export function closedSpec(
  cfg: EngineConfig,
  sys: System,
  o: { payloadBytes: number; window: number; producers?: number; id?: string; title?: string },
): Spec {
  const producers = o.producers ?? 1
  return {
    id: o.id ?? `closed-${sys.id}-${producers > 1 ? `${producers}threads-` : ''}${o.payloadBytes}B-w${o.window}`,
    title: o.title ?? `closed, ${who(sys, producers)}, ${o.payloadBytes} B, window ${o.window}`,
    group: 'closed',
    system: sys.id,
    producers,
    payloadBytes: o.payloadBytes,
    window: o.window,
    run: () =>
      producers > 1
        ? runThreads(cfg, sys, o.payloadBytes, producers, { window: o.window })
        : runClosed(cfg, sys, o.payloadBytes, o.window),
  }
}

export function openSpec(
  cfg: EngineConfig,
  sys: System,
  o: { payloadBytes: number; rate: number; producers?: number; id?: string; title?: string; always?: boolean },
): Spec {
  const producers = o.producers ?? 1
  return {
    id: o.id ?? `open-${sys.id}-${producers > 1 ? `${producers}threads-` : ''}${o.payloadBytes}B-r${o.rate}`,
    title: o.title ?? `open ${fmt(o.rate, 0)}/s, ${who(sys, producers)}, ${o.payloadBytes} B`,
    group: 'open',
    system: sys.id,
    producers,
    payloadBytes: o.payloadBytes,
    rate: o.rate,
    prepare(done) {
      if (o.always === true) return undefined
      const best = bestClosed(done, sys.id, o.payloadBytes, producers)
      if (best > 0 && o.rate > cfg.skipAboveClosedFactor * best)
        return `above ${cfg.skipAboveClosedFactor}× its best closed loop (${fmt(best, 0)}/s)`
      return undefined
    },
    run: () =>
      producers > 1
        ? runThreads(cfg, sys, o.payloadBytes, producers, { rate: o.rate })
        : runOpen(cfg, sys, o.payloadBytes, o.rate),
  }
}

/**
 * The highest sustained rate: bisect (geometrically) between the highest fixed
 * rate that was sustained and the lowest that was not (or 1.5 × the best closed
 * loop), with short probes on fresh stores; then measure at the rate found.
 */
export function maxSpec(cfg: EngineConfig, sys: System, o: { payloadBytes: number }): Spec {
  const spec: Spec = {
    id: `open-${sys.id}-${o.payloadBytes}B-max`,
    title: `open at highest sustained, ${sys.id}, ${o.payloadBytes} B`,
    group: 'open',
    system: sys.id,
    producers: 1,
    payloadBytes: o.payloadBytes,
    async prepare(done) {
      const fixed = done.filter(
        (s) =>
          s.group === 'open' &&
          s.system === sys.id &&
          s.payloadBytes === o.payloadBytes &&
          s.producers === 1 &&
          s.rate !== undefined &&
          s.runs.length > 0,
      )
      const ok = (s: Scenario): boolean => s.runs.filter((r) => r.sustained).length * 2 > s.runs.length
      let lo = Math.max(0, ...fixed.filter(ok).map((s) => s.rate!))
      const failed = fixed
        .filter((s) => !ok(s))
        .map((s) => s.rate!)
        .filter((r) => r > lo)
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
    specs.push(
      floorWriteSpec(cfg, 4 * 1024, framed),
      floorWriteInPlaceSpec(cfg, 4 * 1024, framed),
      floorWriteSpec(cfg, 64 * 1024, framed),
      floorWriteSpec(cfg, 1 << 20, framed),
      floorSerializeSpec(cfg, p.payloadBytes),
      floorEmitSpec(cfg, p.payloadBytes),
    )
  }
  for (const sys of systems)
    for (const w of p.windows) specs.push(closedSpec(cfg, sys, { payloadBytes: p.payloadBytes, window: w }))
  for (const size of p.sizes)
    for (const sys of systems) specs.push(closedSpec(cfg, sys, { payloadBytes: size, window: p.sizeWindow }))
  const mt = systems.find((s) => s.id === mtlogAudit.id)
  if (mt !== undefined)
    for (const w of p.threadWindows)
      specs.push(closedSpec(cfg, mt, { payloadBytes: p.payloadBytes, window: w, producers: 4 }))
  for (const sys of systems) {
    for (const rate of p.rates) specs.push(openSpec(cfg, sys, { payloadBytes: p.payloadBytes, rate }))
    if (p.max) specs.push(maxSpec(cfg, sys, { payloadBytes: p.payloadBytes }))
  }
  if (mt !== undefined)
    for (const rate of p.threadRates)
      specs.push(openSpec(cfg, mt, { payloadBytes: p.payloadBytes, rate, producers: 4 }))
  return specs
}

export function defaultPlan(quick: boolean): PlanOptions {
  return {
    payloadBytes: 256,
    windows: [1, 16, 256, 4096],
    sizes: [64, 1024],
    sizeWindow: 256,
    threadWindows: [4, 16, 256, 4096],
    rates: quick ? [1000, 10_000] : [1000, 10_000, 100_000],
    threadRates: [10_000],
    max: true,
    floors: true,
  }
}
