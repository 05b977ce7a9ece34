/**
 * `mtlog-audit torture`: run the seeded torture campaign (torture/runner.ts)
 * and write its JSON summary and HTML report. Exit 0 when every iteration
 * passed, 1 when any failed (each failure prints the command that replays it).
 */

import { type Command, InvalidArgumentError } from 'commander'
import { checkEvidence } from '../../../torture/evidence.js'
import { freshSeed } from '../../../torture/prng.js'
import { runCampaign, SCENARIOS } from '../../../torture/runner.js'
import { EXIT } from '../common.js'

function intOpt(v: string): number {
  const n = Number(v)
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('must be a non-negative integer')
  return n
}

function shardOpt(v: string): { k: number; of: number } {
  const m = /^(\d+)\/(\d+)$/.exec(v)
  if (m === null || Number(m[1]) >= Number(m[2]))
    throw new InvalidArgumentError('must be k/K with 0 <= k < K (e.g. 0/2 and 1/2 for two lanes)')
  return { k: Number(m[1]), of: Number(m[2]) }
}

export function register(program: Command): void {
  program
    .command('torture')
    .description(
      'crash, fault and corruption campaign against the WAL (real SIGKILLs, simulated power loss, I/O errors, full disks, damage, lying storage)',
    )
    .option('--scenario <names>', `comma-separated: ${SCENARIOS.map((s) => s.name).join(', ')}, or all`, 'all')
    .option('--iterations <n>', 'iterations per scenario', intOpt, 10)
    .option('--seed <s>', 'campaign seed (printed; the same seed replays the same campaign)', intOpt)
    .option(
      '--replay <iterSeed>',
      'run exactly one iteration from the seed a failure printed (with one --scenario)',
      intOpt,
    )
    .option('--seconds <s>', 'stop each scenario after this many seconds', intOpt)
    .option('--shard <k/K>', 'run only iterations i with i mod K = k (K lanes side by side)', shardOpt)
    .option('--from <i>', 'first iteration index (continue a lane where it stopped)', intOpt)
    .option('--commit <id>', 'the code under test, recorded in the summary (e.g. git rev-parse HEAD)')
    .option('--quick', 'short-campaign sizes (the ones npm test uses)')
    .option('--report <file.html>', 'write the HTML report here')
    .option('--json <file.json>', 'write the JSON summary here (default: next to --report)')
    .option('--keep', 'keep the directories of failing iterations')
    .option('--no-progress', 'no progress line on stderr')
    .option('--check-state <file>', 're-check, exactly, a failing crash state the runner saved (recovery + checker)')
    .action(
      async (opts: {
        checkState?: string
        scenario: string
        iterations: number
        seed?: number
        replay?: number
        seconds?: number
        shard?: { k: number; of: number }
        from?: number
        commit?: string
        quick?: boolean
        report?: string
        json?: string
        keep?: boolean
        progress: boolean
      }) => {
        if (opts.checkState !== undefined) {
          const c = checkEvidence(opts.checkState)
          console.log(`${c.scenario} seed ${c.seed}: was "${c.message}"`)
          console.log(
            c.failures.length === 0
              ? `passes now (${c.records} records recovered)`
              : `fails: ${c.failures.join('\n  ')}`,
          )
          process.exitCode = c.failures.length === 0 ? EXIT.OK : EXIT.INTEGRITY
          return
        }
        const seed = opts.seed ?? freshSeed()
        const json = opts.json ?? (opts.report ? opts.report.replace(/\.html?$/i, '') + '.json' : undefined)
        const summary = await runCampaign({
          scenarios: opts.scenario
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
          iterations: opts.iterations,
          seed,
          secondsPerScenario: opts.seconds,
          shard: opts.shard,
          from: opts.from,
          commit: opts.commit,
          replay: opts.replay,
          quick: opts.quick === true,
          progress: opts.progress,
          reportHtml: opts.report,
          reportJson: json,
          keep: opts.keep,
          command: `mtlog-audit ${process.argv.slice(2).join(' ')}`,
        })
        if (opts.report) console.log(`report: ${opts.report}${json ? `, summary: ${json}` : ''}`)
        console.log(
          `seed ${seed}: ${summary.totals.iterations} iterations, ${summary.totals.kills} real SIGKILLs, ${summary.totals.crashStates} states checked, ${summary.totals.failures} failures`,
        )
        process.exitCode = summary.totals.failures === 0 ? EXIT.OK : EXIT.INTEGRITY
        if (summary.hung !== undefined) {
          // The hung iteration still holds timers and threads that would keep the process alive.
          console.log(
            `stopped by a hang: ${summary.hung.scenario} iteration ${summary.hung.iteration}, replay: mtlog-audit torture --scenario ${summary.hung.scenario} --replay ${summary.hung.seed}`,
          )
          process.exit(EXIT.INTEGRITY)
        }
      },
    )
}
