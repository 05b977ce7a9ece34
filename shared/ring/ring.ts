/**
 * The multi-producer, single-consumer ring over a SharedArrayBuffer
 * (layout in ring-layout.ts).
 *
 * Producer contract (any thread, many at once):
 *   reserve(len) claims ring space and the next seq with one CAS, so the order
 *   of seqs is the order of ring positions, consistent with each thread's
 *   call order. publish() writes the record and stores its length word last.
 *   reserve never blocks: it answers NO_SPACE (the caller waits on `consumed`)
 *   or CLOSED (the writer stopped taking records).
 * Consumer contract (the writer worker only):
 *   take() walks published records from the read position, in ring order, and
 *   stops at the first unpublished one; release() zeroes the consumed bytes
 *   (so stale bytes are never read as a length word on a later lap) and then
 *   moves `consumed`, waking producers that wait for space.
 * A record never straddles the ring end: a PAD word sends the reader to 0.
 */

import {
  align8,
  CLOSE_REQUESTED,
  CLOSED_BIT,
  CONSUMED,
  DATA_OFFSET,
  DURABLE_LO,
  DURABLE_SEQ_U64,
  FAILURE_BYTES,
  FAILURE_LEN,
  FAILURE_OFFSET,
  PAD,
  RING_KIND_EVENT,
  RING_KIND_MAX,
  RING_KIND_SHIFT,
  RING_LEN_MASK,
  POS_MASK,
  RESERVE_U64,
  RING_RECORD_HEADER_BYTES,
  STATE,
  STATE_FAILED,
  STATE_FAILING,
  STATE_OPEN,
  STATS_F64,
  WRITER_SLEEPING,
} from './layout.js'
import { type WireError } from '../errors.js'
import { zeroedShared } from '../memory.js'

export const NO_SPACE = -1
export const CLOSED = -2

const U32 = 0x1_0000_0000

export class Ring {
  readonly sab: SharedArrayBuffer
  readonly size: number
  readonly mask: number
  readonly i32: Int32Array
  readonly u64: BigUint64Array
  readonly f64: Float64Array
  readonly u8: Uint8Array
  /** The same bytes as a Buffer, to write strings as UTF-8 in place. */
  private readonly buf: Buffer

  // Producer scratch, set by reserve() for publish().
  private resOff = 0
  private resSeqLo = 0

  constructor(sab: SharedArrayBuffer) {
    this.sab = sab
    this.size = sab.byteLength - DATA_OFFSET
    if (this.size <= 0 || (this.size & (this.size - 1)) !== 0) throw new Error('ring: data size must be a power of two')
    this.mask = this.size - 1
    // Explicit lengths: the memory is growable in form (shared/memory.ts), and the views must not track it.
    const bytes = sab.byteLength
    this.i32 = new Int32Array(sab, 0, bytes >> 2)
    this.u64 = new BigUint64Array(sab, 0, bytes >> 3)
    this.f64 = new Float64Array(sab, 0, bytes >> 3)
    this.u8 = new Uint8Array(sab, 0, bytes)
    this.buf = Buffer.from(sab, 0, bytes)
  }

  static allocate(ringBytes: number): Ring {
    return new Ring(zeroedShared(DATA_OFFSET + ringBytes))
  }

  /** Writer, once, before 'ready': seqs continue after lastSeq. */
  initCursors(lastSeq: number): void {
    Atomics.store(this.u64, RESERVE_U64, BigInt(lastSeq % U32) << 32n)
    Atomics.store(this.u64, DURABLE_SEQ_U64, BigInt(lastSeq))
    Atomics.store(this.i32, DURABLE_LO, (lastSeq % U32) | 0)
    Atomics.store(this.i32, STATE, STATE_OPEN)
  }

  // ── producer side ────────────────────────────────────────────────────────

  /**
   * Claim space for a payload of len bytes. Returns the low 32 bits of the seq
   * the record will carry (≥ 0), NO_SPACE or CLOSED.
   */
  reserve(len: number): number {
    const recBytes = align8(RING_RECORD_HEADER_BYTES + len)
    for (;;) {
      const cur = Atomics.load(this.u64, RESERVE_U64)
      const word = Number(cur & 0xffff_ffffn)
      if (word & CLOSED_BIT) return CLOSED
      const off = word & this.mask
      const pad = off + recBytes > this.size ? this.size - off : 0
      const used = (word - Atomics.load(this.i32, CONSUMED)) & POS_MASK
      if (used + pad + recBytes > this.size) return NO_SPACE
      const seqLo = (Number(cur >> 32n) + 1) >>> 0
      const next = (BigInt(seqLo) << 32n) | BigInt((word + pad + recBytes) & POS_MASK)
      if (Atomics.compareExchange(this.u64, RESERVE_U64, cur, next) !== cur) continue
      if (pad !== 0) Atomics.store(this.i32, (DATA_OFFSET + off) >> 2, PAD)
      this.resOff = pad !== 0 ? 0 : off
      this.resSeqLo = seqLo
      return seqLo
    }
  }

