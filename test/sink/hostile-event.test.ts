// Hostile events and options through the public API (issue 15, findings 1-4
// and the event/option parts of 10): each used to kill the sink, store
// something other than what was checked, throw uncoded, or take gigabytes.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { constants } from 'node:buffer'
import fs from 'node:fs'
import path from 'node:path'
import {
  AuditSink,
  exportLog,
  logStats,
  readLog,
  replay,
  verifyLog,
  type AuditEvent,
  type LogRecord,
} from '../../lib/index.js'
import { encodeEvent, jsonText } from '../../lib/sink/event.js'
import { tracked } from '../helpers/tracked.js'

const INVALID = 'ERR_AUDIT_EVENT_INVALID'
const TOO_LARGE = 'ERR_AUDIT_EVENT_TOO_LARGE'
const t = tracked('hostile-event')
test.after(() => t.cleanup())

type Coded = { code?: string; details?: Record<string, unknown>; message: string; name?: string }

async function refusal(p: Promise<unknown>): Promise<Coded> {
  try {
    await p
  } catch (err) {
    return err as Coded
  }
  throw new Error('expected a rejection, got a resolution')
}

function refusedNow(fn: () => unknown): Coded {
  try {
    fn()
  } catch (err) {
    return err as Coded
  }
  throw new Error('expected a throw')
}

async function readAll(dir: string): Promise<LogRecord[]> {
  const out: LogRecord[] = []
  for await (const r of readLog(dir)) out.push(r)
  return out
}

/** A value that answers `answers[i]` to its i-th read (the last one after that), counting reads. */
function shifty(answers: unknown[]): { get: () => unknown; reads: () => number } {
  let n = 0
  return { get: () => answers[Math.min(n++, answers.length - 1)], reads: () => n }
}

const ev = (extra: Record<string, unknown> = {}): AuditEvent =>
  ({ level: 'Information', messageTemplate: 'm', ...extra }) as unknown as AuditEvent

test('finding 1: an out-of-range timestamp is refused at emit and never reaches the writer; the sink keeps working', async () => {
  const dir = t.freshDir()
  const sink = await t.openSink({ dir })
  const bad = [1e20, 1e16, 2 ** 62, 2 ** 53 + 2, -8.64e15 - 1]
  const first = sink.emit(ev({ properties: { n: 0 } }))
  const refused = await Promise.all(bad.map((ts) => refusal(sink.emit(ev({ timestamp: ts })))))
  for (const [i, e] of refused.entries()) {
    assert.is(e.code, INVALID, `timestamp ${bad[i]}: ${e.message}`)
    assert.is(e.details?.path, 'timestamp')
  }
  assert.is((await first).seq > 0, true)
  const later = await sink.emit(ev({ properties: { n: 1 } })) // the sink lives on
  await sink.close()
  const got = await readAll(dir)
  assert.equal(
    got.map((r) => r.event.properties.n),
    [0, 1],
  )
  assert.is(got[1]!.seq, later.seq)
})

test('finding 2: the ends of the Date range are stored, and the log verifies, replays, counts and exports in every format', async () => {
  const dir = t.freshDir()
  const sink = await t.openSink({ dir })
  await sink.emit(ev({ timestamp: 8.64e15, properties: { end: 'last' } }))
  await sink.emit(ev({ timestamp: -8.64e15, properties: { end: 'first' } }))
  await sink.emit(ev({ timestamp: new Date(8.64e15), exception: new Error('far') }))
  await sink.close()
  const got = await readAll(dir)
  assert.equal(
    got.map((r) => r.timestamp.toISOString()),
    ['+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.000Z'],
  )
  assert.ok((await verifyLog(dir)).ok)
  let replayed = 0
  for await (const r of replay(dir)) replayed += r.event.level === 'Information' ? 1 : 0
  assert.is(replayed, 3)
  const stats = await logStats(dir)
  assert.ok(stats.ok)
  assert.is(stats.byLevel.Information, 3)
  assert.is(
    stats.byHour.reduce((n, h) => n + h.events, 0),
    3,
  )
  for (const format of ['jsonl', 'clef', 'csv', 'parquet'] as const) {
    const output = path.join(t.freshDir(), `out.${format}`)
    const report = await exportLog(dir, { format, output })
    assert.is(report.records, 3, format)
    assert.ok(fs.statSync(output).size > 0, format)
  }
})

