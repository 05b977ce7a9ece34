/**
 * The durable-core preset of the harness: mtlog-audit alone, no peers, no
 * micro benchmarks, the scenario ids `npm run bench` has always printed. Same
 * engine as bench/run.ts (bench/engine/); this file only picks the
 * scenarios and keeps the environment variables it always took.
 *
 *   baseline-1, baseline-4096   write 1 / 4096 framed records + fdatasync with plain node:fs
 *   closed-w<W>                 main thread, W emits in flight (default 1, 16, 256, 4096)
 *   open                        BENCH_RATE events/s, latency from each intended send time
 *   threads                     main + 3 worker_threads, BENCH_MT_WINDOW in flight each
 *
 * Environment:
 *   BENCH_DIR          where run directories go (default os.tmpdir())
 *   BENCH_REPEAT       runs per scenario (default 3)
 *   BENCH_SECONDS      measured seconds of each closed-loop run (default 2)
 *   BENCH_WINDOWS      closed-loop windows, comma-separated (default 1,16,256,4096)
 *   BENCH_RATE         open-loop events/s (default 10000)
 *   BENCH_OPEN_SECONDS open-loop seconds (default 5)
 *   BENCH_MT_WINDOW    emits in flight per thread in the threads scenario (default 1024)
 *   BENCH_OUT_DIR      where the JSON goes (default bench/results/local of this package, ignored by git)
 *   BENCH_ONLY         only these scenario ids or id prefixes, comma-separated (baseline, closed, …)
 *   BENCH_OPEN_POLL=1  the open-loop sender polls with setImmediate instead of sleeping (see bench/README.md)
 *   BENCH_QUICK=1      a smoke run of every scenario in a few seconds (numbers mean little)
 */

import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { localResultsDir } from './engine/checkout.js'
import { engineConfig } from './engine/engine.js'
import { RECORD_HEADER_BYTES } from './engine/events.js'
import { spread } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, noiseReport, resultStem } from './engine/machine.js'
import { closedSpec, floorWriteSpec, openSpec, runSpecs, type Spec } from './engine/specs.js'
import { mtlogAudit } from './engine/system.js'
import { closedTable, fmt, openTable, summary, toJson } from './engine/tables.js'

const PAYLOAD_BYTES = 256

function numEnv(name: string, fallback: number, min: number, integer = false): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const v = Number(raw.replaceAll('_', ''))
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
    throw new Error(`${name} must be a${integer ? 'n integer' : ' number'} ≥ ${min} (got ${JSON.stringify(raw)})`)
  return v
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === '1'
  const windows = (process.env.BENCH_WINDOWS ?? '1,16,256,4096').split(',').map((s) => {
    const v = Number(s.trim())
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`BENCH_WINDOWS must list integers ≥ 1 (got ${JSON.stringify(process.env.BENCH_WINDOWS)})`)
    return v
  })
  const cfg = engineConfig(quick, {
    repeat: numEnv('BENCH_REPEAT', quick ? 1 : 3, 1, true),
    closedSeconds: numEnv('BENCH_SECONDS', quick ? 0.2 : 2, 0.01),
    openSeconds: numEnv('BENCH_OPEN_SECONDS', quick ? 0.3 : 5, 0.01),
    baseDir: path.resolve(process.env.BENCH_DIR ?? os.tmpdir()),
    openPoll: process.env.BENCH_OPEN_POLL === '1',
  })
  const rate = numEnv('BENCH_RATE', quick ? 2_000 : 10_000, 1)
  const mtWindow = numEnv('BENCH_MT_WINDOW', 1024, 1, true)
  const outDir = path.resolve(process.env.BENCH_OUT_DIR ?? localResultsDir())
  const only = (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '')
  await fs.mkdir(cfg.baseDir, { recursive: true })

  const framed = PAYLOAD_BYTES + RECORD_HEADER_BYTES
  const specs: Spec[] = [
    floorWriteSpec(cfg, framed, framed, 'baseline-1', `baseline: write ${framed} B + fdatasync (node:fs, no sink)`),
    floorWriteSpec(
      cfg,
      4096 * framed,
      framed,
      'baseline-4096',
      `baseline: write 4096 × ${framed} B + fdatasync (node:fs, no sink)`,
    ),
    ...windows.map((w) =>
      closedSpec(cfg, mtlogAudit, {
        payloadBytes: PAYLOAD_BYTES,
        window: w,
        id: `closed-w${w}`,
        title: `closed loop, main thread, window ${w}`,
      }),
    ),
    // The rate is asked for explicitly here: never skipped for being above the closed loop's best.
    openSpec(cfg, mtlogAudit, {
      payloadBytes: PAYLOAD_BYTES,
      rate,
      id: 'open',
      title: `open loop ${fmt(rate, 0)}/s for ${cfg.openSeconds} s (latency from intended send time)`,
      always: true,
    }),
    closedSpec(cfg, mtlogAudit, {
      payloadBytes: PAYLOAD_BYTES,
      window: 4 * mtWindow,
      producers: 4,
      id: 'threads',
      title: `closed loop, main + 3 worker_threads, window ${mtWindow} each`,
    }),
  ]

  const m = machineInfo(cfg.baseDir)
  const load1Start = os.loadavg()[0]!
  const started = performance.now()
  console.log('# mtlog-audit durable-core benchmark\n')
  for (const l of machineLines(m)) console.log(l)
  if (quick) console.log('- BENCH_QUICK: a smoke run, numbers mean little')
  console.log(
    `- ${cfg.repeat} run(s) per scenario, fresh directory each; cells are median (min–max); latency is emit() call → promise resolved (fdatasync'ed)`,
  )

  const scenarios = await runSpecs(cfg, specs, only, (s) => void process.stderr.write(`${s}\n`))
  const payload = spread(
    scenarios.filter((s) => !s.id.startsWith('baseline')).flatMap((s) => s.runs.map((r) => r.payloadBytes)),
  )
  console.log(
    `- event payload: ${fmt(payload.median, 1)} B of JSON (measured by the writer: framed bytes / records − ${RECORD_HEADER_BYTES} B header; ${framed} B per record on disk)\n`,
  )
  console.log(closedTable(scenarios))
  if (scenarios.some((s) => s.group === 'open')) console.log(`\n${openTable(scenarios)}`)
  const runs = scenarios.flatMap((s) => s.runs)
  const loadAtEnd = loadLine()
  const noise = noiseReport(runs, cfg.noisyOtherCores, m.loadAtStart, loadAtEnd, load1Start, os.loadavg()[0]!)
  const verified = runs.every((r) => r.verified)
  const seconds = (performance.now() - started) / 1000
  console.log(
    `\n- at end: ${loadAtEnd}\n- noise: ${noise.verdict}\nverified: ${verified ? 'every run' : 'FAILED'}; total ${seconds.toFixed(1)} s`,
  )

  await fs.mkdir(outDir, { recursive: true })
  const out = path.join(outDir, `${resultStem(m, 'durable')}.json`)
  await fs.writeFile(
    out,
    toJson({
      benchmark: 'mtlog-audit durable core',
      machine: m,
      config: { ...cfg, rate, mtWindow, windows, only },
      payloadBytes: payload,
      seconds,
      loadAtEnd,
      noise,
      verified,
      scenarios: scenarios.map((s) => ({ ...s, summary: summary(s) })),
    }),
  )
  console.log(`wrote ${out}`)
  if (!verified) process.exitCode = 1
}

await main()
