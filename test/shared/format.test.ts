// The WAL format codec, versions 1 and 2: CRC32C, segment headers, records,
// the hash chain, and what scanSegment/classifyTail make of a segment's end.
// Every check here is against the definitions in docs/wal-format.md
// (independent CRC32C and SHA-256 below), the frozen v1 vectors in
// test/fixtures/v1/vectors.json (section 11 of the doc: they stay v1), or a
// hand-built buffer with one known fault. Where v1 and v2 differ (the v2
// torn-write rule, seal and gap records, the 128-byte header), the v1 test
// stays and names itself v1, and its v2 counterpart follows.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import { createHash } from 'node:crypto'
import { crc32c } from '../../shared/crc32c.js'
import {
  checkRecord,
  decodeSegmentHeader,
  encodeSegmentHeader,
  FORMAT_VERSION,
  GAP_LAST_SEQ_BYTES,
  GENESIS_HASH,
  readI64,
  readU64,
  RECORD_HEADER_BYTES,
  RECORD_MAGIC,
  RecordFlag,
  type RecordRules,
  RecordType,
  RULES_V1,
  RULES_V2,
  SEGMENT_HEADER_BYTES,
  SEGMENT_HEADER_BYTES_V1,
  SEGMENT_MAGIC,
  leafBytes,
  recordHashInto,
  sealRecord,
  setRecordFlags,
  segmentFileName,
  parseSegmentFileName,
  writeU64,
  type RecordBad,
  type RecordOk,
  type SegmentHeader,
} from '../../shared/format.js'
import { leafHash } from '../../lib/integrity/index.js'
import { classifyTail, scanSegment, SECTOR_BYTES, START, type SegmentScan, zeroFrom } from '../../shared/scan.js'

const VECTORS_URL = new URL('../../../test/fixtures/v1/vectors.json', import.meta.url)
const DOC_URL = new URL('../../../docs/wal-format.md', import.meta.url)
const MAX = 1 << 20

// ── independent definitions (the doc's words, not the library's code) ──────

/** CRC32C bit by bit: reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF. */
function refCrc32c(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (const b of bytes) {
    c ^= b
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  }
  return (c ^ 0xffffffff) >>> 0
}

function sha256(b: Uint8Array): Buffer {
  return createHash('sha256').update(b).digest()
}

function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    b[i] = x & 0xff
  }
  return b
}

// ── hand-built segments ─────────────────────────────────────────────────────

const SALT = Buffer.from('a1b2c3d4e5f60718', 'hex')
const SEED = crc32c(SALT)

interface Rec {
  off: number
  end: number
  seq: number
  flags: number
}

/** Frame records back to back (offsets relative to the returned bytes); events unless a spec says its type and payload. */
function frame(
  specs: { seq: number; flags: number; payload?: string | Buffer; type?: number }[],
  prevHash: Buffer,
  seed: number,
  version = 2,
): { bytes: Buffer; recs: Rec[]; hash: Buffer } {
  const parts: Buffer[] = []
  const recs: Rec[] = []
  const prev = Buffer.from(prevHash)
  let off = 0
  let batchIndex = 0
  for (const s of specs) {
    const payload = Buffer.from(
      s.payload ?? JSON.stringify({ level: 'Information', messageTemplate: 'e {N}', properties: { N: s.seq } }),
    )
    const b = Buffer.alloc(RECORD_HEADER_BYTES + payload.length)
    payload.copy(b, RECORD_HEADER_BYTES)
    sealRecord(
      b,
      0,
      payload.length,
      s.type ?? RecordType.EVENT,
      s.flags,
      batchIndex,
      s.seq,
      1_700_000_000_000 + s.seq,
      prev,
      seed,
      version,
    ).copy(prev)
    batchIndex = s.flags & RecordFlag.COMMIT ? 0 : batchIndex + 1
    parts.push(b)
    recs.push({ off, end: off + b.length, seq: s.seq, flags: s.flags })
    off += b.length
  }
  return { bytes: Buffer.concat(parts), recs, hash: prev }
}

/** Batch sizes → specs with COMMIT on the last record of each batch. */
function batches(sizes: number[], firstSeq = 1): { seq: number; flags: number }[] {
  const out: { seq: number; flags: number }[] = []
  let seq = firstSeq
  for (const n of sizes)
    for (let k = 0; k < n; k++) out.push({ seq: seq++, flags: k === n - 1 ? RecordFlag.COMMIT : 0 })
  return out
}

interface Seg {
  buf: Buffer
  recs: Rec[]
  hash: Buffer
}

/** The batchBytesMax the hand-built v2 segments declare: the torn-write rule's bound on a torn batch. */
const V2_BATCH_BYTES = 64 * 1024
const LOG_ID = Buffer.from('00112233445566778899aabbccddeeff', 'hex')
const VERSIONS = [1, 2] as const

/** A segment starting at seq 1 (after GENESIS) holding the given batch sizes, in format v1 or v2 (the default). */
function segment(
  sizes: number[],
  opts: { firstSeq?: number; chainStart?: Buffer; salt?: Buffer; version?: number } = {},
): Seg {
  const firstSeq = opts.firstSeq ?? 1
  const salt = opts.salt ?? SALT
  const chainStart = opts.chainStart ?? GENESIS_HASH
  const header = encodeSegmentHeader(
    { firstSeq, createdMs: 1_700_000_000_000, chainStart, salt, logId: LOG_ID, batchBytesMax: V2_BATCH_BYTES },
    opts.version ?? 2,
  )
  const f = frame(batches(sizes, firstSeq), chainStart, crc32c(salt), opts.version ?? 2)
  return {
    buf: Buffer.concat([header, f.bytes]),
    recs: f.recs.map((r) => ({ ...r, off: r.off + header.length, end: r.end + header.length })),
    hash: f.hash,
  }
}

function scan(buf: Buffer, expected: { seq: number; hash: Buffer } = START): SegmentScan {
  const s = scanSegment(buf, expected, MAX)
  if ('problem' in s) throw new Error(`unexpected header fault ${s.problem}`)
  return s
}

// ── CRC32C ──────────────────────────────────────────────────────────────────

test('crc32c gives the RFC 3720 B.4 check values (wrong polynomial, reflection or final xor)', () => {
  const inc = Buffer.from(Array.from({ length: 32 }, (_, i) => i))
  const dec = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i))
  const cases: [string, Buffer, number][] = [
    ['32 zero bytes', Buffer.alloc(32), 0x8a9136aa],
    ['32 bytes 0xFF', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['32 incrementing bytes 00..1F', inc, 0x46dd794e],
    ['32 decrementing bytes 1F..00', dec, 0x113fdb5c],
    ['"123456789"', Buffer.from('123456789', 'latin1'), 0xe3069283],
  ]
  for (const [name, input, want] of cases) {
    assert.is(crc32c(input), want, `crc32c(${name})`)
    assert.is(refCrc32c(input), want, `reference crc32c(${name})`)
  }
})

test('crc32c continues a running CRC: crc32c(b, crc32c(a)) === crc32c(a ‖ b) (broken seed handling)', () => {
  const data = bytes(203, 7)
  for (const cut of [0, 1, 7, 8, 9, 64, 100, 202, 203]) {
    const a = data.subarray(0, cut)
    const b = data.subarray(cut)
    assert.is(crc32c(b, crc32c(a)), crc32c(data), `split at ${cut}`)
    assert.is(crc32c(data, crc32c(a), cut), crc32c(data), `split at ${cut} via start`)
  }
  assert.is(crc32c(Buffer.alloc(0), 0x12345678), 0x12345678, 'an empty continuation must return the seed')
  assert.is(crc32c(Buffer.from('56789'), crc32c(Buffer.from('1234'))), 0xe3069283)
})