test('finding 3: a getter that answers differently on each read is read once; the first answer is stored and the payload is JSON', async () => {
  const dir = t.freshDir()
  const sink = await t.openSink({ dir })
  const level = shifty(['Information', 'Information', '"'])
  const template = shifty(['User {U}', 42])
  const nan = shifty([7, NaN])
  const fn = shifty(['text', () => 1])
  const props: Record<string, unknown> = {}
  Object.defineProperty(props, 'n', { enumerable: true, get: nan.get })
  Object.defineProperty(props, 'f', { enumerable: true, get: fn.get })
  const event = { timestamp: 5, properties: props }
  Object.defineProperty(event, 'level', { enumerable: true, get: level.get })
  Object.defineProperty(event, 'messageTemplate', { enumerable: true, get: template.get })
  await sink.emit(event as unknown as AuditEvent)
  assert.equal([level.reads(), template.reads(), nan.reads(), fn.reads()], [1, 1, 1, 1])
  await sink.emit(ev()) // after it, the log goes on
  await sink.close()
  const [r] = await readAll(dir)
  assert.is(r!.event.level, 'Information')
  assert.is(r!.event.messageTemplate, 'User {U}')
  assert.equal(r!.event.properties, { n: 7, f: 'text' })
  assert.is([level.reads(), template.reads(), nan.reads(), fn.reads()].join(), '1,1,1,1', 'never read after emit')
})

test('finding 3: Proxies are read once: varying traps give their first answer, throwing traps a coded refusal', () => {
  let gets = 0
  let ownKeys = 0
  const varying = new Proxy(
    { a: 1, b: 'x' },
    {
      get: (target, k, recv) => (typeof k === 'string' && gets++ > 1 ? 'changed' : Reflect.get(target, k, recv)),
      ownKeys: (target) => (ownKeys++ === 0 ? Reflect.ownKeys(target) : ['a']),
    },
  )
  const enc = encodeEvent(ev({ properties: { p: varying } }), 4096)
  assert.equal(JSON.parse(jsonText(enc)).properties, { p: { a: 1, b: 'x' } })
  assert.equal([gets, ownKeys], [2, 1])

  const throwing = new Proxy(
    {},
    {
      ownKeys: () => {
        throw new Error('trap')
      },
    },
  )
  const e = refusedNow(() => encodeEvent(ev({ properties: { deep: [throwing] } }), 4096))
  assert.is(e.code, INVALID)
  assert.is(e.details?.path, 'properties.deep[0]')
  const eventProxy = new Proxy(
    {},
    {
      get: () => {
        throw new Error('whole event')
      },
    },
  )
  assert.is(refusedNow(() => encodeEvent(eventProxy as AuditEvent, 4096)).code, INVALID)
})

test('finding 4: throwing getters, a throwing or odd exception.stack, Error/RegExp/binary values: coded or the documented form', async () => {
  const dir = t.freshDir()
  const sink = await t.openSink({ dir })
  const throwing = Object.defineProperty({}, 'x', {
    enumerable: true,
    get: () => {
      throw new TypeError('getter')
    },
  })
  const e1 = await refusal(sink.emit(ev({ properties: { o: throwing } })))
  assert.is(e1.code, INVALID)
  assert.is(e1.details?.path, 'properties.o.x')
  assert.match(e1.message, /TypeError/)
  for (const v of [new Error('e'), /re/, new Uint8Array(2), Buffer.from('b'), new Map()]) {
    const e = await refusal(sink.emit(ev({ properties: { v } })))
    assert.is(e.code, INVALID, e.message)
    assert.is(e.details?.path, 'properties.v')
  }
  let stackReads = 0
  const stackThrows = Object.defineProperty(new RangeError('bad range'), 'stack', {
    get: () => {
      stackReads++
      throw new Error('no stack for you')
    },
  })
  const stackObject = Object.defineProperty(new Error('odd'), 'stack', { value: { frames: [] } })
  await sink.emit(ev({ exception: stackThrows }))
  await sink.emit(ev({ exception: stackObject }))
  await sink.close()
  assert.is(stackReads, 1)
  const got = await readAll(dir)
  assert.equal(
    got.map((r) => r.event.exception),
    ['RangeError: bad range', 'Error: odd'],
  )
  let n = 0
  for await (const r of replay(dir)) n += r.event.exception === undefined ? 0 : 1
  assert.is(n, 2, 'replay reads them')
})

