// The torture machinery checked against itself: the simulated disk loses what
// a power loss loses, the independent checker reads format v1 and v2 and
// catches every kind of loss, forgery and damage it claims to (a sealed
// segment has no tail, seq ranges tile the log), the seq-history check catches
// a reused, forgotten or mis-sized seq range, and a storage that acknowledges
// before it is durable is caught by the PowerLoss check (a runner whose checks
// pass with events missing proves nothing).
//
// Seeded: CHECKER_SEED=<n> replays the random runs.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import os from 'node:os'
import path from 'node:path'
import fs from 'node:fs'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { AuditSink } from '../../lib/index.js'
import { crc32c } from '../../shared/crc32c.js'
import { checkLog, parseWal, T_GAP, T_SEAL } from '../../torture/checker.js'
import { ackedAt, dirFiles, recoverAndCheck } from '../../torture/crashcheck.js'
import { checkEvidence, writeEvidence } from '../../torture/evidence.js'
import { makeOracle } from '../../torture/events.js'
import { mulberry32 } from '../../torture/prng.js'
import { checkDevice, checkHistory, checkNewGap, device, expectedLost } from '../../torture/seqs.js'
import { POLICIES, SimFs } from '../../torture/sim-fs.js'
import { runSim } from '../../torture/workload.js'
import { Replayer } from '../../torture/scenarios/common.js'

const SEED = Number(process.env.CHECKER_SEED ?? Date.now() % 2 ** 31)
console.log(`seed ${SEED} (replay with CHECKER_SEED=${SEED})`)
const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/v1/', import.meta.url))
const journal = new SharedArrayBuffer(16 * 1024 * 1024)
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'mtlog-torture-self-'))
const D = '/d'

test('SimFs: unsynced writes, creates and renames are lost on power loss; synced ones stay', () => {
  const f = SimFs.from(undefined)
  f.mkdir(D)
  const a = f.create(`${D}/a`)
  f.write(a, 0, Buffer.from('hello'))
  f.sync(a)
  f.syncDir(D)
  f.write(a, 5, Buffer.from(' world'))
  const b = f.create(`${D}/b.tmp`)
  f.write(b, 0, Buffer.from('x'))
  f.sync(b)
  f.rename(`${D}/b.tmp`, `${D}/b`)
  const lost = f.crash(POLICIES.dropAll!, () => 0.5).get(D)!
  assert.equal([...lost.keys()], ['a'])
  assert.is(lost.get('a')!.toString(), 'hello')
  const kept = f.crash(POLICIES.process!, () => 0.5).get(D)!
  assert.equal([...kept.keys()].sort(), ['a', 'b'])
  assert.is(kept.get('a')!.toString(), 'hello world')
  // A torn write keeps a prefix of the last write only.
  const torn = f
    .crash({ dirOps: 'none', keep: 1, reorder: false, tear: 'prefix' }, mulberry32(3))
    .get(D)!
    .get('a')!
    .toString()
  assert.ok(torn.startsWith('hello') && ' world'.startsWith(torn.slice(5)), torn)
})

type Run = Awaited<ReturnType<typeof runSim>>

async function cleanRun(
  seed: number,
  count = 80,
): Promise<{ files: Map<string, Buffer>; run: Run; oracle: ReturnType<typeof makeOracle>; dir: string }> {
  const dir = path.join(base, `w${seed}-${count}`)
  const oracle = makeOracle({ salt: seed })
  const run = await runSim({ dir, oracle, producer: 1, count, rng: mulberry32(seed), journal })
  const f = SimFs.from(undefined)
  for (const op of run.ops) f.apply(op)
  return { files: f.volatileFiles().get(dir)!, run, oracle, dir }
}

interface Rec {
  type: number
  flags: number
  seq: number
  payload: Buffer
}

/**
 * Rewrite every record (edit may change, drop or add records) and re-seal
 * everything with valid CRCs and chain, headers included (v1 and v2): a
 * forgery only the checker's rules or the oracle can catch.
 */