test('crc32c slicing-by-8 agrees with the bit-by-bit definition for every length and misaligned start/end', () => {
  const data = bytes(300, 99)
  for (let len = 0; len <= 70; len++) {
    for (const start of [0, 1, 3, 5]) {
      const part = data.subarray(start, start + len)
      assert.is(crc32c(data, 0, start, start + len), refCrc32c(part), `len ${len} start ${start}`)
    }
  }
  assert.is(crc32c(data), refCrc32c(data))
})

// ── test vectors ────────────────────────────────────────────────────────────

interface VectorRecord {
  offset: number
  seq: number
  timeMs: number
  type: number
  flags: number
  batchIndex: number
  len: number
  payloadUtf8: string
  payloadHex: string
  prevHashHex: string
  hashInputHex: string
  hashHex: string
  crc: string
  recordHex: string
}
interface VectorSegment {
  name: string
  firstSeq: number
  createdMs: number
  chainStartHex: string
  saltHex: string
  saltSeed: string
  headerCrc: string
  headerHex: string
  records: VectorRecord[]
  fileHex: string
}
const vectors = JSON.parse(fs.readFileSync(VECTORS_URL, 'utf8')) as { format: number; segments: VectorSegment[] }

test('vectors.json is format 1 with two segments and several records (the fixture went missing or empty)', () => {
  assert.is(vectors.format, 1)
  assert.is(FORMAT_VERSION, 2, 'this code writes v2; the vectors stay the v1 ones of docs/wal-format.md section 11')
  assert.is(vectors.segments.length, 2)
  assert.ok(vectors.segments[0]!.records.length >= 2)
  assert.ok(
    vectors.segments[0]!.records.some((r) => r.flags === 0),
    'a record without COMMIT (a batch of two) is part of the vectors',
  )
})

test('encodeSegmentHeader reproduces the vector headers byte for byte', () => {
  for (const s of vectors.segments) {
    const h = encodeSegmentHeader(
      {
        firstSeq: s.firstSeq,
        createdMs: s.createdMs,
        chainStart: Buffer.from(s.chainStartHex, 'hex'),
        salt: Buffer.from(s.saltHex, 'hex'),
      },
      1,
    )
    assert.is(h.toString('hex'), s.headerHex, s.name)
    assert.is(s.name, segmentFileName(s.firstSeq))
  }
})

test('sealRecord reproduces the vector records and whole files byte for byte', () => {
  for (const s of vectors.segments) {
    const seed = crc32c(Buffer.from(s.saltHex, 'hex'))
    assert.is(`0x${seed.toString(16).padStart(8, '0')}`, s.saltSeed)
    const prev = Buffer.from(s.chainStartHex, 'hex')
    const parts = [
      encodeSegmentHeader(
        {
          firstSeq: s.firstSeq,
          createdMs: s.createdMs,
          chainStart: prev,
          salt: Buffer.from(s.saltHex, 'hex'),
        },
        1,
      ),
    ]
    for (const r of s.records) {
      const payload = Buffer.from(r.payloadUtf8, 'utf8')
      assert.is(payload.toString('hex'), r.payloadHex)
      const b = Buffer.alloc(RECORD_HEADER_BYTES + payload.length)
      payload.copy(b, RECORD_HEADER_BYTES)
      const hash = sealRecord(b, 0, payload.length, r.type, r.flags, r.batchIndex, r.seq, r.timeMs, prev, seed, 1)
      assert.is(b.toString('hex'), r.recordHex, `record seq ${r.seq}`)
      assert.is(hash.toString('hex'), r.hashHex, `hash of seq ${r.seq}`)
      hash.copy(prev)
      parts.push(b)
    }
    assert.is(Buffer.concat(parts).toString('hex'), s.fileHex, s.name)
  }
})

test('the vectors follow the documented byte layout, CRC32C and hash-chain definitions (read by an independent parser)', () => {
  let chain: Buffer = Buffer.from(GENESIS_HASH)
  for (const s of vectors.segments) {
    const file = Buffer.from(s.fileHex, 'hex')
    // header
    assert.equal(file.subarray(0, 8), Buffer.from('MTLAWAL\0', 'latin1'))
    assert.is(file.readUInt16LE(8), 1)
    assert.is(file.readUInt16LE(10), 80)
    assert.is(file.readUInt32LE(12), 0)
    assert.is(Number(file.readBigUInt64LE(16)), s.firstSeq)
    assert.is(Number(file.readBigInt64LE(24)), s.createdMs)
    assert.equal(file.subarray(32, 64), chain, `${s.name}: chainStart is the hash of the record before firstSeq`)
    const salt = file.subarray(64, 72)
    assert.is(file.readUInt32LE(72), refCrc32c(file.subarray(0, 72)))
    assert.is(`0x${file.readUInt32LE(72).toString(16).padStart(8, '0')}`, s.headerCrc)
    assert.is(file.readUInt32LE(76), 0)
    // records
    let off = 80
    let seq = s.firstSeq
    let batchIndex = 0
    for (const r of s.records) {
      assert.is(off, r.offset)
      assert.equal(file.subarray(off, off + 4), Buffer.from('mtaR', 'latin1'))
      const len = file.readUInt32LE(off + 8)
      const end = off + 64 + len
      assert.is(len, r.len)
      assert.is(file[off + 12], 1, 'type event')
      assert.is(file[off + 13], r.flags)
      assert.is(file.readUInt16LE(off + 14), batchIndex, 'batchIndex: position in the batch')
      assert.is(r.batchIndex, batchIndex)
      batchIndex = r.flags & 1 ? 0 : batchIndex + 1
      assert.is(Number(file.readBigUInt64LE(off + 16)), seq)
      assert.is(Number(file.readBigInt64LE(off + 24)), r.timeMs)
      // CRC32C seeded with CRC32C(salt) is the plain CRC32C of salt ‖ bytes [8, 64+len).
      const crc = file.readUInt32LE(off + 4)
      assert.is(crc, refCrc32c(Buffer.concat([salt, file.subarray(off + 8, end)])), `crc of seq ${seq}`)
      assert.is(`0x${crc.toString(16).padStart(8, '0')}`, r.crc)
      // SHA-256 over bytes [8, 32) ‖ previous hash ‖ payload.
      const input = Buffer.concat([file.subarray(off + 8, off + 32), chain, file.subarray(off + 64, end)])
      assert.is(input.toString('hex'), r.hashInputHex)
      assert.is(r.prevHashHex, chain.toString('hex'))
      const hash = sha256(input)
      assert.equal(file.subarray(off + 32, off + 64), hash, `hash of seq ${seq}`)
      assert.is(hash.toString('hex'), r.hashHex)
      chain = hash
      off = end
      seq++
    }
    assert.is(off, file.length, 'nothing after the last record')
  }
})

test('scanSegment accepts the vector segments as one chained, clean log', () => {
  let expected: { seq: number; hash: Buffer } = START
  let total = 0
  for (const s of vectors.segments) {
    const buf = Buffer.from(s.fileHex, 'hex')
    const sc = scan(buf, expected)
    assert.is(sc.stop, undefined)
    assert.is(classifyTail(buf, sc, MAX).kind, 'clean')
    total += sc.committedRecords
    expected = { seq: sc.commitSeq, hash: sc.commitHash }
  }
  assert.is(total, 4)
  assert.is(expected.hash.toString('hex'), vectors.segments.at(-1)!.records.at(-1)!.hashHex)
})

test('docs/wal-format.md shows the same bytes as vectors.json (the doc and the code drifted)', () => {
  const doc = fs.readFileSync(DOC_URL, 'utf8')
  // Hex dumps in the doc: lines "0000  aa bb ..." inside fenced blocks; one dump per block.
  const dumps = new Set<string>()
  for (const block of doc.split('```').filter((_, i) => i % 2 === 1)) {
    const lines = block.split('\n').filter((l) => /^[0-9a-f]{4}  [0-9a-f]{2}( [0-9a-f]{2})*\s*$/.test(l))
    if (lines.length > 0) dumps.add(lines.map((l) => l.slice(6).replace(/\s+/g, '')).join(''))
  }
  for (const s of vectors.segments) {
    assert.ok(dumps.has(s.headerHex), `header of ${s.name} is not in the doc as generated`)
    assert.ok(dumps.has(s.fileHex), `whole file ${s.name} is not in the doc as generated`)
    for (const r of s.records) {
      assert.ok(dumps.has(r.recordHex), `record seq ${r.seq} is not in the doc as generated`)
      assert.ok(doc.includes(r.hashHex), `hash of seq ${r.seq} is not in the doc`)
      assert.ok(doc.includes(r.crc), `crc of seq ${r.seq} is not in the doc`)
    }
  }
})

