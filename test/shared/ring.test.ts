// The ring under pressure: (a) shared/ring/ring.ts on one thread with a 64 KiB ring,
// checked against a model of free space; (b) through the sink with a 64 KiB
// ring: full-ring backpressure, events near the largest allowed, the
// pendingEmitsMax limit; (c) three attached worker_threads and the main thread
// through a 64 KiB ring.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { tracked } from '../helpers/tracked.js'
import { AuditError, AuditSink, ERROR_CODES, readLog, verifyLog, type Receipt } from '../../lib/index.js'
import { CLOSED, NO_SPACE, Ring } from '../../shared/ring/ring.js'
import { LEAF_SLOT_BYTES, LeafRing } from '../../shared/leaf-ring.js'
import {
  align8,
  CONSUMED,
  DATA_OFFSET,
  PAD,
  POS_MASK,
  RESERVE_U64,
  RING_RECORD_HEADER_BYTES,
} from '../../shared/ring/layout.js'
import { checkRun } from '../helpers/check.js'
import { Gate } from '../helpers/gated-storage.js'
import { loadEvent, mulberry32, padFor, type PadSpec, seedFrom, within } from '../helpers/load.js'
import { runThreads, terminateAll } from '../helpers/threads.js'

const seed = seedFrom('RING_SEED')
console.log(`ring seed=${seed} (replay with RING_SEED=${seed})`)

const RING = 64 * 1024
const EVENT_MAX = RING / 2 - 64 // the largest eventBytesMax a 64 KiB ring allows

const { freshDir, openSink, cleanup } = tracked('ring')

// ── (a) the Ring class on one thread ─────────────────────────────────────────

interface Rec {
  seqLo: number
  len: number
  timeMs: number
  fill: number
  /** Absolute (unwrapped) position of the record's first byte, after any pad. */
  start: number
  end: number
}

/** Deterministic payload of a record: a fill byte, with the seq in the first 4 bytes and the length in the last 4. */
function payload(buf: Buffer, len: number, seqLo: number, fill: number): Buffer {
  const p = buf.subarray(0, len)
  p.fill(fill)
  if (len >= 4) p.writeUInt32LE(seqLo, 0)
  if (len >= 8) p.writeUInt32LE(len, len - 4)
  return p
}

/**
 * Drive one Ring through `steps` random reserve/publish and take/release steps,
 * checking every answer against a model of the free space. startPos: the ring
 * position (and consumed position) to start from; lastSeq: where seqs start.
 */
