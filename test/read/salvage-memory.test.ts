// Issue 14: salvage's memory does not grow with a segment's record count. The
// merge streams by seq (lib/read/salvage.ts): a segment of many small records
// is salvaged, with its mirror, in a child process whose heap growth (after a
// gc, sampled as the items are walked) must stay under a bound made of the
// FIXED constants, not of the record count (the merge that held every record's
// metadata needed ~650 bytes a record: ~130 MB here).
//
// Records out of the file order are merged from a side table at their seq: an
// edited seq far from its place, a block moved far down the segment, and a
// block larger than the side table (FIXED.salvageOutOfOrderRecords), whose
// records past the bound are reported as skipped (out-of-place) and their seqs
// as lost, never dropped silently. Positions are seeded: replay a failure with
// SALVAGE_MEMORY_SEED=<seed> (printed below).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { type LostRange, payloadOf, salvageSegments, type SkippedRecord } from '../../lib/index.js'
import { crc32c } from '../../shared/crc32c.js'
import { decodeSegmentHeader, segmentFileName, writeU64 } from '../../shared/format.js'
import { FIXED } from '../../shared/limits.js'
import { rawRecords } from '../../torture/raw-records.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { smallEvent, writeSmallLog } from '../helpers/small-log.js'

const seed = seedFrom('SALVAGE_MEMORY_SEED')
console.log(`salvage-memory seed=${seed} (replay with SALVAGE_MEMORY_SEED=${seed})`)
const rnd = mulberry32(seed)
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))

const HEAP_CHILD = new URL('../helpers/salvage-heap.js', import.meta.url).pathname
const MiB = 1024 * 1024
/**
 * The heap salvage may grow by: the records both copies' merges may read ahead
 * (FIXED.salvageLookaheadRecords each, at a generous 1 KiB of metadata apiece),
 * plus 4 MiB for the generator, the result and V8's own bookkeeping. Buffers
 * (the windows) are outside the heap.
 */
const HEAP_GROWTH_MAX = 2 * FIXED.salvageLookaheadRecords * 1024 + 4 * MiB
const RECORDS = 200_000

/** Everything salvage says about a one-segment log: its items (payloads checked), skips and lost ranges. */
async function salvageAll(dir: string): Promise<{
  seqs: number[]
  unlinked: number[]
  lost: LostRange[]
  skipped: SkippedRecord[]
  clean: boolean
  tails: number
}> {
  const seqs: number[] = []
  const unlinked: number[] = []
  const lost: LostRange[] = []
  const skipped: SkippedRecord[] = []
  let clean = true
  let tails = 0
  for await (const seg of salvageSegments(dir)) {
    for (const it of seg.items) {
      if (it.kind === 'lost') {
        lost.push(it.range)
        continue
      }
      const r = it.rec
      seqs.push(r.seq)
      if (!r.linkVerified) unlinked.push(r.seq)
      // Every event carries its own seq's payload (the seal has its own).
      if (r.type === 1) assert.equal(payloadOf(r), smallEvent(r.seq), `the payload of seq ${r.seq}`)
    }
    skipped.push(...seg.skipped)
    clean &&= seg.clean
    if (seg.tail !== undefined) tails++
  }
  return { seqs, unlinked, lost, skipped, clean, tails }
}

/** A one-segment log of n small events and its seal, its file, and its records' [offset, end) in file order. */
async function smallLog(n: number): Promise<{ dir: string; file: string; recs: Buffer[]; head: Buffer; salt: number }> {
  const dir = tempDir('salvage-memory')
  await writeSmallLog(dir, n)
  const file = path.join(dir, segmentFileName(1))
  const buf = fs.readFileSync(file)
  const h = decodeSegmentHeader(buf)
  assert.ok(!('problem' in h))
  const recs = rawRecords(buf).map((r) => Buffer.from(buf.subarray(r.off, r.off + 64 + r.len)))
  assert.is(recs.length, n + 1)
  return { dir, file, recs, head: buf.subarray(0, h.bytes), salt: h.saltSeed }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, k) => from + k)

test(`salvage of ${RECORDS} small records and their mirror: heap growth under ${HEAP_GROWTH_MAX / MiB} MiB (FIXED bounds), not with the records`, async () => {
  const dir = tempDir('salvage-memory-big')
  const log = path.join(dir, 'log')
  const mirror = path.join(dir, 'mirror')
  const last = await writeSmallLog(log, RECORDS)
  fs.mkdirSync(mirror)
  fs.copyFileSync(path.join(log, segmentFileName(1)), path.join(mirror, segmentFileName(1)))
  const child = spawnSync(process.execPath, ['--expose-gc', HEAP_CHILD, log, mirror], { encoding: 'utf8' })
  assert.is(child.status, 0, child.stderr)
  const r = JSON.parse(child.stdout) as {
    records: number
    lost: number
    skipped: number
    heapGrowthMax: number
    gc: boolean
    maxRssKiB: number
    seconds: number
  }
  console.log(
    `  ${r.records} records: heap growth ${(r.heapGrowthMax / MiB).toFixed(1)} MiB (bound ${HEAP_GROWTH_MAX / MiB} MiB), peak RSS ${(r.maxRssKiB / 1024).toFixed(0)} MiB, ${r.seconds} s`,
  )
  assert.ok(r.gc, 'the child measured after a gc')
  assert.is(r.records, last, 'every record salvaged')
  assert.is(r.lost + r.skipped, 0)
  assert.ok(
    r.heapGrowthMax < HEAP_GROWTH_MAX,
    `salvage grew the heap by ${r.heapGrowthMax} bytes for ${RECORDS} records (bound ${HEAP_GROWTH_MAX})`,
  )
})

