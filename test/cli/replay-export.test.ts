// replay, export and stats end to end: the built CLI as a child process, on a
// log of known events spread over several segments.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet'
import { type AuditEvent, LEVELS } from '../../lib/index.js'
import { cli, copyDir, flipBit, parseCsv, recordSpots, segmentsOf, writeLog } from '../helpers/cli-run.js'
import { snapshot, tempDir } from '../helpers/dirs.js'

const N = 80
const T0 = Date.UTC(2024, 0, 1, 10, 0, 0)
const NASTY = 'comma, "quotes"\r\nand a new line; Zoë ✓'

function event(i: number): AuditEvent & { properties: Record<string, unknown> } {
  const base = {
    timestamp: T0 + i * 90_000,
    level: LEVELS[i % 6]!,
    ...(i % 9 === 0 ? { exception: `Error: failure ${i}\n    at step (${i}.js:1:1)` } : {}),
  }
  if (i % 2 === 0) {
    return {
      ...base,
      messageTemplate: 'User {UserId} paid {Amount} for {@Cart}',
      properties: { UserId: `u-${i % 5}`, Amount: i * 1.5, Cart: { items: ['a', i], n: i }, pad: 'p'.repeat(1500) },
    }
  }
  return {
    ...base,
    messageTemplate: 'Note {Text} {Missing}',
    properties: { UserId: `u-${i % 5}`, Text: i % 3 === 0 ? NASTY : `plain ${i}`, pad: 'q'.repeat(1500) },
  }
}

const EVENTS = Array.from({ length: N }, (_, i) => event(i))

function message(i: number): string {
  const p = EVENTS[i]!.properties
  return i % 2 === 0 ? `User ${p.UserId} paid ${p.Amount} for ${JSON.stringify(p.Cart)}` : `Note ${p.Text} {Missing}`
}

function expectedJson(i: number): Record<string, unknown> {
  const e = EVENTS[i]!
  const o: Record<string, unknown> = {
    seq: i + 1,
    timestamp: new Date(e.timestamp as number).toISOString(),
    level: e.level,
    messageTemplate: e.messageTemplate,
    message: message(i),
    properties: e.properties,
  }
  if (e.exception !== undefined) o.exception = e.exception
  return o
}

function expectedClef(i: number): Record<string, unknown> {
  const e = EVENTS[i]!
  const o: Record<string, unknown> = { '@t': new Date(e.timestamp as number).toISOString(), '@mt': e.messageTemplate }
  if (e.level !== 'Information') o['@l'] = e.level
  if (e.exception !== undefined) o['@x'] = e.exception
  return { ...o, ...e.properties, AuditSeq: i + 1 }
}

const base = tempDir('cli-rx')
const LOG = path.join(base, 'log')
const jsonLines = (s: string): Record<string, unknown>[] =>
  s
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
const seqsOf = (s: string): number[] => jsonLines(s).map((o) => (o.seq ?? o.AuditSeq) as number)
const range = (pred: (i: number) => boolean): number[] =>
  EVENTS.map((_, i) => i)
    .filter(pred)
    .map((i) => i + 1)

test.before(async () => {
  await writeLog(LOG, EVENTS)
  assert.ok(segmentsOf(LOG).length >= 3, `${segmentsOf(LOG).length} segments`)
})

test('replay prints every event in seq order as rendered text, exceptions indented', () => {
  const r = cli('replay', LOG)
  assert.is(r.code, 0, r.err)
  const lines = r.out.split('\n').filter((l) => /^\d+ /.test(l))
  assert.is(lines.length, N)
  assert.is(lines[0], `1 2024-01-01T10:00:00.000Z [VRB] ${message(0)}`)
  // Control characters are made visible in text (a CR could rewrite the terminal line); newlines stay.
  assert.is(lines[3], `4 2024-01-01T10:04:30.000Z [WRN] ${message(3).replace('\r', '\\r').split('\n')[0]}`)
  assert.ok(r.out.includes('\n    Error: failure 9\n        at step (9.js:1:1)\n'), 'exception of seq 10 indented')
  assert.is(r.err, '', 'no progress bar or noise on stderr when it is not a terminal')
})

test('replay --format json and clef: every field as stored, CLEF mapping with AuditSeq', () => {
  const j = cli('replay', LOG, '--format', 'json')
  assert.is(j.code, 0, j.err)
  assert.equal(
    jsonLines(j.out),
    EVENTS.map((_, i) => expectedJson(i)),
  )
  const c = cli('replay', LOG, '--format', 'clef')
  assert.is(c.code, 0, c.err)
  assert.equal(
    jsonLines(c.out),
    EVENTS.map((_, i) => expectedClef(i)),
  )
})

