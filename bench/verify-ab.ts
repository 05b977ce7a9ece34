/**
 * verify over format v1 against format v2, the same events, in one process,
 * interleaved: what issue 16's budget "verify MB/s of v2 ≥ v1's in the same
 * run" is measured with.
 *
 *   node dist/test/fixtures/make-v1.js --log /tmp/v1 --events 300000 [--small]
 *   node dist/bench/verify-ab.js --v1 /tmp/v1 [--rounds 6] [--out DIR]
 *
 * The v1 log comes from the v1 fixture tool (today's AuditSink writes v2
 * only). This script reads its events (readLog) and writes them, same
 * timestamps and order, into a fresh v2 log with AuditSink (batches of 256
 * emits in flight, no signing): the v2 twin. Each round then runs verifyLog
 * on both logs back to back, the order alternating between rounds, after one
 * untimed warm-up pass each (so both are in the page cache: this measures
 * verify's CPU, not the disk). Reported per format: bytes, records, median
 * MB/s and records/s over the rounds, and the paired ratio v2/v1 within each
 * round (median, min–max).
 *
 * Output: a markdown table on stdout and verify-ab-<date>.md / .json in
 * bench/results/local/ (--out DIR elsewhere).
 */

import fsp from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { AuditSink, readLog, verifyLog } from '../lib/index.js'
import { localResultsDir } from './engine/checkout.js'
import { spread } from './engine/latency.js'
import { loadLine, machineInfo, machineLines, writeReport } from './engine/machine.js'
import { fmt } from './engine/tables.js'

interface Pass {
  seconds: number
  bytes: number
  records: number
}

async function timedVerify(dir: string): Promise<Pass> {
  const t0 = performance.now()
  const r = await verifyLog(dir)
  const seconds = (performance.now() - t0) / 1000
  if (!r.ok) throw new Error(`${dir} does not verify: ${r.firstBad?.message}`)
  return { seconds, bytes: r.bytes, records: r.records }
}

/** The v1 log's events written into a fresh v2 log, in order, same timestamps. */
async function v2Twin(v1: string, dir: string): Promise<number> {
  const sink = await AuditSink.open({ dir })
  let n = 0
  let batch: Promise<unknown>[] = []
  for await (const { event: e } of readLog(v1)) {
    batch.push(
      sink.emit({
        timestamp: e.timestamp,
        level: e.level,
        messageTemplate: e.messageTemplate,
        properties: e.properties,
        ...(e.exception === undefined ? {} : { exception: e.exception }),
      }),
    )
    n++
    if (batch.length === 256) {
      await Promise.all(batch)
      batch = []
    }
  }
  await Promise.all(batch)
  await sink.close()
  return n
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { v1: { type: 'string' }, rounds: { type: 'string' }, dir: { type: 'string' }, out: { type: 'string' } },
  })
  if (values.v1 === undefined)
    throw new Error('--v1 <dir of a v1 log> is required (make one with dist/test/fixtures/make-v1.js --log)')
  const rounds = Number(values.rounds ?? 6)
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer')
  const baseDir = values.dir ?? os.tmpdir()
  const machine = machineInfo(baseDir)
  const started = new Date()
  const v2 = await fsp.mkdtemp(path.join(baseDir, 'mtlog-audit-verify-ab-'))
  try {
    const events = await v2Twin(values.v1, v2)
    const dirs = { v1: values.v1, v2 }
    const passes: Record<'v1' | 'v2', Pass[]> = { v1: [], v2: [] }
    await timedVerify(dirs.v1)
    await timedVerify(dirs.v2)
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 === 0 ? (['v1', 'v2'] as const) : (['v2', 'v1'] as const))
        passes[side].push(await timedVerify(dirs[side]))
      process.stderr.write(`round ${r + 1}/${rounds} done\n`)
    }
    const mbps = (p: Pass): number => p.bytes / 1e6 / p.seconds
    const rps = (p: Pass): number => p.records / p.seconds
    const ratio = spread(passes.v2.map((p, i) => mbps(p) / mbps(passes.v1[i]!)))
    const row = (side: 'v1' | 'v2'): string => {
      const ps = passes[side]
      return `| ${side} | ${fmt(ps[0]!.bytes, 0)} | ${fmt(ps[0]!.records, 0)} | ${spread(ps.map(mbps)).median.toFixed(0)} | ${fmt(spread(ps.map(rps)).median, 0)} |`
    }
    const lines = [
      '# verify: format v1 against v2, the same events, interleaved',
      '',
      ...machineLines(machine),
      `- at end: ${loadLine()}`,
      `- command: \`node dist/bench/verify-ab.js ${process.argv.slice(2).join(' ')}\``,
      `- ${events} events; ${rounds} rounds, each verifying both logs back to back (order alternating), after one warm-up pass each (page cache warm)`,
      '',
      '| format | bytes | records | MB/s (median) | records/s (median) |',
      '|---|---:|---:|---:|---:|',
      row('v1'),
      row('v2'),
      '',
      `v2 / v1 MB/s, paired within each round: median ${ratio.median.toFixed(2)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}).`,
    ]
    const md = `${lines.join('\n')}\n`
    process.stdout.write(md)
    await writeReport(values.out ?? localResultsDir(), machine, 'verify-ab', md, {
      started,
      args: process.argv.slice(2),
      events,
      passes,
      ratio,
    })
  } finally {
    await fsp.rm(v2, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).message}\n`)
  process.exitCode = 1
})
