/**
 * The torture campaign: scenarios × iterations, every iteration seeded from
 * one campaign seed, checked by the shared checker, summarized as JSON + HTML.
 *
 *   campaign seed ──► iterSeed(seed, scenario, i) ──► scenario.run({ rng: mulberry32(iterSeed) })
 *        │                                                  │ failures carry iterSeed
 *        ▼                                                  ▼
 *   progress (stderr) ◄── totals per scenario ──► summary JSON + HTML report
 *
 * A failing iteration replays from its own seed alone:
 *   mtlog-audit torture --scenario <name> --replay <iterSeed>
 *
 * A long campaign is cut into disjoint pieces of one index space: `--shard k/K`
 * runs the iterations i ≡ k (mod K) (K lanes side by side, one per core),
 * `--from I` starts at index I (a later session continues where a lane
 * stopped). Each summary records, per scenario, the indices it ran
 * [firstIndex, nextIndex) step K and the commit under test, so
 * torture/summarize.ts can add pieces up and refuse to count an iteration twice.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { writeEvidence } from './evidence.js'
import { iterSeed, mulberry32 } from './prng.js'
import { Progress } from './progress.js'
import { renderHtml } from './report.js'
import { byzantine } from './scenarios/byzantine.js'
import { clockJump } from './scenarios/clock.js'
import { emptyResult, type IterResult, type Scenario } from './scenarios/common.js'
import { concurrent } from './scenarios/concurrent.js'
import { corruption } from './scenarios/corruption.js'
import { encryptedLog } from './scenarios/crypt.js'
import { diskFull } from './scenarios/disk-full.js'
import { fuzz } from './scenarios/fuzz.js'
import { ioError } from './scenarios/io-error.js'
import { kill9, kill9Signed } from './scenarios/kill9.js'
import { lockRace } from './scenarios/lock-race.js'
import { powerLoss } from './scenarios/power-loss.js'
import { recoveryCrash } from './scenarios/recovery-crash.js'

/**
 * The watchdog: an iteration still running after this long is a hang. The
 * longest honest iteration (Kill9DuringWrite: 5 lives, each SIGKILLed by
 * KILL9_LIFE_MS_MAX at the latest) ends well inside it. A hang is recorded as a
 * failure with its seed and ends the campaign: the hung iteration still holds
 * its threads and files, so nothing after it would be measured cleanly.
 */
export const ITERATION_MS_MAX = 300_000

export const SCENARIOS: readonly Scenario[] = [
  kill9,
  kill9Signed,
  powerLoss,
  ioError,
  diskFull,
  corruption,
  clockJump,
  byzantine,
  concurrent,
  recoveryCrash,
  encryptedLog,
  lockRace,
  fuzz,
]

export interface CampaignOptions {
  scenarios: string[]
  iterations: number
  seed: number
  /** Stop a scenario after this many seconds even if iterations remain. */
  secondsPerScenario?: number
  /** Run only the iteration indices i ≡ shard.k (mod shard.of); default 0/1. */
  shard?: { k: number; of: number }
  /** First iteration index (default 0); with a shard, the first index ≥ from in it. */
  from?: number
  /** The code under test, recorded in the summary (e.g. a git commit). */
  commit?: string
  /** Run exactly one iteration with this iteration seed (needs one scenario). */
  replay?: number
  quick: boolean
  progress: boolean
  reportHtml?: string
  reportJson?: string
  /** Keep the directories of failing iterations. */
  keep?: boolean
  /** The watchdog per iteration (default ITERATION_MS_MAX). */
  iterationMsMax?: number
  command: string
  log?: (line: string) => void
}

export interface FailureRecord {
  iteration: number
  seed: number
  message: string
  detail?: string
  replay: string
  /** The saved failing state and the command that re-checks it exactly. */
  exact?: string
}

export interface ScenarioSummary {
  name: string
  description: string
  iterations: number
  crashStates: number
  kills: number
  acked: number
  recovered: number
  failures: FailureRecord[]
  notes: Record<string, number>
  skipped: string[]
  seconds: number
  iterationsPerSecond: number
  statesPerSecond: number
  /** The iteration indices run: firstIndex, firstIndex + step, ... < nextIndex. */
  firstIndex: number
  nextIndex: number
  step: number
}

export interface CampaignSummary {
  seed: number
  command: string
  /** The code under test (CampaignOptions.commit), '' when not given. */
  commit: string
  shard: { k: number; of: number }
  started: string
  finished: string
  seconds: number
  node: string
  machine: { cpus: string; memoryGiB: number; platform: string; hostname: string }
  scenarios: ScenarioSummary[]
  totals: { iterations: number; kills: number; crashStates: number; acked: number; failures: number }
  /** Set when an iteration hung: the campaign stopped there (the caller should exit the process). */
  hung?: { scenario: string; iteration: number; seed: number }
}