test('replay filters: seq range, time range, level, where (AND)', () => {
  const cases: [string[], number[]][] = [
    [['--from-seq', '10', '--to-seq', '20'], range((i) => i + 1 >= 10 && i + 1 <= 20)],
    [
      ['--from', '2024-01-01T10:30', '--to', '2024-01-01T11:00:00Z'],
      range((i) => T0 + i * 90_000 >= T0 + 1_800_000 && T0 + i * 90_000 < T0 + 3_600_000),
    ],
    [['--level', '>=Warning'], range((i) => i % 6 >= 3)],
    [['--level', 'Warning'], range((i) => i % 6 === 3)],
    [['--level', '<=Debug'], range((i) => i % 6 <= 1)],
    [['--where', 'UserId=u-3'], range((i) => i % 5 === 3)],
    [['--where', 'UserId=u-3', '--where', 'Cart.n=8'], range((i) => i === 8)],
    [['--where', `Text=${NASTY}`], range((i) => i % 2 === 1 && i % 3 === 0)],
    [
      ['--level', '>Information', '--where', 'UserId!=u-0', '--from-seq', '40'],
      range((i) => i % 6 >= 3 && i % 5 !== 0 && i + 1 >= 40),
    ],
    [['--from', '2030-01-01'], []],
  ]
  for (const [flags, expected] of cases) {
    const r = cli('replay', LOG, '--format', 'json', ...flags)
    assert.is(r.code, 0, `${flags.join(' ')}: ${r.err}`)
    assert.equal(seqsOf(r.out), expected, flags.join(' '))
  }
})

test('export jsonl and clef hold exactly what replay prints', () => {
  for (const [format, replayFormat, expected] of [
    ['jsonl', 'json', expectedJson],
    ['clef', 'clef', expectedClef],
  ] as const) {
    const out = path.join(base, `all.${format}`)
    const r = cli('export', LOG, '--format', format, '--output', out)
    assert.is(r.code, 0, r.err)
    assert.match(r.out, new RegExp(`exported ${N} events`))
    const text = fs.readFileSync(out, 'utf8')
    assert.equal(
      jsonLines(text),
      EVENTS.map((_, i) => expected(i)),
    )
    assert.is(text, cli('replay', LOG, '--format', replayFormat).out)
  }
  const filtered = path.join(base, 'warn.clef')
  assert.is(cli('export', LOG, '--format', 'clef', '-o', filtered, '--level', '>=Warning', '--to-seq', '30').code, 0)
  assert.equal(
    seqsOf(fs.readFileSync(filtered, 'utf8')),
    range((i) => i % 6 >= 3 && i < 30),
  )
})

test('export csv: documented header, RFC 4180 quoting, CRLF, every row', () => {
  const out = path.join(base, 'all.csv')
  const r = cli('export', LOG, '--format', 'csv', '-o', out)
  assert.is(r.code, 0, r.err)
  const text = fs.readFileSync(out, 'utf8')
  assert.ok(text.startsWith('seq,timestamp,level,messageTemplate,message,exception,properties\r\n'))
  const rows = parseCsv(text)
  assert.equal(rows[0], ['seq', 'timestamp', 'level', 'messageTemplate', 'message', 'exception', 'properties'])
  assert.is(rows.length, N + 1)
  for (let i = 0; i < N; i++) {
    const e = expectedJson(i)
    assert.equal(
      rows[i + 1],
      [
        String(i + 1),
        e.timestamp,
        e.level,
        e.messageTemplate,
        e.message,
        (e.exception as string | undefined) ?? '',
        JSON.stringify(e.properties),
      ],
      `row ${i + 1}`,
    )
  }
})

test('export parquet: read back with hyparquet, same rows and typed columns', async () => {
  const out = path.join(base, 'all.parquet')
  const r = cli('export', LOG, '--format', 'parquet', '-o', out, '--json')
  assert.is(r.code, 0, r.err)
  assert.is(JSON.parse(r.out).records, N)
  const file = await asyncBufferFromFile(out)
  const meta = await parquetMetadataAsync(file)
  assert.equal(
    meta.schema.slice(1).map((s) => [s.name, s.type, s.converted_type]),
    [
      ['seq', 'INT64', undefined],
      ['timestamp', 'INT64', 'TIMESTAMP_MILLIS'],
      ['level', 'BYTE_ARRAY', 'UTF8'],
      ['messageTemplate', 'BYTE_ARRAY', 'UTF8'],
      ['message', 'BYTE_ARRAY', 'UTF8'],
      ['exception', 'BYTE_ARRAY', 'UTF8'],
      ['properties', 'BYTE_ARRAY', 'JSON'],
    ],
  )
  const rows = await parquetReadObjects({ file })
  assert.is(rows.length, N)
  for (let i = 0; i < N; i++) {
    const e = expectedJson(i)
    const row = rows[i]!
    assert.equal(
      {
        seq: Number(row.seq),
        timestamp: (row.timestamp as Date).toISOString(),
        level: row.level,
        messageTemplate: row.messageTemplate,
        message: row.message,
        exception: row.exception,
        properties: row.properties,
      },
      {
        seq: e.seq,
        timestamp: e.timestamp,
        level: e.level,
        messageTemplate: e.messageTemplate,
        message: e.message,
        exception: e.exception ?? null,
        properties: e.properties,
      },
      `row ${i}`,
    )
  }
})

