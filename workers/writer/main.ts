/**
 * The writer worker: the only thread that writes the WAL.
 *
 *   lock dir (and mirror) ─► resume each ─► make the copies agree ─► seal the last
 *   segment (a gap record first when the device shows seqs past its end) and start
 *   a new one: a segment is written by one writer session only ─► post 'ready'
 *        │
 *        ▼  loop (this thread does nothing else)
 *   take published ring records (≤ batchBytesMax, ≤ room in the segment), copy each
 *   into the batch and seal it (seq, hash chain, CRC) at once; release ring space
 *   batch N's fdatasync done? ──► publish durable seq + notify ──► re-seal the last
 *   record of N+1 with COMMIT ──► one pwrite ──► start its fdatasync (libuv pool)
 *        │ while that runs, keep taking and sealing what producers publish
 *        │ nothing published, nothing in flight: sleep on WRITER_SLEEPING
 *        ▼
 *   a batch after which the segment has no room for one more record of
 *   eventBytesMax: its last record carries SEALED, then the next segment begins
 *        │
 *   close requested: stop reservations, drain to the last reserved byte, sync,
 *   then a SEAL record (its own write and fdatasync), state CLOSED, unlock,
 *   post 'closed'
 *
 * Group commit is adaptive: while one fdatasync runs, producers keep filling
 * the ring and this thread seals what they publish; the next batch is all of
 * it. There is no timer. At most one batch is ever written and not yet synced.
 * Fail closed: any error marks the shared state FAILED (with the cause, for
 * every producer thread), posts 'failed', and the loop ends. Nothing is retried
 * and nothing after the failure is acknowledged.
 */

import { parentPort, workerData } from 'node:worker_threads'
import { randomBytes } from 'node:crypto'
import { AuditError, ERROR_CODES, invariant, ioError, toWire } from '../../shared/errors.js'
import {
  BATCH_RECORDS_MAX,
  GAP_LAST_SEQ_BYTES,
  LOG_ID_BYTES,
  RecordFlag,
  RecordType,
  RECORD_HEADER_BYTES,
  gapLastSeq,
  gapPayload,
  sealRecordInPlace,
  setRecordFlags,
  SINK_RECORD_TYPES,
} from '../../shared/format.js'
import { FIXED, LIMITS } from '../../shared/limits.js'
import type { OpenReport, WriterInit, WriterMessage } from '../../shared/ring/protocol.js'
import { Ring } from '../../shared/ring/ring.js'
import { RING_KIND_EVENT, Stat, STATE_CLOSED } from '../../shared/ring/layout.js'
// metrics (lib/adapters/prometheus.ts): fsync durations and batch sizes
import {
  BATCH_HIST_F64,
  BATCH_RECORDS_BUCKETS,
  FSYNC_HIST_F64,
  LATENCY_BUCKETS_MS,
  observeF64,
} from '../../shared/ring/layout.js'
import { loadStorage, type Storage } from '../../shared/storage.js'
import { Appender } from './appender.js'
import { LeafRing } from '../../shared/leaf-ring.js'
import { DirLock } from '../../shared/lock.js'
import { reconcile } from './mirror.js'
import { resume } from './resume.js'
import type { BatchCrypt } from './crypt.js'
import { keyChangePayload } from '../../shared/sealed.js'

const U32 = 0x1_0000_0000

function post(m: WriterMessage): void {
  parentPort!.postMessage(m)
}

interface InFlight {
  lastSeq: number
  settled: boolean
  error: unknown
  /** Resolves (never rejects) when the sync settles. */
  done: Promise<void>
}

class Writer {
  private readonly batch: Buffer
  private readonly recOff: Int32Array
  private readonly recLen: Int32Array
  private readonly recTime: Float64Array
  private readonly recType: Uint8Array
  private readonly maxRecords: number
  /**
   * Hash of the last record of the last batch written (the chain head the next
   * batch starts from). Inside a batch the chain input of record k is record
   * k-1's hash field in the batch buffer itself: nothing is copied aside.
   */
  private readonly prevHash: Buffer
  private nextSeq: number
  private readPos = 0
  /** The batch being built: records sealed so far, framed bytes, its segment's salt seed. */
  private n = 0
  private off = 0
  private saltSeed = 0
  /** The batch holds all it can (batch or segment limit reached). */
  private full = false
  /** The next record does not fit in the active segment: rotate before the next batch. */
  private needRotate = false
  /** The batch written last, while its fdatasync runs. */
  private inflight: InFlight | undefined
  /** Encryption (workers/writer/crypt.ts): the batch's events are sealed in frames as they come. */
  crypt: BatchCrypt | undefined
  /** Records of the batch already chained and checksummed (encryption: those before the open frame). */
  private hashed = 0
  /** Signing: every record's Merkle leaf hash goes here for the signer (shared/leaf-ring.ts). */
  private readonly leaves: LeafRing | undefined