function exercise(
  rnd: () => number,
  steps: number,
  startPos: number,
  lastSeq: number,
): { laps: number; pads: number; noSpace: number; records: number; exactFull: number } {
  const ring = Ring.allocate(RING)
  ring.initCursors(lastSeq)
  if (startPos !== 0) {
    // Place both cursors at startPos (the layout's words, as a writer that ran for a long time would leave them).
    Atomics.store(ring.u64, RESERVE_U64, (BigInt(lastSeq % 2 ** 32) << 32n) | BigInt(startPos & POS_MASK))
    Atomics.store(ring.i32, CONSUMED, startPos & POS_MASK)
  }
  const zeros = Buffer.alloc(RING)
  const scratch = Buffer.alloc(EVENT_MAX)
  const fifo: Rec[] = []
  let head = 0
  let resPos = startPos // absolute
  let consumed = startPos // absolute
  let seq = lastSeq
  let pads = 0
  let noSpace = 0
  let records = 0
  let exactFull = 0
  const maxLen = RING / 2 - 64
  for (let step = 0; step < steps; step++) {
    const produce = rnd() < 0.55
    if (produce) {
      const r = rnd()
      let len =
        r < 0.7
          ? 1 + Math.floor(rnd() * 200)
          : r < 0.95
            ? 200 + Math.floor(rnd() * 4000)
            : maxLen - Math.floor(rnd() * 2000)
      if (rnd() < 0.1) {
        // Aim at the boundary: a record that fills the free space to the last byte.
        const o = resPos % RING
        const room = RING - (resPos - consumed)
        const atEnd = Math.min(room, RING - o)
        const target = rnd() < 0.5 || atEnd < 24 ? room - (RING - o < room ? RING - o : 0) : atEnd
        const l = target - RING_RECORD_HEADER_BYTES - Math.floor(rnd() * 8)
        if (l >= 1 && l <= maxLen) len = l
      }
      const recBytes = align8(RING_RECORD_HEADER_BYTES + len)
      const off = resPos % RING
      const pad = off + recBytes > RING ? RING - off : 0
      const free = RING - (resPos - consumed)
      // The one judgement call: a record that would fill the ring to its last
      // byte may be refused (a ring that keeps some room free) or taken.
      const fits = pad + recBytes < free
      const exact = pad + recBytes === free
      const got = ring.reserve(len)
      if (exact) exactFull++
      if (exact && got === NO_SPACE) {
        noSpace++
        continue
      }
      if (!fits && !exact) {
        assert.is(
          got,
          NO_SPACE,
          `step ${step}: reserve(${len}) with ${free} bytes free (pad ${pad}, record ${recBytes}) must be NO_SPACE, got ${got}`,
        )
        noSpace++
        continue
      }
      seq++
      assert.is(
        got,
        seq % 2 ** 32,
        `step ${step}: reserve(${len}) with ${free} bytes free (pad ${pad}, record ${recBytes}) must give seq low bits ${seq % 2 ** 32}, got ${got}`,
      )
      const fill = 1 + (seq % 251)
      const timeMs = 1_700_000_000_000 + seq
      ring.publish(payload(scratch, len, got, fill), len, timeMs)
      if (pad !== 0) {
        pads++
        assert.is(
          ring.i32[(DATA_OFFSET + off) >> 2],
          PAD,
          `step ${step}: a record that does not fit before the ring end leaves PAD at offset ${off}`,
        )
      }
      const start = resPos + pad
      fifo.push({ seqLo: got, len, timeMs, fill, start, end: start + recBytes })
      resPos = start + recBytes
      records++
    } else {
      const available = fifo.length - head
      const want = rnd() < 0.3 ? available : Math.floor(rnd() * (available + 1))
      let k = 0
      const readPos = consumed & POS_MASK
      const newPos = ring.take(readPos, (at, len, seqLo, timeMs) => {
        if (k === want) return false
        const rec = fifo[head + k]!
        assert.is(
          at,
          DATA_OFFSET + (rec.start % RING) + RING_RECORD_HEADER_BYTES,
          `take: record seq ${rec.seqLo} at the wrong place`,
        )
        assert.is(len, rec.len)
        assert.is(seqLo, rec.seqLo)
        assert.is(timeMs, rec.timeMs)
        const expected = payload(scratch, rec.len, rec.seqLo, rec.fill)
        assert.ok(
          Buffer.from(ring.u8.buffer, at, len).equals(expected),
          `take: payload of seq ${rec.seqLo} was overwritten`,
        )
        k++
        return true
      })
      assert.is(k, want, `take visited ${k} records, ${want} were asked and ${available} published`)
      // Where take stops: after the last record it took when it took them all,
      // else at the next record's start (past any PAD in front of it).
      const endAbs =
        want === 0
          ? available > 0
            ? fifo[head]!.start
            : consumed
          : want === available
            ? fifo[head + want - 1]!.end
            : fifo[head + want]!.start
      assert.is(
        newPos,
        endAbs & POS_MASK,
        `take returned position ${newPos}, expected ${endAbs & POS_MASK}${resPos - consumed === RING ? ' (the ring was exactly full: take walked past its own start onto records it had already visited)' : ''}`,
      )
      ring.release(readPos, newPos)
      // Released space is zeroed (no stale length word can be read on a later lap).
      for (let a = consumed; a < endAbs;) {
        const o = a % RING
        const n = Math.min(endAbs - a, RING - o)
        assert.ok(
          Buffer.from(ring.u8.buffer, DATA_OFFSET + o, n).equals(zeros.subarray(0, n)),
          `released bytes [${a}, ${a + n}) are not zeroed`,
        )
        a += n
      }
      assert.is(ring.consumedWord(), endAbs & POS_MASK)
      consumed = endAbs
      head += want
      if (head > 4096) {
        fifo.splice(0, head)
        head = 0
      }
    }
  }
  return { laps: Math.floor((resPos - startPos) / RING), pads, noSpace, records, exactFull }
}

