// mtlog-audit/pino and mtlog-audit/pino-transport with the real pino 10 and
// thread-stream: receipts are the records' seqs in readLog, the mapping, fail
// closed, 10,000 lines then the barrier, and a child process SIGKILLed right
// after the barrier keeps every line.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import pino from 'pino'
import { AuditSink, readLog, type LogRecord, type Receipt } from '../../lib/index.js'
import { auditDestination, auditLog, flushLogger, pinoLineToEvent } from '../../lib/adapters/pino.js'
import { tempDir } from '../helpers/dirs.js'

const SEED = Number(process.env.PINO_SEED ?? Date.now() % 2 ** 31)
console.log('pino seed', SEED)
const TRANSPORT = new URL('../../lib/adapters/pino-transport.js', import.meta.url).pathname
const CHILD = new URL('./fixtures/pino-child.js', import.meta.url).pathname

function mulberry32(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function records(dir: string): Promise<Map<number, LogRecord>> {
  const m = new Map<number, LogRecord>()
  for await (const r of readLog(dir)) m.set(r.seq, r)
  return m
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
const MAPPED = ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal']

test("each auditLog receipt's seq is its record's position in readLog, with the line's content", async () => {
  const rnd = mulberry32(SEED)
  const dir = tempDir('pino-receipts')
  const sink = await AuditSink.open({ dir })
  const dest = auditDestination(sink)
  const logger = pino({ level: 'trace', base: { service: 'billing' } }, dest)
  const sent: { receipt: Promise<Receipt>; level: number; user: string; n: number; before: number }[] = []
  const n = 100 + Math.floor(rnd() * 400)
  for (let i = 0; i < n; i++) {
    const level = Math.floor(rnd() * LEVELS.length)
    const user = `u-${Math.floor(rnd() * 1e6)}`
    sent.push({
      receipt: auditLog(logger, dest, LEVELS[level]!, { user, n: i }, 'user {user} did {n} {things}'),
      level,
      user,
      n: i,
      before: Date.now(),
    })
  }
  const receipts = await Promise.all(sent.map((s) => s.receipt))
  await sink.close()
  const recs = await records(dir)
  for (let i = 0; i < n; i++) {
    const r = recs.get(receipts[i]!.seq)
    assert.ok(r, `seq ${receipts[i]!.seq} (seed ${SEED}) not in the log`)
    const e = r!.event
    assert.is(e.level, MAPPED[sent[i]!.level])
    assert.is(e.messageTemplate, 'user {{user}} did {{n}} {{things}}', 'braces doubled: a literal template')
    assert.is(e.properties.user, sent[i]!.user)
    assert.is(e.properties.n, i)
    assert.is(e.properties.service, 'billing')
    assert.ok(!('msg' in e.properties) && !('level' in e.properties) && !('time' in e.properties))
    assert.ok(Math.abs(e.timestamp.getTime() - sent[i]!.before) < 60_000)
  }
  // In call order, increasing seqs.
  for (let i = 1; i < n; i++) assert.ok(receipts[i]!.seq > receipts[i - 1]!.seq)
})

test('mapping: err → exception, custom and label levels, ISO and unix times, escaped braces', () => {
  const e1 = pinoLineToEvent(
    '{"level":50,"time":1700000000123,"msg":"boom {x}","err":{"type":"TypeError","message":"m","stack":"TypeError: m\\n at f"},"x":1}',
  )
  assert.equal(e1, {
    level: 'Error',
    timestamp: 1700000000123,
    messageTemplate: 'boom {{x}}',
    exception: 'TypeError: m\n at f',
    properties: { x: 1 },
  })
  assert.is(pinoLineToEvent('{"level":35,"msg":"custom"}').level, 'Information')
  assert.is(pinoLineToEvent('{"level":"warn","msg":"label"}').level, 'Warning')
  assert.is(pinoLineToEvent('{"level":61}').level, 'Fatal')
  assert.is(pinoLineToEvent('{"level":30,"time":"2026-01-02T03:04:05.678Z"}').timestamp, '2026-01-02T03:04:05.678Z')
  assert.is(pinoLineToEvent('{"level":30,"time":1700000000}', { timeUnit: 's' }).timestamp, 1700000000000)
  assert.is(pinoLineToEvent('{"level":30,"message":"k"}', { messageKey: 'message' }).messageTemplate, 'k')
  for (const bad of ['not json', '[1]', '{"level":"loud"}', '{"level":30,"time":{}}', '{"level":30,"msg":{}}']) {
    try {
      pinoLineToEvent(bad)
      assert.unreachable(`accepted ${bad}`)
    } catch (e) {
      assert.is((e as { code?: string }).code, 'ERR_AUDIT_EVENT_INVALID', bad)
    }
  }
})

test('fail closed: a line that is not JSON throws from write, and the destination refuses from then on', async () => {
  const sink = await AuditSink.open({ dir: tempDir('pino-bad') })
  const dest = auditDestination(sink)
  const logger = pino(dest)
  await auditLog(logger, dest, 'info', { ok: 1 }, 'fine')
  assert.throws(
    () => dest.write('this is not json\n'),
    (e: { code?: string }) => e.code === 'ERR_AUDIT_EVENT_INVALID',
  )
  assert.throws(
    () => logger.info('after the refusal'),
    (e: { code?: string }) => e.code === 'ERR_AUDIT_EVENT_INVALID',
  )
  const err = await dest.flush().then(
    () => undefined,
    (e: { code?: string }) => e,
  )
  assert.is(err?.code, 'ERR_AUDIT_EVENT_INVALID', 'the barrier never covers a refused line')
  await sink.close()
})

test('auditLog rejects ERR_AUDIT_NOT_LOGGED when the level is filtered out or the line went elsewhere', async () => {
  const sink = await AuditSink.open({ dir: tempDir('pino-filtered') })
  const dest = auditDestination(sink)
  const logger = pino({ level: 'warn' }, dest)
  const e1 = await auditLog(logger, dest, 'info', {}, 'dropped').catch((e: { code?: string }) => e)
  assert.is((e1 as { code?: string }).code, 'ERR_AUDIT_NOT_LOGGED')
  // A multistream whose audit stream takes only errors: a warn line goes elsewhere.
  const other = auditDestination(sink)
  const multi = pino({ level: 'info' }, pino.multistream([{ level: 'error', stream: other }]))
  const e2 = await auditLog(multi, other, 'warn', {}, 'elsewhere').catch((e: { code?: string }) => e)
  assert.is((e2 as { code?: string }).code, 'ERR_AUDIT_NOT_LOGGED')
  const ok = await auditLog(multi, other, 'error', { k: 1 }, 'kept')
  assert.ok(ok.seq >= 1)
  await sink.close()
})

test('a failed sink: the receipt rejects ERR_AUDIT_FAILED, flushLogger rejects, the next line throws', async () => {
  const sink = await AuditSink.open({ dir: tempDir('pino-failed') })
  const dest = auditDestination(sink)
  const logger = pino(dest)
  await auditLog(logger, dest, 'info', {}, 'before')
  await sink.destroy()
  const e = await auditLog(logger, dest, 'info', {}, 'after').catch((x: { code?: string }) => x)
  assert.ok(['ERR_AUDIT_DESTROYED', 'ERR_AUDIT_CLOSED'].includes((e as { code: string }).code), String(e))
  const f = await flushLogger(logger).catch((x: { code?: string }) => x)
  assert.ok((f as { code?: string })?.code?.startsWith('ERR_AUDIT_'))
  assert.throws(() => logger.info('refused'))
})

async function tenThousand(dir: string, mode: 'dest' | 'transport'): Promise<void> {
  const sink = await AuditSink.open({ dir })
  const transport =
    mode === 'transport' ? pino.transport({ target: TRANSPORT, options: { handle: sink.handle() } }) : undefined
  const logger = transport !== undefined ? pino(transport) : pino(auditDestination(sink))
  for (let n = 0; n < 10_000; n++) logger.info({ n }, 'line {n}')
  await flushLogger(logger)
  // The barrier resolved: every line is on disk now, before anything is closed.
  let next = 0
  for await (const r of readLog(dir)) {
    if (r.event.messageTemplate !== 'line {{n}}') continue
    assert.is(r.event.properties.n, next, `${mode}: line ${next} missing or out of order`)
    next++
  }
  assert.is(next, 10_000, `${mode}: ${next} of 10,000 lines in the log after the barrier`)
  transport?.end()
  await sink.close()
}

test('10,000 lines then the barrier: all in the log, in order (in-process destination)', async () => {
  await tenThousand(tempDir('pino-10k'), 'dest')
})

test('10,000 lines then the barrier: all in the log, in order (pino.transport target, another producer)', async () => {
  await tenThousand(tempDir('pino-10k-t'), 'transport')
})

test("the transport is ready before the logger exists, and maps with the logger's messageKey", async () => {
  const dir = tempDir('pino-t-config')
  const sink = await AuditSink.open({ dir })
  const transport = pino.transport({ target: TRANSPORT, options: { handle: sink.handle() } })
  await once(transport, 'ready') // no deadlock: pino's config comes only with the logger
  const logger = pino({ messageKey: 'message', errorKey: 'error' }, transport)
  logger.error({ error: { type: 'Error', message: 'x', stack: 'Error: x\n at y' } }, 'with {braces}')
  await flushLogger(logger)
  const [r] = [...(await records(dir)).values()]
  assert.is(r!.event.messageTemplate, 'with {{braces}}')
  assert.is(r!.event.exception, 'Error: x\n at y')
  assert.not.ok('message' in r!.event.properties || 'error' in r!.event.properties)
  transport.end()
  await sink.close()
})

test('the transport fails closed: a line it cannot store is an error on the app side', async () => {
  const sink = await AuditSink.open({ dir: tempDir('pino-t-bad') })
  const transport = pino.transport({ target: TRANSPORT, options: { handle: sink.handle() } })
  const logger = pino(transport)
  logger.info('fine')
  await flushLogger(logger)
  const err = new Promise<Error>((resolve) => transport.once('error', resolve))
  transport.write('not json\n')
  const e = await err
  assert.match(e.message, /not JSON/)
  await sink.close()
})

function runChild(
  dir: string,
  mode: string,
  count: number,
): Promise<{ line: string; signal: string | null; err: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CHILD, dir, mode, String(count)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    let line = ''
    c.stdout.setEncoding('utf8')
    c.stdout.on('data', (d: string) => {
      out += d
      const m = /^B .*$/m.exec(out)
      if (m !== null && line === '') {
        line = m[0]
        c.kill('SIGKILL')
      }
    })
    c.stderr.on('data', (d) => (err += d))
    c.on('close', (_code, signal) => resolve({ line, signal, err }))
  })
}

for (const mode of ['dest', 'transport'] as const)
  test(`a child that awaited the barrier and was SIGKILLed keeps every line (${mode})`, async () => {
    const rnd = mulberry32(SEED ^ (mode === 'dest' ? 1 : 2))
    const count = 1000 + Math.floor(rnd() * 9000)
    const dir = tempDir(`pino-kill-${mode}`)
    const r = await runChild(dir, mode, count)
    assert.is(r.signal, 'SIGKILL', `the child ended without the barrier line: ${r.err}`)
    assert.match(r.line, new RegExp(`^B ${count} \\d+$`))
    const seen = new Set<number>()
    for await (const rec of readLog(dir)) {
      if (rec.event.properties.mode !== mode) continue
      seen.add(rec.event.properties.n as number)
    }
    assert.is(seen.size, count, `${count - seen.size} of ${count} lines lost (seed ${SEED})`)
    // And the directory opens cleanly after the kill, with all of them.
    const sink = await AuditSink.open({ dir })
    assert.ok(sink.openReport.lastSeq >= count)
    await sink.close()
  })

test.run()