function reseal(files: Map<string, Buffer>, edit: (r: Rec, segment: string) => Rec[]): Map<string, Buffer> {
  const out = new Map(files)
  let prev: Buffer = Buffer.alloc(32)
  for (const name of [...files.keys()].filter((n) => /^\d{20}\.wal$/.test(n)).sort()) {
    const b = files.get(name)!
    const hb = b.readUInt16LE(8) === 1 ? 80 : 128
    const hdr = Buffer.from(b.subarray(0, hb))
    prev.copy(hdr, 32)
    hdr.writeUInt32LE(crc32c(hdr.subarray(0, hb - 8)), hb - 8)
    const parts: Buffer[] = [hdr]
    const seed = crc32c(hdr.subarray(64, 72))
    let idx = 0
    for (let off = hb; off < b.length;) {
      const len = b.readUInt32LE(off + 8)
      const rec = {
        type: b[off + 12]!,
        flags: b[off + 13]!,
        seq: b.readUInt32LE(off + 16),
        payload: b.subarray(off + 64, off + 64 + len),
      }
      for (const r of edit(rec, name)) {
        const x = Buffer.alloc(64 + r.payload.length)
        b.copy(x, 0, off, off + 32)
        x.writeUInt32LE(r.payload.length, 8)
        x[12] = r.type
        x[13] = r.flags
        x.writeUInt16LE(idx, 14)
        x.writeUInt32LE(r.seq, 16)
        x.writeUInt32LE(0, 20)
        r.payload.copy(x, 64)
        prev.copy(x, 32)
        // v1: SHA-256 of bytes [8, 64+len) with prev in the hash field; v2: the record's leaf hash over prev,
        // SHA-256(0x00 ‖ 0x02 ‖ type ‖ seq ‖ timeMs ‖ prev ‖ payload) (docs/wal-format.md section 0, "Leaves").
        const h =
          hb === 80
            ? createHash('sha256').update(x.subarray(8)).digest()
            : createHash('sha256')
                .update(Buffer.of(0, 2, r.type))
                .update(x.subarray(16, 32))
                .update(prev)
                .update(r.payload)
                .digest()
        h.copy(x, 32)
        x.writeUInt32LE(crc32c(x.subarray(8), seed), 4)
        prev = h
        parts.push(x)
        idx = r.flags & 1 ? 0 : idx + 1
      }
      off += 64 + len
    }
    out.set(name, Buffer.concat(parts))
  }
  return out
}

function gapPayload(lastSeq: number): Buffer {
  const b = Buffer.alloc(8 + 2)
  b.writeUInt32LE(lastSeq, 0)
  b.write('{}', 8)
  return b
}

test('checker: a clean closed v2 log passes; a missing acked event, a forged event and a flipped bit do not', async () => {
  const { files, run, oracle } = await cleanRun(SEED)
  const parsed = parseWal(files)
  const ok = checkLog(parsed, {
    oracle,
    acked: run.acks,
    allowTail: false,
    expectEvents: run.acks.length,
    closed: true,
  })
  assert.ok(ok.ok, ok.failures.join(' | '))
  assert.ok(parsed.sealed && parsed.records.at(-1)!.type === T_SEAL, 'a closed log ends with a seal')
  assert.is(parsed.lastSeq, parsed.records.length, 'one seq per record: events and the seal')
  assert.is(parsed.headers.get(parsed.segments[0]!)!.version, 2)
  // Loss: the last segment cut back before its last event.
  assert.is(parsed.segments.length, 1)
  const last = parsed.segments.at(-1)!
  const lastEvent = parsed.events.at(-1)!
  const shorter = new Map(files)
  shorter.set(last, files.get(last)!.subarray(0, parsed.events.at(-2)!.end))
  const lost = checkLog(parseWal(shorter), { oracle, acked: run.acks, allowTail: false })
  assert.not.ok(lost.ok)
  assert.ok(
    lost.failures.some((m) => m.includes(`acknowledged seq ${lastEvent.seq}`) && m.includes('is missing')),
    lost.failures.join(' | '),
  )
  // The same log without its seal is not closed.
  const unsealed = checkLog(parseWal(shorter), { oracle, acked: [], allowTail: false, closed: true })
  assert.ok(
    unsealed.failures.some((m) => m.includes('does not end with a seal')),
    unsealed.failures.join(' | '),
  )
  // Forgery with valid CRCs and chain: an event that was never emitted.
  let first = true
  const forged = reseal(files, (r) => {
    if (!first) return [r]
    first = false
    return [{ ...r, payload: Buffer.from(r.payload.toString().replace('"pad":"', '"pad":"X')) }]
  })
  assert.is(parseWal(forged).problem, undefined, 'the forgery must be structurally valid')
  const fr = checkLog(parseWal(forged), { oracle, acked: [], allowTail: false })
  assert.ok(
    fr.failures.some((m) => m.includes('differs from what was emitted')),
    fr.failures.join(' | '),
  )
  // A flipped bit is structural damage, in a header or a record.
  for (const at of [40, 300]) {
    const flipped = new Map(files)
    const b = Buffer.from(files.get(parsed.segments[0]!)!)
    b[at] = b[at]! ^ 4
    flipped.set(parsed.segments[0]!, b)
    assert.not.ok(checkLog(parseWal(flipped), { oracle, acked: run.acks, allowTail: true }).ok, `flip at ${at}`)
  }
})

