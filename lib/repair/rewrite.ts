/**
 * Writes a new, valid WAL offline (for recover): segments copied byte for
 * byte, then records re-sealed one by one into format-v2 segments. Not the
 * live writer: no ring, no lock, no group commit; the target directory is
 * private to the caller until it is renamed into place.
 *
 *   rawSegment(name, header, records, last)  a segment exactly as it was (same
 *                                            salt, same hashes): only before any
 *                                            append(); a v1 one only before any
 *                                            v2 one, a v2 one only when sealed
 *   append({ type, timeMs, payload })        the next seq range (an event or a
 *                                            seal: one seq; a gap: the range its
 *                                            payload names), sealed into the
 *                                            current segment (new salt, chained to
 *                                            the last record written)
 *   appendGap(toSeq, timeMs, why)            one gap record for [nextSeq, toSeq]
 *   breakSegment()                           the next append starts a new segment
 *   finish()                                 end with a seal record (unless the
 *                                            last record is one), fdatasync, fsync dir
 *
 * What the output satisfies (docs/wal-format.md section 0): every segment it
 * creates has a v2 header carrying logId and this rewriter's batchBytesMax;
 * records keep their type and seq range; every segment with a successor is
 * sealed (SEALED on its last record, which also has COMMIT); a seal record is
 * always the last record of its segment; the log ends with a seal record.
 * Batches: at most batchRecordsMax records and batchBytesMax bytes, the last
 * one with COMMIT; a seal record is a batch of its own. Memory: one pending record, the sealed records
 * not written yet (about WRITE_BUFFER_BYTES) and a staging buffer of WRITE_BUFFER_BYTES.
 */

import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES, ioError, invariant } from '../../shared/errors.js'
import {
  encodeSegmentHeader,
  FORMAT_VERSION,
  GAP_LAST_SEQ_BYTES,
  GENESIS_HASH,
  HASH_BYTES,
  LOG_ID_BYTES,
  readU64,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  SALT_BYTES,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  segmentFileName,
  writeU64,
  gapPayload,
} from '../../shared/format.js'
import { crc32c } from '../../shared/crc32c.js'
import { createRegular, DEFAULT_FILE_MODE } from '../../shared/files.js'
import { LIMITS } from '../../shared/limits.js'

export interface RewriteOptions {
  /** A new segment is started before a record would take the current one past this (default LIMITS.segmentBytesMax.default). */
  segmentBytesMax?: number
  /** Records per batch at most (default 4096; the format allows 65,535). */
  batchRecordsMax?: number
  /**
   * Bytes per batch at most, and what every segment header says (default
   * LIMITS.batchBytesMax.max). It must hold the largest record any writer
   * accepts, because a recovered record may be that large: a header never
   * claims a bound one of its batches breaks.
   */
  batchBytesMax?: number
  /** Mode of the segment files, whatever the umask (default 0o600). */
  fileMode?: number
  /** The log's id for every segment this rewriter creates (default: 16 new random bytes). */
  logId?: Buffer
}

/** A record to re-seal: its type, time and payload as stored (a gap's payload starts with its u64 last seq). */
export interface RewriteRecord {
  type: number
  timeMs: number
  payload: Uint8Array
}

/** Bytes the rewriter gathers before a write, and the size from which a buffer is written as it is. */
export const WRITE_BUFFER_BYTES = 1024 * 1024
const BATCH_RECORDS_DEFAULT = 4096
/** The largest framed record a writer can have written: every batch bound must hold one. */
const RECORD_BYTES_MAX = RECORD_HEADER_BYTES + LIMITS.eventBytesMax.max

/**
 * Write buffers in order, looping on short writes. Each buffer is done with
 * before the next one is asked for, so a caller may lend views that the next
 * pull overwrites (salvage's window: recordView): one of WRITE_BUFFER_BYTES or
 * more is written as it is, smaller ones are gathered in `staging` (of
 * WRITE_BUFFER_BYTES) and written when it is full or the buffers end.
 */