  /** Write the record claimed by the last reserve() and make it visible to the writer. */
  publish(payload: Uint8Array, len: number, timeMs: number, kind = RING_KIND_EVENT): void {
    const at = DATA_OFFSET + this.resOff
    this.u8.set(len === payload.length ? payload : payload.subarray(0, len), at + RING_RECORD_HEADER_BYTES)
    this.commitPublish(at, len, timeMs, kind)
  }

  private commitPublish(at: number, len: number, timeMs: number, kind: number): void {
    if (len > RING_LEN_MASK || kind < 0 || kind > RING_KIND_MAX || !Number.isInteger(kind))
      throw new Error(`ring: a record of ${len} bytes and kind ${kind} does not fit a length word`)
    this.i32[(at >> 2) + 1] = this.resSeqLo | 0
    this.f64[(at >> 3) + 1] = timeMs
    Atomics.store(this.i32, at >> 2, len | (kind << RING_KIND_SHIFT))
    if (Atomics.load(this.i32, WRITER_SLEEPING) !== 0) {
      Atomics.store(this.i32, WRITER_SLEEPING, 0)
      Atomics.notify(this.i32, WRITER_SLEEPING, 1)
    }
  }

  /** publish(), with the payload given as a string (or its parts, in order) of exactly len UTF-8 bytes, encoded straight into the ring. */
  publishString(payload: string | readonly string[], len: number, timeMs: number, kind = RING_KIND_EVENT): void {
    const at = DATA_OFFSET + this.resOff
    const to = at + RING_RECORD_HEADER_BYTES
    let written = 0
    // One string, or parts written one after the other (lib/sink/event.ts: a long value is never joined).
    if (typeof payload === 'string') written = this.buf.write(payload, to, len, 'utf8')
    else for (const part of payload) written += this.buf.write(part, to + written, len - written, 'utf8')
    if (written !== len) throw new Error(`ring: payload encoded to ${written} bytes, ${len} were reserved`)
    this.commitPublish(at, len, timeMs, kind)
  }

  consumedWord(): number {
    return Atomics.load(this.i32, CONSUMED)
  }

  durableLo(): number {
    return Atomics.load(this.i32, DURABLE_LO)
  }

  durableSeq(): number {
    return Number(Atomics.load(this.u64, DURABLE_SEQ_U64))
  }

  state(): number {
    return Atomics.load(this.i32, STATE)
  }

  // ── consumer side (writer worker) ────────────────────────────────────────

  /**
   * Visit published records from readPos, at most maxRecords / until visit
   * returns false. visit(offsetOfPayloadInU8, len, seqLo, timeMs, kind).
   * Returns the new read position (not yet released).
   */
  take(
    readPos: number,
    visit: (payloadAt: number, len: number, seqLo: number, timeMs: number, kind: number) => boolean,
  ): number {
    let pos = readPos
    for (;;) {
      // One lap at most: on an exactly full ring the next length word is the first one again.
      if (((pos - readPos) & POS_MASK) >= this.size) return pos
      const off = pos & this.mask
      const at = DATA_OFFSET + off
      const lenWord = Atomics.load(this.i32, at >> 2)
      if (lenWord === 0) return pos
      if (lenWord === PAD) {
        pos = (pos + this.size - off) & POS_MASK
        continue
      }
      const seqLo = this.i32[(at >> 2) + 1]! >>> 0
      const timeMs = this.f64[(at >> 3) + 1]!
      const len = lenWord & RING_LEN_MASK
      if (!visit(at + RING_RECORD_HEADER_BYTES, len, seqLo, timeMs, lenWord >>> RING_KIND_SHIFT)) return pos
      pos = (pos + align8(RING_RECORD_HEADER_BYTES + len)) & POS_MASK
    }
  }

  /** Is a record (or pad) published at pos? */
  hasPublished(pos: number): boolean {
    return Atomics.load(this.i32, (DATA_OFFSET + (pos & this.mask)) >> 2) !== 0
  }

  /** Zero [from, to) and hand the space back to producers. */
  release(from: number, to: number): void {
    if (from === to) return
    const a = from & this.mask
    const b = to & this.mask
    if (a < b) this.u8.fill(0, DATA_OFFSET + a, DATA_OFFSET + b)
    else {
      this.u8.fill(0, DATA_OFFSET + a, DATA_OFFSET + this.size)
      this.u8.fill(0, DATA_OFFSET, DATA_OFFSET + b)
    }
    Atomics.store(this.i32, CONSUMED, to)
    Atomics.notify(this.i32, CONSUMED)
  }