test('export refuses an existing output (exit 2, file untouched) unless --force; no temp files are left', () => {
  const out = path.join(base, 'exists.jsonl')
  fs.writeFileSync(out, 'precious\n')
  const r = cli('export', LOG, '--format', 'jsonl', '-o', out)
  assert.is(r.code, 2)
  assert.match(r.err, /ERR_AUDIT_OUTPUT_EXISTS/)
  assert.is(fs.readFileSync(out, 'utf8'), 'precious\n')
  const f = cli('export', LOG, '--format', 'jsonl', '-o', out, '--force', '--to-seq', '2')
  assert.is(f.code, 0, f.err)
  assert.equal(seqsOf(fs.readFileSync(out, 'utf8')), [1, 2])
  assert.equal(
    fs.readdirSync(base).filter((n) => n.includes('.tmp')),
    [],
  )
})

test('a damaged log: export stops with the verify error and writes nothing; --salvage exports every intact record', () => {
  const dir = path.join(base, 'damaged')
  copyDir(LOG, dir)
  const spot = recordSpots(dir).find((s) => s.seq === 30)!
  flipBit(path.join(dir, spot.segment), spot.offset + 70, 3)
  const before = snapshot(dir)
  const v = JSON.parse(cli('verify', dir, '--json').out)
  const out = path.join(base, 'damaged.jsonl')
  for (const extra of [[], ['--from-seq', '60']]) {
    const r = cli('export', dir, '--format', 'jsonl', '-o', out, ...extra)
    assert.is(r.code, 1, `${extra.join(' ')}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_CORRUPT/)
    assert.ok(
      r.err.includes(`segment ${v.firstBad.segment}, offset ${v.firstBad.offset}, seq ${v.firstBad.seq}`),
      r.err,
    )
    assert.not.ok(fs.existsSync(out), 'no partial file')
  }
  const s = cli('export', dir, '--format', 'jsonl', '-o', out, '--salvage')
  assert.is(s.code, 1)
  assert.match(s.err, /LOST seq 30 in \d+\.wal at offset \d+ \(\d+ bytes\): checksum/)
  assert.equal(
    seqsOf(fs.readFileSync(out, 'utf8')),
    range((i) => i !== 29),
  )
  assert.equal(
    fs.readdirSync(base).filter((n) => n.includes('.tmp')),
    [],
  )
  // replay: the events before the damage, then the error; --salvage: all intact ones.
  const r = cli('replay', dir, '--format', 'json')
  assert.is(r.code, 1)
  assert.ok(seqsOf(r.out).length < 30 && seqsOf(r.out).every((q, k) => q === k + 1))
  const rs = cli('replay', dir, '--format', 'json', '--salvage')
  assert.is(rs.code, 1)
  assert.equal(
    seqsOf(rs.out),
    range((i) => i !== 29),
  )
  assert.equal(snapshot(dir), before)
})

test('stats: segments, records, bytes, by level, by hour, write rate per segment', () => {
  const r = cli('stats', LOG, '--json')
  assert.is(r.code, 0, r.err)
  const s = JSON.parse(r.out)
  const segs = segmentsOf(LOG)
  assert.is(s.segments, segs.length)
  assert.is(s.records, N)
  assert.is(
    s.bytes,
    segs.reduce((a, n) => a + fs.statSync(path.join(LOG, n)).size, 0),
  )
  assert.equal([s.firstSeq, s.lastSeq], [1, N])
  assert.equal(s.byLevel, Object.fromEntries(LEVELS.map((l, k) => [l, range((i) => i % 6 === k).length])))
  assert.equal(s.byHour, [
    { hour: '2024-01-01T10', events: 40 },
    { hour: '2024-01-01T11', events: 40 },
  ])
  assert.equal(
    s.writeRate.map((w: { name: string }) => w.name),
    segs,
  )
  assert.is(
    s.writeRate.reduce((a: number, w: { records: number }) => a + w.records, 0),
    N,
  )
  assert.ok(s.writeRate.every((w: { createdAt?: string }) => typeof w.createdAt === 'string'))
  const human = cli('stats', LOG)
  assert.is(human.code, 0)
  assert.match(human.out, /records\s+80 \(seq 1\.\.80\)/)
  assert.match(human.out, /by level\s+Verbose 14 {2}Debug 14 {2}Information 13/)
  assert.match(human.out, /2024-01-01T11 +#+ +40/)
})

test('every command has --help with its exit codes', () => {
  for (const c of ['verify', 'replay', 'export', 'recover', 'stats', 'monitor']) {
    const r = cli(c, '--help')
    assert.is(r.code, 0, c)
    assert.match(r.out, /Exit codes/, c)
  }
})

test.run()
