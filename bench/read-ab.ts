/**
 * readLog and verifyLog of one log, for two builds of mtlog-audit, in one
 * process, interleaved.
 *
 *   node dist/test/helpers/small-log.js /tmp/small 1000000     (a log of small events; or any log)
 *   node dist/bench/read-ab.js --before <dist dir> --after <dist dir> --log /tmp/small [--rounds 4] [--out DIR]
 *
 * Each round reads the whole log with readLog (every event decoded), then
 * verifies it with verifyLog, on each build (the order alternates between
 * rounds), after one untimed pass of each build (the page cache is warm: this
 * measures the readers' CPU, not the disk). Reported per build: the median and
 * range of each, and the paired ratio after/before within a round.
 *
 * A "build" is a compiled dist/ directory (bench/ab.ts says how to make one
 * for a commit). Output: a markdown table on stdout and read-ab-<date>.md /
 * .json in bench/results/local/ (--out DIR elsewhere).
 */

import os from 'node:os'
import { parseArgs } from 'node:util'
import { importBuild, localResultsDir } from './engine/checkout.js'
import { pairedRatio, spread, spreadText } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, writeReport } from './engine/machine.js'
import { fmt } from './engine/tables.js'

type Side = 'before' | 'after'
type Build = Awaited<ReturnType<typeof importBuild>>

interface Times {
  readLog: number[]
  verifyLog: number[]
}

/** One pass of each reader; returns the events read, and adds the seconds of each to t. */
async function pass(build: Build, log: string, t: Times): Promise<number> {
  let t0 = performance.now()
  let events = 0
  for await (const e of build.readLog(log)) if (e.seq > 0) events++
  t.readLog.push((performance.now() - t0) / 1000)
  t0 = performance.now()
  const v = await build.verifyLog(log)
  t.verifyLog.push((performance.now() - t0) / 1000)
  if (!v.ok) throw new Error(`${log} does not verify: ${v.firstBad?.message}`)
  return events
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      after: { type: 'string' },
      log: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
    },
  })
  if (values.before === undefined || values.after === undefined || values.log === undefined)
    throw new Error('--before <dist dir>, --after <dist dir> and --log <dir> are required')
  const rounds = Number(values.rounds ?? 4)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer')
  const builds: Record<Side, Build> = {
    before: await importBuild(values.before),
    after: await importBuild(values.after),
  }
  const machine = machineInfo(os.tmpdir())
  const started = new Date()
  const times: Record<Side, Times> = { before: { readLog: [], verifyLog: [] }, after: { readLog: [], verifyLog: [] } }
  const warm = { readLog: [], verifyLog: [] }
  const events = await pass(builds.before, values.log, warm)
  if ((await pass(builds.after, values.log, warm)) !== events)
    throw new Error('the two builds read different event counts')
  for (let r = 0; r < rounds; r++) {
    for (const side of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const))
      await pass(builds[side], values.log, times[side])
    process.stderr.write(`round ${r + 1}/${rounds} done\n`)
  }
  const s = (xs: number[]): string => spreadText(spread(xs), 2)
  const ratio = (k: keyof Times): string => spreadText(pairedRatio(times.after[k], times.before[k]), 2)
  const lines = [
    '# readLog and verifyLog: two builds, interleaved',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/read-ab.js ${process.argv.slice(2).join(' ')}\``,
    `- ${fmt(events, 0)} events; ${rounds} rounds after one warm-up pass per build (page cache warm)`,
    '',
    '| | before: s, median (min–max) | after: s, median (min–max) | after / before, paired: median (min–max) |',
    '|---|---:|---:|---:|',
    `| readLog (every event decoded) | ${s(times.before.readLog)} | ${s(times.after.readLog)} | ${ratio('readLog')} |`,
    `| verifyLog | ${s(times.before.verifyLog)} | ${s(times.after.verifyLog)} | ${ratio('verifyLog')} |`,
  ]
  const md = `${lines.join('\n')}\n`
  process.stdout.write(md)
  await writeReport(values.out ?? localResultsDir(), machine, 'read-ab', md, {
    started,
    args: process.argv.slice(2),
    events,
    times,
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
