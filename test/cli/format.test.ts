// The read side's building blocks, in-process: template rendering, filters,
// CSV quoting and the CLEF mapping.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  compileFilters,
  csvField,
  matchesFilters,
  parseLevelFilter,
  parseTemplate,
  parseTime,
  renderTemplate,
  toClef,
  toCsvRow,
  toJsonRecord,
  toText,
  type LogRecord,
} from '../../lib/index.js'
import { parseCsv } from '../helpers/cli-run.js'

const rec = (over: Partial<LogRecord['event']> = {}, seq = 7): LogRecord => {
  const event = {
    timestamp: new Date(Date.UTC(2024, 0, 31, 13, 45, 0, 123)),
    level: 'Information' as const,
    messageTemplate: 'User {UserId} did {Action}',
    properties: { UserId: 'u-17', Action: 'login' } as Record<string, unknown>,
    ...over,
  }
  return { kind: 'event', seq, timestamp: event.timestamp, event, segment: '00000000000000000001.wal' }
}

test('a template renders property values; strings are not quoted, structures are compact JSON', () => {
  assert.is(
    renderTemplate('User {UserId} accessed {RecordId}', { UserId: 'u-17', RecordId: 99 }),
    'User u-17 accessed 99',
  )
  assert.is(renderTemplate('{A} {B} {C}', { A: true, B: null, C: 1.5 }), 'true null 1.5')
  assert.is(
    renderTemplate('cart {@Cart}', { Cart: { items: ['a', 'b'], total: 3 } }),
    'cart {"items":["a","b"],"total":3}',
  )
  assert.is(renderTemplate('list {List}', { List: [1, 'x'] }), 'list [1,"x"]')
})

test('@ and $ operators name the property without the operator', () => {
  assert.is(renderTemplate('{@User} / {$User}', { User: { id: 1 } }), '{"id":1} / {"id":1}')
  assert.is(renderTemplate('{$Name} and {@Name}', { Name: 'Zoë' }), 'Zoë and Zoë')
  const [hole] = parseTemplate('{@Cart}')
  assert.equal(hole, {
    kind: 'hole',
    raw: '{@Cart}',
    name: 'Cart',
    operator: '@',
    alignment: undefined,
    format: undefined,
  })
})

test('a missing property stays as written, operator and format included', () => {
  assert.is(
    renderTemplate('User {UserId} in {@Missing} at {When:HH:mm}', { UserId: 'u' }),
    'User u in {@Missing} at {When:HH:mm}',
  )
  assert.is(renderTemplate('no props {X}'), 'no props {X}')
})

test('escaped braces, alignment, formats and things that are not holes', () => {
  assert.is(renderTemplate('{{literal}} {A}', { A: 1 }), '{literal} 1')
  assert.is(renderTemplate('[{A,5}] [{A,-5}]', { A: 'ab' }), '[   ab] [ab   ]')
  assert.is(renderTemplate('{N:0.00}', { N: 3 }), '3')
  assert.is(renderTemplate('{not a hole} {A} { } {', { A: 'x' }), '{not a hole} x { } {')
  assert.is(renderTemplate('{0} {1}', { 0: 'zero', 1: 'one' }), 'zero one')
})

test('level filters: >=, <=, >, <, exact, short names; bad ones name the option', () => {
  assert.equal(parseLevelFilter('>=Warning'), { min: 3, max: 5 })
  assert.equal(parseLevelFilter('<=Debug'), { min: 0, max: 1 })
  assert.equal(parseLevelFilter('Warning'), { min: 3, max: 3 })
  assert.equal(parseLevelFilter('>inf'), { min: 3, max: 5 })
  assert.equal(parseLevelFilter('<ERR'), { min: 0, max: 3 })
  for (const bad of ['>=Bogus', '', '>=']) {
    try {
      parseLevelFilter(bad)
      assert.unreachable(`accepted ${JSON.stringify(bad)}`)
    } catch (err) {
      assert.is((err as { code: string }).code, 'ERR_AUDIT_OPTION_INVALID')
      assert.is((err as { details: { option: string } }).details.option, 'level')
    }
  }
})

test('times: ISO 8601, UTC unless an offset is given; impossible dates are refused', () => {
  assert.is(parseTime('2024-01-31', 'from'), Date.UTC(2024, 0, 31))
  assert.is(parseTime('2024-01-31T13:45', 'from'), Date.UTC(2024, 0, 31, 13, 45))
  assert.is(parseTime('2024-01-31T13:45:10.5+01:00', 'from'), Date.UTC(2024, 0, 31, 12, 45, 10, 500))
  assert.is(parseTime('2024-01-31T13:45:10Z', 'from'), Date.UTC(2024, 0, 31, 13, 45, 10))
  for (const bad of ['2024-02-30', '2023-02-29', 'yesterday', '2024-13-01', '2024-01-31T25:00', '1706700000']) {
    try {
      parseTime(bad, 'to')
      assert.unreachable(`accepted ${bad}`)
    } catch (err) {
      assert.is((err as { code: string }).code, 'ERR_AUDIT_OPTION_INVALID', bad)
      assert.is((err as { details: { option: string } }).details.option, 'to')
    }
  }
})

