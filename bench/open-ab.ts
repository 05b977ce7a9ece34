/**
 * What AuditSink.open() costs, for two builds of mtlog-audit, in one process,
 * interleaved: an open that starts a log, and an open that refuses one.
 *
 *   node dist/bench/open-ab.js --before <dist dir> --after <dist dir> [--rounds 40] [--out DIR]
 *
 * Each round, on each build (the order alternates between rounds), on a fresh
 * directory: open() (timed: "open"), one emit, close(); then one bit of the
 * closed log's last record is flipped and open() is called again (timed:
 * "refused": it must throw). open() starts the writer worker, which loads its
 * modules, takes the lock and walks the log, so both rows are mostly that
 * worker's start. Reported per build: the median and range of each, and the
 * paired ratio after/before within a round. The suite opens a log hundreds of
 * times (test/workers/v2-seal.test.ts alone: 200), so this is also what it
 * pays per open.
 *
 * A "build" is a compiled dist/ directory (bench/ab.ts says how to make one
 * for a commit). Output: a markdown table on stdout and open-ab-<date>.md /
 * .json in bench/results/local/ (--out DIR elsewhere).
 */

import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { importBuild, localResultsDir } from './engine/checkout.js'
import { pairedRatio, spread, spreadText } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, writeReport } from './engine/machine.js'

type Side = 'before' | 'after'
type Build = Awaited<ReturnType<typeof importBuild>>

interface Times {
  open: number[]
  refused: number[]
}

async function round(build: Build, dir: string, t: Times): Promise<void> {
  let t0 = performance.now()
  const sink = await build.AuditSink.open({ dir })
  t.open.push(performance.now() - t0)
  await sink.emit({ level: 'Information', messageTemplate: 'opened', properties: {} })
  await sink.close()
  // One bit of the last record (the seal) flipped: damage in a closed log, which open() refuses.
  const file = path.join(
    dir,
    fs.readdirSync(dir).find((n) => n.endsWith('.wal'))!,
  )
  const b = fs.readFileSync(file)
  b[b.length - 40]! ^= 1
  fs.writeFileSync(file, b)
  t0 = performance.now()
  const refused = await build.AuditSink.open({ dir }).then(
    async (s) => {
      await s.close()
      return false
    },
    () => true,
  )
  t.refused.push(performance.now() - t0)
  if (!refused) throw new Error(`${dir}: open() accepted a log with a flipped bit`)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      after: { type: 'string' },
      rounds: { type: 'string' },
      dir: { type: 'string' },
      out: { type: 'string' },
    },
  })
  if (values.before === undefined || values.after === undefined)
    throw new Error('--before <dist dir> and --after <dist dir> are required')
  const rounds = Number(values.rounds ?? 40)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer')
  const builds: Record<Side, Build> = {
    before: await importBuild(values.before),
    after: await importBuild(values.after),
  }
  const baseDir = values.dir ?? os.tmpdir()
  const machine = machineInfo(baseDir)
  const started = new Date()
  const work = await fsp.mkdtemp(path.join(baseDir, 'mtlog-audit-open-ab-'))
  const times: Record<Side, Times> = { before: { open: [], refused: [] }, after: { open: [], refused: [] } }
  try {
    let n = 0
    // One untimed round each: both builds' modules are loaded in this thread before the first timed open.
    for (const side of ['before', 'after'] as const)
      await round(builds[side], path.join(work, `warm-${side}`), { open: [], refused: [] })
    for (let r = 0; r < rounds; r++)
      for (const side of r % 2 === 0 ? (['before', 'after'] as const) : (['after', 'before'] as const))
        await round(builds[side], path.join(work, `log-${n++}`), times[side])
  } finally {
    await fsp.rm(work, { recursive: true, force: true })
  }
  const ms = (xs: number[]): string => spreadText(spread(xs), 1)
  const ratio = (k: keyof Times): string => spreadText(pairedRatio(times.after[k], times.before[k]), 2)
  const lines = [
    '# open(): two builds, interleaved',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/open-ab.js ${process.argv.slice(2).join(' ')}\``,
    `- before: ${values.before}; after: ${values.after}; ${rounds} rounds`,
    '',
    '| | before: ms, median (min–max) | after: ms, median (min–max) | after / before, paired: median (min–max) |',
    '|---|---:|---:|---:|',
    `| open (a new log) | ${ms(times.before.open)} | ${ms(times.after.open)} | ${ratio('open')} |`,
    `| refused open (a flipped bit) | ${ms(times.before.refused)} | ${ms(times.after.refused)} | ${ratio('refused')} |`,
  ]
  const md = `${lines.join('\n')}\n`
  process.stdout.write(md)
  await writeReport(values.out ?? localResultsDir(), machine, 'open-ab', md, {
    started,
    args: process.argv.slice(2),
    times,
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