// ── segment names and headers ───────────────────────────────────────────────

test('segment file names are the first seq in 20 digits, and nothing else parses as one', () => {
  assert.is(segmentFileName(1), '00000000000000000001.wal')
  assert.is(segmentFileName(9_007_199_254_740_991), '00009007199254740991.wal')
  assert.is(parseSegmentFileName('00000000000000000042.wal'), 42)
  for (const n of [
    '00000000000000000042.wal.tmp',
    '0000000000000000042.wal',
    '00000000000000000042.wal.torn-1',
    'LOCK',
    '0000000000000000004a.wal',
  ]) {
    assert.is(parseSegmentFileName(n), undefined, n)
  }
})

test('decodeSegmentHeader reads back every field encodeSegmentHeader wrote, v1 and v2 (64-bit fields split wrong)', () => {
  const chainStart = bytes(32, 5)
  const salt = bytes(8, 6)
  const logId = bytes(16, 7)
  for (const [firstSeq, createdMs] of [
    [1, 0],
    [2 ** 53 - 1, -1],
    [0x1_0000_0001, 1_700_000_000_123],
    [12345, -86_400_000_123],
  ] as const) {
    const v1 = decodeSegmentHeader(encodeSegmentHeader({ firstSeq, createdMs, chainStart, salt }, 1)) as SegmentHeader
    assert.not.ok('problem' in v1, JSON.stringify(v1))
    assert.is(v1.version, 1)
    assert.is(v1.bytes, SEGMENT_HEADER_BYTES_V1)
    assert.is(v1.firstSeq, firstSeq)
    assert.is(v1.createdMs, createdMs)
    assert.equal(v1.chainStart, chainStart)
    assert.equal(v1.salt, salt)
    assert.is(v1.saltSeed, refCrc32c(salt))
    assert.equal(v1.logId, Buffer.alloc(16), 'v1 has no log id')
    assert.is(v1.batchBytesMax, 0)
    assert.is(v1.rules, RULES_V1)
    const enc = encodeSegmentHeader({ firstSeq, createdMs, chainStart, salt, logId, batchBytesMax: 123_456 })
    assert.is(enc.length, SEGMENT_HEADER_BYTES)
    const v2 = decodeSegmentHeader(enc) as SegmentHeader
    assert.not.ok('problem' in v2, JSON.stringify(v2))
    assert.equal(
      [v2.version, v2.bytes, v2.firstSeq, v2.createdMs, v2.batchBytesMax],
      [2, SEGMENT_HEADER_BYTES, firstSeq, createdMs, 123_456],
    )
    assert.equal(v2.chainStart, chainStart)
    assert.equal(v2.salt, salt)
    assert.equal(v2.logId, logId)
    assert.is(v2.rules, RULES_V2)
  }
  const b = Buffer.alloc(16)
  b.writeBigInt64LE(-5n, 0)
  b.writeBigUInt64LE(2n ** 40n + 7n, 8)
  assert.is(readI64(b, 0), -5)
  assert.is(readU64(b, 8), 2 ** 40 + 7)
})

test('a v2 header has the layout of docs/wal-format.md section 0 (read by an independent parser)', () => {
  const chainStart = bytes(32, 8)
  const salt = bytes(8, 9)
  const h = encodeSegmentHeader({
    firstSeq: 42,
    createdMs: 1_700_000_000_000,
    chainStart,
    salt,
    logId: LOG_ID,
    batchBytesMax: 8192,
  })
  assert.equal(h.subarray(0, 8), Buffer.from('MTLAWAL\0', 'latin1'))
  assert.is(h.readUInt16LE(8), 2)
  assert.is(h.readUInt16LE(10), 128)
  assert.is(h.readUInt32LE(12), 8192)
  assert.is(Number(h.readBigUInt64LE(16)), 42)
  assert.is(Number(h.readBigInt64LE(24)), 1_700_000_000_000)
  assert.equal(h.subarray(32, 64), chainStart)
  assert.equal(h.subarray(64, 72), salt)
  assert.equal(h.subarray(72, 88), LOG_ID)
  assert.equal(h.subarray(88, 120), Buffer.alloc(32))
  assert.is(h.readUInt32LE(120), refCrc32c(h.subarray(0, 120)))
  assert.is(h.readUInt32LE(124), 0)
})

function goodHeader(): Buffer {
  return encodeSegmentHeader({ firstSeq: 7, createdMs: 1_700_000_000_000, chainStart: bytes(32, 1), salt: SALT }, 1)
}
function reseal(h: Buffer): Buffer {
  h.writeUInt32LE(crc32c(h, 0, 0, 72), 72)
  return h
}
function goodHeaderV2(): Buffer {
  return encodeSegmentHeader({
    firstSeq: 7,
    createdMs: 1_700_000_000_000,
    chainStart: bytes(32, 1),
    salt: SALT,
    logId: LOG_ID,
    batchBytesMax: V2_BATCH_BYTES,
  })
}
function resealV2(h: Buffer, size = SEGMENT_HEADER_BYTES): Buffer {
  h.writeUInt32LE(crc32c(h, 0, 0, size - 8), size - 8)
  return h
}

test('v1: a header shorter than 80 bytes is reported as short; v2: shorter than 128', () => {
  assert.equal(decodeSegmentHeader(goodHeader().subarray(0, 79)), { problem: 'short' })
  assert.equal(decodeSegmentHeader(Buffer.alloc(0)), { problem: 'short' })
  assert.equal(decodeSegmentHeader(goodHeaderV2().subarray(0, 127)), { problem: 'short' })
  assert.equal(decodeSegmentHeader(goodHeaderV2().subarray(0, 80)), { problem: 'short' })
})

test('a header without the MTLAWAL magic is reported as magic (v1 and v2)', () => {
  for (let i = 0; i < 8; i++) {
    const h = goodHeader()
    h[i]! ^= 0x01
    assert.equal(decodeSegmentHeader(reseal(h)), { problem: 'magic' }, `v1 byte ${i}`)
    const h2 = goodHeaderV2()
    h2[i]! ^= 0x01
    assert.equal(decodeSegmentHeader(resealV2(h2)), { problem: 'magic' }, `v2 byte ${i}`)
  }
  assert.equal(SEGMENT_MAGIC, Buffer.from('MTLAWAL\0', 'latin1'))
})

test('an intact header of a version this code does not read is reported as that version, not as damage', () => {
  // A later version keeps its size at [10, 12) and its CRC at size − 8 (section 9, rules for later versions).
  for (const version of [3, 0, 0xffff]) {
    const h = goodHeaderV2()
    h.writeUInt16LE(version, 8)
    assert.equal(decodeSegmentHeader(resealV2(h)), { problem: 'version', version }, `v2 layout, version ${version}`)
    const h1 = goodHeader()
    h1.writeUInt16LE(version, 8)
    h1.writeUInt16LE(80, 10)
    assert.equal(decodeSegmentHeader(reseal(h1)), { problem: 'version', version }, `80-byte layout, version ${version}`)
  }
  // Version 2 is known: a v1-layout header that says 2 is a v2 header of the wrong size (the frozen
  // test/fixtures/v1/future-version/ is such a header), damage rather than an unknown version.
  const h = goodHeader()
  h.writeUInt16LE(2, 8)
  assert.equal(decodeSegmentHeader(reseal(h)), { problem: 'layout' })
})

