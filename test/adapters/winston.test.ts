// mtlog-audit/winston with the real winston 3: receipts are the records'
// seqs in readLog, callbacks follow durability (batches through logv),
// logger.end() + 'finish' means durable, winston's exit on an uncaught
// exception keeps the exception, filtered and dropped infos reject, and a
// failed sink is an 'error', never a silent drop.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { once } from 'node:events'
import { spawn } from 'node:child_process'
import winston from 'winston'
import { AuditSink, readLog, type LogRecord } from '../../lib/index.js'
import { AuditTransport, auditLog } from '../../lib/adapters/winston.js'
import { tempDir } from '../helpers/dirs.js'

const SEED = Number(process.env.WINSTON_SEED ?? Date.now() % 2 ** 31)
console.log('winston seed', SEED)
const CHILD = new URL('./fixtures/winston-child.js', import.meta.url).pathname

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function records(dir: string): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of readLog(dir)) out.push(r)
  return out
}

const NPM = ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] as const
const MAPPED = ['Error', 'Warning', 'Information', 'Information', 'Verbose', 'Debug', 'Verbose']

test("each auditLog receipt's seq is its record's position in readLog, with the info's content", async () => {
  const rnd = mulberry32(SEED)
  const dir = tempDir('winston-receipts')
  const sink = await AuditSink.open({ dir })
  const audit = new AuditTransport({ sink })
  const logger = winston.createLogger({
    level: 'silly',
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    defaultMeta: { service: 'payments' },
    transports: [audit],
  })
  const n = 100 + Math.floor(rnd() * 300)
  const sent = Array.from({ length: n }, (_, i) => {
    const level = Math.floor(rnd() * NPM.length)
    return { level, amount: Math.floor(rnd() * 1e6), receipt: undefined as unknown }
  })
  const receipts = await Promise.all(
    sent.map((s, i) =>
      auditLog(logger, audit, NPM[s.level]!, 'charge {amount} for order {i}', { amount: s.amount, i }),
    ),
  )
  const byseq = new Map((await records(dir)).map((r) => [r.seq, r]))
  for (let i = 0; i < n; i++) {
    const r = byseq.get(receipts[i]!.seq)
    assert.ok(r, `seq ${receipts[i]!.seq} not in the log (seed ${SEED})`)
    assert.is(r!.event.level, MAPPED[sent[i]!.level])
    assert.is(r!.event.messageTemplate, 'charge {{amount}} for order {{i}}')
    assert.equal(r!.event.properties, { service: 'payments', amount: sent[i]!.amount, i })
  }
  logger.end()
  await once(logger, 'finish')
  await sink.close()
})

test('format.errors(): the stack becomes the exception; an ISO timestamp the event time', async () => {
  const dir = tempDir('winston-errors')
  const sink = await AuditSink.open({ dir })
  const audit = new AuditTransport({ sink })
  const logger = winston.createLogger({
    format: winston.format.combine(winston.format.errors({ stack: true }), winston.format.timestamp()),
    transports: [audit],
  })
  logger.error(new Error('card declined'))
  logger.end()
  await once(logger, 'finish')
  const [r] = await records(dir)
  assert.is(r!.event.level, 'Error')
  assert.match(r!.event.exception ?? '', /^Error: card declined\n\s+at /)
  assert.is(r!.event.messageTemplate, 'card declined')
  assert.ok(Math.abs(r!.event.timestamp.getTime() - Date.now()) < 60_000)
  assert.ok(!('timestamp' in r!.event.properties))
  await sink.close()
})

test('10,000 infos, logger.end() and "finish": all durable, in order, delivered in batches through logv', async () => {
  const dir = tempDir('winston-10k')
  const sink = await AuditSink.open({ dir })
  const audit = new AuditTransport({ sink })
  let viaLogv = 0
  let batches = 0
  const logv = audit.logv.bind(audit)
  audit.logv = (entries, cb) => {
    batches++
    viaLogv += entries.length
    logv(entries, cb)
  }
  const logger = winston.createLogger({ transports: [audit] })
  for (let n = 0; n < 10_000; n++) logger.info('info {n}', { n })
  logger.end()
  await once(logger, 'finish')
  // Not closed: 'finish' alone must mean durable.
  let next = 0
  for (const r of await records(dir)) {
    assert.is(r.event.properties.n, next)
    next++
  }
  assert.is(next, 10_000)
  assert.ok(batches >= 1 && viaLogv >= 9_000, `logv carried ${viaLogv} infos in ${batches} calls`)
  assert.ok(sink.stats().fsyncs < 5_000, `${sink.stats().fsyncs} fdatasyncs for 10,000 infos: no batching`)
  await sink.close()
})

