/**
 * The writer worker: the only thread that writes the WAL.
 *
 *   lock dir (and mirror) ─► recover each ─► make the copies agree ─► post 'ready'
 *        │
 *        ▼  loop (synchronous; this thread does nothing else)
 *   take every published ring record (≤ batchBytesMax) ──► copy payloads into the batch
 *   release ring space ──► pick segment (rotate?) ──► seal records: seq, hash chain, CRC,
 *   COMMIT on the last ──► one pwrite + one fdatasync ──► publish durable seq + notify
 *        │ nothing published: sleep on WRITER_SLEEPING until a producer wakes us
 *        ▼
 *   close requested: stop reservations, drain to the last reserved byte, sync,
 *   state CLOSED, unlock, post 'closed'
 *
 * Group commit is adaptive: while one fdatasync runs, producers keep filling
 * the ring, and the next batch takes all of it. There is no timer.
 * Fail closed: any error marks the shared state FAILED (with the cause, for
 * every producer thread), posts 'failed', and the loop ends. Nothing is retried
 * and nothing after the failure is acknowledged.
 */

import { parentPort, workerData } from 'node:worker_threads'
import { AuditError, ERROR_CODES, invariant, toWire } from '../shared/errors.js'
import { BATCH_RECORDS_MAX, RecordFlag, RecordType, RECORD_HEADER_BYTES, sealRecord } from '../shared/format.js'
import { FIXED, LIMITS } from '../shared/limits.js'
import type { OpenReport, WriterInit, WriterMessage } from '../shared/protocol.js'
import { Ring } from '../shared/ring.js'
import { Stat, STATE_CLOSED } from '../shared/ring-layout.js'
import { loadStorage, type Storage } from '../shared/storage.js'
import { Appender } from './appender.js'
import { DirLock } from './lock.js'
import { reconcile } from './mirror.js'
import { recover } from './recovery.js'

const U32 = 0x1_0000_0000

function post(m: WriterMessage): void {
  parentPort!.postMessage(m)
}

class Writer {
  private readonly batch: Buffer
  private readonly recOff: Int32Array
  private readonly recLen: Int32Array
  private readonly recTime: Float64Array
  private readonly prevHash: Buffer
  private nextSeq: number
  private readPos = 0
  /** Framed bytes of the batch being built. */
  private batchBytes = 0

  constructor(
    private readonly ring: Ring,
    private readonly appender: Appender,
    private readonly init: WriterInit,
    lastSeq: number,
    lastHash: Buffer,
  ) {
    this.batch = Buffer.allocUnsafe(init.batchBytesMax)
    const maxRecords = Math.min(BATCH_RECORDS_MAX, Math.floor(init.batchBytesMax / RECORD_HEADER_BYTES))
    this.recOff = new Int32Array(maxRecords)
    this.recLen = new Int32Array(maxRecords)
    this.recTime = new Float64Array(maxRecords)
    this.prevHash = Buffer.from(lastHash)
    this.nextSeq = lastSeq + 1
    this.readPos = ring.consumedWord()
  }

  /** Runs until close completes; throws on any failure. */
  run(): void {
    const ring = this.ring
    let closing = false
    let finalPos = -1
    let waitedMs = 0
    for (;;) {
      const n = this.collect()
      if (n > 0) {
        this.commit(n)
        waitedMs = 0
        continue
      }
      if (!closing && ring.closeRequested()) {
        closing = true
        finalPos = ring.closeReservations()
      }
      if (closing) {
        if (this.readPos === finalPos) return
        // A producer reserved space and has not published yet: give it time.
        if (waitedMs > FIXED.publishWaitMs) {
          throw new AuditError(ERROR_CODES.INVARIANT, `close: a producer reserved ring space and never published it (ring position ${this.readPos}); the thread may have been terminated mid-emit`)
        }
        ring.sleepUntilWork(this.readPos, 1)
        waitedMs += 1
        continue
      }
      ring.sleepUntilWork(this.readPos, FIXED.writerIdleWaitMs)
    }
  }