test('ring: random sizes over many laps — payloads intact, PAD at the end, NO_SPACE exactly when full, seqs in order', () => {
  const r = exercise(mulberry32(seed), 150_000, 0, 0)
  assert.ok(r.laps >= 100, `the test must wrap the ring many times (laps ${r.laps})`)
  assert.ok(
    r.pads >= 50 && r.noSpace >= 50 && r.exactFull >= 10,
    `the test must hit the ring end, a full ring and an exactly full ring often (pads ${r.pads}, NO_SPACE ${r.noSpace}, exactly full ${r.exactFull})`,
  )
})

test('ring: its memory is zeroed, as long as the ring and never longer: every view has its length and the memory cannot grow', () => {
  // shared/memory.ts: the memory is growable in form (so it comes as pages zeroed on first touch),
  // with maxByteLength equal to its length; a view made without a length would track a growth.
  const ring = Ring.allocate(RING)
  const bytes = DATA_OFFSET + RING
  assert.is(ring.sab.byteLength, bytes)
  assert.equal(
    [ring.u8.length, ring.i32.length, ring.u64.length, ring.f64.length],
    [bytes, bytes / 4, bytes / 8, bytes / 8],
  )
  assert.ok(
    ring.u8.every((b) => b === 0),
    'fresh ring memory is zero',
  )
  assert.throws(
    () => ring.sab.grow(bytes + 8),
    (e: unknown) => e instanceof RangeError,
  )
  assert.is(ring.sab.byteLength, bytes)
  // The leaf ring's memory is made the same way.
  const leaves = LeafRing.memory(16)
  assert.is(leaves.byteLength, 16 * LEAF_SLOT_BYTES)
  assert.throws(
    () => leaves.grow(leaves.byteLength + 8),
    (e: unknown) => e instanceof RangeError,
  )
  assert.is(new LeafRing(leaves).get(3, Buffer.alloc(32)), undefined, 'an empty slot')
})

test('ring: positions wrap past 2^31 and seq low bits wrap past 2^32', () => {
  const r = exercise(mulberry32(seed ^ 0x9e3779b9), 40_000, 2 ** 31 - 5 * RING + 1000, 2 ** 32 - 1000)
  assert.ok(r.laps >= 10 && r.records > 1000)
})

test('ring: exactly full (equal records that tile the ring): take visits each record once', () => {
  const ring = Ring.allocate(RING)
  ring.initCursors(0)
  const len = 112 // align8(16 + 112) = 128 bytes: 512 records fill 64 KiB exactly
  const n = RING / align8(RING_RECORD_HEADER_BYTES + len)
  let reserved = 0
  for (;;) {
    const s = ring.reserve(len)
    if (s === NO_SPACE) break
    assert.is(s, reserved + 1)
    ring.publish(Buffer.alloc(len, reserved & 255), len, reserved)
    reserved++
    assert.ok(reserved <= n, 'reserve handed out more than the ring holds')
  }
  // A ring may fill to the last byte or keep one record's room free; either way
  // the consumer must see each record exactly once.
  assert.ok(reserved === n || reserved === n - 1, `reserved ${reserved} of ${n}`)
  const seen: number[] = []
  const end = ring.take(0, (_at, _len, s) => {
    seen.push(s)
    return seen.length <= 2 * n // bound the walk: a take that wraps onto its own records never stops otherwise
  })
  assert.is(
    seen.length,
    reserved,
    `take visited ${seen.length} records, ${reserved} were published (seqs ${seen.slice(reserved - 2, reserved + 3).join(', ')} around the lap end)`,
  )
  assert.equal(
    seen,
    Array.from({ length: reserved }, (_, i) => i + 1),
  )
  assert.is(end, reserved * 128)
})