  constructor(
    private readonly ring: Ring,
    private readonly appender: Appender,
    private readonly init: WriterInit,
    lastSeq: number,
    lastHash: Buffer,
  ) {
    this.batch = Buffer.allocUnsafe(init.batchBytesMax)
    this.maxRecords = Math.min(BATCH_RECORDS_MAX, Math.floor(init.batchBytesMax / RECORD_HEADER_BYTES))
    this.recOff = new Int32Array(this.maxRecords)
    this.recLen = new Int32Array(this.maxRecords)
    this.recTime = new Float64Array(this.maxRecords)
    this.recType = new Uint8Array(this.maxRecords)
    this.prevHash = Buffer.from(lastHash)
    this.nextSeq = lastSeq + 1
    this.readPos = ring.consumedWord()
    this.leaves = init.leaves === undefined ? undefined : new LeafRing(init.leaves)
  }

  /**
   * Signing: the leaf hash of the record just sealed at off into the leaf
   * ring. A v2 record's hash is its leaf hash (shared/format.ts), so this is
   * a copy, not a hash.
   */
  private putLeaf(off: number, seq: number, lastSeq: number): void {
    this.leaves?.put(seq, lastSeq, this.batch, off + 32)
  }

  /**
   * Runs until close completes; throws on any failure. While batch N's
   * fdatasync runs on libuv's pool, this thread seals batch N+1 from whatever
   * producers publish; N+1 is written only once N is durable and acknowledged.
   */
  async run(): Promise<void> {
    const ring = this.ring
    let closing = false
    let finalPos = -1
    let waitedMs = 0
    for (;;) {
      // Close: stop every reservation first, so draining has an end even while producers keep emitting.
      if (!closing && ring.closeRequested()) {
        closing = true
        finalPos = ring.closeReservations()
      }
      this.fill()
      const inflight = this.inflight
      if (inflight !== undefined) {
        if (!inflight.settled) {
          await this.waitForSyncOrWork(inflight)
          continue
        }
        if (inflight.error !== undefined) throw inflight.error
        this.inflight = undefined
        ring.setStat(Stat.FSYNCS, this.appender.syncCalls)
        ring.setStat(Stat.LAST_DURABLE_MS, Date.now()) // metrics: stored before the emits it acknowledges resolve
        ring.publishDurable(inflight.lastSeq)
      }
      if (this.needRotate) {
        this.appender.rotate(this.nextSeq, this.prevHash)
        this.needRotate = false
        continue
      }
      if (this.n > 0) {
        this.flush()
        waitedMs = 0
        continue
      }
      if (closing) {
        if (this.readPos === finalPos) return
        // A producer reserved space and has not published yet: give it time.
        if (waitedMs > FIXED.publishWaitMs) {
          throw new AuditError(
            ERROR_CODES.INVARIANT,
            `close: a producer reserved ring space and never published it (ring position ${this.readPos}); the thread may have been terminated mid-emit`,
          )
        }
        ring.sleepUntilWork(this.readPos, 1)
        waitedMs += 1
        continue
      }
      // Nothing in flight: block this thread until a producer publishes.
      ring.sleepUntilWork(this.readPos, FIXED.writerIdleWaitMs)
    }
  }

