/**
 * verifyLog beside a live writer, two builds in turn: how often a verify of a
 * log that is being written reports damage that is not there (a read racing
 * the writer's write(); docs/operations.md, "Reading a live log").
 *
 *   node dist/bench/live-verify.js --before <dist> --after <dist> [--epochs 12] [--epoch-seconds 10]
 *
 * Each epoch: a fresh log in a temp directory, a writer in a child process of
 * the epoch's build (batches of 50 emits in flight, back to back), and the
 * parent calling that build's verifyLog in a loop for --epoch-seconds; then
 * the writer is killed and the log removed. Epochs alternate between the
 * builds. A fresh log per epoch keeps the log, and so each verify, small.
 * Reported per build: verifies, verifies that said not ok, and how often the
 * reader walked a damaged tail again (its tailRecheck.pause, when the build
 * has one). Every verify runs while the writer appends, so any not-ok report
 * is a false one.
 */

import { fork } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

type Build = { dir: string; runs: number; bad: number; rechecks: number; firstBad: unknown[] }

const mod = (dist: string, rel: string): string => pathToFileURL(path.resolve(dist, rel)).href

async function writer(dist: string, dir: string): Promise<void> {
  const { AuditSink } = await import(mod(dist, 'lib/index.js'))
  const sink = await AuditSink.open({ dir })
  let n = 0
  process.send!('ready')
  for (;;) {
    await Promise.all(
      Array.from({ length: 50 }, () =>
        sink.emit({
          level: 'Information',
          messageTemplate: 'User {UserId} read {RecordId}',
          properties: { UserId: `u-${n}`, RecordId: `r-${n++}` },
        }),
      ),
    )
  }
}

async function epoch(b: Build, seconds: number): Promise<void> {
  const { verifyLog } = await import(mod(b.dir, 'lib/index.js'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-audit-live-verify-'))
  const child = fork(process.argv[1]!, ['--writer', b.dir, dir])
  try {
    await new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`writer exited with ${code}`)))
    })
    const end = performance.now() + seconds * 1000
    while (performance.now() < end) {
      const v = await verifyLog(dir)
      b.runs++
      if (!v.ok) {
        b.bad++
        if (b.firstBad.length < 3) b.firstBad.push(v.firstBad)
      }
    }
  } finally {
    child.kill('SIGKILL')
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      before: { type: 'string' },
      after: { type: 'string' },
      epochs: { type: 'string', default: '12' },
      'epoch-seconds': { type: 'string', default: '10' },
      writer: { type: 'string' },
    },
    allowPositionals: true,
    strict: false,
  })
  if (typeof values.writer === 'string') return writer(values.writer, process.argv.at(-1)!)
  if (typeof values.before !== 'string' || typeof values.after !== 'string') {
    console.error(
      'usage: node dist/bench/live-verify.js --before <dist> --after <dist> [--epochs 12] [--epoch-seconds 10]',
    )
    process.exit(2)
  }
  const builds: Build[] = [values.before, values.after].map((dir) => ({
    dir,
    runs: 0,
    bad: 0,
    rechecks: 0,
    firstBad: [],
  }))
  // Count each build's second walks through its reader's seam, where it has one.
  for (const b of builds) {
    const reader = await import(mod(b.dir, 'lib/read/reader.js'))
    const seam = reader.tailRecheck as { pause: (ms: number) => Promise<void> } | undefined
    if (seam === undefined) continue
    const real = seam.pause
    seam.pause = (ms) => {
      b.rechecks++
      return real(ms)
    }
  }
  const epochs = Number(values.epochs)
  const seconds = Number(values['epoch-seconds'])
  for (let e = 0; e < epochs; e++) await epoch(builds[e % 2]!, seconds)
  console.log(
    `${new Date().toISOString()} ${os.cpus().length} CPUs, node ${process.version}, ${epochs} epochs of ${seconds} s`,
  )
  console.log('| build | verifies | not ok (false) | second walks |')
  console.log('|---|---:|---:|---:|')
  for (const b of builds) console.log(`| ${b.dir} | ${b.runs} | ${b.bad} | ${b.rechecks} |`)
  for (const b of builds) for (const f of b.firstBad) console.log(`${b.dir}: ${JSON.stringify(f)}`)
}

await main()