test('a flipped bit in the version field is checksum damage, not a newer format (v1 and v2)', () => {
  const h = goodHeader()
  h[8]! ^= 0x02 // version 1 → 3, CRC not updated
  assert.equal(decodeSegmentHeader(h), { problem: 'checksum' })
  const h2 = goodHeaderV2()
  h2[8]! ^= 0x01 // version 2 → 3
  assert.equal(decodeSegmentHeader(h2), { problem: 'checksum' })
})

test('v1: a flipped bit anywhere in header bytes 8..76 is reported as checksum; v2: in bytes 8..124', () => {
  for (let i = 8; i < 76; i++) {
    for (const bit of [0x01, 0x80]) {
      const h = goodHeader()
      h[i]! ^= bit
      assert.equal(decodeSegmentHeader(h), { problem: 'checksum' }, `v1 byte ${i} bit ${bit}`)
    }
  }
  for (let i = 8; i < 124; i++) {
    if (i === 10 || i === 11) continue // the header size: a v2 header that says another size is read at that size
    for (const bit of [0x01, 0x80]) {
      const h = goodHeaderV2()
      h[i]! ^= bit
      assert.equal(decodeSegmentHeader(h), { problem: 'checksum' }, `v2 byte ${i} bit ${bit}`)
    }
  }
})

test('v1: a header whose layout is not v1 (header size, flags, bytes 76..80) is reported as layout', () => {
  const size = goodHeader()
  size.writeUInt16LE(96, 10)
  assert.equal(decodeSegmentHeader(reseal(size)), { problem: 'layout' })
  const flags = goodHeader()
  flags.writeUInt32LE(1, 12)
  assert.equal(decodeSegmentHeader(reseal(flags)), { problem: 'layout' })
  const tail = goodHeader() // bytes 76..80 are outside the CRC but must be zero
  tail[79] = 1
  assert.equal(decodeSegmentHeader(tail), { problem: 'layout' })
})

test('v2: a header whose layout is not v2 (header size, reserved bytes 88..120 or 124..128) is reported as layout', () => {
  const size = goodHeaderV2()
  size.writeUInt16LE(96, 10)
  assert.equal(decodeSegmentHeader(resealV2(size, 96)), { problem: 'layout' })
  for (const i of [88, 100, 119]) {
    const reserved = goodHeaderV2()
    reserved[i] = 1
    assert.equal(decodeSegmentHeader(resealV2(reserved)), { problem: 'layout' }, `byte ${i}`)
  }
  const tail = goodHeaderV2() // bytes 124..128 are outside the CRC but must be zero
  tail[127] = 1
  assert.equal(decodeSegmentHeader(tail), { problem: 'layout' })
})

// ── checkRecord ─────────────────────────────────────────────────────────────

/** 16 bytes of junk, then records seq 7 (no COMMIT) and seq 8 (COMMIT), chained from PREV. */
const PREV = bytes(32, 42)
function tiny(): { buf: Buffer; r7: Rec; r8: Rec; hash7: Buffer; hash8: Buffer } {
  const f7 = frame([{ seq: 7, flags: 0, payload: '{"a":1}' }], PREV, SEED)
  const f8 = frame([{ seq: 8, flags: RecordFlag.COMMIT, payload: '{"b":"Zoë"}' }], f7.hash, SEED)
  const buf = Buffer.concat([Buffer.alloc(16, 0xee), f7.bytes, f8.bytes])
  const r7 = { ...f7.recs[0]!, off: 16, end: 16 + f7.bytes.length }
  const r8 = { ...f8.recs[0]!, off: r7.end, end: buf.length }
  return { buf, r7, r8, hash7: f7.hash, hash8: f8.hash }
}

/** checkRecord on a copy-checked buffer: asserts buf and (on failure) prevHash come back unmodified. */
function check(
  buf: Buffer,
  off: number,
  expectedSeq: number,
  prevHash: Buffer,
  opts: { seed?: number; max?: number; end?: number; rules?: RecordRules } = {},
): RecordOk | RecordBad {
  const before = Buffer.from(buf)
  const prevBefore = Buffer.from(prevHash)
  const r = checkRecord(
    buf,
    off,
    opts.end ?? buf.length,
    opts.seed ?? SEED,
    expectedSeq,
    prevHash,
    opts.max ?? MAX,
    opts.rules ?? RULES_V2,
  )
  assert.ok(buf.equals(before), 'checkRecord modified the buffer')
  if (!r.ok) assert.ok(prevHash.equals(prevBefore), 'a failed check moved prevHash')
  return r
}

test('checkRecord accepts good records, returns their fields and advances prevHash to each hash', () => {
  const { buf, r7, r8, hash7, hash8 } = tiny()
  const prev = Buffer.from(PREV)
  const a = check(buf, r7.off, 7, prev) as RecordOk
  assert.equal(a, {
    ok: true,
    len: 7,
    type: RecordType.EVENT,
    flags: 0,
    batchIndex: 0,
    seq: 7,
    lastSeq: 7,
    timeMs: 1_700_000_000_007,
    payloadOff: r7.off + 64,
    end: r7.end,
  })
  assert.equal(prev, hash7)
  const b = check(buf, r8.off, 8, prev) as RecordOk
  assert.is(b.ok, true)
  assert.is(b.flags, RecordFlag.COMMIT)
  assert.is(b.batchIndex, 0) // as stored (tiny() frames each record alone); continuity is scanSegment's check
  assert.is(buf.subarray(b.payloadOff, b.end).toString('utf8'), '{"b":"Zoë"}')
  assert.equal(prev, hash8)
})

test('truncated: a record that runs past the end of the data (or a partial non-zero header)', () => {
  const { buf, r7, r8 } = tiny()
  assert.equal(check(buf, r8.off, 8, bytes(32, 0), { end: r8.end - 1 }), { ok: false, problem: 'truncated' })
  assert.equal(check(buf.subarray(0, r7.off + 10), r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'truncated' })
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV), { end: r7.off + 63 }), { ok: false, problem: 'truncated' })
})

test('zero: all-zero bytes where a record should start (preallocated or lost pages)', () => {
  const buf = Buffer.concat([Buffer.alloc(16, 0xee), Buffer.alloc(200)])
  assert.equal(check(buf, 16, 1, Buffer.from(PREV)), { ok: false, problem: 'zero' })
  assert.equal(check(buf.subarray(0, 16 + 20), 16, 1, Buffer.from(PREV)), { ok: false, problem: 'zero' })
})

test('magic: the first four bytes are not the record magic', () => {
  const { buf, r7 } = tiny()
  assert.is(buf.readUInt32LE(r7.off), RECORD_MAGIC)
  buf[r7.off + 3]! ^= 0x40
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'magic' })
})

test('length: a length field beyond payloadBytesMax is refused without reading that far', () => {
  const { buf, r7 } = tiny()
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV), { max: 6 }), { ok: false, problem: 'length' })
  buf.writeUInt32LE(0xfffffff0, r7.off + 8)
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'length' })
})

test('checksum: a flipped bit in any covered byte, or the CRC of another segment salt', () => {
  const { buf, r7 } = tiny()
  for (let i = r7.off + 4; i < r7.end; i++) {
    if (i >= r7.off + 8 && i < r7.off + 12) continue // the length field: truncated/length take precedence
    const b = Buffer.from(buf)
    b[i]! ^= 0x04
    assert.equal(
      check(b, r7.off, 7, Buffer.from(PREV)),
      { ok: false, problem: 'checksum' },
      `byte ${i - r7.off} of the record`,
    )
  }
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV), { seed: crc32c(Buffer.from('0000000000000000', 'hex')) }), {
    ok: false,
    problem: 'checksum',
  })
})

/** A record of tiny() changed by mutate, its CRC made valid again: only the type/flags/range rules can refuse it. */
function mutated(mutate: (b: Buffer, off: number) => void): { buf: Buffer; r7: Rec } {
  const { buf, r7 } = tiny()
  mutate(buf, r7.off)
  buf.writeUInt32LE(crc32c(buf, SEED, r7.off + 8, r7.end), r7.off + 4)
  return { buf, r7 }
}

