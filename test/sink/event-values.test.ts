// docs/events.md's value table, one test per row: what encodeEvent writes for
// each JavaScript value (and what readLog gives back through a real sink), or
// the coded refusal naming the value's path.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { AuditSink, readLog, type AuditEvent } from '../../lib/index.js'
import { encodeEvent, jsonText } from '../../lib/sink/event.js'
import { FIXED } from '../../shared/limits.js'
import { tracked } from '../helpers/tracked.js'

const INVALID = 'ERR_AUDIT_EVENT_INVALID'
const TOO_LARGE = 'ERR_AUDIT_EVENT_TOO_LARGE'
const BYTES_MAX = 64 * 1024

class Point {
  x = 1
}
class Money {
  constructor(readonly cents: number) {}
  toJSON(): string {
    return `${this.cents / 100} EUR`
  }
}
class SubArray extends Array {}
class SubDate extends Date {}

function deep(levels: number): unknown {
  let v: unknown = 'bottom'
  for (let i = 0; i < levels; i++) v = i % 2 === 0 ? [v] : { d: v }
  return v
}

function withGetter(first: unknown, later: unknown): Record<string, unknown> {
  let calls = 0
  return Object.defineProperty({}, 'v', { enumerable: true, get: () => (calls++ === 0 ? first : later) })
}

const shared = { s: 'x' }
const cycle: Record<string, unknown> = { a: 1 }
cycle.self = cycle
const nullProto = Object.assign(Object.create(null), { a: 1, b: 'two' })
const withSymbolAndHidden = Object.defineProperty({ a: 1, [Symbol('s')]: 2 }, 'hidden', { value: 3 })
const holey = [1, , 3]
const extraKey = Object.assign([1, 2], { note: 'x' })

/** [row, properties.v (made fresh for each use), stored form] — stored rows. */
const STORED: [string, () => unknown, unknown][] = [
  ['string (quotes, controls, lone surrogate)', () => 'a"b\\c\n\u0000\ud800é😀', 'a"b\\c\n\u0000\ud800é😀'],
  ['finite number', () => 1e300, 1e300],
  ['tiny number', () => 5e-324, 5e-324],
  ['-0 is stored as 0', () => -0, 0],
  ['true', () => true, true],
  ['false', () => false, false],
  ['null', () => null, null],
  ['plain object, key order kept', () => ({ b: 1, a: { c: [1, 'x'] } }), { b: 1, a: { c: [1, 'x'] } }],
  ['null-prototype object', () => nullProto, { a: 1, b: 'two' }],
  ['a key whose value is undefined is left out', () => ({ a: 1, u: undefined }), { a: 1 }],
  ['symbol keys and non-enumerable properties are not stored', () => withSymbolAndHidden, { a: 1 }],
  ['an accessor property: its first (only) value', () => withGetter('first', 'second'), { v: 'first' }],
  ['dense array', () => [1, 'two', null, [3]], [1, 'two', null, [3]]],
  ['the same object twice', () => ({ x: shared, y: [shared] }), { x: { s: 'x' }, y: [{ s: 'x' }] }],
  ['nesting of exactly 64 levels', () => deep(63), deep(63)],
  ['Date', () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)), '2026-01-02T03:04:05.006Z'],
  ['Date at the end of the range', () => new Date(8.64e15), '+275760-09-13T00:00:00.000Z'],
  ['Date subclass', () => new SubDate(0), '1970-01-01T00:00:00.000Z'],
  ['class instance with toJSON: its result', () => new Money(1250), '12.5 EUR'],
  ['a Proxy over a plain object: what it presents', () => new Proxy({ a: 1 }, {}), { a: 1 }],
]