  /** Take published records into the batch and seal them (without COMMIT) as they come. */
  private fill(): void {
    if (this.full || this.needRotate) return
    const { ring, batch, recOff, recLen, recTime, recType } = this
    const u8 = ring.u8
    const cap = Math.min(this.init.batchBytesMax, this.appender.room())
    const newPos = ring.take(this.readPos, (at, len, seqLo, timeMs, kind) => {
      const n = this.n
      const off = this.off
      if (off + RECORD_HEADER_BYTES + len > cap || n === this.maxRecords) {
        // A segment is sealed while it still has room for any record, so an empty batch takes one.
        invariant(n > 0, `a record of ${len} bytes does not fit in an empty batch (room ${cap})`)
        this.full = true
        return false
      }
      const seq = this.nextSeq
      invariant(seqLo === seq % U32, `ring record carries seq low bits ${seqLo}, writer expected ${seq % U32}`)
      const type = kind === RING_KIND_EVENT ? RecordType.EVENT : kind
      // Checked only for records the sink makes: an emit's path builds no message string.
      if (kind !== RING_KIND_EVENT)
        invariant(SINK_RECORD_TYPES.has(type), `ring record of kind ${kind}: not a record the sink may publish`)
      const crypt = this.crypt
      const head = crypt === undefined ? 0 : crypt.headBytes(type)
      if (crypt !== undefined && n > 0 && (off + RECORD_HEADER_BYTES + head + len > cap || crypt.startsBatch(type))) {
        this.full = true
        return false
      }
      if (n === 0) this.saltSeed = this.appender.saltSeed()
      const payloadOff = off + RECORD_HEADER_BYTES + head
      batch.set(u8.subarray(at, at + len), payloadOff)
      if (crypt === undefined) {
        this.putChainInput(off, n)
        sealRecordInPlace(batch, off, len, type, 0, n, seq, timeMs, this.saltSeed)
        this.putLeaf(off, seq, seq)
      } else crypt.place(type, seq, payloadOff, len, u8.subarray(at, at + len)) // chained once its frame is sealed
      recOff[n] = off
      recLen[n] = head + len
      recTime[n] = timeMs
      recType[n] = type
      this.off = off + RECORD_HEADER_BYTES + head + len
      this.n = n + 1
      this.nextSeq = seq + 1
      return true
    })
    if (newPos !== this.readPos) {
      // The payloads are in our batch buffer: hand the ring space back now.
      ring.release(this.readPos, newPos)
      this.readPos = newPos
    }
    if (this.crypt !== undefined) this.sealFrames(this.full)
  }

  /** Put the chain input of the batch's record n (at off) in its hash field: the hash of the record before it. */
  private putChainInput(off: number, n: number): void {
    if (n === 0) this.batch.set(this.prevHash, off + 32)
    else this.batch.copyWithin(off + 32, this.recOff[n - 1]! + 32, this.recOff[n - 1]! + 64)
  }

  /** Mark the batch's last record COMMIT, write the batch, start its fdatasync. */
  private flush(): void {
    const { batch, ring } = this
    const last = this.n - 1
    const lastSeq = this.nextSeq - 1
    const at = this.recOff[last]!
    if (this.crypt !== undefined) this.sealFrames(true)
    // No room after this batch for one more record of eventBytesMax: it ends the segment.
    const sealsSegment =
      this.appender.size() + this.off + RECORD_HEADER_BYTES + this.init.eventBytesMax > this.init.segmentBytesMax
    // The last record was sealed as it came; its hash does not cover flags.
    setRecordFlags(batch, at, sealsSegment ? RecordFlag.COMMIT | RecordFlag.SEALED : RecordFlag.COMMIT, this.saltSeed)
    if (sealsSegment) this.needRotate = true
    batch.copy(this.prevHash, 0, at + 32, at + 64)
    this.appender.write(batch, this.off, !sealsSegment)
    ring.addStat(Stat.BATCHES, 1)
    ring.addStat(Stat.RECORDS, this.n)
    ring.addStat(Stat.BYTES, this.off)
    ring.setStat(Stat.LAST_BATCH_RECORDS, this.n)
    observeF64(ring.f64, BATCH_HIST_F64, BATCH_RECORDS_BUCKETS, this.n) // metrics
    const records = this.n
    this.n = 0
    this.hashed = 0
    this.off = 0
    this.full = false
    if (records < FIXED.asyncSyncMinRecords) {
      // Little to seal meanwhile: sync here and acknowledge at once.
      const syncStartMs = performance.now() // metrics
      this.appender.syncNow()
      observeF64(ring.f64, FSYNC_HIST_F64, LATENCY_BUCKETS_MS, performance.now() - syncStartMs) // metrics
      ring.setStat(Stat.FSYNCS, this.appender.syncCalls)
      ring.setStat(Stat.LAST_DURABLE_MS, Date.now()) // metrics: stored before the emits it acknowledges resolve
      ring.publishDurable(lastSeq)
      return
    }
    const syncStartMs = performance.now() // metrics: includes the wait for this callback
    const settle = (err: unknown): void => {
      if (err === undefined) observeF64(ring.f64, FSYNC_HIST_F64, LATENCY_BUCKETS_MS, performance.now() - syncStartMs)
      inflight.settled = true
      inflight.error = err
      ring.wakeWriter()
    }
    const inflight: InFlight = {
      lastSeq,
      settled: false,
      error: undefined,
      done: this.appender.sync().then(() => settle(undefined), settle),
    }
    this.inflight = inflight
  }

