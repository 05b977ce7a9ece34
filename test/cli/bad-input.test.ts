// Bad input for every read-side command: a clear message, the documented exit
// code, and the input untouched. Random bytes come from a seeded PRNG: replay
// a failure with BADINPUT_SEED=<seed> (printed below).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { logStats, recoverLog, replay, verifyLog } from '../../lib/index.js'
import { WalRewriter } from '../../lib/repair/rewrite.js'
import { crc32c } from '../../shared/crc32c.js'
import { RecordType, SEGMENT_HEADER_BYTES } from '../../shared/format.js'
import { cli, cliAsync, type CliResult, recordSpots, segmentsOf, writeLog } from '../helpers/cli-run.js'
import { ev, snapshot, tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const seed = seedFrom('BADINPUT_SEED')
console.log(`bad-input seed=${seed} (replay with BADINPUT_SEED=${seed})`)
const rnd = mulberry32(seed)
const randomBytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)))

const base = tempDir('cli-bad')
const GOOD = path.join(base, 'good')
const FIXTURES = new URL('../../../test/fixtures/v1/', import.meta.url).pathname

/** Each read command run on dir the simplest way (monitor: one snapshot), in parallel. */
async function everyCommand(dir: string): Promise<[string, CliResult][]> {
  const runs: [string, string[]][] = [
    ['verify', ['verify', dir]],
    ['replay', ['replay', dir]],
    ['export', ['export', dir, '--format', 'jsonl', '-o', path.join(base, `never-${Math.floor(rnd() * 1e9)}.jsonl`)]],
    ['recover', ['recover', dir, '-o', path.join(base, `never-${Math.floor(rnd() * 1e9)}`)]],
    ['stats', ['stats', dir]],
    ['monitor', ['monitor', dir, '--once']],
  ]
  const results = await Promise.all(runs.map(([, args]) => cliAsync(...args)))
  return runs.map(([name], i) => [name, results[i]!])
}

function noOutputsLeft(): void {
  assert.equal(
    fs.readdirSync(base).filter((n) => n.startsWith('never-') || n.startsWith('.never-')),
    [],
    'no output or temp file left behind',
  )
}

test.before(async () => {
  await writeLog(
    GOOD,
    Array.from({ length: 30 }, (_, i) => ev(i)),
  )
})

test('a missing directory: exit 3, ERR_AUDIT_NO_WAL, for every command', async () => {
  for (const [name, r] of await everyCommand(path.join(base, 'not-here'))) {
    assert.is(r.code, 3, `${name}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_NO_WAL: .*not-here does not exist/, name)
  }
  noOutputsLeft()
})

test('a file of random bytes instead of a directory, and a directory of foreign files: exit 3, ERR_AUDIT_NOT_A_WAL, untouched', async () => {
  const file = path.join(base, 'random.bin')
  fs.writeFileSync(file, randomBytes(5000))
  const foreign = path.join(base, 'foreign')
  fs.mkdirSync(foreign)
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'not a log')
  fs.writeFileSync(path.join(foreign, '1.wal'), randomBytes(200)) // not a segment name
  const before = [fs.readFileSync(file), snapshot(foreign)]
  for (const target of [file, foreign]) {
    for (const [name, r] of await everyCommand(target)) {
      assert.is(r.code, 3, `${name} ${target}: ${r.err}`)
      assert.match(r.err, /ERR_AUDIT_NOT_A_WAL/, name)
    }
  }
  assert.equal([fs.readFileSync(file), snapshot(foreign)], before)
  noOutputsLeft()
})

test('an unknown format version (an intact header that says 3): exit 3, ERR_AUDIT_VERSION_UNSUPPORTED, untouched', async () => {
  // The fixture v1/future-version/ says version 2, which this code reads (format v2): its 80-byte header is
  // damage now (test/shared/compat.test.ts). A future version is 3: the good log with its header saying so.
  const dir = path.join(base, 'future')
  fs.cpSync(GOOD, dir, { recursive: true })
  for (const name of segmentsOf(dir)) {
    const b = fs.readFileSync(path.join(dir, name))
    b.writeUInt16LE(3, 8)
    b.writeUInt32LE(crc32c(b, 0, 0, SEGMENT_HEADER_BYTES - 8), SEGMENT_HEADER_BYTES - 8)
    fs.writeFileSync(path.join(dir, name), b)
  }
  const before = snapshot(dir)
  for (const [name, r] of await everyCommand(dir)) {
    assert.is(r.code, 3, `${name}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_VERSION_UNSUPPORTED: segment 00000000000000000001\.wal has format version 3/, name)
  }
  assert.equal(snapshot(dir), before)
  noOutputsLeft()
})

