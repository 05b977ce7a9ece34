/**
 * CPU per durable event, by thread: the app thread, the writer, the signer and
 * the rest (libuv's pool, V8's helper threads), for builds and options side by
 * side. What issue 16's budget "the writer thread's CPU per event no more than
 * v1's, total at most 1.25× v1's" is measured with.
 *
 *   node dist/bench/thread-cpu.js --build v1=/tmp/v1/dist --build v2=dist \
 *        --build 'v2-signed=dist={"signing":{"keyFile":"/tmp/k"}}' [--events 1000000] [--windows 256,4096] [--rounds 2]
 *
 * A --build is `label=<dist dir>` or `label=<dist dir>=<options JSON>` (merged
 * into AuditSink.open's; "$DIR" in a string is the run's log directory). Each
 * round runs every build at every window in one process per run, so thread
 * start-up is counted once per run (use enough events to amortize it).
 *
 * How threads are told apart (Linux /proc/self/task): the app thread has the
 * process id; of the other threads, the one or two that used most CPU are the
 * writer and (with signing) the signer, ordered by start time (the writer
 * starts first, in open(); the signer after the writer is ready).
 *
 * Output: a markdown table on stdout, thread-cpu-<date>.md / .json in
 * bench/results/local/ (--out DIR elsewhere).
 */

import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { importBuild, localResultsDir, withDir } from './engine/checkout.js'
import { spread } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, writeReport } from './engine/machine.js'
import { fmt } from './engine/tables.js'

interface Build {
  label: string
  dist: string
  options: Record<string, unknown>
}

interface Run {
  eventsPerSec: number
  /** µs of CPU per event. */
  main: number
  writer: number
  signer: number
  rest: number
  total: number
}

const USER_HZ_MS = 10 // /proc stat times are in clock ticks of 10 ms (USER_HZ 100)

function threadTicks(): Map<number, { ticks: number; start: number }> {
  const out = new Map<number, { ticks: number; start: number }>()
  for (const t of fs.readdirSync('/proc/self/task')) {
    try {
      const s = fs.readFileSync(`/proc/self/task/${t}/stat`, 'utf8')
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ')
      out.set(Number(t), { ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) })
    } catch {
      // the thread ended meanwhile
    }
  }
  return out
}

/** One run in this process (the child side): N emits with `window` in flight, then per-thread CPU. */
async function child(dist: string, options: Record<string, unknown>, events: number, window: number): Promise<Run> {
  const { AuditSink } = await importBuild(dist)
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'mtlog-audit-thread-cpu-'))
  const opts = withDir(options, dir)
  const signing = opts.signing !== undefined
  try {
    const sink = await AuditSink.open({ dir, ...opts })
    const ev = {
      level: 'Information' as const,
      messageTemplate: 'User {UserId} paid {Amount}',
      properties: { UserId: 'u-123456', Amount: 42.5, Note: 'x'.repeat(120) },
    }
    const before = threadTicks()
    let sent = 0
    const t0 = performance.now()
    const lane = async (): Promise<void> => {
      while (sent < events) {
        sent++
        await sink.emit(ev)
      }
    }
    await Promise.all(Array.from({ length: window }, lane))
    const seconds = (performance.now() - t0) / 1000
    const after = threadTicks()
    await sink.close()
    const rows = [...after].map(([tid, a]) => ({
      tid,
      start: a.start,
      ms: (a.ticks - (before.get(tid)?.ticks ?? 0)) * USER_HZ_MS,
    }))
    const main = rows.find((r) => r.tid === process.pid)!
    const big = rows
      .filter((r) => r.tid !== process.pid)
      .sort((a, b) => b.ms - a.ms)
      .slice(0, signing ? 2 : 1)
      .sort((a, b) => a.start - b.start)
    const total = rows.reduce((a, r) => a + r.ms, 0)
    const us = (ms: number): number => (ms * 1000) / events
    const writer = big[0]?.ms ?? 0
    const signer = signing ? (big[1]?.ms ?? 0) : 0
    return {
      eventsPerSec: events / seconds,
      main: us(main.ms),
      writer: us(writer),
      signer: us(signer),
      rest: us(total - main.ms - writer - signer),
      total: us(total),
    }
  } finally {
    await fsp.rm(dir, { recursive: true, force: true })
    await fsp.rm(`${dir}-ckpt`, { recursive: true, force: true })
  }
}