async function writeAll(fh: fs.FileHandle, bufs: Iterable<Buffer>, staging: Buffer): Promise<number> {
  let used = 0
  let count = 0
  const put = async (data: Buffer): Promise<void> => {
    let done = 0
    while (done < data.length) done += (await fh.write(data, done, data.length - done)).bytesWritten
  }
  for (const b of bufs) {
    count++
    if (used > 0 && used + b.length > staging.length) {
      await put(staging.subarray(0, used))
      used = 0
    }
    if (b.length >= staging.length) await put(b)
    else {
      b.copy(staging, used)
      used += b.length
    }
  }
  if (used > 0) await put(staging.subarray(0, used))
  return count
}

function* prepend(first: Buffer, rest: Iterable<Buffer>): Generator<Buffer> {
  yield first
  yield* rest
}

/** The seal recover ends its output with: the log was closed by a recovery, not by a writer. */
export const RECOVER_SEAL_PAYLOAD = Buffer.from(JSON.stringify({ reason: 'recover' }))

function optionBad(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `${option}: ${message}`, { details: { option } })
}

export class WalRewriter {
  /** The seq the next record gets. */
  nextSeq = 1
  /** Records written (raw and re-sealed). */
  records = 0
  readonly segments: string[] = []
  readonly logId: Buffer
  /** The seq of the seal record finish() added, when the log did not already end with one. */
  addedSealSeq: number | undefined
  private prevHash: Buffer = Buffer.from(GENESIS_HASH)
  private fh: fs.FileHandle | undefined
  private fileName = ''
  private saltSeed = 0
  private segBytes = 0
  private batchIndex = 0
  private batchBytes = 0
  private pending: { buf: Buffer; type: number; timeMs: number; seq: number; lastSeq: number } | undefined
  private chunks: Buffer[] = []
  private chunkBytes = 0
  private breakRequested = false
  private appended = false
  /** A v2 segment exists in the output: a v1 segment may no longer follow (v1 only precedes v2). */
  private v2Written = false
  /** The type of the last record written, raw or re-sealed (undefined: none yet). */
  private lastType: number | undefined
  private readonly segmentBytesMax: number
  private readonly batchRecordsMax: number
  private readonly batchBytesMax: number
  private readonly fileMode: number
  /** Where writeAll gathers small buffers (WRITE_BUFFER_BYTES). */
  private readonly staging = Buffer.allocUnsafe(WRITE_BUFFER_BYTES)

  constructor(
    private readonly dir: string,
    options: RewriteOptions = {},
  ) {
    this.segmentBytesMax = options.segmentBytesMax ?? LIMITS.segmentBytesMax.default
    this.batchRecordsMax = options.batchRecordsMax ?? BATCH_RECORDS_DEFAULT
    this.batchBytesMax = options.batchBytesMax ?? LIMITS.batchBytesMax.max
    this.fileMode = options.fileMode ?? DEFAULT_FILE_MODE
    this.logId = Buffer.from(options.logId ?? randomBytes(LOG_ID_BYTES))
    if (!Number.isSafeInteger(this.batchRecordsMax) || this.batchRecordsMax < 1 || this.batchRecordsMax > 0xffff)
      throw optionBad('batchRecordsMax', 'must be an integer from 1 to 65535')
    if (
      !Number.isSafeInteger(this.batchBytesMax) ||
      this.batchBytesMax < RECORD_BYTES_MAX ||
      this.batchBytesMax > LIMITS.batchBytesMax.max
    )
      throw optionBad('batchBytesMax', `must be an integer from ${RECORD_BYTES_MAX} to ${LIMITS.batchBytesMax.max}`)
    if (this.logId.length !== LOG_ID_BYTES) throw optionBad('logId', `must be ${LOG_ID_BYTES} bytes`)
  }

  /** Whether a raw copy of a segment of this version may come next (see the header comment). */
  canCopyRaw(version: number): boolean {
    return !this.appended && this.fh === undefined && (version !== 1 || !this.v2Written)
  }