test('the frozen fixture v1/future-version (an 80-byte header that says 2): refused as damage by verify, replay and export, untouched', async () => {
  const dir = path.join(base, 'future-v1')
  fs.cpSync(path.join(FIXTURES, 'future-version'), dir, { recursive: true })
  const before = snapshot(dir)
  for (const args of [
    ['verify', dir],
    ['replay', dir],
    ['export', dir, '--format', 'jsonl', '-o', path.join(base, 'never-future.jsonl')],
  ]) {
    const r = cli(...args)
    assert.is(r.code, 1, `${args[0]}: ${r.err}`)
    assert.match(r.out + r.err, /header/, args[0])
  }
  assert.equal(snapshot(dir), before)
  noOutputsLeft()
})

test('a segment file of random bytes: reported as damage (exit 1), never a crash; recover writes an empty valid WAL and says why', async () => {
  const dir = path.join(base, 'noise')
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, '00000000000000000001.wal'), randomBytes(3000))
  const before = snapshot(dir)
  const v = cli('verify', dir, '--json')
  assert.is(v.code, 1, v.err)
  assert.equal([JSON.parse(v.out).records, JSON.parse(v.out).firstBad.problem], [0, 'header'])
  for (const args of [
    ['replay', dir],
    ['export', dir, '--format', 'csv', '-o', path.join(base, 'never-noise.csv')],
  ]) {
    const r = cli(...args)
    assert.is(r.code, 1, `${args[0]}: ${r.err}`)
    assert.match(
      r.err,
      /ERR_AUDIT_CORRUPT: .*segment header is bad: magic \(segment 00000000000000000001\.wal, offset 0, seq 1\)/,
      args[0],
    )
    assert.not.match(r.err, /at .*\.js:\d+/, 'no stack trace')
  }
  const s = cli('stats', dir)
  assert.is(s.code, 1, s.err)
  assert.match(s.out, /FIRST BAD seq 1 in 00000000000000000001\.wal at offset 0: header/)
  const out = path.join(base, 'noise-out')
  const r = cli('recover', dir, '-o', out, '--json')
  assert.is(r.code, 1, r.err)
  const rep = JSON.parse(r.out)
  assert.equal(rep.badHeaders, [
    { segment: '00000000000000000001.wal', copy: 'primary', problem: 'magic', repaired: false },
  ])
  assert.is(rep.records.intact, 0)
  // Empty of events: a valid log that holds only the seal recover ends every output with.
  const vo = await verifyLog(out)
  assert.equal([vo.ok, vo.events, vo.records, vo.sealed], [true, 0, 1, true])
  assert.is(rep.addedSealSeq, 1)
  assert.equal(snapshot(dir), before)
  noOutputsLeft()
})