  /**
   * Encryption: seal the events taken since the last frame as one frame, then
   * chain and checksum the records not sealed yet (without COMMIT; flush
   * re-seals the last one with it), as fill() does without encryption: the
   * hash covers the payload as stored. Done while the previous batch's
   * fdatasync runs, once a frame has FIXED.frameRecordsMin events (or
   * `now`: the batch is full or being flushed), so frames stay large enough
   * for one cipher call to pay off and the sealing stays off the critical path.
   */
  private sealFrames(now: boolean): void {
    const crypt = this.crypt!
    const pending = crypt.pending()
    if (!now && pending > 0 && pending < FIXED.frameRecordsMin) return
    crypt.seal(this.batch)
    const firstSeq = this.nextSeq - this.n
    for (let k = this.hashed; k < this.n; k++) {
      const off = this.recOff[k]!
      this.putChainInput(off, k)
      sealRecordInPlace(this.batch, off, this.recLen[k]!, this.recType[k]!, 0, k, firstSeq + k, this.recTime[k]!, this.saltSeed)
      this.putLeaf(off, firstSeq + k, firstSeq + k)
    }
    this.hashed = this.n
  }

  /** Wait (without blocking the event loop) until the sync settles, or new records can be sealed meanwhile. */
  private async waitForSyncOrWork(inflight: InFlight): Promise<void> {
    // A full batch takes nothing more: just wait for the sync (producers are not asked to wake us).
    if (this.full || this.needRotate) return inflight.done
    await this.ring.sleepUntilWorkAsync(this.readPos, () => inflight.settled, FIXED.writerIdleWaitMs)
  }

  /**
   * Write records the writer makes itself (a gap, a seal) as one batch of their
   * own, each taking the next seqs (a gap exactly the seqs it names), then
   * fdatasync. Only when no batch is open or in flight: at open, before
   * producers get seqs, and at close, after the last batch is durable.
   */
  writeOwn(records: { type: number; payload: Buffer; flags?: number }[]): void {
    invariant(this.n === 0 && this.inflight === undefined, 'own records while a batch is open')
    const batch = this.batch
    this.saltSeed = this.appender.saltSeed()
    let off = 0
    for (let k = 0; k < records.length; k++) {
      const r = records[k]!
      const seq = this.nextSeq
      const lastSeq = r.type === RecordType.GAP ? gapLastSeq(r.payload) : seq
      batch.set(r.payload, off + RECORD_HEADER_BYTES)
      this.recOff[k] = off
      this.putChainInput(off, k)
      const commit = k === records.length - 1 ? RecordFlag.COMMIT : 0
      const flags = (r.flags ?? 0) | commit
      const timeMs = this.nowMs()
      sealRecordInPlace(batch, off, r.payload.length, r.type, flags, k, seq, timeMs, this.saltSeed)
      this.putLeaf(off, seq, lastSeq)
      off += RECORD_HEADER_BYTES + r.payload.length
      this.nextSeq = lastSeq + 1
    }
    batch.copy(this.prevHash, 0, this.recOff[records.length - 1]! + 32, this.recOff[records.length - 1]! + 64)
    const sealing = records.some((r) => ((r.flags ?? 0) & RecordFlag.SEALED) !== 0)
    this.appender.write(batch, off, !sealing)
    this.appender.syncNow()
    this.ring.addStat(Stat.RECORDS, records.length)
    this.ring.addStat(Stat.BYTES, off)
  }

  /** The hash the next record chains to. */
  chainHead(): Buffer {
    return this.prevHash
  }

  lastSeq(): number {
    return this.nextSeq - 1
  }

  private nowMs(): number {
    return this.init.clockMs ?? Date.now()
  }
}

/** A seal record's payload: why the segment was closed, as JSON. */
export function sealPayload(reason: 'close' | 'open'): Buffer {
  return Buffer.from(JSON.stringify({ reason }))
}

