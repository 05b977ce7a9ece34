/**
 * Cost per event of each logger integration against a bare emit(), in one run.
 *
 *   node dist/bench/adapters.js [--events N] [--rounds R] [--dir PATH]
 *
 * Each round runs every variant once, in an order that rotates per round, on
 * its own fresh sink: N events issued in a synchronous loop (the caller's
 * cost: what `logger.info()` or `sink.emit()` takes on the app thread), then
 * the variant's durable barrier (end to end: until every event is durable).
 *
 *   emit               sink.emit(event) ×N, then sink.flush()
 *   pino (in process)  logger.info(obj, msg) ×N into auditDestination, then flushLogger
 *   pino transport     logger.info(obj, msg) ×N into 'mtlog-audit/pino-transport', then flushLogger
 *   winston            logger.info(msg, meta) ×N into AuditTransport, then logger.end() + 'finish'
 *
 * Reported: the median over rounds of µs per event for the issuing loop and
 * for issue + barrier, and each integration's ratio to the bare emit. Same
 * properties in every variant (the loggers add their own: pid, hostname, time).
 * Not a test: numbers depend on the machine and the disk.
 */

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import pino from 'pino'
import winston from 'winston'
import { AuditSink } from '../lib/index.js'
import { auditDestination, flushLogger } from '../lib/adapters/pino.js'
import { AuditTransport } from '../lib/adapters/winston.js'

const TRANSPORT = new URL('../lib/adapters/pino-transport.js', import.meta.url).pathname
const MSG = 'User accessed a record'

interface Timing {
  issueUs: number
  totalUs: number
}

type Variant = (sink: AuditSink, n: number) => Promise<Timing>

function props(i: number): { UserId: string; RecordId: string; n: number } {
  return { UserId: `u-${i % 9973}`, RecordId: `r-${i}`, n: i }
}

async function timed(issue: () => void, barrier: () => Promise<unknown>, n: number): Promise<Timing> {
  const t0 = performance.now()
  issue()
  const t1 = performance.now()
  await barrier()
  const t2 = performance.now()
  return { issueUs: ((t1 - t0) * 1000) / n, totalUs: ((t2 - t0) * 1000) / n }
}

const VARIANTS: Record<string, Variant> = {
  emit: (sink, n) =>
    timed(
      () => {
        for (let i = 0; i < n; i++)
          void sink.emit({ level: 'Information', messageTemplate: MSG, properties: props(i) }).catch(() => {})
      },
      () => sink.flush(),
      n,
    ),
  'pino (in process)': (sink, n) => {
    const logger = pino(auditDestination(sink))
    return timed(
      () => {
        for (let i = 0; i < n; i++) logger.info(props(i), MSG)
      },
      () => flushLogger(logger),
      n,
    )
  },
  'pino transport': async (sink, n) => {
    const transport = pino.transport({ target: TRANSPORT, options: { handle: sink.handle() } })
    await once(transport, 'ready')
    const logger = pino(transport)
    const t = await timed(
      () => {
        for (let i = 0; i < n; i++) logger.info(props(i), MSG)
      },
      () => flushLogger(logger),
      n,
    )
    transport.end()
    return t
  },
  winston: (sink, n) => {
    const logger = winston.createLogger({ transports: [new AuditTransport({ sink })] })
    return timed(
      () => {
        for (let i = 0; i < n; i++) logger.info(MSG, props(i))
      },
      async () => {
        logger.end()
        await once(logger, 'finish')
      },
      n,
    )
  },
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '5' },
      dir: { type: 'string' },
    },
  })
  const n = Number(values.events)
  const rounds = Number(values.rounds)
  const parent = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-bench-adapters-'))
  const names = Object.keys(VARIANTS)
  const results = new Map<string, Timing[]>(names.map((k) => [k, []]))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]!
      const dir = path.join(parent, `r${r}-${k}`)
      const sink = await AuditSink.open({ dir })
      results.get(name)!.push(await VARIANTS[name]!(sink, n))
      await sink.close()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
  const base = results.get('emit')!
  const baseIssue = median(base.map((t) => t.issueUs))
  const baseTotal = median(base.map((t) => t.totalUs))
  console.log(
    `mtlog-audit integrations: ${n} events × ${rounds} rounds per variant, node ${process.version}, ${os.cpus().length} CPUs`,
  )
  console.log('| variant | issue µs/event | ×emit | issue+barrier µs/event | ×emit |')
  console.log('|---|---:|---:|---:|---:|')
  for (const name of names) {
    const ts = results.get(name)!
    const issue = median(ts.map((t) => t.issueUs))
    const total = median(ts.map((t) => t.totalUs))
    console.log(
      `| ${name} | ${issue.toFixed(2)} | ${(issue / baseIssue).toFixed(2)} | ${total.toFixed(2)} | ${(total / baseTotal).toFixed(2)} |`,
    )
  }
  if (values.dir === undefined) fs.rmSync(parent, { recursive: true, force: true })
}

await main()