test('v1 reserved: a type other than event or a flag bit other than COMMIT, even with a valid CRC', () => {
  const cases: [string, (b: Buffer, off: number) => void][] = [
    ['type 2 (checkpoint)', (b, off) => void (b[off + 12] = RecordType.CHECKPOINT)],
    ['type 0', (b, off) => void (b[off + 12] = 0)],
    ['type 4 (a seal: v2 only)', (b, off) => void ((b[off + 12] = RecordType.SEAL), (b[off + 13] = 3))],
    ['type 5 (a gap: v2 only)', (b, off) => void (b[off + 12] = RecordType.GAP)],
    ['flag bit 1 (SEALED: v2 only)', (b, off) => void (b[off + 13] = RecordFlag.COMMIT | 0x02)],
  ]
  for (const [name, mutate] of cases) {
    const { buf, r7 } = mutated(mutate)
    assert.equal(
      check(buf, r7.off, 7, Buffer.from(PREV), { rules: RULES_V1 }),
      { ok: false, problem: 'reserved', seq: 7 },
      name,
    )
  }
})

test('v2 reserved: an unknown type (0, 7, 15) or flag bit, a seal without COMMIT + SEALED, SEALED without COMMIT, a bad gap range', () => {
  const gapTo = (to: number) => (b: Buffer, off: number) => {
    b[off + 12] = RecordType.GAP
    writeU64(b, off + RECORD_HEADER_BYTES, to) // the payload's first 8 bytes: the gap's last seq
  }
  const cases: [string, (b: Buffer, off: number) => void][] = [
    ['type 0', (b, off) => void (b[off + 12] = 0)],
    ['type 7', (b, off) => void (b[off + 12] = 7)],
    ['type 15', (b, off) => void (b[off + 12] = 15)],
    ['flag bit 2', (b, off) => void (b[off + 13] = RecordFlag.COMMIT | 0x04)],
    ['SEALED without COMMIT', (b, off) => void (b[off + 13] = RecordFlag.SEALED)],
    ['a seal with COMMIT only', (b, off) => void ((b[off + 12] = RecordType.SEAL), (b[off + 13] = RecordFlag.COMMIT))],
    ['a seal without flags', (b, off) => void ((b[off + 12] = RecordType.SEAL), (b[off + 13] = 0))],
    ['a gap ending before its first seq', gapTo(6)],
    ['a gap ending at 2^53', gapTo(2 ** 53)],
  ]
  for (const [name, mutate] of cases) {
    const { buf, r7 } = mutated(mutate)
    assert.equal(check(buf, r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'reserved', seq: 7 }, name)
  }
  // A gap payload too short to hold its last seq (tiny's seq 7 payload is 7 bytes).
  const { buf, r7 } = mutated((b, off) => void (b[off + 12] = RecordType.GAP))
  assert.is(r7.end - r7.off - RECORD_HEADER_BYTES, 7)
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'reserved', seq: 7 }, 'short gap')
})

test('v2 seal and gap records check out with their seq range: a seal one seq, a gap exactly the seqs it names', () => {
  const gap = Buffer.alloc(GAP_LAST_SEQ_BYTES + 2)
  writeU64(gap, 0, 12)
  gap.write('{}', GAP_LAST_SEQ_BYTES)
  const f = frame(
    [
      { seq: 7, flags: 0, type: RecordType.GAP, payload: gap },
      { seq: 13, flags: RecordFlag.COMMIT | RecordFlag.SEALED, type: RecordType.SEAL, payload: '{"reason":"close"}' },
    ],
    PREV,
    SEED,
  )
  const prev = Buffer.from(PREV)
  const g = check(f.bytes, 0, 7, prev) as RecordOk
  assert.equal([g.ok, g.type, g.seq, g.lastSeq], [true, RecordType.GAP, 7, 12])
  const sl = check(f.bytes, g.end, 13, prev) as RecordOk
  assert.equal([sl.ok, sl.type, sl.seq, sl.lastSeq, sl.flags], [true, RecordType.SEAL, 13, 13, 3])
  assert.equal(prev, f.hash)
  // v1 rules refuse both.
  assert.equal(check(f.bytes, 0, 7, Buffer.from(PREV), { rules: RULES_V1 }), { ok: false, problem: 'reserved', seq: 7 })
})

test('seq: a record that is not the expected next seq (gap, duplicate, reorder)', () => {
  const { buf, r7, r8 } = tiny()
  assert.equal(check(buf, r7.off, 6, Buffer.from(PREV)), { ok: false, problem: 'seq', seq: 7 })
  assert.equal(check(buf, r8.off, 7, Buffer.from(PREV)), { ok: false, problem: 'seq', seq: 8 })
})

test('chain: a record whose hash does not chain to the previous hash (inserted, removed or rewritten)', () => {
  const { buf, r7, r8 } = tiny()
  const wrong = Buffer.from(PREV)
  wrong[31]! ^= 1
  assert.equal(check(buf, r7.off, 7, wrong), { ok: false, problem: 'chain', seq: 7 })
  // r8 checked right after PREV (r7 removed): same seq expected, wrong link.
  assert.equal(check(buf, r8.off, 8, Buffer.from(PREV)), { ok: false, problem: 'chain', seq: 8 })
  // A rewritten payload with a fixed-up CRC still breaks the chain.
  buf[r7.off + 64] = 0x20
  buf.writeUInt32LE(crc32c(buf, SEED, r7.off + 8, r7.end), r7.off + 4)
  assert.equal(check(buf, r7.off, 7, Buffer.from(PREV)), { ok: false, problem: 'chain', seq: 7 })
})

test('v2: a record stores its Merkle leaf hash over the hash before it (the documented bytes), which covers no framing', () => {
  const gap = Buffer.alloc(GAP_LAST_SEQ_BYTES + 9)
  writeU64(gap, 0, 41)
  gap.write('{"why":1}', GAP_LAST_SEQ_BYTES)
  const event = Buffer.from('{"level":"Information","messageTemplate":"x"}')
  const prev = bytes(32, 7)
  for (const [type, seq, lastSeq, payload] of [
    [RecordType.EVENT, 33, 33, event],
    [RecordType.GAP, 34, 41, gap],
    [RecordType.EVENT, 42, 42, Buffer.concat([event, Buffer.alloc(100_000, 0x20)])], // larger than any scratch buffer
  ] as const) {
    const rec = (flags: number, batchIndex: number, salt: Buffer): Buffer => {
      const b = Buffer.alloc(RECORD_HEADER_BYTES + payload.length)
      payload.copy(b, RECORD_HEADER_BYTES)
      sealRecord(b, 0, payload.length, type, flags, batchIndex, seq, -5, prev, crc32c(salt))
      return b
    }
    const b = rec(0, 3, SALT)
    // SHA-256(0x00 ‖ 0x02 ‖ type ‖ u64 seq ‖ i64 timeMs ‖ prevHash ‖ payload), integers little-endian; a gap's
    // lastSeq is covered as its payload's first 8 bytes.
    const head = Buffer.alloc(18)
    head[0] = 2
    head[1] = type
    head.writeBigUInt64LE(BigInt(seq), 2)
    head.writeBigInt64LE(-5n, 10)
    const want = sha256(Buffer.concat([Buffer.of(0), head, prev, payload]))
    assert.equal(b.subarray(32, 64), want, `type ${type}: the stored hash is the leaf hash`)
    assert.equal(
      leafHash(leafBytes(type, seq, lastSeq, -5, prev, payload)),
      want,
      'leafBytes + RFC 9162 leafHash agree',
    )
    const sc = Buffer.alloc(32)
    recordHashInto(b, 0, b.length, 2, prev, sc, 0)
    assert.equal(sc, want, 'recordHashInto computes it back')
    // Flags, batchIndex and salt are framing: the hash stays, only the CRC changes.
    const other = rec(RecordFlag.COMMIT | RecordFlag.SEALED, 0, Buffer.from('0011223344556677', 'hex'))
    assert.equal(other.subarray(32, 64), want)
    assert.not.equal(other.readUInt32LE(4), b.readUInt32LE(4))
    // setRecordFlags (the writer's COMMIT) keeps the record valid without hashing it again.
    setRecordFlags(b, 0, RecordFlag.COMMIT, SEED)
    assert.ok(check(b, 0, seq, Buffer.from(prev)).ok, 'valid after setRecordFlags')
    // Content and the link are covered: another prev, time or payload byte gives another hash.
    const linked = Buffer.from(prev)
    linked[0]! ^= 1
    assert.equal(check(b, 0, seq, linked), { ok: false, problem: 'chain', seq })
  }
})

