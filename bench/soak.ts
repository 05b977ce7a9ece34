/**
 * Memory over a sustained run: mtlog-audit at a fixed open-loop rate for
 * `seconds` (default 60), process.memoryUsage() sampled every second, in a
 * fresh child process (this file), so that neither the
 * harness's earlier scenarios nor its libraries are in the numbers.
 *
 *   harness ─spawn─► node soak.js <config> ─► open ─► gc() ─► open loop + 1 Hz samples ─► gc() ─► JSON on stdout
 *
 * RSS covers the whole child (producer, writer thread, ring, buffers); heap
 * used is the main thread's V8 heap, garbage included, as a user's monitoring
 * would see it. The slope is a least-squares line through the samples after
 * the first third of the run (warm-up: start-up, JIT, heaps growing to their
 * working size), in MiB per minute. "retained" is the heap right after a full
 * GC, at the start and at the end of the run: what the run kept alive. Flat:
 * neither slope above +flatMiBPerMin (memory given back is not growth) and
 * the retained heap grew by at most flatMiBPerMin.
 */

import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'
import { type EngineConfig, measured, openExtra, type Run } from './engine/engine.js'
import { eventMaker } from './engine/events.js'
import { LatencyLog, summarize } from './engine/latency.js'
import { closedLoop, openLoop } from './engine/loops.js'
import type { Spec } from './engine/specs.js'
import { mtlogAudit } from './engine/system.js'
import { fmt, toJson } from './engine/tables.js'

export interface MemorySample {
  t: number
  rssMiB: number
  heapUsedMiB: number
  heapTotalMiB: number
  externalMiB: number
  acked: number
}

export interface SoakMeta {
  [key: string]: unknown
  samples: MemorySample[]
  rssSlopeMiBPerMin: number
  heapSlopeMiBPerMin: number
  /** Heap used right after a full GC, before and after the run. */
  retainedStartMiB: number
  retainedEndMiB: number
  flatMiBPerMin: number
  flat: boolean
}

interface ChildConfig {
  cfg: EngineConfig
  payloadBytes: number
  rate: number
  seconds: number
  flatMiBPerMin: number
}

const MiB = 1024 * 1024

/** Least-squares slope of y over x. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return NaN
  const mx = xs.reduce((a, v) => a + v, 0) / n
  const my = ys.reduce((a, v) => a + v, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return den === 0 ? NaN : num / den
}

let gcFn: (() => void) | undefined
/**
 * A full GC, then the heap used. Enabled at run time, not with --expose-gc on
 * the command line: the sink passes the process's flags to its writer worker,
 * and Worker refuses V8 flags.
 */
function fullGc(): number {
  if (gcFn === undefined) {
    v8.setFlagsFromString('--expose-gc')
    gcFn = vm.runInNewContext('gc') as () => void
  }
  gcFn()
  return process.memoryUsage().heapUsed / MiB
}

/** The child's work: one measured run with memory samples. */
async function soak(c: ChildConfig): Promise<{ run: Run; meta: SoakMeta }> {
  const mk = eventMaker(c.payloadBytes)
  const samples: MemorySample[] = []
  let retainedStartMiB = NaN
  let retainedEndMiB = NaN
  const run = await measured(c.cfg, mtlogAudit, `soak-${c.rate}`, c.payloadBytes, async (s, mark) => {
    const warm = await closedLoop(s.emit, mk, 0, 16, c.cfg.warmupSeconds * 1000, undefined)
    // Preallocated and resident before the first sample: a latency array that grows, or whose
    // pages are touched one by one as samples arrive (8 B per event: ~4.6 MiB/min at 10,000/s),
    // would be memory growth of the harness, not of the sink.
    const log = new LatencyLog(Math.ceil(c.rate * c.seconds) + 16, true)
    let acked = 0
    const emit = (ev: Parameters<typeof s.emit>[0]): Promise<unknown> => s.emit(ev).then(() => void acked++)
    retainedStartMiB = fullGc()
    const t0 = performance.now()
    const sample = (): void => {
      const m = process.memoryUsage()
      samples.push({
        t: (performance.now() - t0) / 1000,
        rssMiB: m.rss / MiB,
        heapUsedMiB: m.heapUsed / MiB,
        heapTotalMiB: m.heapTotal / MiB,
        externalMiB: m.external / MiB,
        acked,
      })
    }
    mark()
    sample()
    const timer = setInterval(sample, 1000)
    try {
      const r = await openLoop(
        emit,
        mk,
        0,
        c.rate,
        c.seconds,
        c.cfg.openGraceSeconds * 1000,
        log,
        undefined,
        c.cfg.openPoll,
      )
      sample()
      const latency = summarize([log.values()])
      return {
        acked: r.acked,
        emitted: warm.emitted + r.emitted,
        latency,
        extra: openExtra(c.cfg, c.rate, r, latency, undefined),
        refused: () => r.refused,
      }
    } finally {
      clearInterval(timer)
      retainedEndMiB = fullGc()
    }
  })
  // The first third is warm-up (both threads' V8 heaps grow to their working size);
  // flat means nothing grows after it: memory given back (a falling RSS) is not growth.
  const tail = samples.filter((x) => x.t >= c.seconds / 3)
  const rss =
    slope(
      tail.map((x) => x.t),
      tail.map((x) => x.rssMiB),
    ) * 60
  const heap =
    slope(
      tail.map((x) => x.t),
      tail.map((x) => x.heapUsedMiB),
    ) * 60
  const flat = rss <= c.flatMiBPerMin && heap <= c.flatMiBPerMin && retainedEndMiB - retainedStartMiB <= c.flatMiBPerMin
  return {
    run,
    meta: {
      samples,
      rssSlopeMiBPerMin: rss,
      heapSlopeMiBPerMin: heap,
      retainedStartMiB,
      retainedEndMiB,
      flatMiBPerMin: c.flatMiBPerMin,
      flat,
    },
  }
}

function runChild(c: ChildConfig): Promise<{ run: Run; meta: SoakMeta }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(c)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`soak child exited with code ${code}`))
      try {
        // NaN travelled as null
        const parsed = JSON.parse(out, (_k, v: unknown) => (v === null ? NaN : v)) as { run: Run; meta: SoakMeta }
        resolve(parsed)
      } catch (err) {
        reject(new Error(`soak child printed no result: ${(err as Error).message}`))
      }
    })
  })
}

export function soakSpec(
  cfg: EngineConfig,
  o: { payloadBytes: number; rate: number; seconds: number; flatMiBPerMin?: number },
): Spec {
  const spec: Spec = {
    id: `soak-${mtlogAudit.id}-${o.payloadBytes}B-r${o.rate}-${o.seconds}s`,
    title: `soak ${o.seconds} s, open ${fmt(o.rate, 0)}/s, ${mtlogAudit.id}, ${o.payloadBytes} B (own process)`,
    group: 'soak',
    system: mtlogAudit.id,
    producers: 1,
    payloadBytes: o.payloadBytes,
    rate: o.rate,
    repeat: 1, // one long run; its samples are the spread
    async run(): Promise<Run> {
      const r = await runChild({
        cfg,
        payloadBytes: o.payloadBytes,
        rate: o.rate,
        seconds: o.seconds,
        flatMiBPerMin: o.flatMiBPerMin ?? 1,
      })
      spec.meta = r.meta
      return r.run
    },
  }
  return spec
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] !== undefined) {
  process.stdout.write(toJson(await soak(JSON.parse(process.argv[2]) as ChildConfig)))
}