test('checker: a sealed segment has no tail, a v2 segment with a successor is sealed, seq ranges tile the log', async () => {
  const { files, run, oracle } = await cleanRun(SEED ^ 1, 260)
  const parsed = parseWal(files)
  assert.ok(parsed.segments.length >= 2, `${parsed.segments.length} segments`)
  const last = parsed.segments.at(-1)!
  const withTail = (bytes: Buffer): Map<string, Buffer> =>
    new Map(files).set(last, Buffer.concat([files.get(last)!, bytes]))
  // Zeros after the final SEALED record: zero-ahead space a crash left, a tail of a raw crash state only.
  const zeros = parseWal(withTail(Buffer.alloc(700)))
  assert.ok(checkLog(zeros, { oracle, acked: run.acks, allowTail: true }).ok)
  assert.not.ok(checkLog(zeros, { oracle, acked: run.acks, allowTail: false }).ok)
  // Anything else after it is damage, never a tail.
  const junk = parseWal(withTail(Buffer.from('mtaR not a record')))
  const j = checkLog(junk, { oracle, acked: run.acks, allowTail: true })
  assert.ok(
    j.failures.some((m) => m.includes('bytes after the SEALED record')),
    j.failures.join(' | '),
  )
  // The first segment's last record without SEALED: re-sealed, valid records, but the segment has a successor.
  const firstSeg = parsed.segments[0]!
  const lastOfFirst = parsed.records.filter((r) => r.segment === firstSeg).at(-1)!
  const unsealed = reseal(files, (r) => [r.seq === lastOfFirst.seq ? { ...r, flags: 1 } : r])
  assert.match(parseWal(unsealed).problem?.what ?? '', 'a v2 segment with a successor is not sealed')
  // A gap record [1, 2] in place of events 1 and 2: valid, and receipts for seqs 1 and 2 point into it.
  const gapped = reseal(files, (r) =>
    r.seq === 1 ? [{ type: T_GAP, flags: 0, seq: 1, payload: gapPayload(2) }] : r.seq === 2 ? [] : [r],
  )
  const g = parseWal(gapped)
  assert.is(g.problem, undefined, JSON.stringify(g.problem))
  assert.equal([g.records[0]!.seq, g.records[0]!.lastSeq, g.records[1]!.seq], [1, 2, 3])
  const gc = checkLog(g, { oracle, acked: run.acks, allowTail: false, startsAtZero: () => false })
  assert.ok(
    gc.failures.some((m) => m.includes('acknowledged seq 1') && m.includes('lies in the gap [1, 2]')),
    gc.failures.join(' | '),
  )
  // A gap whose range does not meet the next record: the seqs no longer tile the log.
  const short = reseal(files, (r) =>
    r.seq === 1 ? [{ type: T_GAP, flags: 0, seq: 1, payload: gapPayload(1) }] : r.seq === 2 ? [] : [r],
  )
  assert.match(parseWal(short).problem?.what ?? '', 'seq 3, expected 2')
  // A seal in the middle of a segment ends it: a record after it is damage.
  const early = reseal(files, (r) =>
    r.seq === 3 ? [{ ...r, type: T_SEAL, flags: 3, payload: Buffer.from('{"reason":"close"}') }] : [r],
  )
  assert.match(parseWal(early).problem?.what ?? '', 'a record after SEALED')
})

