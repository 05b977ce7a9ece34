// Reading a segment through a bounded window (shared/bytes.ts) must not change
// what the record walker sees: for real segments written by the sink, cut,
// zeroed and flipped in seeded ways, scanSegment, classifyTail, nextIntact and
// zeroFrom give the same results over the whole buffer and over windows far
// smaller than a record, and a window never holds more than a record or a
// window's worth. Replay a failure with BYTES_SEED=<seed> (printed below).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { AuditSink } from '../../lib/index.js'
import { SegmentBytes } from '../../shared/bytes.js'
import { GENESIS_HASH, RECORD_HEADER_BYTES, segmentFileName } from '../../shared/format.js'
import { FIXED } from '../../shared/limits.js'
import { classifyTail, nextIntact, scanSegment, SECTOR_BYTES, type SegmentScan, zeroFrom } from '../../shared/scan.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const seed = seedFrom('BYTES_SEED')
console.log(`bytes seed=${seed} (replay with BYTES_SEED=${seed})`)
const rnd = mulberry32(seed)
const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1))

const EVENT_MAX = 4096
const OPTS = { segmentBytesMax: 256 * 1024, batchBytesMax: 32 * 1024, eventBytesMax: EVENT_MAX }

/** A log of one segment written by the sink, events of 1 to ~3,000 bytes, many batches; closed (sealed). */
async function writtenSegment(): Promise<Buffer> {
  const dir = tempDir('bytes')
  const sink = await AuditSink.open({ dir, ...OPTS })
  for (let round = 0; round < 6; round++) {
    await Promise.all(
      Array.from({ length: 20 }, (_, k) =>
        sink.emit({ level: 'Information', messageTemplate: 'Pad {P}', properties: { P: 'p'.repeat((round * 977 + k * 131) % 2900) } }),
      ),
    )
  }
  await sink.close()
  return fs.readFileSync(path.join(dir, segmentFileName(1)))
}

/** Bytes served from memory through the same positioned-read path a file takes. */
function windowed(buf: Buffer, windowBytes: number): SegmentBytes {
  return new SegmentBytes((b, o, l, p) => buf.copy(b, o, p, Math.min(p + l, buf.length)), buf.length, windowBytes)
}

/** Everything the walker says about a segment: the scan, its records' payload digests, the tail verdict, the loose walk. */
function walk(bytes: Buffer | SegmentBytes): unknown {
  const payloads: string[] = []
  const scan = scanSegment(bytes, { seq: 0, hash: GENESIS_HASH }, EVENT_MAX, (r, p) => {
    payloads.push(`${r.seq}@${r.payloadOff}:${crypto.createHash('sha256').update(p).digest('hex').slice(0, 16)}`)
  })
  if ('problem' in scan) return { header: scan }
  const sc = scan as SegmentScan
  const verdict = classifyTail(bytes, sc, EVENT_MAX)
  const loose: number[] = []
  for (let r = nextIntact(bytes, sc.commitEnd, Infinity, sc.header.saltSeed, EVENT_MAX, sc.header.rules); r !== undefined; )
    (loose.push(r.offset, r.end, r.lastSeq), (r = nextIntact(bytes, r.end, Infinity, sc.header.saltSeed, EVENT_MAX, sc.header.rules)))
  return { scan: { ...sc, commitHash: sc.commitHash.toString('hex'), header: sc.header.firstSeq }, payloads, verdict, loose, zeros: zeroFrom(bytes, sc.commitEnd) }
}