// ── scanSegment and classifyTail ────────────────────────────────────────────

test('scanSegment refuses a segment that does not continue the previous one (first-seq, chain-start), v1 and v2', () => {
  for (const version of VERSIONS) {
    const s = segment([1, 2], { version })
    assert.equal(scanSegment(s.buf, { seq: 1, hash: GENESIS_HASH }, MAX), { problem: 'first-seq' })
    assert.equal(scanSegment(s.buf, { seq: 0, hash: bytes(32, 3) }, MAX), { problem: 'chain-start' })
    const next = segment([2], { firstSeq: 4, chainStart: s.hash, version })
    assert.is(scan(next.buf, { seq: 3, hash: s.hash }).committedRecords, 2)
    const bad = Buffer.from(s.buf)
    bad[20]! ^= 1
    assert.equal(scanSegment(bad, START, MAX), { problem: 'checksum' })
  }
})

test('a segment that ends on a COMMIT is clean, and the scan reports its last committed seq and hash (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([1, 3, 2], { version })
    const sc = scan(s.buf)
    assert.is(sc.stop, undefined)
    assert.is(sc.records, 6)
    assert.is(sc.committedRecords, 6)
    assert.is(sc.commitSeq, 6)
    assert.is(sc.commitEnd, s.buf.length)
    assert.equal(sc.commitHash, s.hash)
    assert.is(sc.firstTimeMs, 1_700_000_000_001)
    assert.is(sc.lastTimeMs, 1_700_000_000_006)
    assert.is(sc.sealed, false)
    assert.equal(classifyTail(s.buf, sc, MAX), { kind: 'clean' })
  }
})

test('a header-only segment (rotated, nothing written yet) is clean (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([], { version })
    const sc = scan(s.buf)
    assert.is(sc.records, 0)
    assert.equal(sc.commitHash, GENESIS_HASH)
    assert.equal(classifyTail(s.buf, sc, MAX), { kind: 'clean' })
  }
})

test('torn: a partial record after the last commit is cut at the end of that commit (v1; v2: a prefix tear)', () => {
  for (const version of VERSIONS) {
    const s = segment([2, 3], { version })
    const extra = frame(batches([2], 6), s.hash, SEED, version).bytes
    const buf = Buffer.concat([s.buf, extra.subarray(0, 64 + 10)])
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: s.buf.length, problem: 'truncated', seq: 6 })
    assert.equal(classifyTail(buf, sc, MAX), { kind: 'torn', cutAt: s.buf.length, bytes: 74 }, `v${version}`)
    // A torn record header (fewer than 64 bytes) as well.
    const buf2 = Buffer.concat([s.buf, extra.subarray(0, 30)])
    assert.equal(classifyTail(buf2, scan(buf2), MAX), { kind: 'torn', cutAt: s.buf.length, bytes: 30 }, `v${version}`)
    // The same cut followed by zeros (the zero-ahead space the write was going into).
    const buf3 = Buffer.concat([s.buf, extra.subarray(0, 64 + 10), Buffer.alloc(4096)])
    assert.equal(classifyTail(buf3, scan(buf3), MAX), { kind: 'torn', cutAt: s.buf.length, bytes: 74 + 4096 })
  }
})

test('zeros: only zero bytes after the last commit (zero-ahead space, or lost pages) are a zero tail, not corruption (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([3], { version })
    for (const n of [1, 63, 64, 4096, 200_000]) {
      const buf = Buffer.concat([s.buf, Buffer.alloc(n)])
      const sc = scan(buf)
      assert.equal(sc.stop, { offset: s.buf.length, problem: 'zero', seq: 4 }, `${n} zero bytes`)
      assert.equal(classifyTail(buf, sc, MAX), { kind: 'zeros', cutAt: s.buf.length, bytes: n }, `${n} zero bytes`)
    }
  }
})

test('v1 torn: zeros with one non-zero byte anywhere after the last commit are a torn tail, not a zero tail', () => {
  const s = segment([3], { version: 1 })
  for (const at of [0, 63, 64, 65_535, 65_536, 199_999]) {
    const buf = Buffer.concat([s.buf, Buffer.alloc(200_000)])
    buf[s.buf.length + at] = 1
    const sc = scan(buf)
    assert.equal(
      classifyTail(buf, sc, MAX),
      { kind: 'torn', cutAt: s.buf.length, bytes: 200_000 },
      `non-zero byte at +${at}`,
    )
  }
})

test('v2: one non-zero byte in zeros after the last commit is damage unless a lost sector explains the zeros before it', () => {
  const s = segment([3])
  const commitEnd = s.buf.length
  assert.ok(commitEnd % SECTOR_BYTES !== 0, 'the batch starts inside a sector')
  const toSector = SECTOR_BYTES - (commitEnd % SECTOR_BYTES) // from the batch's start to the next sector boundary
  const cases: [number, string][] = [
    [0, 'not-torn'], // a lone byte where a record would start: no record magic, no zeros before it
    [toSector + 100, 'not-torn'], // zeros from the batch start to the middle of a sector
    [199_999, 'too-long'], // longer than the segment's batchBytesMax: no one write
  ]
  for (const [at, rule] of cases) {
    const buf = Buffer.concat([s.buf, Buffer.alloc(200_000)])
    buf[commitEnd + at] = 1
    const v = classifyTail(buf, scan(buf), MAX) as { kind: string; rule?: string }
    assert.equal([v.kind, v.rule], ['corrupt', rule], `non-zero byte at +${at}`)
  }
  // Zeros from the batch's start to a sector boundary, then data: the batch's first sector never landed.
  const buf = Buffer.concat([s.buf, Buffer.alloc(200_000)])
  buf[commitEnd + toSector] = 1
  assert.equal(classifyTail(buf, scan(buf), MAX), { kind: 'torn', cutAt: commitEnd, bytes: 200_000 })
})

test('zeroFrom finds where the trailing run of zeros starts, never below from', () => {
  const buf = Buffer.alloc(200_000)
  assert.is(zeroFrom(buf, 0), 0)
  assert.is(zeroFrom(buf, 1234), 1234)
  for (const at of [0, 7, 65_535, 65_536, 131_071, 199_999]) {
    buf.fill(0)
    buf[at] = 0xff
    assert.is(zeroFrom(buf, 0), at + 1, `last non-zero byte at ${at}`)
    assert.is(zeroFrom(buf, at + 1), at + 1)
    assert.is(zeroFrom(buf.subarray(3), 0), Math.max(0, at + 1 - 3), `unaligned view, byte at ${at}`)
  }
})

test('torn: valid records without a COMMIT after the last commit (a batch that never finished) are cut whole (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([2, 1], { version })
    const open = frame(
      [
        { seq: 4, flags: 0 },
        { seq: 5, flags: 0 },
      ],
      s.hash,
      SEED,
      version,
    )
    const buf = Buffer.concat([s.buf, open.bytes])
    const sc = scan(buf)
    assert.is(sc.stop, undefined, 'the uncommitted records are themselves valid')
    assert.is(sc.records, 5)
    assert.is(sc.committedRecords, 3)
    assert.is(sc.validEnd, buf.length)
    assert.is(sc.commitEnd, s.buf.length)
    assert.equal(classifyTail(buf, sc, MAX), { kind: 'torn', cutAt: s.buf.length, bytes: open.bytes.length })
  }
})

