/**
 * The benchmark harness: one runner, every scenario named by what it measures,
 * mtlog-audit beside its peers in the same run on the same machine.
 *
 *   node dist/bench/run.js [--quick] [--repeat N] [--only id,group,system] [--out DIR] [--dir DIR]
 *
 *   micro (tinybench) ─► floors ─► closed sweep ─► sizes ─► threads ─► open rates ─► highest sustained ─► soak
 *     │                                  (bench/engine/: the engine, also behind `mtlog-audit bench`)
 *     └─► bench/results/local/bench-<date>.md / .json / .html / -throughput.svg / -cpu.svg  (and the markdown on stdout)
 *
 * The options are USAGE below (`--help` prints it). Exit codes: 0 every run
 * verified, 1 a run's store did not verify, 2 usage (an unknown option or a
 * bad value: its message on stderr, no stack trace, and nothing runs).
 */

import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { localResultsDir, packageRoot, type PeerLoad } from './engine/checkout.js'
import { type EngineConfig, engineConfig } from './engine/engine.js'
import { loadLine, machineInfo, noiseReport, resultStem } from './engine/machine.js'
import { defaultPlan, e2ePlan, runSpecs, type Spec } from './engine/specs.js'
import { mtlogAudit } from './engine/system.js'
import { toJson } from './engine/tables.js'
import { runMicro } from './micro.js'
import { loadPeers } from './peers.js'
import { html, loadChartJs, markdown, type Result } from './report.js'
import { cpuSvg, throughputSvg } from './svg.js'
import { soakSpec } from './soak.js'

const USAGE = `Usage: node dist/bench/run.js [options]

Options (each also as an environment variable, BENCH_<NAME> in capitals):
  --quick            every scenario for a moment: a smoke run (numbers mean little), ~1 minute
  --repeat N         runs per scenario (default 3; quick 1)
  --seconds S        measured seconds per closed-loop run (default 1.5)
  --open-seconds S   seconds per open-loop run (default 2)
  --soak-seconds S   the memory soak (default 60; 0 skips it)
  --soak-rate R      its rate (default 10000/s)
  --sustain-p99-ms M an open-loop run is sustained when every event was acked, none refused, and p99 <= M (default 100)
  --open-poll        the open-loop sender polls with setImmediate between sends instead of
                     sleeping (a closer schedule, but it spins a core the systems' threads need)
  --only LIST        comma-separated scenario ids, id prefixes, groups (floor, closed, open, soak, micro) or systems
  --peers on|off     the peers (default on, when bench/node_modules has them)
  --dir DIR          where run directories go (default: the OS temp dir)
  --out DIR          where the reports go (default bench/results/local, ignored by git)
  --modules DIR      where the peers' modules are (default bench/node_modules)
  -h, --help         this text

Exit codes: 0 every run verified, 1 a store did not verify, 2 usage.
What every figure means: bench/README.md.
`

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  quick: { type: 'boolean' },
  repeat: { type: 'string' },
  seconds: { type: 'string' },
  'open-seconds': { type: 'string' },
  'soak-seconds': { type: 'string' },
  'soak-rate': { type: 'string' },
  'open-poll': { type: 'boolean' },
  'sustain-p99-ms': { type: 'string' },
  only: { type: 'string' },
  peers: { type: 'string' },
  dir: { type: 'string' },
  out: { type: 'string' },
  modules: { type: 'string' },
} as const

type Name = keyof typeof OPTIONS