/** One seeded change of a segment: cuts, zeroed sectors, appended zeros, flipped bits. */
function mutate(seg: Buffer): { buf: Buffer; what: string } {
  let buf = Buffer.from(seg)
  const what: string[] = []
  const steps = int(1, 3)
  for (let s = 0; s < steps; s++) {
    const kind = int(0, 4)
    if (kind === 0 && buf.length > 200) {
      const at = int(128, buf.length - 1)
      buf = buf.subarray(0, at)
      what.push(`cut at ${at}`)
    } else if (kind === 1) {
      const n = int(1, 3) * SECTOR_BYTES
      const at = Math.floor(int(128, Math.max(128, buf.length - n)) / SECTOR_BYTES) * SECTOR_BYTES
      buf.fill(0, at, Math.min(buf.length, at + n))
      what.push(`zero [${at}, ${at + n})`)
    } else if (kind === 2) {
      const n = int(1, 70_000)
      buf = Buffer.concat([buf, Buffer.alloc(n)])
      what.push(`append ${n} zeros`)
    } else if (kind === 3) {
      const at = int(0, buf.length - 1)
      buf[at] = buf[at]! ^ (1 << int(0, 7))
      what.push(`flip a bit at ${at}`)
    } else {
      // A batch cut where written bytes end: a prefix of the bytes after some record, then zeros.
      const at = int(128, buf.length - 1)
      const keep = int(0, Math.min(5000, buf.length - at))
      buf = Buffer.concat([buf.subarray(0, at + keep), Buffer.alloc(int(0, 9000))])
      what.push(`keep ${at + keep}, zeros after`)
    }
  }
  return { buf, what: what.join(', ') }
}

test('the walker sees the same through windows of 128 B .. 64 KiB as over the whole segment (seeded cuts, zeros, flips)', async () => {
  const seg = await writtenSegment()
  const verdicts = new Map<string, number>()
  for (let k = 0; k < 150; k++) {
    const { buf, what } = k === 0 ? { buf: seg, what: 'as written' } : mutate(seg)
    const whole = walk(buf) as { verdict?: { kind: string } }
    const kind = whole.verdict?.kind ?? 'header'
    verdicts.set(kind, (verdicts.get(kind) ?? 0) + 1)
    for (const w of [128, 200, 4096, 65_536]) {
      const b = windowed(buf, w)
      assert.equal(walk(b), whole, `case ${k} (${what}), window ${w}`)
      // Memory: one window, or one record when a record is larger.
      assert.ok(b.buf.length <= Math.max(w, RECORD_HEADER_BYTES + EVENT_MAX), `case ${k}: window grew to ${b.buf.length}`)
    }
  }
  // The cases reach every verdict, or the comparison proves little.
  for (const kind of ['clean', 'zeros', 'torn', 'corrupt']) assert.ok((verdicts.get(kind) ?? 0) > 0, `no ${kind} case among ${JSON.stringify([...verdicts])}`)
})

test('a segment file read through SegmentBytes.open gives what the whole file gives, reading each byte about once', async () => {
  const seg = await writtenSegment()
  const file = path.join(tempDir('bytes-file'), 'seg')
  fs.writeFileSync(file, seg)
  const b = SegmentBytes.open(file, { windowBytes: 4096 })
  try {
    assert.equal(walk(b), walk(seg))
    // scan + tail: the scan reads the file once; the verdict of a clean segment reads nothing more.
    assert.ok(b.bytesRead < 2 * seg.length, `${b.bytesRead} bytes read for ${seg.length}`)
  } finally {
    b.close()
  }
  assert.is(FIXED.segmentWindowBytes >= 1024 * 1024, true)
})

test('a tracked walk lists its reads: two walks of the same bytes list the same, a changed byte shows', () => {
  const buf = crypto.randomBytes(10_000)
  const a = windowed(buf, 1000).track()
  const b = windowed(buf, 1000).track()
  zeroFrom(a, 0)
  zeroFrom(b, 0)
  assert.equal(a.reads, b.reads)
  const c = windowed(Buffer.concat([buf.subarray(0, 9_500), Buffer.from([buf[9_500]! ^ 1]), buf.subarray(9_501)]), 1000).track()
  zeroFrom(c, 0)
  assert.is.not(JSON.stringify(c.reads), JSON.stringify(a.reads))
})

test.run()