test('checker: reads version 1 (the fixtures), and a v2 segment after v1 segments', async () => {
  const read = (name: string): Map<string, Buffer> =>
    new Map(fs.readdirSync(path.join(FIXTURES, name)).map((n) => [n, fs.readFileSync(path.join(FIXTURES, name, n))]))
  const clean = parseWal(read('clean'))
  assert.is(clean.problem, undefined, JSON.stringify(clean.problem))
  assert.equal([clean.lastSeq, clean.events.length, clean.segments.length, clean.sealed], [50, 50, 3, false])
  const flip = parseWal(read('bit-flip'))
  // Damage in the last segment: the committed log ends before the batch holding it (seq 40-43; the flip is in 42).
  assert.equal(
    [flip.problem?.segment, flip.problem?.offset, flip.lastSeq, flip.problem?.what],
    ['00000000000000000035.wal', 17948, 39, 'record: checksum'],
  )
  const torn = parseWal(read('torn-tail'))
  assert.equal([torn.lastSeq, torn.commitEnd, torn.tailBytes], [50, 59768, 108])
  assert.is(torn.problem?.offset, torn.commitEnd)
  assert.match(parseWal(read('future-version')).problem?.what ?? '', 'header')
  // The real writer appends a v2 segment to a v1 log (the v1 segment left as it is).
  const dir = path.join(base, 'v1-then-v2')
  fs.cpSync(path.join(FIXTURES, 'clean'), dir, { recursive: true })
  const sink = await AuditSink.open({ dir })
  await sink.emit({ level: 'Information', messageTemplate: 'after v1' })
  await sink.close()
  const mixed = parseWal(new Map(fs.readdirSync(dir).map((n) => [n, fs.readFileSync(path.join(dir, n))])))
  assert.is(mixed.problem, undefined, JSON.stringify(mixed.problem))
  assert.equal(
    [...mixed.headers.values()].map((h) => h.version),
    [1, 1, 1, 2],
  )
  assert.equal([mixed.events.length, mixed.sealed, mixed.lastSeq], [51, true, 52])
  // Back from v2 to v1 is refused.
  const back = new Map(read('clean'))
  back.set('00000000000000000051.wal', fs.readFileSync(path.join(dir, '00000000000000000051.wal')))
  back.set('00000000000000000099.wal', back.get('00000000000000000035.wal')!)
  assert.match(parseWal(back).problem?.what ?? '', 'version 1 after version 2')
})

/** A crash state of a run whose last batch was torn, with records that check out past the committed end. */
async function tornState(seed: number): Promise<{
  state: Map<string, Map<string, Buffer>>
  dir: string
  oracle: ReturnType<typeof makeOracle>
  run: Run
  c: number
}> {
  const dir = path.join(base, `torn${seed}`)
  const oracle = makeOracle({ salt: seed })
  const run = await runSim({ dir, oracle, producer: 1, count: 120, rng: mulberry32(seed), journal })
  const rng = mulberry32(seed)
  const rep = new Replayer(undefined, run.ops)
  for (let c = 1; c <= run.ops.length; c++) {
    const fs0 = rep.to(c)
    if (run.ops[c - 1]!.k !== 'write' || fs0.quiescent()) continue
    const state = fs0.crash({ dirOps: 'all', keep: 1, reorder: false, tear: 'prefix' }, rng)
    const p = parseWal(dirFiles(state, dir))
    // The last segment must hold a committed record for the forgeries below to follow it.
    if (p.records.at(-1)?.segment !== p.segments.at(-1)) continue
    if (expectedLost(device(dirFiles(state, dir), p)) !== undefined) return { state, dir, oracle, run, c }
  }
  throw new Error(`seed ${seed}: no crash state with a torn batch that shows seqs`)
}