test('ring: exactly full through a PAD at the ring end: take visits each record once', () => {
  // A case the random walk found: the ring is empty at offset 33056; a
  // 32,626-byte record does not fit before the end, so it pads 32,480 bytes and
  // goes to 0; three small records then fill the ring to exactly 65,536 bytes.
  const ring = Ring.allocate(RING)
  ring.initCursors(0)
  const start = 33056
  Atomics.store(ring.u64, RESERVE_U64, BigInt(start))
  Atomics.store(ring.i32, CONSUMED, start)
  const lens = [32626, 136, 20, 197]
  assert.is(
    lens.reduce((a, l) => a + align8(16 + l), RING - start),
    RING,
    'the pad and the four records fill the ring exactly',
  )
  let endAbs = start
  let reserved = 0
  for (const [i, len] of lens.entries()) {
    const s = ring.reserve(len)
    if (s === NO_SPACE && i === lens.length - 1) break // a ring that keeps the last bytes free may refuse the record that would fill it
    assert.is(s, i + 1)
    ring.publish(Buffer.alloc(len, 7), len, 0)
    endAbs = (i === 0 ? RING : endAbs) + align8(16 + len)
    reserved++
  }
  const seen: number[] = []
  const end = ring.take(start, (_at, _len, s) => {
    seen.push(s)
    return seen.length <= 8
  })
  assert.equal(
    seen,
    Array.from({ length: reserved }, (_, i) => i + 1),
    `take visited seqs ${seen.join(', ')}`,
  )
  assert.is(end, endAbs)
})

test('ring: a reserved but unpublished record holds back every later one', () => {
  const a = Ring.allocate(RING)
  a.initCursors(0)
  const b = new Ring(a.sab) // another producer thread's view
  const p = Buffer.from('xyz')
  assert.is(a.reserve(3), 1)
  assert.is(b.reserve(3), 2)
  b.publish(p, 3, 2)
  const seen: number[] = []
  assert.is(
    a.take(0, (_at, _len, s) => (seen.push(s), true)),
    0,
  )
  assert.equal(seen, [])
  assert.ok(!a.hasPublished(0))
  a.publish(p, 3, 1)
  const end = a.take(0, (_at, _len, s) => (seen.push(s), true))
  assert.equal(seen, [1, 2])
  assert.is(end, 2 * align8(RING_RECORD_HEADER_BYTES + 3))
})

test('ring: a record published with a kind comes back with that kind and its true length; a kind or length past the word is refused', () => {
  const ring = Ring.allocate(RING)
  ring.initCursors(0)
  const p = Buffer.from('checkpoint body')
  assert.is(ring.reserve(p.length), 1)
  ring.publish(p, p.length, 5, 2)
  assert.is(ring.reserve(3), 2)
  ring.publishString('abc', 3, 6)
  const seen: [number, number, number, string][] = []
  const end = ring.take(0, (at, len, s, _t, kind) => {
    seen.push([s, len, kind, Buffer.from(ring.u8.subarray(at, at + len)).toString()])
    return true
  })
  assert.equal(seen, [
    [1, p.length, 2, 'checkpoint body'],
    [2, 3, 0, 'abc'],
  ])
  assert.is(end, align8(RING_RECORD_HEADER_BYTES + p.length) + align8(RING_RECORD_HEADER_BYTES + 3))
  assert.is(ring.reserve(1), 3)
  assert.throws(() => ring.publish(Buffer.from('x'), 1, 7, 16), /does not fit a length word/)
})

test('ring: closeReservations makes every later reserve CLOSED; what was reserved before still goes through', () => {
  const ring = Ring.allocate(RING)
  ring.initCursors(41)
  assert.is(ring.reserve(10), 42)
  const other = new Ring(ring.sab)
  assert.is(other.reserve(20), 43)
  const final = ring.closeReservations()
  assert.is(final, align8(16 + 10) + align8(16 + 20))
  assert.is(ring.closeReservations(), final, 'closeReservations is idempotent')
  assert.is(ring.reserve(1), CLOSED)
  assert.is(other.reserve(1), CLOSED)
  other.publish(Buffer.alloc(20, 2), 20, 0)
  ring.publish(Buffer.alloc(10, 1), 10, 0)
  const seqs: number[] = []
  const end = ring.take(0, (_at, _len, s) => (seqs.push(s), true))
  assert.equal(seqs, [42, 43])
  assert.is(end, final)
  ring.release(0, end)
  assert.is(ring.reserve(1), CLOSED, 'still CLOSED once the ring is empty again')
})

test('ring: durable cursor carries the whole seq, and its low word wraps', () => {
  const ring = Ring.allocate(RING)
  ring.initCursors(2 ** 32 - 2)
  assert.is(ring.durableSeq(), 2 ** 32 - 2)
  assert.is(ring.reserve(1) >>> 0, 2 ** 32 - 1)
  assert.is(ring.reserve(1), 0)
  assert.is(ring.reserve(1), 1)
  ring.publishDurable(2 ** 32 + 1)
  assert.is(ring.durableSeq(), 2 ** 32 + 1)
  assert.is(ring.durableLo(), 1)
})