test('auditLog rejects ERR_AUDIT_NOT_LOGGED: level filtered by logger or transport, or dropped by a format', async () => {
  const sink = await AuditSink.open({ dir: tempDir('winston-filtered') })
  const audit = new AuditTransport({ sink, level: 'warn' })
  const drop = winston.format((info) => (info.drop === true ? false : info))
  const logger = winston.createLogger({ level: 'info', format: drop(), transports: [audit] })
  const code = (p: Promise<unknown>): Promise<string | undefined> =>
    p.then(
      () => undefined,
      (e: { code?: string }) => e.code,
    )
  assert.is(await code(auditLog(logger, audit, 'debug', 'below the logger')), 'ERR_AUDIT_NOT_LOGGED')
  assert.is(await code(auditLog(logger, audit, 'info', 'below the transport')), 'ERR_AUDIT_NOT_LOGGED')
  const dropped = code(auditLog(logger, audit, 'warn', 'dropped by the format', { drop: true }))
  const kept = await auditLog(logger, audit, 'warn', 'kept')
  assert.ok(kept.seq >= 1)
  assert.is(await dropped, 'ERR_AUDIT_NOT_LOGGED')
  // One dropped last is known at the end at the latest.
  const last = code(auditLog(logger, audit, 'error', 'dropped last', { drop: true }))
  logger.end()
  await once(logger, 'finish')
  assert.is(await last, 'ERR_AUDIT_NOT_LOGGED')
  await sink.close()
})

test('a failed sink is an error on the logger, never a silent drop', async () => {
  const sink = await AuditSink.open({ dir: tempDir('winston-failed') })
  const audit = new AuditTransport({ sink })
  const logger = winston.createLogger({ transports: [audit] })
  await auditLog(logger, audit, 'info', 'before')
  await sink.destroy()
  const err = once(logger, 'error')
  logger.info('after')
  const [e] = (await err) as [{ code?: string }]
  assert.ok(['ERR_AUDIT_DESTROYED', 'ERR_AUDIT_CLOSED'].includes(e.code ?? ''), String(e.code))
})

test('an unknown level is refused (fail closed); levelMap names it', async () => {
  const dir = tempDir('winston-levels')
  const sink = await AuditSink.open({ dir })
  const levels = { alarm: 0, note: 1 }
  const strict = new AuditTransport({ sink })
  const l1 = winston.createLogger({ levels, level: 'note', transports: [strict] })
  const err = once(l1, 'error')
  l1.log('alarm', 'no mapping')
  const [e] = (await err) as [{ code?: string }]
  assert.is(e.code, 'ERR_AUDIT_EVENT_INVALID')
  const mapped = new AuditTransport({ sink, levelMap: { alarm: 'Fatal', note: 'Information' } })
  const l2 = winston.createLogger({ levels, level: 'note', transports: [mapped] })
  const r = await auditLog(l2, mapped, 'alarm', 'mapped')
  const recs = await records(dir)
  assert.is(recs.find((x) => x.seq === r.seq)?.event.level, 'Fatal')
  await sink.close()
})

test("winston's exit on an uncaught exception waits for the durable exception event", async () => {
  const dir = tempDir('winston-exit')
  const count = 500
  const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [CHILD, dir, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    c.stderr.on('data', (d) => (err += d))
    c.stdout.resume()
    c.on('close', (code) => resolve({ code, err }))
  })
  assert.is(r.code, 1, `winston should exit 1 after the exception: ${r.err}`)
  const recs = await records(dir)
  const infos = recs.filter((x) => x.event.messageTemplate === 'info {{n}}')
  assert.is(infos.length, count)
  const ex = recs.find((x) => (x.event.exception ?? '').includes('the crash the test expects'))
  assert.ok(ex, 'the uncaught exception is not in the log')
  assert.is(ex!.event.level, 'Error')
})

test.run()
