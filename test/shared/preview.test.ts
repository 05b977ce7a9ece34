// preview() (shared/errors.ts): a bounded description of caller data that runs
// no caller code — no getter, toString, toJSON, Symbol.toPrimitive or Proxy
// trap — for every kind of value, hostile ones included.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

/** An object whose every trap and conversion counts a call (and throws). */
function booby(calls: string[]): object {
  const hit = (what: string) => () => {
    calls.push(what)
    throw new Error(`${what} was called`)
  }
  const handler: ProxyHandler<object> = {}
  for (const trap of ['get', 'getPrototypeOf', 'ownKeys', 'getOwnPropertyDescriptor', 'has'] as const)
    (handler as Record<string, unknown>)[trap] = hit(trap)
  return new Proxy({}, handler)
}

test('strings: quoted, cut at max characters with the length, control characters escaped', () => {
  assert.is(preview('Informaton'), '"Informaton"')
  assert.is(preview('a"b\\c\nd\u0000'), '"a\\"b\\\\c\\u000ad\\u0000"')
  const long = preview('y'.repeat(1000))
  assert.ok(long.startsWith('"yyyy') && long.endsWith('… (1000 chars)'), long)
  assert.ok(long.length <= FIXED.previewCharsMax + 30, `${long.length}`)
  assert.is(preview('z'.repeat(10 * 2 ** 20)), 'a string of 10485760 chars')
  assert.is(preview('abcdef', 3), '"abc"… (6 chars)')
})

test('primitives and functions', () => {
  assert.is(preview(42), '42')
  assert.is(preview(NaN), 'NaN')
  assert.is(preview(true), 'true')
  assert.is(preview(undefined), 'undefined')
  assert.is(preview(null), 'null')
  assert.is(preview(10n), '10n')
  assert.is(preview(2n ** 100_000n), 'a BigInt wider than 64 bits')
  assert.is(preview(Symbol('s')), 'a Symbol("s")')
  assert.ok(preview(Symbol('q'.repeat(1e6))).length < 120)
  assert.is(
    preview(function named() {}),
    'a function named',
  )
  let nameReads = 0
  class Sneaky {
    static get name(): string {
      nameReads++
      return 'x'
    }
  }
  assert.is(preview(Sneaky), 'a function')
  assert.is(nameReads, 0)
})

test('objects are described by kind, through own data properties only', () => {
  assert.is(preview({ a: 1 }), 'an object')
  assert.is(preview(Object.create(null)), 'an object with a null prototype')
  assert.is(preview([1, 2, 3]), 'an array of 3')
  assert.is(preview(new Map()), 'a Map')
  assert.is(preview(new Uint8Array(2)), 'a Uint8Array')
  assert.is(preview(Buffer.from('x')), 'a Buffer')
  assert.is(preview(new Date(0)), 'a Date (1970-01-01T00:00:00.000Z)')
  assert.is(preview(new Date(NaN)), 'an invalid Date')
  assert.is(preview(new TypeError('nope')), 'a TypeError ("nope")')
  class Point {}
  assert.is(preview(new Point()), 'a Point')
})

test('hostile values: no trap, getter or conversion runs, and the text stays short', () => {
  const calls: string[] = []
  assert.is(preview(booby(calls)), 'a Proxy')
  // An object whose prototype is a Proxy, and whose constructor is one.
  const onProxyProto = Object.create(booby(calls))
  assert.is(preview(onProxyProto), 'an object')
  const proxyCtor = Object.create({ constructor: booby(calls) })
  assert.is(preview(proxyCtor), 'an object')
  const conversions = {
    toString: () => calls.push('toString'),
    toJSON: () => calls.push('toJSON'),
    [Symbol.toPrimitive]: () => calls.push('toPrimitive'),
    get message() {
      calls.push('message getter')
      return 'm'
    },
  }
  assert.is(preview(conversions), 'an object')
  const err = Object.defineProperty(new Error('x'), 'message', {
    get: () => {
      calls.push('error message getter')
      return 'y'
    },
  })
  assert.is(preview(err), 'an Error')
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  assert.is(preview(revoked.proxy), 'a Proxy')
  const longCtorName = { ['C'.repeat(10_000)]: class {} }
  const inst = new (Object.values(longCtorName)[0]!)()
  assert.ok(preview(inst).length < 100, preview(inst).slice(0, 120))
  assert.equal(calls, [])
})

test.run()