test('bad flags and filters: exit 2 with a message, nothing read or written', async () => {
  const before = snapshot(GOOD)
  const cases: [string[], RegExp][] = [
    [['replay', GOOD, '--bogus'], /unknown option '--bogus'/],
    [['replay', GOOD, '--level', '>=Bogus'], /level: unknown level "Bogus"/],
    [['replay', GOOD, '--from', 'yesterday'], /from: "yesterday" is not an ISO 8601 time/],
    [['replay', GOOD, '--to', '2024-02-30'], /to: "2024-02-30" is not a valid date/],
    [['replay', GOOD, '--from-seq', '0'], /must be an integer ≥ 1/],
    [['replay', GOOD, '--to-seq', 'ten'], /must be an integer ≥ 1/],
    [['replay', GOOD, '--where', 'NoEquals'], /where: "NoEquals" is not Prop=value/],
    [['replay', GOOD, '--format', 'xml'], /argument 'xml' is invalid/],
    [['export', GOOD, '--format', 'xml', '-o', path.join(base, 'never-x')], /argument 'xml' is invalid/],
    [['export', GOOD, '-o', path.join(base, 'never-x')], /required option '--format <format>' not specified/],
    [['export', GOOD, '--format', 'csv'], /required option '-o, --output <file>' not specified/],
    [['export', GOOD, '--format', 'csv', '-o', path.join(base, 'never-x'), '--level', '=='], /level:/],
    [['recover', GOOD], /required option '-o, --output <dir>' not specified/],
    [['monitor', GOOD, '--interval', '5'], /must be an integer from 50 to 60000/],
    [['stats'], /missing required argument 'dir'/],
    [['torture', '--shard', '2/2', '--iterations', '1'], /argument '2\/2' is invalid. must be k\/K with 0 <= k < K/],
    [['torture', '--from', '-1', '--iterations', '1'], /argument '-1' is invalid. must be a non-negative integer/],
    [['torture', '--iterations', '1.5'], /argument '1.5' is invalid. must be a non-negative integer/],
  ]
  const results = await Promise.all(cases.map(([args]) => cliAsync(...args)))
  for (const [k, [args, message]] of cases.entries()) {
    const r = results[k]!
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, message, args.join(' '))
  }
  assert.equal(snapshot(GOOD), before)
  noOutputsLeft()
})

test('output not writable: exit 3 (ERR_AUDIT_IO), nothing left behind', () => {
  const blocker = path.join(base, 'a-file')
  fs.writeFileSync(blocker, 'x')
  for (const args of [
    ['export', GOOD, '--format', 'jsonl', '-o', path.join(base, 'no-such-dir', 'x.jsonl')],
    ['export', GOOD, '--format', 'parquet', '-o', path.join(blocker, 'x.parquet')],
    ['recover', GOOD, '-o', path.join(blocker, 'sub', 'out')],
  ]) {
    const r = cli(...args)
    assert.is(r.code, 3, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_IO/)
  }
  assert.not.ok(fs.existsSync(path.join(base, 'no-such-dir')))
  assert.is(fs.readFileSync(blocker, 'utf8'), 'x')
})

/**
 * A small log written offline: 3 segments of 3 events, batches of up to 2 records, every segment
 * sealed (the first two by SEALED on their last event, the last by the seal record, seq 10, that
 * finish() adds as a batch of its own).
 */
async function smallLog(dir: string): Promise<void> {
  fs.mkdirSync(dir)
  const w = new WalRewriter(dir, { segmentBytesMax: 700, batchRecordsMax: 2 })
  for (let i = 0; i < 9; i++) {
    if (i === 3 || i === 6) w.breakSegment()
    await w.append({
      type: RecordType.EVENT,
      timeMs: Date.UTC(2024, 0, 1) + i,
      payload: Buffer.from(JSON.stringify({ level: 'Information', messageTemplate: 'E {N}', properties: { N: i } })),
    })
  }
  await w.finish()
  assert.is(w.addedSealSeq, 10)
}

