/**
 * A/B of two builds of mtlog-audit on this machine, in one process, interleaved.
 *
 *   node dist/bench/ab.js --before <dist dir> --after <dist dir> [--windows 1,16,256,4096] [--rounds 8] [--seconds 1.5]
 *        [--open-rate 10000] [--before-options JSON] [--after-options JSON]
 *
 * --open-rate R adds an open loop at R events/s to every round (on both
 * sides, like a window): its latency counts from each event's scheduled time,
 * so a stall shows even when throughput does not. Its row gives p50/p99 per
 * side (medians over rounds) and the spread of `before`'s p99 over the rounds:
 * an `after` p99 inside that spread is within the noise of the machine.
 *
 * The options are merged into AuditSink.open's for that side, so one build can
 * be paired with itself, a feature off against on (e.g. --after-options
 * '{"signing":{"keyFile":"/tmp/k"},"checkpoints":{"export":{"dir":"$DIR-ckpt"}}}');
 * "$DIR" in a string value is the run's fresh log directory.
 *
 * Why: this VM's disk drifts (window 1 of one build measured 1,078 to 3,364
 * durable events/s within ten minutes), so two harness runs minutes apart
 * compare the disk's moods, not the builds. Here every round runs each window
 * on both builds back to back (the order alternates between rounds), each on a
 * fresh directory, and the verdict is the PAIRED ratio after/before within a
 * round: its median and range, and in how many rounds `after` was faster.
 *
 * A "build" is a compiled dist/ directory (its lib/sink.js is imported; its
 * writer worker comes from the same tree). For a commit:
 *   git worktree add /tmp/before <rev> && cd /tmp/before && npm ci && npm run build
 * then --before /tmp/before/dist. The closed loop, events (256 B) and latency
 * code are this checkout's (bench/engine/), the same for both sides.
 *
 * Output: a markdown table on stdout and bench/results/local/ab-<date>.md / .json (--out DIR elsewhere).
 */

import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { importBuild, localResultsDir, withDir } from './engine/checkout.js'
import { eventMaker } from './engine/events.js'
import { LatencyLog, spread, summarize } from './engine/latency.js'
import { closedLoop, openLoop } from './engine/loops.js'
import { loadLine, machineInfo, machineLines, writeReport } from './engine/machine.js'
import { fmt } from './engine/tables.js'
import type { AuditSink } from '../lib/sink/index.js'

type Open = typeof AuditSink.open
interface Sample {
  eventsPerSec: number
  p50: number
  p99: number
}

type Extra = Record<string, unknown>

async function loadBuild(dist: string, extra: Extra): Promise<Open> {
  const mod = await importBuild(dist)
  return (o) => mod.AuditSink.open({ ...o, ...withDir(extra, o.dir) } as Parameters<Open>[0])
}

/** A closed loop with `window` emits in flight, or an open loop at `rate` events/s. */
type Load = { window: number } | { rate: number }

const loadName = (l: Load): string => ('rate' in l ? `open ${l.rate}/s` : String(l.window))

/** Grace after an open loop's last scheduled event before the rest is counted as late (bench/engine/loops.ts). */
const OPEN_GRACE_MS = 2000