async function main(): Promise<void> {
  const init = workerData as WriterInit
  const ring = new Ring(init.sab)
  const nowMs = init.clockMs === undefined ? () => Date.now() : () => init.clockMs!
  const locks: DirLock[] = []
  let appender: Appender | undefined
  let writer: Writer
  let storage: Storage
  try {
    // Encryption's modules (lib/crypto: the keyring among them) load only for an encrypted log:
    // about a third of the writer's module graph, which every open would otherwise compile.
    const encryption = init.crypt === undefined ? undefined : await import('./crypt.js')
    storage = await loadStorage(init.storage, init.fileMode)
    const dirs = init.mirror === undefined ? [init.dir] : [init.dir, init.mirror]
    for (const dir of dirs) {
      try {
        storage.mkdirp(dir)
      } catch (err) {
        throw new AuditError(ERROR_CODES.IO, `cannot create WAL directory ${dir}: ${(err as Error).message}`, {
          cause: err,
          details: { dir },
        })
      }
      locks.push(DirLock.acquire(dir, { fileMode: init.fileMode }))
    }
    // Recovery accepts any record a writer could have written, whatever this sink's
    // eventBytesMax: older records may be larger than today's limit.
    const recs = dirs.map((dir) => resume(storage, dir, LIMITS.eventBytesMax.max, nowMs))
    let rec = recs[0]!
    let mirror: OpenReport['mirror']
    if (init.mirror !== undefined) {
      const agreed = reconcile(storage, [init.dir, init.mirror], [recs[0]!, recs[1]!])
      rec = agreed.rec
      mirror = agreed.report
    }
    const active = rec.active
    const logId = active !== undefined && active.header.version !== 1 ? active.header.logId : randomBytes(LOG_ID_BYTES)
    appender = new Appender(storage, dirs, init.segmentBytesMax, nowMs, () => ring.addStat(Stat.SEGMENTS, 1), active, {
      logId,
      batchBytesMax: init.batchBytesMax,
    })
    writer = new Writer(ring, appender, init, rec.lastSeq, rec.lastHash)
    if (init.crypt !== undefined) writer.crypt = new encryption!.BatchCrypt(init.crypt, logId.toString('hex'))
    const gap =
      rec.lost === undefined
        ? []
        : [
            {
              type: RecordType.GAP,
              payload: gapPayload(rec.lost.toSeq, {
                reason: 'seqs seen on the device past the last intact record',
                tornTail: recs[0]!.tornTail?.sideFile ?? null,
              }),
            },
          ]
    // Every session writes its own segment: seal the last one (a version-1
    // segment is left as it is: its format has no seal), then begin the next.
    if (active !== undefined && active.header.version !== 1 && !active.sealed) {
      writer.writeOwn([...gap, { type: RecordType.SEAL, payload: sealPayload('open'), flags: RecordFlag.SEALED }])
      gap.length = 0
    }
    appender.rotate(writer.lastSeq() + 1, writer.chainHead())
    // An encrypted session starts its epoch with a key change naming its data key (durable in the keyring already).
    const epoch = writer.crypt === undefined ? [] : [{ type: RecordType.KEY_CHANGE, payload: keyChangePayload(writer.crypt.keyId, 'open') }]
    if (gap.length + epoch.length > 0) writer.writeOwn([...gap, ...epoch])
    ring.initCursors(writer.lastSeq())
    post({
      type: 'ready',
      locks: locks.map((l) => ({ file: l.file, token: l.token })),
      report: {
        logId: logId.toString('hex'),
        lastSeq: writer.lastSeq(),
        resumedSeq: rec.lastSeq,
        gap: rec.lost,
        segments: recs[0]!.segments + 1,
        tornTail: recs[0]!.tornTail,
        zeroTail: recs[0]!.zeroTail,
        removedTmp: recs[0]!.removedTmp,
        mirror,
        locks: locks.map((l) => l.report),
      },
    })
  } catch (err) {
    try {
      appender?.close()
    } catch {
      // nothing was written through it
    }
    for (const l of locks) l.release()
    // Every failure of open is coded: a stray fs error (the lock file, say) becomes ERR_AUDIT_IO.
    const coded = err instanceof AuditError ? err : ioError('open', init.dir, err)
    post({ type: 'open-failed', error: toWire(coded) })
    return
  }

  try {
    await writer.run()
    appender.seal()
    writer.writeOwn([{ type: RecordType.SEAL, payload: sealPayload('close'), flags: RecordFlag.SEALED }])
    appender.close()
    ring.setState(STATE_CLOSED)
    for (const l of locks) l.release()
    post({ type: 'closed', lastSeq: writer.lastSeq() })
  } catch (err) {
    // Fail closed: record the cause for every producer, acknowledge nothing more.
    ring.fail(toWire(err))
    try {
      appender.close()
    } catch {
      // the descriptor may be what failed; we never use it again either way
    }
    for (const l of locks) l.release()
    post({ type: 'failed', error: toWire(err) })
  }
}

await main()