// ── (b) through the sink, 64 KiB ring ────────────────────────────────────────

const SMALL: PadSpec = { salt: seed ^ 0x51, min: 0, max: 300 }
const BIG: PadSpec = { salt: seed ^ 0x52, min: EVENT_MAX - 3000, max: EVENT_MAX - 200 }
/** One event in ten is near the largest allowed. */
const mixedPad = (n: number): PadSpec => (n % 10 === 0 ? BIG : SMALL)

async function checkSingleThread(
  dir: string,
  seqs: number[],
  ns: number[],
  padOf: (n: number) => PadSpec,
): Promise<void> {
  let i = 0
  for await (const rec of readLog(dir)) {
    assert.ok(i < seqs.length, `the log holds more than the ${seqs.length} acknowledged events (seq ${rec.seq})`)
    assert.is(rec.seq, seqs[i])
    const p = rec.event.properties as { thread: number; n: number; pad: string }
    assert.is(p.n, ns[i], `seq ${rec.seq}: holds event ${p.n}, expected ${ns[i]}`)
    assert.ok(p.pad === padFor(padOf(ns[i]!), 0, ns[i]!), `seq ${rec.seq}: payload differs from what was emitted`)
    i++
  }
  assert.is(i, seqs.length)
  const v = await verifyLog(dir)
  assert.ok(v.ok, JSON.stringify(v.firstBad))
  // The last event, then the seal close() wrote.
  assert.is(v.lastSeq, seqs.length === 0 ? 1 : seqs[seqs.length - 1]! + 1)
  assert.is(v.events, seqs.length)
}

test('sink, 64 KiB ring: 30,000 emits fired without awaiting (1 in 10 near eventBytesMax) all resolve with seqs in emit order, contiguous', async () => {
  const dir = freshDir()
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: EVENT_MAX })
  const N = 30_000
  const promises: Promise<Receipt>[] = []
  for (let n = 0; n < N; n++) promises.push(sink.emit(loadEvent(0, n, mixedPad(n))))
  assert.ok(sink.stats().pending > 0)
  const receipts = await within(Promise.all(promises), 120_000, '30,000 emits')
  for (let n = 0; n < N; n++) assert.is(receipts[n]!.seq, n + 1, `emit ${n}`)
  assert.is(sink.stats().pending, 0)
  assert.is(sink.stats().durableSeq, N)
  await sink.close()
  await checkSingleThread(
    dir,
    receipts.map((r) => r.seq),
    receipts.map((_, n) => n),
    mixedPad,
  )
})

test('sink, 64 KiB ring, equal-size events that tile the ring: a full ring does not fail the sink', async () => {
  // 128-byte ring records (112-byte payloads) tile 64 KiB exactly, so a full
  // ring is exactly full. The writer is held in fdatasync while producers fill
  // the ring; when it resumes it must take each record once.
  const gate = new Gate()
  const dir = freshDir()
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: 4096, storage: gate.spec })
  const ev = (n: number) => ({
    level: 'Information' as const,
    messageTemplate: 'tile',
    properties: { n: String(n).padStart(6, '0'), pad: 'p'.repeat(27) },
  })
  assert.is(Buffer.byteLength(JSON.stringify(ev(0))), 112)
  gate.close()
  const N = 2000
  const promises = Array.from({ length: N }, (_, n) => sink.emit(ev(n)))
  await within(gate.waitHeld(0), 30_000, 'the writer reaching fdatasync')
  gate.open()
  const out = await within(Promise.allSettled(promises), 60_000, 'emits')
  const failed = out.filter((o) => o.status === 'rejected')
  assert.ok(
    failed.length === 0,
    `${failed.length} of ${N} emits rejected; first: ${(failed[0] as PromiseRejectedResult | undefined)?.reason?.message}`,
  )
  out.forEach((o, n) => assert.is((o as PromiseFulfilledResult<Receipt>).value.seq, n + 1))
  await sink.close()
  let k = 0
  for await (const rec of readLog(dir))
    assert.is((rec.event.properties as { n: string }).n, String(k++).padStart(6, '0'))
  assert.is(k, N)
})