async function once(open: Open, load: Load, seconds: number, baseDir: string): Promise<Sample> {
  const dir = await fsp.mkdtemp(path.join(baseDir, 'mtlog-audit-ab-'))
  const mk = eventMaker(256)
  try {
    const sink = await open({ dir })
    const emit = (e: Parameters<typeof sink.emit>[0]): Promise<unknown> => sink.emit(e)
    await closedLoop(emit, mk, 0, 'rate' in load ? 16 : load.window, 200, undefined) // warm-up
    const log = new LatencyLog()
    const t0 = performance.now()
    const r =
      'rate' in load
        ? await openLoop(emit, mk, 0, load.rate, seconds, OPEN_GRACE_MS, log, undefined)
        : await closedLoop(emit, mk, 0, load.window, seconds * 1000, log)
    const elapsed = (performance.now() - t0) / 1000
    await sink.close()
    const l = summarize([log.values()])
    return { eventsPerSec: r.acked / elapsed, p50: l.p50, p99: l.p99 }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true })
    await fsp.rm(`${dir}-ckpt`, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      after: { type: 'string' },
      windows: { type: 'string' },
      rounds: { type: 'string' },
      seconds: { type: 'string' },
      'open-rate': { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
      'before-options': { type: 'string' },
      'after-options': { type: 'string' },
    },
  })
  if (values.before === undefined || values.after === undefined)
    throw new Error('--before <dist dir> and --after <dist dir> are required')
  const windows = (values.windows ?? '1,16,256,4096').split(',').map(Number)
  const rounds = Number(values.rounds ?? 8)
  const seconds = Number(values.seconds ?? 1.5)
  if (windows.some((w) => !Number.isInteger(w) || w < 1) || !Number.isInteger(rounds) || rounds < 1 || !(seconds > 0)) {
    throw new Error('--windows must be positive integers, --rounds a positive integer, --seconds a positive number')
  }
  const openRate = values['open-rate'] === undefined ? undefined : Number(values['open-rate'])
  if (openRate !== undefined && !(Number.isInteger(openRate) && openRate > 0))
    throw new Error('--open-rate must be a positive integer (events/s)')
  const loads: Load[] = [
    ...windows.map((window) => ({ window })),
    ...(openRate === undefined ? [] : [{ rate: openRate }]),
  ]
  const baseDir = values.dir ?? os.tmpdir()
  const extra = (v: string | undefined): Extra => (v === undefined ? {} : (JSON.parse(v) as Extra))
  const builds = {
    before: await loadBuild(values.before, extra(values['before-options'])),
    after: await loadBuild(values.after, extra(values['after-options'])),
  }
  const samples = new Map<string, Sample[]>()
  const key = (l: Load, side: string): string => `${loadName(l)} ${side}`
  const machine = machineInfo(baseDir)
  const started = new Date()
  for (let r = 0; r < rounds; r++) {
    for (const l of loads) {
      for (const side of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const)) {
        const s = await once(builds[side], l, seconds, baseDir)
        samples.set(key(l, side), [...(samples.get(key(l, side)) ?? []), s])
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`)
  }
  const rows = loads.map((l) => {
    const b = samples.get(key(l, 'before'))!
    const a = samples.get(key(l, 'after'))!
    const ratios = a.map((s, i) => s.eventsPerSec / b[i]!.eventsPerSec)
    return {
      window: loadName(l),
      open: 'rate' in l,
      beforeP99: spread(b.map((s) => s.p99)),
      before: {
        eventsPerSec: spread(b.map((s) => s.eventsPerSec)).median,
        p50: spread(b.map((s) => s.p50)).median,
        p99: spread(b.map((s) => s.p99)).median,
      },
      after: {
        eventsPerSec: spread(a.map((s) => s.eventsPerSec)).median,
        p50: spread(a.map((s) => s.p50)).median,
        p99: spread(a.map((s) => s.p99)).median,
      },
      ratio: spread(ratios),
      afterFaster: ratios.filter((x) => x > 1).length,
      samples: { before: b, after: a },
    }
  })
  const lines = [
    '# A/B of two mtlog-audit builds (closed loop, 256 B events, main thread)',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/ab.js ${process.argv.slice(2).join(' ')}\``,
    `- before: ${path.resolve(values.before)}; after: ${path.resolve(values.after)}`,
    `- ${rounds} rounds; each round runs every window on both builds back to back (order alternating), ${seconds} s measured each, fresh directory each`,
    '',
    '| window | before events/s | after events/s | after / before, paired: median (min–max) | rounds after faster | before p50 / p99 ms | after p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.window} | ${fmt(r.before.eventsPerSec, 0)} | ${fmt(r.after.eventsPerSec, 0)} | ${r.ratio.median.toFixed(2)} (${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)}) | ${r.afterFaster}/${rounds} | ${r.before.p50.toFixed(3)} / ${r.before.p99.toFixed(3)} | ${r.after.p50.toFixed(3)} / ${r.after.p99.toFixed(3)} |`,
    ),
    '',
    'Events/s and latencies are medians over the rounds; the ratio is taken within each round, then its median.',
    ...rows
      .filter((r) => r.open)
      .map(
        (r) =>
          `Open loop (${r.window}): latency from each event's scheduled time; before's p99 over the rounds spans ${r.beforeP99.min.toFixed(3)}–${r.beforeP99.max.toFixed(3)} ms, after's median p99 is ${r.after.p99.toFixed(3)} ms (${r.after.p99 >= r.beforeP99.min && r.after.p99 <= r.beforeP99.max ? 'inside' : r.after.p99 < r.beforeP99.min ? 'below' : 'above'} that spread).`,
      ),
  ]
  const md = `${lines.join('\n')}\n`
  process.stdout.write(md)
  await writeReport(values.out ?? localResultsDir(), machine, 'ab', md, { started, args: process.argv.slice(2), rows })
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