export function findScenarios(spec: string[]): Scenario[] {
  if (spec.length === 0 || spec.includes('all')) return [...SCENARIOS]
  return spec.map((name) => {
    const s = SCENARIOS.find((x) => x.name.toLowerCase() === name.toLowerCase())
    if (s === undefined)
      throw new Error(`unknown scenario ${name} (known: ${SCENARIOS.map((x) => x.name).join(', ')}, all)`)
    return s
  })
}

function machine(): CampaignSummary['machine'] {
  const cpus = os.cpus()
  return {
    cpus: `${cpus.length} × ${cpus[0]?.model ?? 'unknown CPU'}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    hostname: os.hostname(),
  }
}

function totals(scenarios: ScenarioSummary[]): CampaignSummary['totals'] {
  return {
    iterations: scenarios.reduce((a, s) => a + s.iterations, 0),
    kills: scenarios.reduce((a, s) => a + s.kills, 0),
    crashStates: scenarios.reduce((a, s) => a + s.crashStates, 0),
    acked: scenarios.reduce((a, s) => a + s.acked, 0),
    failures: scenarios.reduce((a, s) => a + s.failures.length, 0),
  }
}

let journal: SharedArrayBuffer | undefined

/**
 * Run one iteration of one scenario from its iteration seed. `hung` is set when
 * the watchdog fired first: the iteration is then left running (it cannot be
 * cancelled) and its directory is kept as evidence.
 */
export async function runIteration(
  s: Scenario,
  seed: number,
  quick: boolean,
  keep = false,
  msMax = ITERATION_MS_MAX,
): Promise<{ result: IterResult; workDir: string; hung: boolean }> {
  journal ??= new SharedArrayBuffer(64 * 1024 * 1024)
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), `mtlog-torture-${s.name}-`))
  const run = s
    .run({ scenario: s.name, seed, rng: mulberry32(seed), workDir, journal, quick })
    .catch((err: Error): IterResult => ({
      ...emptyResult(),
      failures: [{ message: `the iteration threw: ${err.message}`, detail: err.stack }],
    }))
  let timer: NodeJS.Timeout | undefined
  const watchdog = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), msMax)))
  const first = await Promise.race([run, watchdog])
  clearTimeout(timer)
  if (first === 'hung') {
    const message = `hang: the iteration did not finish within ${msMax / 1000} s (directory kept: ${workDir})`
    return { result: { ...emptyResult(), failures: [{ message }] }, workDir, hung: true }
  }
  if (!(keep && first.failures.length > 0)) fs.rmSync(workDir, { recursive: true, force: true })
  return { result: first, workDir, hung: false }
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignSummary> {
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`))
  const scenarios = findScenarios(o.scenarios)
  if (o.replay !== undefined && scenarios.length !== 1) throw new Error('--replay needs exactly one --scenario')
  const shard = o.shard ?? { k: 0, of: 1 }
  if (!(Number.isInteger(shard.of) && shard.of >= 1 && Number.isInteger(shard.k) && shard.k >= 0 && shard.k < shard.of))
    throw new Error(`bad shard ${shard.k}/${shard.of}: want k/K with 0 <= k < K`)
  const from = o.from ?? 0
  const first = from + ((shard.k - (from % shard.of) + shard.of) % shard.of)
  const started = new Date()
  const t0 = performance.now()
  const summary: CampaignSummary = {
    seed: o.seed,
    command: o.command,
    commit: o.commit ?? '',
    shard,
    started: started.toISOString(),
    finished: '',
    seconds: 0,
    node: process.version,
    machine: machine(),
    scenarios: [],
    totals: { iterations: 0, kills: 0, crashStates: 0, acked: 0, failures: 0 },
  }
  log(
    `torture: seed ${o.seed}${shard.of > 1 || from > 0 ? ` (iterations ${first}, ${first + shard.of}, ... : shard ${shard.k}/${shard.of})` : ''}${o.replay !== undefined ? `, replaying iteration seed ${o.replay}` : ''}; scenarios ${scenarios.map((s) => s.name).join(', ')}; ${o.replay !== undefined ? 1 : o.iterations} iterations each${o.secondsPerScenario ? ` (at most ${o.secondsPerScenario} s each)` : ''}`,
  )
  const progress = new Progress(o.progress)
  let lastWrite = Date.now()
  const write = (): void => {
    summary.finished = new Date().toISOString()
    summary.seconds = (performance.now() - t0) / 1000
    summary.totals = totals(summary.scenarios)
    if (o.reportJson) fs.writeFileSync(o.reportJson, `${JSON.stringify(summary, null, 2)}\n`)
    if (o.reportHtml) fs.writeFileSync(o.reportHtml, renderHtml(summary))
  }
  try {
    for (let si = 0; si < scenarios.length; si++) {
      const s = scenarios[si]!
      const index = SCENARIOS.indexOf(s)
      const sum: ScenarioSummary = {
        name: s.name,
        description: s.description,
        iterations: 0,
        crashStates: 0,
        kills: 0,
        acked: 0,
        recovered: 0,
        failures: [],
        notes: {},
        skipped: [],
        seconds: 0,
        iterationsPerSecond: 0,
        statesPerSecond: 0,
        firstIndex: o.replay !== undefined ? 0 : first,
        nextIndex: o.replay !== undefined ? 0 : first,
        step: shard.of,
      }
      summary.scenarios.push(sum)
      const startedMs = Date.now()
      const s0 = performance.now()
      const total = o.replay !== undefined ? 1 : o.iterations
      for (let done = 0, i = sum.firstIndex; done < total; done++, i += shard.of) {
        if (o.secondsPerScenario !== undefined && (performance.now() - s0) / 1000 > o.secondsPerScenario) break
        const seed = o.replay ?? iterSeed(o.seed, index, i)
        const { result, workDir, hung } = await runIteration(s, seed, o.quick, o.keep, o.iterationMsMax)
        sum.iterations++
        if (o.replay === undefined) sum.nextIndex = i + shard.of
        sum.crashStates += result.crashStates
        sum.kills += result.kills
        sum.acked += result.acked
        sum.recovered += result.recovered
        if (result.skipped) sum.skipped.push(result.skipped)
        for (const [k, v] of Object.entries(result.notes)) sum.notes[k] = (sum.notes[k] ?? 0) + v
        for (const f of result.failures) {
          const replay = `mtlog-audit torture --scenario ${s.name} --replay ${seed}${o.quick ? ' --quick' : ''}`
          let exact: string | undefined
          if (f.state !== undefined) {
            const dir = o.reportJson
              ? path.dirname(path.resolve(o.reportJson))
              : path.join(os.tmpdir(), 'mtlog-torture-failures')
            exact = `mtlog-audit torture --check-state ${writeEvidence(dir, s.name, seed, f.message, f.state)}`
          }
          sum.failures.push({ iteration: i, seed, message: f.message, detail: f.detail, replay, exact })
          log(
            `\nFAIL ${s.name} iteration ${i} seed ${seed}: ${f.message}\n  replay: ${replay}${exact ? `\n  exact:  ${exact}` : ''}${o.keep ? `\n  kept: ${workDir}` : ''}`,
          )
        }
        if (hung) summary.hung = { scenario: s.name, iteration: i, seed }
        sum.seconds = (performance.now() - s0) / 1000
        sum.iterationsPerSecond = sum.iterations / Math.max(sum.seconds, 1e-3)
        sum.statesPerSecond = (sum.crashStates + sum.kills) / Math.max(sum.seconds, 1e-3)
        progress.update({
          scenario: s.name,
          done: sum.iterations,
          total,
          startedMs,
          states: sum.crashStates,
          kills: sum.kills,
          failures: sum.failures.length,
        })
        if (Date.now() - lastWrite > 30_000) {
          lastWrite = Date.now()
          write()
        }
        if (hung) break
      }
      progress.update(
        {
          scenario: s.name,
          done: sum.iterations,
          total,
          startedMs,
          states: sum.crashStates,
          kills: sum.kills,
          failures: sum.failures.length,
        },
        true,
      )
      progress.end()
      await s.teardown?.()
      if (summary.hung) {
        log(
          `${s.name}: stopped by a hang at iteration ${summary.hung.iteration} (seed ${summary.hung.seed}); the campaign ends here`,
        )
        break
      }
      log(
        `${s.name}: ${sum.iterations} iterations, ${sum.kills} SIGKILLs, ${sum.crashStates} states checked, ${sum.acked} acked, ${sum.failures.length} failures, ${sum.seconds.toFixed(1)} s (${sum.iterationsPerSecond.toFixed(2)} it/s, ${sum.statesPerSecond.toFixed(1)} states/s)${sum.skipped.length ? `; skipped: ${[...new Set(sum.skipped)].join('; ')}` : ''}`,
      )
    }
  } finally {
    // The summary is written even when a teardown fails (a child pool that will not die).
    for (const s of scenarios)
      await s.teardown?.().catch((err: Error) => log(`${s.name}: teardown failed: ${err.message}`))
    write()
  }
  log(
    `torture: seed ${o.seed}: ${summary.totals.iterations} iterations, ${summary.totals.kills} real SIGKILLs, ${summary.totals.crashStates} states checked, ${summary.totals.failures} failures in ${summary.seconds.toFixed(1)} s`,
  )
  return summary
}
