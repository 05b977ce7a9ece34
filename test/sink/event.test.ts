// encodeEvent writes exactly the bytes JSON.stringify gives for the stored
// body, whatever the template cache holds: templates with every kind of
// character, more distinct templates than the cache keeps, templates longer
// than it caches; long string values, kept whole as parts of their own when
// nothing in them needs escaping, through a real sink too; and a refused value
// names its path, however deep.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import path from 'node:path'
import { AuditSink, readLog } from '../../lib/index.js'
import { encodeEvent, jsonText } from '../../lib/sink/event.js'
import type { AuditEvent } from '../../shared/event.js'
import { FIXED } from '../../shared/limits.js'
import { mulberry32 } from '../../torture/prng.js'
import { tempDir } from '../helpers/dirs.js'

const seed = Number(process.env.EVENT_SEED ?? Math.floor(Math.random() * 2 ** 31))
console.log(`event.test seed=${seed} (replay with EVENT_SEED=${seed})`)

const ALPHABET = [
  'a',
  'Z',
  ' ',
  '{',
  '}',
  '"',
  '\\',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  'é',
  '€',
  '😀',
  '\ud800',
  '/',
  '<',
]

function randomTemplate(rng: () => number, maxLen: number): string {
  const len = Math.floor(rng() * maxLen)
  let s = ''
  for (let i = 0; i < len; i++) s += ALPHABET[Math.floor(rng() * ALPHABET.length)]
  return `${s}{P${Math.floor(rng() * 1e6)}}`
}

test('the template cache never changes a byte: many templates, evictions, long ones, repeats', () => {
  const rng = mulberry32(seed)
  const distinct = FIXED.templateCacheEntries * 3
  const templates = Array.from({ length: distinct }, (_, i) =>
    randomTemplate(rng, i % 10 === 0 ? FIXED.templateCacheCharsMax * 2 : 60),
  )
  for (let i = 0; i < distinct * 4; i++) {
    // Mostly a few hot templates, sometimes any: hits, misses and clears interleave.
    const t = rng() < 0.7 ? templates[i % 5]! : templates[Math.floor(rng() * distinct)]!
    const ev: AuditEvent = { level: 'Warning', messageTemplate: t, properties: { P: i, s: t.slice(0, 5) } }
    const enc = encodeEvent(ev, 1 << 20)
    const want = JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties })
    assert.is(jsonText(enc), want, `seed ${seed}, emit ${i}`)
    assert.is(enc.len, Buffer.byteLength(want), `seed ${seed}, emit ${i}`)
  }
})

/** Long string values: each character JSON treats apart, at the start, middle and end; and seeded ones. */
function longValues(rng: () => number): string[] {
  const L = FIXED.jsonQuoteCharsMin
  const ESCAPES = [
    '"',
    '\\',
    '\n',
    '\u0000',
    '\u001f',
    '\ud800',
    '\udbff',
    '\udc00',
    '\udfff',
    '😀',
    '\u2028',
    '\u007f',
    'é',
    'x',
  ]
  const values: string[] = ['', 'x'.repeat(L - 1), 'x'.repeat(L), 'y'.repeat(L * 3)]
  // Each character JSON.stringify treats apart, at the start, the middle and the end of a long string.
  for (const c of ESCAPES) for (const at of [0, L >> 1, L]) values.push(`${'a'.repeat(at)}${c}${'b'.repeat(L - at)}`)
  // And long strings drawn from the template alphabet, seeded.
  for (let i = 0; i < 50; i++) {
    let v = ''
    const len = L - 8 + Math.floor(rng() * 16)
    while (v.length < len) v += rng() < 0.98 ? 'q' : ALPHABET[Math.floor(rng() * ALPHABET.length)]!
    values.push(v)
  }
  return values
}

/** A value as a property (the plain-object fast path), inside an array (value()) and as the exception (string()). */
const longEvent = (v: string, i = 0) => ({
  level: 'Error' as const,
  messageTemplate: 'long {S}',
  properties: { S: v, A: [v], I: i },
  exception: v,
})

test(`long strings (${FIXED.jsonQuoteCharsMin} units and more, kept whole when nothing needs escaping) are written as JSON.stringify writes them`, () => {
  for (const [i, v] of longValues(mulberry32(seed)).entries()) {
    const ev = longEvent(v)
    const enc = encodeEvent(ev, 1 << 20)
    const want = JSON.stringify(ev)
    assert.is(jsonText(enc), want, `seed ${seed}, value ${i} (${v.length} units)`)
    assert.is(enc.len, Buffer.byteLength(want), `seed ${seed}, value ${i}`)
    // A long value with nothing to escape is a part of its own, the caller's string itself (three of them).
    // Any surrogate, even in a valid pair, leaves the string to JSON.stringify (which escapes lone ones).
    const whole = v.length >= FIXED.jsonQuoteCharsMin && JSON.stringify(v) === `"${v}"` && !/[\ud800-\udfff]/.test(v)
    const parts = typeof enc.json === 'string' ? [enc.json] : enc.json
    assert.is(parts.filter((p) => p === v).length, whole ? 3 : 0, `seed ${seed}, value ${i}: parts`)
  }
})

test('long strings go through a real sink in parts and read back as they were emitted', async () => {
  const values = longValues(mulberry32(seed ^ 0x5eed))
  const dir = path.join(tempDir('event-long'), 'log')
  const sink = await AuditSink.open({ dir })
  try {
    // Half one by one, half in flight together: parts written into the ring next to other events.
    for (let i = 0; i < values.length >> 1; i++) await sink.emit(longEvent(values[i]!, i))
    await Promise.all(values.slice(values.length >> 1).map((v, k) => sink.emit(longEvent(v, (values.length >> 1) + k))))
  } finally {
    await sink.close()
  }
  const read: unknown[] = []
  for await (const r of readLog(dir)) read.push({ properties: r.event.properties, exception: r.event.exception })
  assert.equal(
    read,
    values.map((v, i) => ({ properties: longEvent(v, i).properties, exception: v })),
    `seed ${seed}`,
  )
})

test('a refused value deep in arrays and objects names its whole path', () => {
  const ev = {
    level: 'Information',
    messageTemplate: 'x',
    properties: { a: [{ b: [1, 2, { c: () => 1 }] }] },
  } as unknown as AuditEvent
  try {
    encodeEvent(ev, 4096)
    assert.unreachable('a function was accepted')
  } catch (err) {
    assert.is((err as { code?: string }).code, 'ERR_AUDIT_EVENT_INVALID')
    assert.equal((err as { details?: unknown }).details, { path: 'properties.a[0].b[2].c' })
  }
})

test.run()
