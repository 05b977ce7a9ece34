/**
 * `mtlog-audit bench`: what `await emit()` costs when every ack means
 * fdatasync'ed, on this machine, beside what a user would pick instead (the
 * peers of bench/peers.ts, when a checkout has bench/node_modules). Floors,
 * closed loops, worker threads, open loops and the highest sustained rate,
 * as markdown tables (median (min–max) of every metric), optionally JSON.
 * The engine is bench/engine/ (so an installed package can run it); the
 * repository's harness (bench/run.ts) adds micro benchmarks, peers, a memory
 * soak and the HTML report.
 */

import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import type { Command } from 'commander'
import { loadPeersFromCheckout } from '../../../bench/engine/checkout.js'
import { type EngineConfig, engineConfig } from '../../../bench/engine/engine.js'
import { loadLine, machineInfo, machineLines, noiseReport } from '../../../bench/engine/machine.js'
import { defaultPlan, e2ePlan, runSpecs } from '../../../bench/engine/specs.js'
import { mtlogAudit } from '../../../bench/engine/system.js'
import { closedTable, openTable, summary, toJson } from '../../../bench/engine/tables.js'
import { EXIT } from '../common.js'

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
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'} (got ${v})`)
  return n
}

export function register(program: Command): void {
  program
    .command('bench')
    .description(
      "measure durable emits on this machine (closed and open loop, worker threads, the disk's floor), beside the peers when a checkout has bench/node_modules",
    )
    .option('--quick', 'a smoke run of every scenario in a few seconds (numbers mean little)')
    .option('--repeat <n>', 'runs per scenario (default 3, quick 1)')
    .option('--seconds <s>', 'measured seconds per closed-loop run (default 1.5)')
    .option(
      '--dir <path>',
      'where the run directories go (default: the OS temp dir; put it on the disk you care about)',
    )
    .option('--json <file>', 'also write every run as JSON')
    .option('--no-peers', 'run mtlog-audit alone even when the peers are installed')
    .action(async (opts: BenchOptions) => {
      let cfg: EngineConfig
      try {
        const repeat = positive('repeat', opts.repeat, true)
        const seconds = positive('seconds', opts.seconds, false)
        cfg = engineConfig(opts.quick === true, {
          ...(repeat !== undefined ? { repeat } : {}),
          ...(seconds !== undefined ? { closedSeconds: seconds } : {}),
          ...(opts.dir !== undefined ? { baseDir: path.resolve(opts.dir) } : {}),
        })
      } catch (err) {
        console.error(`mtlog-audit bench: ${(err as Error).message}`)
        process.exitCode = EXIT.USAGE
        return
      }
      await fs.mkdir(cfg.baseDir, { recursive: true })
      const peers =
        opts.peers === false ? { systems: [], notes: ['peers not run: --no-peers'] } : await loadPeersFromCheckout()
      const systems = [mtlogAudit, ...peers.systems]
      const m = machineInfo(cfg.baseDir)
      const load1Start = os.loadavg()[0]!
      const started = performance.now()
      console.log(`# mtlog-audit bench${cfg.quick ? ' (quick: a smoke run, numbers mean little)' : ''}\n`)
      for (const l of machineLines(m)) console.log(l)
      console.log(`- systems: ${systems.map((s) => `${s.id} ${s.version}`).join(', ')}`)
      for (const n of peers.notes) console.log(`- ${n}`)
      console.log(`- ${cfg.repeat} run(s) per scenario, fresh directory each; cells are median (min–max)\n`)
      const scenarios = await runSpecs(
        cfg,
        e2ePlan(cfg, systems, defaultPlan(cfg.quick)),
        [],
        (s) => void process.stderr.write(`${s}\n`),
      )
      console.log(closedTable(scenarios))
      console.log(
        `\nOpen loop: latency from each event's intended send time; sustained = every event acked, none refused, and p99 ≤ ${cfg.sustainP99Ms} ms.\n`,
      )
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
        await fs.writeFile(
          file,
          toJson({
            benchmark: 'mtlog-audit bench',
            machine: m,
            config: cfg,
            peers: peers.notes,
            systems: systems.map(({ id, version, durability, blocking }) => ({ id, version, durability, blocking })),
            noise,
            seconds,
            verified,
            scenarios: scenarios.map((s) => ({ ...s, summary: summary(s) })),
          }),
        )
        console.log(`wrote ${file}`)
      }
      process.exitCode = verified ? EXIT.OK : EXIT.INTEGRITY
    })
}