test('sink, 64 KiB ring: an event of exactly eventBytesMax goes through; one byte more is refused and never written', async () => {
  const dir = freshDir()
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: EVENT_MAX })
  const base = (pad: string) => ({
    level: 'Information' as const,
    messageTemplate: 'load {thread} {n}',
    properties: { thread: 0, n: 0, pad },
  })
  const overhead = Buffer.byteLength(JSON.stringify(base('')))
  const exact = base('x'.repeat(EVENT_MAX - overhead))
  assert.is(Buffer.byteLength(JSON.stringify(exact)), EVENT_MAX)
  const ps = [
    sink.emit(exact),
    sink.emit(base('y'.repeat(EVENT_MAX - overhead + 1))),
    sink.emit(exact),
    sink.emit(exact),
  ]
  const out = await Promise.allSettled(ps)
  assert.equal(
    out.map((o) => (o.status === 'fulfilled' ? o.value.seq : (o.reason as AuditError).code)),
    [1, ERROR_CODES.EVENT_TOO_LARGE, 2, 3],
  )
  await sink.close()
  let k = 0
  for await (const rec of readLog(dir)) {
    assert.is((rec.event.properties as { pad: string }).pad, 'x'.repeat(EVENT_MAX - overhead))
    k++
  }
  assert.is(k, 3)
})

test('sink, 64 KiB ring, writer held in fdatasync: nothing resolves while it is held; then all of a full ring plus queue resolve, seqs in emit order', async () => {
  const gate = new Gate()
  const dir = freshDir()
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: EVENT_MAX, storage: gate.spec })
  gate.close()
  const N = 3000
  const resolved: number[] = []
  const promises: Promise<Receipt>[] = []
  for (let n = 0; n < N; n++) {
    const p = sink.emit(loadEvent(0, n, mixedPad(n)))
    p.then(
      () => resolved.push(n),
      () => {},
    )
    promises.push(p)
  }
  await within(gate.waitHeld(0), 30_000, 'the writer reaching fdatasync')
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  assert.equal(resolved, [], 'an emit resolved while its fdatasync had not returned')
  assert.is(sink.stats().durableSeq, 0)
  assert.is(sink.stats().pending, N)
  gate.open()
  const receipts = await within(Promise.all(promises), 120_000, 'emits after the gate opened')
  for (let n = 0; n < N; n++) assert.is(receipts[n]!.seq, n + 1)
  assert.is(new Set(resolved).size, N)
  await sink.close()
  await checkSingleThread(
    dir,
    receipts.map((r) => r.seq),
    receipts.map((_, n) => n),
    mixedPad,
  )
})

test('sink, 64 KiB ring, pendingEmitsMax 4: the emits past the limit reject with ERR_AUDIT_QUEUE_FULL, the others resolve', async () => {
  const gate = new Gate()
  const dir = freshDir()
  const pendingEmitsMax = 4
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: EVENT_MAX, pendingEmitsMax, storage: gate.spec })
  gate.close()
  // Every event is near the largest allowed: two fill the ring. The writer can
  // hold one batch (at most a ring's worth) in its held fdatasync, the ring two
  // more, the queue pendingEmitsMax: everything after that is refused.
  const N = 20
  const settled: (number | string | undefined)[] = new Array(N).fill(undefined)
  const promises = Array.from({ length: N }, (_, n) =>
    sink.emit(loadEvent(0, n, BIG)).then(
      (r) => void (settled[n] = r.seq),
      (e: AuditError) => void (settled[n] = e.code),
    ),
  )
  await within(gate.waitHeld(0), 30_000, 'the writer reaching fdatasync')
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
  const accepted = settled.findIndex((s) => s !== undefined)
  assert.ok(
    accepted > pendingEmitsMax && accepted <= pendingEmitsMax + 4,
    `accepted ${accepted} (settled so far: ${JSON.stringify(settled)})`,
  )
  for (let n = 0; n < N; n++) {
    if (n < accepted) assert.is(settled[n], undefined, `emit ${n} settled while the writer was held: ${settled[n]}`)
    else assert.is(settled[n], ERROR_CODES.QUEUE_FULL, `emit ${n}`)
  }
  gate.open()
  await within(Promise.all(promises), 60_000, 'accepted emits')
  for (let n = 0; n < accepted; n++) assert.is(settled[n], n + 1, `emit ${n}`)
  // The limit is not a state: once there is room again, emits are taken.
  const more = await sink.emit(loadEvent(0, N, BIG))
  assert.is(more.seq, accepted + 1)
  await sink.close()
  const ns = [...Array.from({ length: accepted }, (_, n) => n), N]
  await checkSingleThread(
    dir,
    ns.map((_, i) => i + 1),
    ns,
    () => BIG,
  )
})