  /**
   * Copy a segment exactly: header bytes and records as they were. `last` is
   * its last record (undefined for a header-only v1 segment).
   */
  async rawSegment(
    name: string,
    header: Buffer,
    records: Iterable<Buffer>,
    last: { seq: number; lastSeq: number; type: number; flags: number; hash: Buffer } | undefined,
    firstSeq: number,
  ): Promise<void> {
    const version = header.readUInt16LE(8)
    invariant(this.canCopyRaw(version), 'raw segments come before any re-sealed record, v1 ones before any v2 one')
    invariant(firstSeq === this.nextSeq, `raw segment ${name} starts at seq ${firstSeq}, not ${this.nextSeq}`)
    // Whatever follows it (the rest of the log, or the seal finish() adds) makes it a segment with a successor.
    invariant(
      version === 1 || (last !== undefined && (last.flags & RecordFlag.SEALED) !== 0),
      `raw v2 segment ${name} is not sealed`,
    )
    const file = path.join(this.dir, name)
    let written = 0
    try {
      const fh = await createRegular(file, this.fileMode)
      try {
        // Records are taken as they are written: a caller may read them one at a time, and lend
        // views into its window (each is written or copied before the next is asked for).
        written = (await writeAll(fh, prepend(header, records), this.staging)) - 1
        await fh.datasync()
      } finally {
        await fh.close()
      }
    } catch (err) {
      throw ioError('write', file, err)
    }
    this.segments.push(name)
    this.records += written
    if (version !== 1) this.v2Written = true
    if (last !== undefined) {
      this.nextSeq = last.lastSeq + 1
      last.hash.copy(this.prevHash, 0, 0, HASH_BYTES)
      this.lastType = last.type
    }
  }

  /** The next append() starts a new segment (keeps output segments aligned with the input's). */
  breakSegment(): void {
    if (this.fh !== undefined || this.pending !== undefined) this.breakRequested = true
  }

  /**
   * Re-seal one record at the next seq; returns its first seq. A seal record ends its segment.
   * rec.payload is copied before this returns, and nothing else is read meanwhile: it may be a
   * view that the caller's next read overwrites (salvage's payloadView).
   */
  async append(rec: RewriteRecord): Promise<number> {
    invariant(
      rec.type !== RecordType.GAP || rec.payload.length >= GAP_LAST_SEQ_BYTES,
      'a gap payload holds its last seq',
    )
    this.appended = true
    const size = RECORD_HEADER_BYTES + rec.payload.length
    invariant(size <= this.batchBytesMax, `a record of ${size} bytes exceeds batchBytesMax`)
    if (this.pending !== undefined) {
      const rotate = this.breakRequested || this.segBytes + this.pending.buf.length + size > this.segmentBytesMax
      // A seal is a batch of its own, as the writer's is: cutting it off never uncommits an event.
      const fullBatch =
        rec.type === RecordType.SEAL ||
        this.batchIndex === this.batchRecordsMax - 1 ||
        this.batchBytes + this.pending.buf.length + size > this.batchBytesMax
      await this.sealPending(rotate || fullBatch, rotate)
    }
    this.breakRequested = false
    if (this.fh === undefined) await this.openSegment(rec.timeMs)
    const seq = this.nextSeq
    const lastSeq =
      rec.type === RecordType.GAP ? readU64(Buffer.from(rec.payload.buffer, rec.payload.byteOffset, 8), 0) : seq
    invariant(lastSeq >= seq, `a gap record ends at ${lastSeq}, before its first seq ${seq}`)
    const buf = Buffer.allocUnsafe(size)
    buf.set(rec.payload, RECORD_HEADER_BYTES)
    this.pending = { buf, type: rec.type, timeMs: rec.timeMs, seq, lastSeq }
    this.nextSeq = lastSeq + 1
    // A seal is the last record of its segment: seal it now and close the segment.
    if (rec.type === RecordType.SEAL) await this.sealPending(true, true)
    return seq
  }

