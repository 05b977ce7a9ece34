// decodeEvent (shared/event.ts) is the inverse of encodeEvent for everything
// emit() writes, and refuses every other payload with a coded
// ERR_AUDIT_RECORD_UNREADABLE naming the seq, never a raw SyntaxError, a
// RangeError or an Invalid Date.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { encodeEvent, jsonText } from '../../lib/sink/event.js'
import { AuditError } from '../../shared/errors.js'
import { decodeEvent } from '../../shared/event.js'

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s))

test('what encodeEvent writes decodes to the same event', () => {
  const err = new Error('boom')
  const enc = encodeEvent(
    {
      timestamp: 8.64e15,
      level: 'Fatal',
      messageTemplate: 'T {a}',
      properties: { a: [1, { b: 'é😀\ud800' }], d: new Date(0) },
      exception: err,
    },
    4096,
  )
  const ev = decodeEvent(bytes(jsonText(enc)), enc.timeMs, 7)
  assert.is(ev.timestamp.toISOString(), '+275760-09-13T00:00:00.000Z')
  assert.is(ev.level, 'Fatal')
  assert.is(ev.messageTemplate, 'T {a}')
  assert.equal(ev.properties, { a: [1, { b: 'é😀\ud800' }], d: '1970-01-01T00:00:00.000Z' })
  assert.is(ev.exception, err.stack)
  const bare = decodeEvent(bytes(jsonText(encodeEvent({ level: 'Debug', messageTemplate: 'x' }, 4096))), 0)
  assert.equal(bare.properties, {})
  assert.is('exception' in bare, false)
})

const BAD: [string, string, number, string][] = [
  ['not JSON', '{"level":"Information","messageTemplate":"x', 1, 'json'],
  ['not UTF-8 JSON at all', '\u0000\u0001', 1, 'json'],
  ['a JSON array', '[1,2]', 1, 'shape'],
  ['a JSON string', '"Information"', 1, 'shape'],
  ['JSON null', 'null', 1, 'shape'],
  ['a level that is not one of the six', '{"level":"\\"","messageTemplate":"x"}', 1, 'level'],
  ['no level', '{"messageTemplate":"x"}', 1, 'level'],
  ['a template that is a number', '{"level":"Error","messageTemplate":42}', 1, 'template'],
  ['properties that are an array', '{"level":"Error","messageTemplate":"x","properties":[1]}', 1, 'properties'],
  ['properties that are null', '{"level":"Error","messageTemplate":"x","properties":null}', 1, 'properties'],
  ['an exception that is an object', '{"level":"Error","messageTemplate":"x","exception":{}}', 1, 'exception'],
  ['a timestamp past the Date range', '{"level":"Error","messageTemplate":"x"}', 1e16, 'timestamp'],
  ['a timestamp that is not an integer', '{"level":"Error","messageTemplate":"x"}', 0.5, 'timestamp'],
  ['a timestamp that is NaN', '{"level":"Error","messageTemplate":"x"}', NaN, 'timestamp'],
]

for (const [what, payload, timeMs, problem] of BAD) {
  test(`refused with ERR_AUDIT_RECORD_UNREADABLE: ${what}`, () => {
    for (const seq of [42, undefined]) {
      try {
        decodeEvent(bytes(payload), timeMs, seq)
        assert.unreachable(`${what} was decoded`)
      } catch (err) {
        assert.ok(err instanceof AuditError, String(err))
        assert.is(err.code, 'ERR_AUDIT_RECORD_UNREADABLE')
        assert.is(err.details?.problem, problem)
        assert.is(err.details?.seq, seq)
        assert.is('seq' in (err.details ?? {}), seq !== undefined)
        if (seq !== undefined) assert.match(err.message, /seq 42/)
      }
    }
  })
}

test('a stored level of 10 MB gives a short message', () => {
  const payload = bytes(`{"level":"${'I'.repeat(10 * 2 ** 20)}","messageTemplate":"x"}`)
  try {
    decodeEvent(payload, 0, 3)
    assert.unreachable()
  } catch (err) {
    assert.is((err as AuditError).code, 'ERR_AUDIT_RECORD_UNREADABLE')
    assert.ok((err as Error).message.length < 200, `${(err as Error).message.length} chars`)
  }
})

test.run()