test('v1 torn: damage inside the last batch, even with its COMMIT record intact behind it, is a torn write', () => {
  const s = segment([2, 3], { version: 1 })
  const buf = Buffer.from(s.buf)
  const victim = s.recs[3]! // middle of the last batch (seq 3..5)
  buf[victim.off + 70]! ^= 0x01
  const sc = scan(buf)
  assert.equal(sc.stop, { offset: victim.off, problem: 'checksum', seq: 4 })
  assert.equal(classifyTail(buf, sc, MAX), { kind: 'torn', cutAt: s.recs[1]!.end, bytes: buf.length - s.recs[1]!.end })
})

test('v2 corrupt: a flipped bit inside the last batch, whose bytes are all there, is damage, never a torn tail (issue 14 finding 1)', () => {
  const s = segment([2, 3])
  for (const k of [2, 3, 4]) {
    // first, middle and COMMIT record of the last batch (seq 3..5)
    const buf = Buffer.from(s.buf)
    const victim = s.recs[k]!
    buf[victim.off + 70]! ^= 0x01
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: victim.off, problem: 'checksum', seq: k + 1 })
    const v = classifyTail(buf, sc, MAX) as { kind: string; offset: number; seq: number; problem: string; rule: string }
    assert.equal([v.kind, v.offset, v.seq, v.problem, v.rule], ['corrupt', victim.off, k + 1, 'checksum', 'not-torn'])
  }
})

test('corrupt: damage followed by a later committed batch is acknowledged data, not a torn tail (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([2, 3, 2, 1], { version })
    const buf = Buffer.from(s.buf)
    const victim = s.recs[2]! // seq 3, first record of batch 2 (seq 3..5)
    buf[victim.off + 64 + 3]! ^= 0x20
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: victim.off, problem: 'checksum', seq: 3 })
    assert.is(sc.commitSeq, 2)
    assert.equal(classifyTail(buf, sc, MAX), {
      kind: 'corrupt',
      offset: victim.off,
      seq: 3,
      problem: 'checksum',
      rule: 'later-batch',
      laterValidAt: s.recs[5]!.off, // first record after batch 2's COMMIT
    })
  }
})

test('corrupt: a damaged COMMIT record followed by two more batches (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([1, 1, 2, 1], { version })
    const buf = Buffer.from(s.buf)
    const victim = s.recs[1]! // seq 2, a one-record batch
    buf[victim.off + 20]! ^= 0x01 // inside seq
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: victim.off, problem: 'checksum', seq: 2 })
    // seq 3 begins its own batch (seq − batchIndex = 3), not the unfinished batch 2.
    assert.equal(classifyTail(buf, sc, MAX), {
      kind: 'corrupt',
      offset: victim.off,
      seq: 2,
      problem: 'checksum',
      rule: 'later-batch',
      laterValidAt: s.recs[2]!.off,
    })
  }
})

test('corrupt: a zeroed record (lost write) in the middle of acknowledged data (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([2, 2, 2], { version })
    const buf = Buffer.from(s.buf)
    buf.fill(0, s.recs[0]!.off, s.recs[0]!.end)
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: s.recs[0]!.off, problem: 'zero', seq: 1 })
    const v = classifyTail(buf, sc, MAX)
    assert.is(v.kind, 'corrupt')
    assert.is((v as { seq: number }).seq, 1)
  }
})

test('v1: stale records of another segment file (another salt) behind the tail never validate: torn, not corrupt', () => {
  const s = segment([2], { version: 1 })
  const stale = frame(batches([1, 1, 1], 3), s.hash, crc32c(Buffer.from('0011223344556677', 'hex')), 1).bytes
  const buf = Buffer.concat([s.buf, Buffer.alloc(100), stale])
  const sc = scan(buf)
  assert.equal(sc.stop, { offset: s.buf.length, problem: 'zero', seq: 3 })
  assert.equal(classifyTail(buf, sc, MAX), { kind: 'torn', cutAt: s.buf.length, bytes: buf.length - s.buf.length })
  // Directly after the commit (no gap), the salt alone tells them apart.
  const buf2 = Buffer.concat([s.buf, stale])
  const sc2 = scan(buf2)
  assert.equal(sc2.stop, { offset: s.buf.length, problem: 'checksum', seq: 3 })
  assert.is(classifyTail(buf2, sc2, MAX).kind, 'torn')
})

test('v2: stale records of another segment file (another salt) after the last commit never validate, and are no torn write either', () => {
  // The v2 writer writes into zeros (zero-ahead space, or past the end of the file): whole records of another
  // file there are not what a torn write of this segment's batch can leave.
  const s = segment([2])
  const stale = frame(batches([1, 1, 1], 3), s.hash, crc32c(Buffer.from('0011223344556677', 'hex'))).bytes
  for (const buf of [Buffer.concat([s.buf, Buffer.alloc(100), stale]), Buffer.concat([s.buf, stale])]) {
    const sc = scan(buf)
    assert.is(sc.stop?.offset, s.buf.length)
    const v = classifyTail(buf, sc, MAX) as { kind: string; rule?: string }
    assert.equal([v.kind, v.rule], ['corrupt', 'not-torn'])
  }
})

test('a damaged COMMIT record of the next-to-last batch is corrupt: batchIndex shows the last batch is another one (v1 and v2)', () => {
  // Batches [1] [2] [3]: seq 2 unreadable; seq 3 has batchIndex 0, so its batch starts at 3, not 2.
  for (const version of VERSIONS) {
    const s = segment([1, 1, 1], { version })
    const buf = Buffer.from(s.buf)
    buf[s.recs[1]!.off + 64]! ^= 0x01
    const sc = scan(buf)
    assert.equal(classifyTail(buf, sc, MAX), {
      kind: 'corrupt',
      offset: s.recs[1]!.off,
      seq: 2,
      problem: 'checksum',
      rule: 'later-batch',
      laterValidAt: s.recs[2]!.off,
    })
  }
})

test('batch: a record whose batchIndex does not continue its batch is refused, even with a valid CRC (v1 and v2)', () => {
  for (const version of VERSIONS) {
    for (const [name, victimIdx, value] of [
      ['restart inside a batch', 2, 0],
      ['skip an index', 1, 2],
      ['non-zero after a COMMIT', 3, 1],
    ] as const) {
      const s = segment([3, 2], { version }) // indexes 0 1 2 | 0 1
      const buf = Buffer.from(s.buf)
      const victim = s.recs[victimIdx]!
      buf.writeUInt16LE(value, victim.off + 14)
      buf.writeUInt32LE(crc32c(buf, SEED, victim.off + 8, victim.end), victim.off + 4)
      // a v1 hash covers batchIndex too: re-chain the victim so only the batch check can catch it (a v2 hash does not)
      const before = s.recs[victimIdx - 1]!
      const prev = Buffer.from(buf.subarray(before.off + 32, before.off + 64))
      recordHashInto(buf, victim.off, victim.end, version, prev, buf, victim.off + 32)
      buf.writeUInt32LE(crc32c(buf, SEED, victim.off + 8, victim.end), victim.off + 4)
      const sc = scan(buf)
      assert.equal(sc.stop, { offset: victim.off, problem: 'batch', seq: victimIdx + 1 }, `v${version} ${name}`)
    }
  }
})

