/**
 * What one process life costs here: the floor under the torture campaign's
 * SIGKILL rate (docs/torture.md). A killed process cannot be reused, so every
 * Kill9DuringWrite life pays for a fresh Node process and its threads.
 *
 *   node dist/bench/boot.js [--runs 5]
 *
 * Each row is the user + system CPU seconds of one whole process (every
 * thread, start to exit), from /usr/bin/time, median (min–max) over the runs:
 *   node -e 0                          a Node process that does nothing
 *   + 1 / + 2 worker threads           the same, starting 1 or 2 empty workers
 *   kill9 child, 1 event per thread    torture/kill9-child.js run to its end with
 *                                      a job of one event per producer thread:
 *                                      main + producer worker + the sink's writer,
 *                                      open, emit, close (what a life costs with
 *                                      almost no work in it)
 * Output: markdown on stdout and bench/results/local/boot-<date>.md.
 */

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { localResultsDir } from './engine/checkout.js'
import { spread } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, resultStem } from './engine/machine.js'

const TIME = '/usr/bin/time'

function cpuSeconds(args: string[], input?: string): number {
  const r = spawnSync(TIME, ['-f', 'cpu %U %S', process.execPath, ...args], { input, encoding: 'utf8' })
  const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr ?? '')
  if (r.status !== 0 || m === null)
    throw new Error(`${args.join(' ')} failed (status ${r.status}): ${(r.stderr ?? '').slice(-500)}`)
  return Number(m[1]) + Number(m[2])
}

function summary(xs: number[]): string {
  const s = spread(xs)
  return `${s.median.toFixed(2)} (${s.min.toFixed(2)}–${s.max.toFixed(2)})`
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string' } } })
  const runs = Number(values.runs ?? 5)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer')
  if (!fs.existsSync(TIME)) throw new Error(`${TIME} is needed (apt-get install time)`)
  const child = fileURLToPath(new URL('../torture/kill9-child.js', import.meta.url))
  const workers = (n: number): string[] => [
    '-e',
    `const { Worker } = require('node:worker_threads'); for (let i = 0; i < ${n}; i++) new Worker('0', { eval: true })`,
  ]
  const cases: [string, () => number][] = [
    ['node -e 0', () => cpuSeconds(['-e', '0'])],
    ['node, + 1 empty worker thread', () => cpuSeconds(workers(1))],
    ['node, + 2 empty worker threads', () => cpuSeconds(workers(2))],
    [
      'kill9 child, 1 event per producer thread (main + producer worker + writer)',
      () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-audit-boot-'))
        try {
          const job = { dir, p0: 0, perThread: 1, inflight: 1, salt: 1, opts: {} }
          return cpuSeconds([child], `${JSON.stringify(job)}\n`)
        } finally {
          fs.rmSync(dir, { recursive: true, force: true })
        }
      },
    ],
  ]
  const machine = machineInfo(os.tmpdir())
  const rows = cases.map(([name, run]) => {
    const xs: number[] = []
    for (let i = 0; i < runs; i++) xs.push(run())
    return `| ${name} | ${summary(xs)} |`
  })
  const md = [
    '# CPU seconds of one process life',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/boot.js --runs ${runs}\`; user + system CPU of the whole process from ${TIME}, median (min–max) of ${runs} runs`,
    '',
    '| process | CPU s |',
    '|---|---:|',
    ...rows,
    '',
  ].join('\n')
  process.stdout.write(md)
  const out = localResultsDir()
  fs.mkdirSync(out, { recursive: true })
  fs.writeFileSync(path.join(out, `${resultStem(machine, 'boot')}.md`), md)
}

main()