test('seqs: recovery reports exactly the seqs the device showed; a reused, a forgotten or a mis-sized gap is caught', async () => {
  const { state, dir, oracle, run, c } = await tornState(SEED ^ 2)
  const acked = ackedAt(run.acks, c)
  const res = recoverAndCheck(state, dir, oracle, acked)
  assert.equal(res.failures, [])
  const want = expectedLost(res.before)!
  assert.equal(res.outcome.rec!.lost, want)
  const after = res.outcome.after.volatileFiles()
  assert.equal(checkHistory(res.before, device(dirFiles(after, dir))), [])
  // Forgotten: the side file of the cut is gone, so the next open would hand its seqs out again.
  const files = dirFiles(after, dir)
  const side = [...files.keys()].find((n) => n.includes('.torn-'))!
  const noSide = new Map([...files].filter(([n]) => n !== side))
  assert.ok(checkHistory(res.before, device(noSide)).some((m) => m.includes('forgotten')))
  // Reused: a new event at the first lost seq (valid CRC and chain, COMMIT), as a writer without the gap would write it.
  const seg = parseWal(files).segments.at(-1)!
  const append = (recs: Rec[]): Map<string, Buffer> => {
    let done = false
    return reseal(files, (r, s) => {
      if (s !== seg || done || r.seq !== want.fromSeq - 1) return [r]
      done = true
      return [r, ...recs]
    })
  }
  const event = oracle.payload(9, 0)
  const reused = append([{ type: 1, flags: 1, seq: want.fromSeq, payload: event }])
  assert.ok(checkHistory(res.before, device(reused)).some((m) => m.includes('a seq given to two records')))
  assert.ok(
    checkDevice(device(reused)).some((m) => m.includes('a seq given to two records')),
    'the side file and the log disagree',
  )
  // The gap written right: nothing to say. Too short: the next event reuses a seq the device showed.
  const right = append([{ type: T_GAP, flags: 1, seq: want.fromSeq, payload: gapPayload(want.toSeq) }])
  assert.equal([...checkHistory(res.before, device(right)), ...checkNewGap(res.before, parseWal(right))], [])
  if (want.toSeq > want.fromSeq) {
    const short = append([
      { type: T_GAP, flags: 0, seq: want.fromSeq, payload: gapPayload(want.toSeq - 1) },
      { type: 1, flags: 1, seq: want.toSeq, payload: event },
    ])
    assert.ok(checkNewGap(res.before, parseWal(short)).some((m) => m.includes('written, but the seqs lost were')))
    assert.ok(checkHistory(res.before, device(short)).some((m) => m.includes('a seq given to two records')))
  }
  // The saved evidence of a forgotten seq re-checks to the same failures (earlier states included).
  const state2 = new Map([[dir, noSide]])
  const direct = recoverAndCheck(state2, dir, oracle, acked, { history: [res.before] }).failures
  assert.ok(
    direct.some((m) => m.includes('forgotten')),
    direct.join(' | '),
  )
  const file = writeEvidence(base, 'seqs', SEED, direct[0]!, {
    dir,
    files: state2,
    acked,
    salt: oracle.salt,
    earlier: [state],
  })
  assert.equal(checkEvidence(file).failures, direct)
})

test('mutation: a storage whose fdatasync reports success and persists nothing is caught by the PowerLoss check', async () => {
  const dir = path.join(base, 'lying')
  const oracle = makeOracle({ salt: 5 })
  const rng = mulberry32(SEED ^ 5)
  // Every sync lies from the nth on (a disk cache that ignores flushes).
  let caught = 0
  for (let nth = 3; nth < 9; nth++) {
    const run = await runSim({
      dir,
      oracle,
      producer: 1,
      count: 40,
      rng,
      journal,
      sim: { byzantine: { lieSyncFrom: nth } },
    })
    const state = new Replayer(undefined, run.ops).to(run.ops.length).crash(POLICIES.dropAll!, rng)
    const acked = ackedAt(run.acks, run.ops.length)
    const res = recoverAndCheck(state, dir, oracle, acked)
    if (res.failures.some((m) => m.includes('is missing'))) {
      caught++
      // The saved state re-checks to exactly the same failures (exact replay).
      const file = writeEvidence(base, 'mutation', nth, res.failures[0]!, { dir, files: state, acked, salt: 5 })
      assert.equal(checkEvidence(file).failures, res.failures)
    }
  }
  assert.ok(
    caught > 0,
    'a lying fdatasync never lost an acknowledged event under power loss: the check would pass with events missing',
  )
})

test.after(() => fs.rmSync(base, { recursive: true, force: true }))
test.run()