/** [row, properties.v, code, path below properties.v ('' = the value itself)]. */
const REFUSED: [string, unknown, string, string][] = [
  ['array with a hole', holey, INVALID, ''],
  ['array with a non-index key', extraKey, INVALID, ''],
  ['array subclass', SubArray.from([1]), INVALID, ''],
  ['undefined in an array', [1, undefined], INVALID, '[1]'],
  ['a cycle', cycle, INVALID, '.self'],
  ['nesting deeper than 64 (the path, cut at 128 characters)', deep(64), INVALID, '.d[0].d[0]*'],
  ['invalid Date', new Date(NaN), INVALID, ''],
  ['class instance without toJSON', new Point(), INVALID, ''],
  [
    'toJSON that throws',
    {
      toJSON: undefined,
      m: Object.assign(new Point(), {
        toJSON: () => {
          throw new Error('no')
        },
      }),
    },
    INVALID,
    '.m',
  ],
  ['toJSON that returns undefined', Object.assign(new Point(), { toJSON: () => undefined }), INVALID, ''],
  ['toJSON whose result is refused (a Map)', Object.assign(new Point(), { toJSON: () => new Map() }), INVALID, ''],
  ['a toJSON function on a plain object', { toJSON: () => 'x' }, INVALID, '.toJSON'],
  ['function', () => 1, INVALID, ''],
  ['symbol', Symbol('s'), INVALID, ''],
  ['BigInt', 10n, INVALID, ''],
  ['NaN', NaN, INVALID, ''],
  ['Infinity', Infinity, INVALID, ''],
  ['-Infinity', -Infinity, INVALID, ''],
  ['Map', new Map([[1, 2]]), INVALID, ''],
  ['Set', new Set([1]), INVALID, ''],
  ['WeakMap', new WeakMap(), INVALID, ''],
  ['WeakSet', new WeakSet(), INVALID, ''],
  ['Error', new Error('inside'), INVALID, ''],
  ['TypeError', new TypeError('inside'), INVALID, ''],
  ['RegExp', /a+/g, INVALID, ''],
  ['Uint8Array', new Uint8Array([1, 2]), INVALID, ''],
  ['Float64Array', new Float64Array([1.5]), INVALID, ''],
  ['DataView', new DataView(new ArrayBuffer(2)), INVALID, ''],
  ['ArrayBuffer', new ArrayBuffer(2), INVALID, ''],
  ['SharedArrayBuffer', new SharedArrayBuffer(2), INVALID, ''],
  ['Buffer', Buffer.from('ab'), INVALID, ''],
  ['boxed string', new String('s'), INVALID, ''],
  ['boxed number', new Number(1), INVALID, ''],
  ['boxed boolean', new Boolean(false), INVALID, ''],
  ['Promise', Promise.resolve(1), INVALID, ''],
  ['WeakRef', new WeakRef({}), INVALID, ''],
  [
    'a getter that throws',
    Object.defineProperty({}, 'g', {
      enumerable: true,
      get: () => {
        throw new Error('getter')
      },
    }),
    INVALID,
    '.g',
  ],
  [
    'a Proxy whose ownKeys trap throws',
    new Proxy(
      {},
      {
        ownKeys: () => {
          throw new Error('trap')
        },
      },
    ),
    INVALID,
    '',
  ],
  [
    'a revoked Proxy',
    (() => {
      const r = Proxy.revocable({}, {})
      r.revoke()
      return r.proxy
    })(),
    INVALID,
    '',
  ],
  [
    `an object with more than ${FIXED.eventKeysPerObjectMax} keys`,
    Object.fromEntries(Array.from({ length: FIXED.eventKeysPerObjectMax + 1 }, (_, i) => [`k${i}`, 0])),
    TOO_LARGE,
    '',
  ],
]

function encode(v: unknown) {
  return encodeEvent({ level: 'Information', messageTemplate: 'row', properties: { v } }, BYTES_MAX)
}

for (const [row, make, stored] of STORED) {
  test(`stored: ${row}`, () => {
    const enc = encode(make())
    const body = JSON.parse(jsonText(enc)) as { properties: { v: unknown } }
    assert.equal(body.properties.v, stored)
    assert.equal(JSON.stringify(body.properties.v), JSON.stringify(stored)) // key order too
    assert.is(enc.len, Buffer.byteLength(jsonText(enc)))
  })
}

for (const [row, v, code, below] of REFUSED) {
  test(`refused: ${row}`, () => {
    try {
      encode(v)
      assert.unreachable(`${row} was stored`)
    } catch (err) {
      const e = err as { code?: string; details?: { path?: string }; message: string }
      assert.is(e.code, code, e.message)
      const path = e.details?.path ?? ''
      if (below.endsWith('*')) assert.ok(path.startsWith(`properties.v${below.slice(0, -1)}`), path)
      else assert.is(path, `properties.v${below}`, e.message)
      assert.ok(path.length <= FIXED.errorPathCharsMax + 1, `a path of ${path.length} chars`)
      assert.ok(e.message.length < 300, `message of ${e.message.length} chars`)
    }
  })
}