test('a segment truncated at every offset: verify says torn or damaged, never crashes, never claims more records than exist; recover keeps every whole record', async () => {
  const dir = path.join(base, 'small')
  await smallLog(dir)
  const segs = segmentsOf(dir)
  assert.is(segs.length, 3)
  const spots = recordSpots(dir)
  const total = spots.length
  const original = new Map(segs.map((s) => [s, fs.readFileSync(path.join(dir, s))]))
  const isEvent = (s: (typeof spots)[number]): boolean => original.get(s.segment)![s.offset + 12] === RecordType.EVENT
  assert.equal([total, spots.filter(isEvent).length], [10, 9], '9 events and the seal')
  const commitAt = new Set<number>() // ends of COMMIT records
  for (const s of spots)
    if (original.get(s.segment)![s.offset + 13]! & 1) commitAt.add(s.end * 1000 + segs.indexOf(s.segment))
  let checked = 0
  for (let k = 0; k < segs.length; k++) {
    const name = segs[k]!
    const full = original.get(name)!
    const before = spots.filter((s) => segs.indexOf(s.segment) < k).length
    const mine = spots.filter((s) => s.segment === name)
    // Downwards, so that each cut is one ftruncate of the file as it is.
    for (let t = full.length - 1; t >= 0; t--) {
      fs.truncateSync(path.join(dir, name), t)
      const where = `segment ${k} cut at ${t}`
      const v = await verifyLog(dir)
      const whole = mine.filter((s) => s.end <= t)
      assert.ok(v.records <= before + whole.length, `${where}: verify claims ${v.records} records`)
      if (k === segs.length - 1 && t >= SEGMENT_HEADER_BYTES) {
        // The seal is cut (t < the file's size): the segment is unsealed, and what the cut left after its last
        // batch is what a torn write leaves (whole records of that batch, then one record cut short).
        const committed = whole.filter((s) => commitAt.has(s.end * 1000 + k)).at(-1)
        const expected = before + (committed === undefined ? 0 : mine.indexOf(committed) + 1)
        assert.ok(v.ok, `${where}: the last segment cut is a torn tail, not damage (${JSON.stringify(v.firstBad)})`)
        assert.is(v.records, expected, where)
        assert.is(v.tornTail !== undefined, t > (committed?.end ?? SEGMENT_HEADER_BYTES), `${where}: torn tail`)
        assert.is(v.sealed, false, where)
      } else {
        assert.not.ok(v.ok, `${where}: must be damaged`)
        assert.ok(v.firstBad !== undefined, where)
      }
      let salvaged = 0
      for await (const r of replay(dir, {}, { salvage: true })) {
        assert.is(r.event.properties.N, r.seq - 1, where)
        salvaged++
      }
      const events = (xs: typeof spots): number => xs.filter(isEvent).length
      assert.is(salvaged, events(spots) - events(mine) + events(whole), `${where}: salvage keeps every whole event`)
      if (t % 41 === 0 || t === 80 || t === full.length - 1) {
        const s = await logStats(dir)
        assert.is(s.ok, v.ok, where)
        assert.ok(s.records <= v.records, where)
        const out = path.join(base, `trunc-${k}-${t}`)
        const rep = await recoverLog(dir, { output: out })
        // Intact records: the salvaged events, and the seal when its segment was not the one cut.
        assert.is(rep.records.intact, salvaged + (k < segs.length - 1 ? 1 : 0), where)
        assert.is(rep.records.intact + rep.records.lost, k === segs.length - 1 ? before + whole.length : total, where)
        const vo = await verifyLog(out)
        assert.ok(vo.ok && vo.sealed, where)
        assert.equal(
          vo.gaps.map((g) => [g.fromSeq, g.toSeq]),
          rep.lost.map((l) => [l.fromSeq, l.toSeq]),
          `${where}: one gap record per lost range`,
        )
        fs.rmSync(out, { recursive: true })
      }
      checked++
    }
    fs.writeFileSync(path.join(dir, name), full)
  }
  assert.ok(checked > 1000, `${checked} truncations`)
  assert.equal(new Map(segs.map((s) => [s, fs.readFileSync(path.join(dir, s))])), original)
  // The CLI on a few of them: the same verdicts as exit codes.
  const last = segs[2]!
  const lastFull = original.get(last)!
  for (const [name, t, code] of [
    [segs[0]!, 40, 1],
    [segs[0]!, original.get(segs[0]!)!.length - 5, 1],
    [last, 10, 1],
    [last, 100, 1], // inside the 128-byte v2 header
    [last, SEGMENT_HEADER_BYTES + 20, 0], // inside the first record: a torn write
    [last, lastFull.length - 1, 0],
  ] as const) {
    fs.writeFileSync(path.join(dir, name), original.get(name)!.subarray(0, t))
    const r = cli('verify', dir, '--json')
    assert.is(r.code, code, `${name} cut at ${t}: ${r.err}`)
    assert.ok(JSON.parse(r.out).records <= total)
    fs.writeFileSync(path.join(dir, name), original.get(name)!)
  }
})

test.run()