test('finding 4: huge values are refused while read, before any JSON of them is built', () => {
  // 2^29 - 24 characters made of 8 shared halves: 64 MiB of memory, not 512 MiB.
  const base = 'x'.repeat(Math.floor(constants.MAX_STRING_LENGTH / 8))
  const two = base + base
  const four = two + two
  const huge = four + four
  assert.ok(huge.length > constants.MAX_STRING_LENGTH - 8, `${huge.length}`)
  // (A key is flattened by the engine when the object is made: a long flat one, not the rope.)
  const cases: [string, AuditEvent][] = [
    ['a property', ev({ properties: { s: huge } })],
    ['a key', ev({ properties: { ['k'.repeat(300_000)]: 1 } })],
    ['the template', ev({ messageTemplate: huge })],
    ['the exception', ev({ exception: huge })],
    ['an array of 2^32 - 1 slots', ev({ properties: { a: new Array(2 ** 32 - 1) } })],
  ]
  const rssBefore = process.memoryUsage().rss
  for (const [what, event] of cases) {
    const e = refusedNow(() => encodeEvent(event, 256 * 1024))
    assert.is(e.code, TOO_LARGE, `${what}: ${e.message}`)
    assert.ok((e.details?.bytes as number) > 256 * 1024, what)
    assert.ok(e.message.length < 300, what)
  }
  // A Proxy claiming 2^32 - 1 elements: only its length is read.
  let reads = 0
  const claims = new Proxy([], { get: (target, k) => (reads++, k === 'length' ? 2 ** 32 - 1 : undefined) })
  assert.is(refusedNow(() => encodeEvent(ev({ properties: { a: claims } }), 256 * 1024)).code, TOO_LARGE)
  assert.is(reads, 1)
  const timestamp = refusedNow(() => encodeEvent(ev({ timestamp: huge }), 256 * 1024))
  assert.is(timestamp.code, INVALID)
  // The old encoder flattened and escaped the string: 0.7-1.2 GB. Now nothing near the string's size.
  const grownMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20
  assert.ok(grownMiB < 64, `RSS grew ${grownMiB.toFixed(0)} MiB`)
})

test('finding 10: error messages show a bounded preview of caller data (a 10-MB level, key, option name)', async () => {
  const tenMiB = 'I'.repeat(10 * 2 ** 20)
  const level = refusedNow(() => encodeEvent(ev({ level: tenMiB }), 4096))
  assert.is(level.code, INVALID)
  assert.ok(level.message.length < 200, `${level.message.length} chars`)
  assert.match(level.message, /10485760 chars/)
  const deepKey = refusedNow(() => encodeEvent(ev({ properties: { [tenMiB]: { f: () => 1 } } }), 64 * 2 ** 20))
  assert.ok(deepKey.message.length < 300 && String(deepKey.details?.path).length < 200, deepKey.message.slice(0, 300))
  const option = await refusal(AuditSink.open({ dir: t.freshDir(), [tenMiB]: 1 } as never))
  assert.is(option.code, 'ERR_AUDIT_OPTION_INVALID')
  assert.ok(option.message.length < 300, `${option.message.length} chars`)
  assert.ok(String(option.details?.option).length < 100)
})

test('finding 10: AuditSink.open reads its options once; getters and Proxies that throw are ERR_AUDIT_OPTION_INVALID', async () => {
  const a = path.join(t.freshDir(), 'a')
  const b = path.join(t.freshDir(), 'b')
  const dir = shifty([a, b])
  const options = Object.defineProperty({}, 'dir', { enumerable: true, get: dir.get })
  const sink = await AuditSink.open(options as never)
  assert.is(dir.reads(), 1)
  assert.is(sink.options.dir, a)
  await sink.close()
  assert.ok(fs.existsSync(a))
  assert.not.ok(fs.existsSync(b))

  const throwingGetter = Object.defineProperty({ dir: t.freshDir() }, 'ringBytes', {
    enumerable: true,
    get: () => {
      throw new Error('no')
    },
  })
  const e1 = await refusal(AuditSink.open(throwingGetter as never))
  assert.is(e1.code, 'ERR_AUDIT_OPTION_INVALID')
  assert.is(e1.details?.option, 'ringBytes')
  const trap = new Proxy(
    { dir: t.freshDir() },
    {
      ownKeys: () => {
        throw new Error('trap')
      },
    },
  )
  assert.is((await refusal(AuditSink.open(trap as never))).code, 'ERR_AUDIT_OPTION_INVALID')
  const revoked = Proxy.revocable({ dir: t.freshDir() }, {})
  revoked.revoke()
  assert.is((await refusal(AuditSink.open(revoked.proxy as never))).code, 'ERR_AUDIT_OPTION_INVALID')
  for (const bad of [
    5,
    'dir',
    null,
    { dir: 5 },
    { dir: 'a\0b' },
    { dir: 'd'.repeat(5000) },
    { dir: t.freshDir(), mirror: {} },
  ]) {
    assert.is((await refusal(AuditSink.open(bad as never))).code, 'ERR_AUDIT_OPTION_INVALID', String(bad))
  }
})

test.run()