/** The event's fields: [row, fields over a base event, stored fields | refusal code, refusal path]. */
const err = new RangeError('boom')
const stackThrows = Object.defineProperty(new TypeError('bad'), 'stack', {
  get: () => {
    throw new Error('no stack')
  },
})
const stackObject = Object.defineProperty(new Error('odd'), 'stack', { value: { not: 'text' } })
const noStrings = Object.defineProperty(Object.defineProperty(new Error('x'), 'stack', { value: 7 }), 'message', {
  value: 8,
})
const FIELDS: [string, Record<string, unknown>, Record<string, unknown> | string, string?][] = [
  ['timestamp: an integer', { timestamp: 1_700_000_000_123 }, { timeMs: 1_700_000_000_123 }],
  ['timestamp: a Date', { timestamp: new Date(5) }, { timeMs: 5 }],
  ['timestamp: an ISO string', { timestamp: '2026-01-02T03:04:05.006Z' }, { timeMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6) }],
  ['timestamp: the end of the Date range', { timestamp: 8.64e15 }, { timeMs: 8.64e15 }],
  ['timestamp: the start of the Date range', { timestamp: -8.64e15 }, { timeMs: -8.64e15 }],
  ['timestamp: 1e20', { timestamp: 1e20 }, INVALID, 'timestamp'],
  ['timestamp: 1e16', { timestamp: 1e16 }, INVALID, 'timestamp'],
  ['timestamp: 2**62', { timestamp: 2 ** 62 }, INVALID, 'timestamp'],
  ['timestamp: 2**53 + 2', { timestamp: 2 ** 53 + 2 }, INVALID, 'timestamp'],
  ['timestamp: -8.64e15 - 1', { timestamp: -8.64e15 - 1 }, INVALID, 'timestamp'],
  ['timestamp: 1.5', { timestamp: 1.5 }, INVALID, 'timestamp'],
  ['timestamp: an invalid Date', { timestamp: new Date(NaN) }, INVALID, 'timestamp'],
  ['timestamp: a date string past the range', { timestamp: '+275760-09-13T00:00:00.001Z' }, INVALID, 'timestamp'],
  ['timestamp: a string longer than 64 characters', { timestamp: `2026-01-01${' '.repeat(60)}` }, INVALID, 'timestamp'],
  ['timestamp: an object', { timestamp: { ms: 1 } }, INVALID, 'timestamp'],
  ['exception: a string', { exception: 'Error: x\n  at y' }, { exception: 'Error: x\n  at y' }],
  ['exception: an Error, its stack', { exception: err }, { exception: err.stack }],
  ['exception: a stack getter that throws, name: message', { exception: stackThrows }, { exception: 'TypeError: bad' }],
  ['exception: a stack that is not a string, name: message', { exception: stackObject }, { exception: 'Error: odd' }],
  ['exception: no string stack, name or message', { exception: noStrings }, INVALID, 'exception'],
  ['exception: a number', { exception: 500 }, INVALID, 'exception'],
  ['exception: a plain object', { exception: { message: 'x' } }, INVALID, 'exception'],
  ['properties: an array', { properties: [1] }, INVALID, 'properties'],
  ['properties: null', { properties: null }, INVALID, 'properties'],
  ['properties: a Map', { properties: new Map() }, INVALID, 'properties'],
  ['properties: a Date', { properties: new Date(0) }, INVALID, 'properties'],
  ['properties: a class instance', { properties: new Point() }, INVALID, 'properties'],
  ['properties: a string', { properties: 'a=1' }, INVALID, 'properties'],
  ['level: not one of the six', { level: 'Info' }, INVALID, 'level'],
  ['level: not a string', { level: 3 }, INVALID, 'level'],
  ['messageTemplate: not a string', { messageTemplate: 42 }, INVALID, 'messageTemplate'],
]

for (const [row, fields, want, path] of FIELDS) {
  test(`field: ${row}`, () => {
    const ev = { level: 'Warning', messageTemplate: 'f', ...fields } as unknown as AuditEvent
    let enc
    try {
      enc = encodeEvent(ev, BYTES_MAX)
    } catch (e) {
      const x = e as { code?: string; details?: { path?: string }; message: string }
      assert.is(x.code, want, x.message)
      assert.is(x.details?.path, path)
      return
    }
    assert.type(want, 'object', `${row} was stored`)
    const w = want as { timeMs?: number; exception?: string }
    if (w.timeMs !== undefined) assert.is(enc.timeMs, w.timeMs)
    if (w.exception !== undefined) assert.is((JSON.parse(jsonText(enc)) as { exception: string }).exception, w.exception)
  })
}

test('the stored rows read back through a real sink exactly as the table says', async () => {
  const t = tracked('event-values')
  try {
    const dir = t.freshDir()
    const sink = await t.openSink({ dir, eventBytesMax: BYTES_MAX })
    for (const [row, make] of STORED) {
      const ev: AuditEvent = { level: 'Information', messageTemplate: row, properties: { v: make() } }
      await sink.emit(ev)
    }
    await sink.close()
    const got: unknown[] = []
    for await (const r of readLog(dir)) got.push(r.event.properties.v)
    assert.equal(
      got.map((v) => JSON.stringify(v)),
      STORED.map(([, , stored]) => JSON.stringify(stored)),
    )
  } finally {
    await t.cleanup()
  }
})

test.run()