function option(values: Record<string, unknown>, name: Name): string | boolean | undefined {
  const v = values[name] as string | boolean | undefined
  if (v !== undefined) return v
  const env = process.env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`]
  if (env === undefined || env === '') return undefined
  return OPTIONS[name].type === 'boolean' ? env === '1' || env === 'true' : env
}

function num(values: Record<string, unknown>, name: Name, min: number, integer = false): number | undefined {
  const raw = option(values, name)
  if (raw === undefined) return undefined
  const v = Number(String(raw).replaceAll('_', ''))
  if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v)))
    throw new Error(`--${name} must be a${integer ? 'n integer' : ' number'} ≥ ${min} (got ${JSON.stringify(raw)})`)
  return v
}

/** Everything the options decide, checked before anything runs. */
interface Plan {
  quick: boolean
  cfg: EngineConfig
  soakSeconds: number
  soakRate: number
  only: string[]
  outDir: string
  modulesDir: string
  peersOn: boolean
}

/** The plan of a run; throws an Error whose message names the bad option. */
function planOf(values: Record<string, unknown>): Plan {
  const quick = option(values, 'quick') === true
  const root = packageRoot()
  const repeat = num(values, 'repeat', 1, true)
  const seconds = num(values, 'seconds', 0.01)
  const openSeconds = num(values, 'open-seconds', 0.01)
  const sustainP99Ms = num(values, 'sustain-p99-ms', 0.01)
  const cfg = engineConfig(quick, {
    ...(repeat !== undefined ? { repeat } : {}),
    ...(seconds !== undefined ? { closedSeconds: seconds } : {}),
    ...(openSeconds !== undefined ? { openSeconds } : {}),
    ...(sustainP99Ms !== undefined ? { sustainP99Ms } : {}),
    openPoll: option(values, 'open-poll') === true,
    baseDir: path.resolve(String(option(values, 'dir') ?? os.tmpdir())),
  })
  return {
    quick,
    cfg,
    soakSeconds: num(values, 'soak-seconds', 0) ?? (quick ? 1 : 60),
    soakRate: num(values, 'soak-rate', 1) ?? (quick ? 2000 : 10_000),
    only: String(option(values, 'only') ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => x !== ''),
    outDir: path.resolve(String(option(values, 'out') ?? localResultsDir(root))),
    modulesDir: path.resolve(String(option(values, 'modules') ?? path.join(root, 'bench', 'node_modules'))),
    peersOn: option(values, 'peers') !== 'off',
  }
}

/** Parse argv: the plan, or the exit code when there is nothing to run (--help: 0, usage error: 2). */
function parse(argv: string[]): Plan | number {
  try {
    const { values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: false })
    if (values.help === true) {
      process.stdout.write(USAGE)
      return 0
    }
    return planOf(values)
  } catch (err) {
    // A usage error is a message, not a stack trace: the user mistyped, nothing failed.
    process.stderr.write(`bench/run: ${(err as Error).message}\n(node dist/bench/run.js --help lists the options)\n`)
    return 2
  }
}

async function runPlan(plan: Plan): Promise<number> {
  const { quick, cfg, soakSeconds, soakRate, only, outDir, modulesDir, peersOn } = plan
  await fs.mkdir(cfg.baseDir, { recursive: true })

  const m = machineInfo(cfg.baseDir)
  const load1Start = os.loadavg()[0]!
  const started = performance.now()
  const progress = (s: string): void => void process.stderr.write(`${s}\n`)
  progress(`mtlog-audit bench harness${quick ? ' (quick)' : ''}: at start ${m.loadAtStart}`)

  const peers: PeerLoad = peersOn ? await loadPeers(modulesDir) : { systems: [], notes: ['peers not run: --peers off'] }
  const systems = [mtlogAudit, ...peers.systems]
  const notes = [...peers.notes]

  const microAll = only.length === 0 || only.includes('micro')
  const microIds = only.filter((o) => o.startsWith('micro-'))
  const micro =
    microAll || microIds.length > 0
      ? await runMicro(
          {
            repeat: cfg.repeat,
            quick,
            modulesDir,
            only: microAll ? undefined : (id) => microIds.some((o) => id === o || id.startsWith(`${o}-`)),
          },
          progress,
        )
      : undefined

  const specs: Spec[] = e2ePlan(cfg, systems, defaultPlan(quick))
  if (soakSeconds > 0) specs.push(soakSpec(cfg, { payloadBytes: 256, rate: soakRate, seconds: soakSeconds }))
  const scenarios = await runSpecs(cfg, specs, only, progress)

  const loadAtEnd = loadLine()
  const runs = scenarios.flatMap((s) => s.runs)
  const chartJs = loadChartJs(modulesDir)
  if (chartJs === undefined)
    notes.push(`no charts in the HTML: chart.js is not installed in ${modulesDir} (npm install --prefix bench)`)
  const argv = process.argv.slice(2)
  const result: Result = {
    benchmark: 'mtlog-audit benchmark harness',
    machine: m,
    command: `node ${path.relative(process.cwd(), process.argv[1] ?? 'dist/bench/run.js') || 'dist/bench/run.js'}${argv.length > 0 ? ` ${argv.join(' ')}` : ''}`,
    config: {
      ...cfg,
      soakSeconds,
      soakRate,
      only,
      outDir,
      modulesDir,
      peers: peersOn,
      tinybench: micro?.tinybench ?? null,
      chartJs: chartJs?.version ?? null,
    },
    systems: systems.map(({ id, version, durability, blocking }) => ({ id, version, durability, blocking })),
    notes,
    micro,
    scenarios,
    noise: noiseReport(runs, cfg.noisyOtherCores, m.loadAtStart, loadAtEnd, load1Start, os.loadavg()[0]!),
    loadAtEnd,
    seconds: (performance.now() - started) / 1000,
    verified: runs.every((r) => r.verified),
  }
  const md = markdown(result)
  process.stdout.write(md)
  await fs.mkdir(outDir, { recursive: true })
  const base = path.join(outDir, resultStem(m, 'bench'))
  await fs.writeFile(`${base}.json`, toJson(result))
  await fs.writeFile(`${base}.md`, md)
  await fs.writeFile(`${base}.html`, html(result, md, chartJs?.source))
  console.log(`\nwrote ${base}.json\nwrote ${base}.md\nwrote ${base}.html`)
  // Static charts for the README (empty when the run has no closed loops).
  for (const [name, svg] of [
    ['throughput', throughputSvg(result)],
    ['cpu', cpuSvg(result)],
  ] as const) {
    if (svg === '') continue
    await fs.writeFile(`${base}-${name}.svg`, svg)
    console.log(`wrote ${base}-${name}.svg`)
  }
  return result.verified ? 0 : 1
}

async function main(argv: string[]): Promise<number> {
  const plan = parse(argv)
  return typeof plan === 'number' ? plan : runPlan(plan)
}

process.exitCode = await main(process.argv.slice(2))