  /** Stop all further reservations; returns the final reserved position. */
  closeReservations(): number {
    for (;;) {
      const cur = Atomics.load(this.u64, RESERVE_U64)
      const word = Number(cur & 0xffff_ffffn)
      if (word & CLOSED_BIT) return word & POS_MASK
      const next = (cur & 0xffff_ffff_0000_0000n) | BigInt((word | CLOSED_BIT) >>> 0)
      if (Atomics.compareExchange(this.u64, RESERVE_U64, cur, next) === cur) return word & POS_MASK
    }
  }

  publishDurable(seq: number): void {
    Atomics.store(this.u64, DURABLE_SEQ_U64, BigInt(seq))
    Atomics.store(this.i32, DURABLE_LO, (seq % U32) | 0)
    Atomics.notify(this.i32, DURABLE_LO)
  }

  /** Sleep until a producer publishes, close is requested, or timeoutMs passes. */
  sleepUntilWork(readPos: number, timeoutMs: number): void {
    Atomics.store(this.i32, WRITER_SLEEPING, 1)
    if (this.hasPublished(readPos) || this.closeRequested()) {
      Atomics.store(this.i32, WRITER_SLEEPING, 0)
      return
    }
    Atomics.wait(this.i32, WRITER_SLEEPING, 1, timeoutMs)
    Atomics.store(this.i32, WRITER_SLEEPING, 0)
  }

  /**
   * The writer's wait while an fdatasync runs on another thread: resolves when
   * a producer publishes at readPos, when done() turns true (the sync's
   * callback calls wakeWriter), or after timeoutMs.
   */
  async sleepUntilWorkAsync(readPos: number, done: () => boolean, timeoutMs: number): Promise<void> {
    Atomics.store(this.i32, WRITER_SLEEPING, 1)
    // Not closeRequested(): the writer handles close at the top of its loop, and
    // returning at once here would spin it without letting the sync callback run.
    if (this.hasPublished(readPos) || done()) {
      Atomics.store(this.i32, WRITER_SLEEPING, 0)
      return
    }
    const w = Atomics.waitAsync(this.i32, WRITER_SLEEPING, 1, timeoutMs)
    if (w.async) await w.value
    Atomics.store(this.i32, WRITER_SLEEPING, 0)
  }

  /** Wake the writer from either kind of sleep. */
  wakeWriter(): void {
    Atomics.store(this.i32, WRITER_SLEEPING, 0)
    Atomics.notify(this.i32, WRITER_SLEEPING)
  }

  requestClose(): void {
    Atomics.store(this.i32, CLOSE_REQUESTED, 1)
    Atomics.store(this.i32, WRITER_SLEEPING, 0)
    Atomics.notify(this.i32, WRITER_SLEEPING)
  }

  closeRequested(): boolean {
    return Atomics.load(this.i32, CLOSE_REQUESTED) !== 0
  }

  // ── end states, visible to every thread ──────────────────────────────────

  /**
   * Record the first failure and wake every waiter. Later failures are ignored:
   * the first one is the cause users need to see.
   */
  fail(err: WireError): void {
    if (Atomics.compareExchange(this.i32, STATE, STATE_OPEN, STATE_FAILING) !== STATE_OPEN) return
    let bytes = Buffer.from(JSON.stringify(err))
    if (bytes.length > FAILURE_BYTES)
      bytes = Buffer.from(JSON.stringify({ code: err.code, message: err.message.slice(0, 1024) }))
    this.u8.set(bytes, FAILURE_OFFSET)
    Atomics.store(this.i32, FAILURE_LEN, bytes.length)
    this.setState(STATE_FAILED)
  }

  failure(): WireError | undefined {
    const len = Atomics.load(this.i32, FAILURE_LEN)
    if (len <= 0) return undefined
    return JSON.parse(Buffer.from(this.u8.slice(FAILURE_OFFSET, FAILURE_OFFSET + len)).toString('utf8')) as WireError
  }

  setState(state: number): void {
    Atomics.store(this.i32, STATE, state)
    Atomics.notify(this.i32, DURABLE_LO)
    Atomics.notify(this.i32, CONSUMED)
  }

  stat(i: number): number {
    return this.f64[STATS_F64 + i]!
  }

  addStat(i: number, by: number): void {
    this.f64[STATS_F64 + i]! += by
  }

  setStat(i: number, v: number): void {
    this.f64[STATS_F64 + i] = v
  }
}