test('filters AND together: seq, time [from, to), level, where with nesting and negation', () => {
  const r = rec({ level: 'Warning', properties: { UserId: 'u-17', N: 5, User: { Id: 3 }, 'Dot.Key': 'd' } })
  const m = (f: Parameters<typeof compileFilters>[0]): boolean => matchesFilters(compileFilters(f), r)
  assert.ok(m({}))
  assert.ok(m({ fromSeq: 7, toSeq: 7 }))
  assert.not.ok(m({ fromSeq: 8 }))
  assert.ok(m({ from: '2024-01-31T13:45:00.123Z', to: '2024-01-31T13:45:00.124Z' }))
  assert.not.ok(m({ to: '2024-01-31T13:45:00.123Z' }))
  assert.ok(m({ level: '>=Warning', where: ['UserId=u-17', 'N=5', 'User.Id=3', 'Dot.Key=d'] }))
  assert.not.ok(m({ level: '>=Warning', where: ['UserId=u-17', 'N=6'] }))
  assert.not.ok(m({ level: 'Error' }))
  assert.ok(m({ where: ['Missing!=x', 'UserId!=u-1'] }))
  assert.not.ok(m({ where: ['Missing=x'] }))
  for (const [f, option] of [
    [{ where: ['NoEquals'] }, 'where'],
    [{ fromSeq: 0 }, 'fromSeq'],
    [{ toSeq: 1.5 }, 'toSeq'],
    [{ from: 'soon' }, 'from'],
  ] as const) {
    try {
      compileFilters(f as never)
      assert.unreachable(JSON.stringify(f))
    } catch (err) {
      assert.is((err as { details: { option: string } }).details.option, option)
    }
  }
})

test('CSV: RFC 4180 quoting round-trips commas, quotes, CR, LF and non-ASCII', () => {
  assert.is(csvField('plain'), 'plain')
  assert.is(csvField('a,b'), '"a,b"')
  assert.is(csvField('say "hi"'), '"say ""hi"""')
  assert.is(csvField('two\nlines'), '"two\nlines"')
  const nasty = 'a,"b"\r\nc\rd\n"e" Zoë ✓'
  const row = toCsvRow(
    rec({ messageTemplate: `T ${nasty} {X}`, properties: { X: nasty }, exception: `Error: ${nasty}\n    at x` }),
  )
  assert.ok(row.endsWith('\r\n'))
  const [fields] = parseCsv(row)
  assert.equal(fields, [
    '7',
    '2024-01-31T13:45:00.123Z',
    'Information',
    `T ${nasty} {X}`,
    `T ${nasty} ${nasty}`,
    `Error: ${nasty}\n    at x`,
    JSON.stringify({ X: nasty }),
  ])
})

test('CLEF: @t @mt, @l only when not Information, @x, @-names escaped, AuditSeq added and never overwriting', () => {
  assert.equal(toClef(rec()), {
    '@t': '2024-01-31T13:45:00.123Z',
    '@mt': 'User {UserId} did {Action}',
    UserId: 'u-17',
    Action: 'login',
    AuditSeq: 7,
  })
  const c = toClef(rec({ level: 'Error', exception: 'Error: x', properties: { '@odd': 1, AuditSeq: 'mine', n: 2 } }, 9))
  assert.equal(c, {
    '@t': '2024-01-31T13:45:00.123Z',
    '@mt': 'User {UserId} did {Action}',
    '@l': 'Error',
    '@x': 'Error: x',
    '@@odd': 1,
    AuditSeqProperty: 'mine',
    n: 2,
    AuditSeq: 9,
  })
})

test('text and JSON lines', () => {
  assert.is(toText(rec()), '7 2024-01-31T13:45:00.123Z [INF] User u-17 did login')
  assert.is(
    toText(rec({ level: 'Fatal', exception: 'Error: boom\n  at f' })),
    '7 2024-01-31T13:45:00.123Z [FTL] User u-17 did login\n    Error: boom\n      at f',
  )
  assert.equal(Object.keys(toJsonRecord(rec({ exception: 'x' }))), [
    'seq',
    'timestamp',
    'level',
    'messageTemplate',
    'message',
    'properties',
    'exception',
  ])
  assert.equal(Object.keys(toJsonRecord(rec())), [
    'seq',
    'timestamp',
    'level',
    'messageTemplate',
    'message',
    'properties',
  ])
})

test('text output makes control characters visible, so event data cannot rewrite the terminal', () => {
  const line = toText(rec({ messageTemplate: 'x {A}', properties: { A: 'ok\rFAKE \x1b[31mred\x1b[0m\ttab\nnext' } }))
  assert.is(line, '7 2024-01-31T13:45:00.123Z [INF] x ok\\rFAKE \\x1b[31mred\\x1b[0m\ttab\nnext')
})

test.run()