test('an edited seq far down the segment is judged with the record it claims: skipped for the chain, its own seq lost', async () => {
  const n = 20_000
  const { dir, file, recs, head, salt } = await smallLog(n)
  const at = int(n / 2, n - 2) // index: seq at + 1
  const claims = int(2, n / 4)
  const edited = Buffer.from(recs[at]!)
  writeU64(edited, 16, claims)
  edited.writeUInt32LE(crc32c(edited, salt, 8, edited.length), 4)
  recs[at] = edited
  fs.writeFileSync(file, Buffer.concat([head, ...recs]))
  const offset = head.length + recs.slice(0, at).reduce((a, r) => a + r.length, 0)
  const s = await salvageAll(dir)
  const gone = at + 1
  assert.equal(s.seqs, [...range(1, gone - 1), ...range(gone + 1, n + 1)], `every seq but ${gone}, in order`)
  assert.equal(s.unlinked, [gone + 1], 'only the record after the loss is unlinked')
  assert.equal(
    s.skipped.map((k) => ({ seq: k.seq, offset: k.offset, reason: k.reason })),
    [{ seq: claims, offset, reason: 'chain' }],
  )
  assert.equal(
    s.lost.map((l) => ({ fromSeq: l.fromSeq, toSeq: l.toSeq, offset: l.offset, reason: l.reason })),
    [{ fromSeq: gone, toSeq: gone, offset, reason: 'chain' }],
  )
  assert.is(s.clean, false)
})

test('a block of records moved far down the segment is merged at its seqs, every link checked', async () => {
  const n = 20_000
  const { dir, file, recs, head } = await smallLog(n)
  const from = int(1, n / 4)
  const count = int(100, 2000)
  const block = recs.splice(from, count)
  const to = int(n / 2, recs.length - 2) // before the seal
  recs.splice(to, 0, ...block)
  fs.writeFileSync(file, Buffer.concat([head, ...recs]))
  const s = await salvageAll(dir)
  assert.equal(s.seqs, range(1, n + 1), 'every seq, in order')
  assert.equal(s.unlinked, [], 'the chain proves every record')
  assert.equal(s.lost, [])
  assert.equal(s.skipped, [])
  assert.is(s.tails, 0)
  assert.is(s.clean, false, 'not a byte-for-byte copy: the records are not in their order')
})

test(`a moved block larger than the side table (${FIXED.salvageOutOfOrderRecords} records): the records past it are skipped (out-of-place) and their seqs lost, never dropped silently`, async () => {
  const over = int(1, 300)
  const count = FIXED.salvageOutOfOrderRecords + over
  const n = count + 4000
  const { dir, file, recs, head } = await smallLog(n)
  const from = int(1, 1000) // index: seq from + 1
  const block = recs.splice(from, count)
  const to = int(recs.length - 1500, recs.length - 2) // before the seal
  recs.splice(to, 0, ...block)
  fs.writeFileSync(file, Buffer.concat([head, ...recs]))
  const s = await salvageAll(dir)
  // The first records of the block (in file order) are merged from the side table; the rest are not.
  const firstOut = from + 1 + FIXED.salvageOutOfOrderRecords
  const lastOut = from + count
  assert.equal(s.seqs, [...range(1, firstOut - 1), ...range(lastOut + 1, n + 1)])
  assert.equal(
    s.skipped.map((k) => ({ seq: k.seq, reason: k.reason })),
    range(firstOut, lastOut).map((seq) => ({ seq, reason: 'out-of-place' })),
  )
  assert.ok(
    s.skipped.every((k) => /FIXED\.salvageOutOfOrderRecords/.test(k.message)),
    s.skipped[0]?.message,
  )
  assert.equal(
    s.lost.map((l) => ({ fromSeq: l.fromSeq, toSeq: l.toSeq, reason: l.reason })),
    [{ fromSeq: firstOut, toSeq: lastOut, reason: 'out-of-place' }],
  )
  assert.equal(s.unlinked, [lastOut + 1], 'the record after the loss cannot be linked')
  // Nothing dropped silently: every record of the file is used or reported.
  assert.is(s.seqs.length + s.skipped.length, n + 1)
})

test.run()