test('a CRC-valid record that breaks the chain and ends a batch, followed by a later batch, is corrupt, not torn (v1 and v2)', () => {
  for (const version of VERSIONS) {
    const s = segment([1, 1, 1], { version })
    const buf = Buffer.from(s.buf)
    const victim = s.recs[1]! // seq 2, a committed one-record batch; seq 3 was written after it was acknowledged
    buf[victim.off + 64 + 2]! ^= 0x01
    buf.writeUInt32LE(crc32c(buf, SEED, victim.off + 8, victim.end), victim.off + 4)
    const sc = scan(buf)
    assert.equal(sc.stop, { offset: victim.off, problem: 'chain', seq: 2 })
    assert.is(classifyTail(buf, sc, MAX).kind, 'corrupt', 'acknowledged seq 2 and 3 would be cut as a torn tail')
  }
})

test('v2: a CRC-valid record of the last batch that breaks the chain, with nothing missing before it, is corrupt, not torn', () => {
  const s = segment([1, 2])
  const buf = Buffer.from(s.buf)
  const victim = s.recs[2]! // seq 3, the COMMIT record of the last batch (seq 2..3)
  buf[victim.off + 64 + 2]! ^= 0x01
  buf.writeUInt32LE(crc32c(buf, SEED, victim.off + 8, victim.end), victim.off + 4)
  const sc = scan(buf)
  assert.equal(sc.stop, { offset: victim.off, problem: 'chain', seq: 3 })
  const v = classifyTail(buf, sc, MAX) as { kind: string; offset: number; problem: string }
  assert.equal([v.kind, v.offset, v.problem], ['corrupt', victim.off, 'chain'])
})

// ── v2: seals, gaps, the torn-write bound ──────────────────────────────────

/** A v2 segment: batches of events, the last record of the last batch SEALED (or a seal record after them). */
function sealedSegment(sizes: number[], how: 'flag' | 'record'): Seg {
  const header = encodeSegmentHeader({
    firstSeq: 1,
    createdMs: 1_700_000_000_000,
    chainStart: GENESIS_HASH,
    salt: SALT,
    logId: LOG_ID,
    batchBytesMax: V2_BATCH_BYTES,
  })
  const specs: { seq: number; flags: number; type?: number; payload?: string }[] = batches(sizes)
  if (how === 'flag') specs.at(-1)!.flags |= RecordFlag.SEALED
  else
    specs.push({
      seq: specs.length + 1,
      flags: RecordFlag.COMMIT | RecordFlag.SEALED,
      type: RecordType.SEAL,
      payload: '{"reason":"close"}',
    })
  const f = frame(specs, GENESIS_HASH, SEED)
  return {
    buf: Buffer.concat([header, f.bytes]),
    recs: f.recs.map((r) => ({ ...r, off: r.off + header.length, end: r.end + header.length })),
    hash: f.hash,
  }
}

test('v2: a sealed segment is clean; any byte after its seal is damage (sealed), zeros after it are a zero tail', () => {
  for (const how of ['flag', 'record'] as const) {
    const s = sealedSegment([2, 3], how)
    const sc = scan(s.buf)
    assert.is(sc.sealed, true, how)
    assert.is(sc.commitEnd, s.buf.length)
    assert.equal(classifyTail(s.buf, sc, MAX), { kind: 'clean' })
    // Zeros after the seal: a rotation or close that crashed before it cut its zero-ahead space.
    const z = Buffer.concat([s.buf, Buffer.alloc(4096)])
    assert.equal(classifyTail(z, scan(z), MAX), { kind: 'zeros', cutAt: s.buf.length, bytes: 4096 })
    // A partial record after the seal: in v1 that is a torn tail; after a seal it is never one.
    const extra = frame(batches([1], sc.commitSeq + 1), s.hash, SEED).bytes
    const t = Buffer.concat([s.buf, extra.subarray(0, 70)])
    const st = scan(t)
    assert.equal(st.stop?.offset, s.buf.length)
    const v = classifyTail(t, st, MAX) as { kind: string; rule?: string }
    assert.equal([v.kind, v.rule], ['corrupt', 'sealed'], how)
    // A whole, valid-looking record after the seal does not continue the walk either.
    const w = Buffer.concat([s.buf, extra])
    const sw = scan(w)
    assert.equal(sw.stop, { offset: s.buf.length, problem: 'reserved', seq: sc.commitSeq + 1 })
    assert.is(classifyTail(w, sw, MAX).kind, 'corrupt')
  }
})

test('v2: damage anywhere in a sealed segment is corrupt, never torn (every byte of every record)', () => {
  const s = sealedSegment([1, 2, 3], 'record')
  const sealRec = s.recs.at(-1)!
  for (let i = SEGMENT_HEADER_BYTES; i < sealRec.off; i++) {
    if (i % 7 !== 0) continue // every 7th byte: all fields of every record, in a bounded time
    const buf = Buffer.from(s.buf)
    buf[i]! ^= 0x10
    const v = classifyTail(buf, scan(buf), MAX)
    assert.is(v.kind, 'corrupt', `byte ${i}`)
  }
})

test('v2: gap records take exactly their range: the walk continues after lastSeq, and the next segment chains from it', () => {
  const gap = Buffer.alloc(GAP_LAST_SEQ_BYTES + 20)
  writeU64(gap, 0, 9)
  gap.write('{"reason":"crash"}  ', GAP_LAST_SEQ_BYTES)
  const header = encodeSegmentHeader({
    firstSeq: 1,
    createdMs: 1_700_000_000_000,
    chainStart: GENESIS_HASH,
    salt: SALT,
    logId: LOG_ID,
    batchBytesMax: V2_BATCH_BYTES,
  })
  const f = frame(
    [
      { seq: 1, flags: RecordFlag.COMMIT },
      { seq: 2, flags: 0, type: RecordType.GAP, payload: gap },
      { seq: 10, flags: RecordFlag.COMMIT | RecordFlag.SEALED, type: RecordType.SEAL, payload: '{"reason":"open"}' },
    ],
    GENESIS_HASH,
    SEED,
  )
  const buf = Buffer.concat([header, f.bytes])
  const sc = scan(buf)
  assert.is(sc.stop, undefined)
  assert.equal([sc.records, sc.commitSeq, sc.sealed], [3, 10, true])
  const next = segment([1], { firstSeq: 11, chainStart: f.hash })
  assert.is(scan(next.buf, { seq: sc.commitSeq, hash: sc.commitHash }).commitSeq, 11)
  // The same gap claiming one seq more (re-hashed and re-checksummed: a writer's record): the seal no longer follows it.
  const bad = Buffer.from(buf)
  const g = { off: SEGMENT_HEADER_BYTES + f.recs[1]!.off, end: SEGMENT_HEADER_BYTES + f.recs[1]!.end }
  writeU64(bad, g.off + RECORD_HEADER_BYTES, 10)
  const chainInput = bad.subarray(SEGMENT_HEADER_BYTES + 32, SEGMENT_HEADER_BYTES + 64) // record 1's hash
  recordHashInto(bad, g.off, g.end, 2, chainInput, bad, g.off + 32)
  bad.writeUInt32LE(crc32c(bad, SEED, g.off + 8, g.end), g.off + 4)
  assert.equal(scan(bad).stop, { offset: g.end, problem: 'seq', seq: 11 })
})

test('v2 too-long: bytes after the last commit longer than the segment batchBytesMax are no one torn write', () => {
  const s = segment([2])
  const extra = frame(
    Array.from({ length: 40 }, (_, k) => ({ seq: 3 + k, flags: 0 })),
    s.hash,
    SEED,
  ).bytes // one uncommitted run of 40 records...
  const big = Buffer.concat([extra, Buffer.alloc(V2_BATCH_BYTES, 0x41)]) // ...and more than batchBytesMax after them
  const buf = Buffer.concat([s.buf, big])
  const v = classifyTail(buf, scan(buf), MAX) as { kind: string; rule?: string }
  assert.equal([v.kind, v.rule], ['corrupt', 'too-long'])
  // The same records alone (well under the bound) are an unfinished batch: torn.
  const ok = Buffer.concat([s.buf, extra])
  assert.equal(classifyTail(ok, scan(ok), MAX), { kind: 'torn', cutAt: s.buf.length, bytes: extra.length })
})

test.run()