  /** One gap record for the seqs [nextSeq, toSeq]; returns its first seq. */
  async appendGap(toSeq: number, timeMs: number, why: Record<string, unknown>): Promise<number> {
    return this.append({ type: RecordType.GAP, timeMs, payload: gapPayload(toSeq, why) })
  }

  /** End the log with a seal record (unless its last record is one), sync everything, fsync the directory. */
  async finish(sealTimeMs: number = Date.now()): Promise<void> {
    // The last input segment's records and the seal share a segment: no break before the seal.
    this.breakRequested = false
    const lastType = this.pending?.type ?? this.lastType
    if (lastType !== RecordType.SEAL) {
      this.addedSealSeq = this.nextSeq
      await this.append({ type: RecordType.SEAL, timeMs: sealTimeMs, payload: RECOVER_SEAL_PAYLOAD })
    }
    invariant(this.pending === undefined && this.fh === undefined, 'the seal closed the last segment')
    try {
      const d = await fs.open(this.dir, 'r')
      try {
        await d.sync()
      } finally {
        await d.close()
      }
    } catch (err) {
      throw ioError('fsync', this.dir, err)
    }
  }

  /** Close files after a failure (the caller removes the directory). */
  async abort(): Promise<void> {
    await this.fh?.close().catch(() => {})
    this.fh = undefined
  }

  private async openSegment(createdMs: number): Promise<void> {
    const salt = randomBytes(SALT_BYTES)
    this.saltSeed = crc32c(salt)
    this.fileName = path.join(this.dir, segmentFileName(this.nextSeq))
    const header = encodeSegmentHeader(
      {
        firstSeq: this.nextSeq,
        createdMs,
        chainStart: this.prevHash,
        salt,
        logId: this.logId,
        batchBytesMax: this.batchBytesMax,
      },
      FORMAT_VERSION,
    )
    try {
      this.fh = await createRegular(this.fileName, this.fileMode)
    } catch (err) {
      throw ioError('create', this.fileName, err)
    }
    this.v2Written = true
    this.segments.push(path.basename(this.fileName))
    this.segBytes = SEGMENT_HEADER_BYTES
    this.batchIndex = 0
    this.batchBytes = 0
    this.push(header)
  }

  /** Seal the pending record: COMMIT ends its batch, SEALED (with COMMIT) ends its segment, which is then closed. */
  private async sealPending(commit: boolean, endsSegment: boolean): Promise<void> {
    const p = this.pending!
    this.pending = undefined
    const len = p.buf.length - RECORD_HEADER_BYTES
    const flags = endsSegment ? RecordFlag.COMMIT | RecordFlag.SEALED : commit ? RecordFlag.COMMIT : 0
    const hash = sealRecord(
      p.buf,
      0,
      len,
      p.type,
      flags,
      this.batchIndex,
      p.seq,
      p.timeMs,
      this.prevHash,
      this.saltSeed,
    )
    hash.copy(this.prevHash)
    this.lastType = p.type
    this.records++
    this.batchIndex = flags & RecordFlag.COMMIT ? 0 : this.batchIndex + 1
    this.batchBytes = flags & RecordFlag.COMMIT ? 0 : this.batchBytes + p.buf.length
    this.segBytes += p.buf.length
    this.push(p.buf)
    if (endsSegment) await this.closeSegment()
    else if (this.chunkBytes >= WRITE_BUFFER_BYTES) await this.flush()
  }

  private push(b: Buffer): void {
    this.chunks.push(b)
    this.chunkBytes += b.length
  }

  private async flush(): Promise<void> {
    if (this.chunks.length === 0) return
    const chunks = this.chunks
    this.chunks = []
    this.chunkBytes = 0
    try {
      await writeAll(this.fh!, chunks, this.staging)
    } catch (err) {
      throw ioError('write', this.fileName, err)
    }
  }

  private async closeSegment(): Promise<void> {
    invariant(this.pending === undefined, 'a segment is closed after its last record is sealed')
    await this.flush()
    try {
      await this.fh!.datasync()
      await this.fh!.close()
    } catch (err) {
      throw ioError('fdatasync', this.fileName, err)
    }
    this.fh = undefined
  }
}