function parseBuild(spec: string): Build {
  const [label, dist, ...rest] = spec.split('=')
  if (label === undefined || label === '' || dist === undefined || dist === '')
    throw new Error(`--build ${spec}: want label=<dist dir>[=<options JSON>]`)
  return {
    label,
    dist: path.resolve(dist),
    options: rest.length === 0 ? {} : (JSON.parse(rest.join('=')) as Build['options']),
  }
}

async function main(): Promise<void> {
  if (process.env.THREAD_CPU_CHILD !== undefined) {
    const { dist, options, events, window } = JSON.parse(process.env.THREAD_CPU_CHILD) as {
      dist: string
      options: Record<string, unknown>
      events: number
      window: number
    }
    process.stdout.write(`${JSON.stringify(await child(dist, options, events, window))}\n`)
    return
  }
  const { values } = parseArgs({
    options: {
      build: { type: 'string', multiple: true },
      events: { type: 'string' },
      windows: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
    },
  })
  const builds = (values.build ?? []).map(parseBuild)
  if (builds.length === 0) throw new Error('give at least one --build label=<dist dir>[=<options JSON>]')
  const events = Number(values.events ?? 1_000_000)
  const windows = (values.windows ?? '256,4096').split(',').map(Number)
  const rounds = Number(values.rounds ?? 2)
  const machine = machineInfo(os.tmpdir())
  const started = new Date()
  const runs = new Map<string, Run[]>()
  const self = fileURLToPath(import.meta.url)
  for (let r = 0; r < rounds; r++) {
    for (const w of windows) {
      const order = r % 2 === 0 ? builds : [...builds].reverse()
      for (const b of order) {
        const env = { ...process.env, THREAD_CPU_CHILD: JSON.stringify({ ...b, events, window: w }) }
        const res = spawnSync(process.execPath, [self], { env, encoding: 'utf8' })
        if (res.status !== 0) throw new Error(`${b.label} at ${w}: ${res.stderr}`)
        const key = `${b.label} ${w}`
        runs.set(key, [...(runs.get(key) ?? []), JSON.parse(res.stdout) as Run])
      }
    }
    process.stderr.write(`round ${r + 1}/${rounds} done\n`)
  }
  const med = (xs: number[]): number => spread(xs).median
  const lines = [
    '# CPU per durable event, by thread',
    '',
    ...machineLines(machine),
    `- at end: ${loadLine()}`,
    `- command: \`node dist/bench/thread-cpu.js ${process.argv.slice(2).join(' ')}\``,
    `- ${events} events per run (256-B-class events, one process per run), ${rounds} rounds, builds in alternating order; µs of CPU per event, medians over the rounds (min–max of total)`,
    '',
    '| build | in flight | events/s | app thread | writer | signer | rest | total |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...windows.flatMap((w) =>
      builds.map((b) => {
        const rs = runs.get(`${b.label} ${w}`)!
        const t = spread(rs.map((x) => x.total))
        return `| ${b.label} | ${w} | ${fmt(med(rs.map((x) => x.eventsPerSec)), 0)} | ${med(rs.map((x) => x.main)).toFixed(2)} | ${med(rs.map((x) => x.writer)).toFixed(2)} | ${med(rs.map((x) => x.signer)).toFixed(2)} | ${med(rs.map((x) => x.rest)).toFixed(2)} | ${t.median.toFixed(2)} (${t.min.toFixed(2)}–${t.max.toFixed(2)}) |`
      }),
    ),
  ]
  const md = `${lines.join('\n')}\n`
  process.stdout.write(md)
  await writeReport(values.out ?? localResultsDir(), machine, 'thread-cpu', md, {
    started,
    args: process.argv.slice(2),
    runs: Object.fromEntries(runs),
  })
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