  /** Copy published records into the batch buffer; returns how many. */
  private collect(): number {
    const { ring, batch, recOff, recLen, recTime } = this
    const cap = this.init.batchBytesMax
    const u8 = ring.u8
    let n = 0
    let off = 0
    const firstSeq = this.nextSeq
    const newPos = ring.take(this.readPos, (at, len, seqLo, timeMs) => {
      if (off + RECORD_HEADER_BYTES + len > cap || n === recOff.length) return false
      invariant(seqLo === (firstSeq + n) % U32, `ring record carries seq low bits ${seqLo}, writer expected ${(firstSeq + n) % U32}`)
      batch.set(u8.subarray(at, at + len), off + RECORD_HEADER_BYTES)
      recOff[n] = off
      recLen[n] = len
      recTime[n] = timeMs
      off += RECORD_HEADER_BYTES + len
      n++
      return true
    })
    if (n > 0) {
      // The payloads are in our batch buffer: hand the ring space back now, so
      // producers fill it while we write and sync.
      ring.release(this.readPos, newPos)
      this.readPos = newPos
    }
    this.batchBytes = off
    return n
  }

  /** Seal, write and fdatasync the collected batch, then acknowledge it. */
  private commit(n: number): void {
    const { batch, recOff, recLen, recTime, prevHash, ring } = this
    const firstSeq = this.nextSeq
    const saltSeed = this.appender.prepare(this.batchBytes, firstSeq, prevHash)
    for (let i = 0; i < n; i++) {
      const flags = i === n - 1 ? RecordFlag.COMMIT : 0
      const hash = sealRecord(batch, recOff[i]!, recLen[i]!, RecordType.EVENT, flags, i, firstSeq + i, recTime[i]!, prevHash, saltSeed)
      hash.copy(prevHash)
    }
    this.appender.append(batch, this.batchBytes)
    this.nextSeq = firstSeq + n
    ring.addStat(Stat.BATCHES, 1)
    ring.addStat(Stat.RECORDS, n)
    ring.addStat(Stat.BYTES, this.batchBytes)
    ring.setStat(Stat.FSYNCS, this.appender.syncCalls)
    ring.setStat(Stat.LAST_BATCH_RECORDS, n)
    ring.publishDurable(this.nextSeq - 1)
  }

  lastSeq(): number {
    return this.nextSeq - 1
  }
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
    storage = await loadStorage(init.storage)
    const dirs = init.mirror === undefined ? [init.dir] : [init.dir, init.mirror]
    for (const dir of dirs) {
      try {
        storage.mkdirp(dir)
      } catch (err) {
        throw new AuditError(ERROR_CODES.IO, `cannot create WAL directory ${dir}: ${(err as Error).message}`, { cause: err, details: { dir } })
      }
      locks.push(DirLock.acquire(dir))
    }
    // Recovery accepts any record a writer could have written, whatever this sink's
    // eventBytesMax: older records may be larger than today's limit.
    const recs = dirs.map((dir) => recover(storage, dir, LIMITS.eventBytesMax.max, nowMs))
    let rec = recs[0]!
    let mirror: OpenReport['mirror']
    if (init.mirror !== undefined) {
      const agreed = reconcile(storage, [init.dir, init.mirror], [recs[0]!, recs[1]!])
      rec = agreed.rec
      mirror = agreed.report
    }
    appender = new Appender(storage, dirs, init.segmentBytesMax, nowMs, () => ring.addStat(Stat.SEGMENTS, 1), rec.active)
    appender.ensureSegment(rec.lastSeq + 1, rec.lastHash)
    ring.initCursors(rec.lastSeq)
    writer = new Writer(ring, appender, init, rec.lastSeq, rec.lastHash)
    post({
      type: 'ready', locks: locks.map((l) => ({ file: l.file, token: l.token })),
      report: { lastSeq: rec.lastSeq, segments: Math.max(recs[0]!.segments, 1), tornTail: recs[0]!.tornTail, removedTmp: recs[0]!.removedTmp, mirror },
    })
  } catch (err) {
    try {
      appender?.close()
    } catch {
      // nothing was written through it
    }
    for (const l of locks) l.release()
    post({ type: 'open-failed', error: toWire(err) })
    return
  }

  try {
    writer.run()
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