test("sink: one thread's receipts resolve in emit order, also when an emit waited for ring space and the next did not", async () => {
  // Deterministic: the writer is held in fdatasync (helpers/gated-storage.ts)
  // and let through one call at a time.
  //   emit 0 (small)     → batch 1, held in fdatasync #1
  //   emits 1, 2 (25 KB) → the ring; emit 3 (25 KB) does not fit → waits for space
  //   let fdatasync #1 through → the writer acknowledges 0, takes 1 and 2 (freeing
  //   the ring, which lets emit 3 in from the producer's space queue), and is held
  //   in fdatasync #2
  //   emit 4 (25 KB)     → straight into the ring (nothing waits any more)
  //   open the gate      → 3 and 4 are made durable together.
  // Emit 3 is before emit 4: its promise must not resolve after emit 4's.
  const gate = new Gate()
  const dir = freshDir()
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: EVENT_MAX, storage: gate.spec })
  const ring = new Ring(sink.handle().sab)
  const lastReserved = (): number => Number(Atomics.load(ring.u64, RESERVE_U64) >> 32n)
  const ev = (n: number, bytes: number) => {
    const e = { level: 'Information' as const, messageTemplate: 'order', properties: { n, pad: '' } }
    e.properties.pad = 'o'.repeat(bytes - Buffer.byteLength(JSON.stringify(e)))
    return e
  }
  const order: number[] = []
  const ps: Promise<Receipt>[] = []
  const emit = (n: number, bytes: number): void => {
    const p = sink.emit(ev(n, bytes))
    p.then(
      () => order.push(n),
      () => {},
    )
    ps.push(p)
  }
  gate.close()
  emit(0, 100)
  await within(gate.waitHeld(0), 30_000, 'fdatasync #1')
  const big = 25_000 - RING_RECORD_HEADER_BYTES // a 25,000-byte ring record: two fit, a third does not
  emit(1, big)
  emit(2, big)
  emit(3, big)
  assert.is(lastReserved(), 3, 'emits 1 and 2 are in the ring, emit 3 waits for space')
  gate.passOne()
  await within(gate.waitHeld(1), 30_000, 'fdatasync #2')
  for (let i = 0; i < 1000 && lastReserved() < 4; i++) await new Promise((r) => setImmediate(r))
  assert.is(lastReserved(), 4, 'emit 3 left the space queue once the writer freed the ring')
  emit(4, big)
  assert.is(lastReserved(), 5, 'emit 4 went straight into the ring')
  gate.open()
  const receipts = await within(Promise.all(ps), 30_000, 'emits')
  assert.equal(
    receipts.map((r) => r.seq),
    [1, 2, 3, 4, 5],
  )
  assert.equal(order, [0, 1, 2, 3, 4], `receipts resolved in the order ${order.join(', ')}`)
})

// ── (c) several threads through a 64 KiB ring ────────────────────────────────

test('sink, 64 KiB ring: main + 3 attached worker_threads, 3,000 each, events up to 8 KiB', async () => {
  const dir = freshDir()
  const pad: PadSpec = { salt: seed ^ 0x77, min: 0, max: 7000 }
  const sink = await openSink({ dir, ringBytes: RING, eventBytesMax: 8192 })
  const run = await runThreads(sink, { workers: 3, count: 3000, inflight: 1000, pad })
  const total = await checkRun(dir, run.results, pad)
  assert.is(total, 12_000)
  await sink.close()
  for (const w of run.workers) w.worker.postMessage('emit-after-close')
  for (const w of run.workers) {
    const m = await within(w.next(), 30_000, 'emit after close')
    assert.ok(m.type === 'after-close' && m.outcome === ERROR_CODES.CLOSED, JSON.stringify(m))
    assert.is(await within(w.exited, 30_000, 'worker exit'), 0)
  }
})

test.after(async () => {
  await terminateAll()
  await cleanup()
})

test.run()
