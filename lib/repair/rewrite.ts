/**
 * Writes a new, valid WAL offline (for recover): segments copied byte for
 * byte, then records re-sealed one by one. Not the live writer: no ring, no
 * lock, no group commit; the target directory is private to the caller until
 * it is renamed into place.
 *
 *   rawSegment(name, header, records)   a segment exactly as it was (same salt,
 *                                        same hashes): only before any append()
 *   append(timeMs, payload)             the next seq, sealed into the current
 *                                        segment (new salt, chained to the last
 *                                        record written, raw or re-sealed)
 *   breakSegment()                      the next append starts a new segment
 *   finish()                            COMMIT the last batch, fdatasync, fsync dir
 *
 * Batches: at most batchRecordsMax records; the last record of every segment
 * has COMMIT, so every segment but the last ends at a COMMIT (a valid WAL).
 * Memory: one pending record plus a write buffer of writeBufferBytes.
 */

import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { ioError, invariant } from '../../shared/errors.js'
import {
  encodeSegmentHeader,
  GENESIS_HASH,
  HASH_BYTES,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  SALT_BYTES,
  SEGMENT_HEADER_BYTES,
  sealRecord,
  segmentFileName,
} from '../../shared/format.js'
import { crc32c } from '../../shared/crc32c.js'

export interface RewriteOptions {
  /** A new segment is started before a record would take the current one past this (default 64 MiB). */
  segmentBytesMax?: number
  /** Records per batch at most (default 4096; the format allows 65,535). */
  batchRecordsMax?: number
}

const WRITE_BUFFER_BYTES = 1024 * 1024

/** Write buffers in order, about WRITE_BUFFER_BYTES per call, looping on short writes. */
async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  let i = 0
  while (i < bufs.length) {
    const group: Buffer[] = []
    let bytes = 0
    while (i < bufs.length && (group.length === 0 || bytes + bufs[i]!.length <= WRITE_BUFFER_BYTES)) {
      bytes += bufs[i]!.length
      group.push(bufs[i++]!)
    }
    const data = group.length === 1 ? group[0]! : Buffer.concat(group, bytes)
    let done = 0
    while (done < data.length) done += (await fh.write(data, done, data.length - done)).bytesWritten
  }
}

export class WalRewriter {
  /** The seq the next record gets. */
  nextSeq = 1
  private prevHash: Buffer = Buffer.from(GENESIS_HASH)
  private fh: fs.FileHandle | undefined
  private fileName = ''
  private saltSeed = 0
  private segBytes = 0
  private batchIndex = 0
  private pending: { buf: Buffer; timeMs: number } | undefined
  private chunks: Buffer[] = []
  private chunkBytes = 0
  private breakRequested = false
  private appended = false
  readonly segments: string[] = []
  private readonly segmentBytesMax: number
  private readonly batchRecordsMax: number

  constructor(
    private readonly dir: string,
    options: RewriteOptions = {},
  ) {
    this.segmentBytesMax = options.segmentBytesMax ?? 64 * 1024 * 1024
    this.batchRecordsMax = options.batchRecordsMax ?? 4096
  }

  /** Copy a segment exactly: header bytes and records as they were. */
  async rawSegment(name: string, header: Buffer, records: Buffer[], lastSeq: number, lastHash: Buffer): Promise<void> {
    invariant(!this.appended && this.fh === undefined, 'raw segments come before any re-sealed record')
    const file = path.join(this.dir, name)
    try {
      const fh = await fs.open(file, 'wx')
      try {
        await writeAll(fh, [header, ...records])
        await fh.datasync()
      } finally {
        await fh.close()
      }
    } catch (err) {
      throw ioError('write', file, err)
    }
    this.segments.push(name)
    this.nextSeq = lastSeq + 1
    lastHash.copy(this.prevHash, 0, 0, HASH_BYTES)
  }

  /** The next append() starts a new segment (keeps output segments aligned with the input's). */
  breakSegment(): void {
    if (this.fh !== undefined || this.pending !== undefined) this.breakRequested = true
  }

  async append(timeMs: number, payload: Uint8Array): Promise<number> {
    this.appended = true
    const size = RECORD_HEADER_BYTES + payload.length
    if (this.pending !== undefined) {
      const rotate = this.breakRequested || this.segBytes + this.pending.buf.length + size > this.segmentBytesMax
      await this.sealPending(rotate || this.batchIndex === this.batchRecordsMax - 1)
      if (rotate) await this.closeSegment()
      this.breakRequested = false
    }
    if (this.fh === undefined) await this.openSegment(timeMs)
    const buf = Buffer.allocUnsafe(size)
    buf.set(payload, RECORD_HEADER_BYTES)
    this.pending = { buf, timeMs }
    return this.nextSeq++
  }

  /** Seal the last record with COMMIT, sync everything, fsync the directory. */
  async finish(): Promise<void> {
    if (this.pending !== undefined) await this.sealPending(true)
    if (this.fh !== undefined) await this.closeSegment()
    if (this.segments.length === 0) {
      // Nothing at all: a valid empty WAL is one header-only segment.
      await this.openSegment(Date.now())
      await this.closeSegment()
    }
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
    const header = encodeSegmentHeader({ firstSeq: this.nextSeq, createdMs, chainStart: this.prevHash, salt })
    try {
      this.fh = await fs.open(this.fileName, 'wx')
    } catch (err) {
      throw ioError('create', this.fileName, err)
    }
    this.segments.push(path.basename(this.fileName))
    this.segBytes = SEGMENT_HEADER_BYTES
    this.batchIndex = 0
    this.push(header)
  }

  private async sealPending(commit: boolean): Promise<void> {
    const p = this.pending!
    this.pending = undefined
    const seq = this.nextSeq - 1
    const len = p.buf.length - RECORD_HEADER_BYTES
    const hash = sealRecord(
      p.buf,
      0,
      len,
      RecordType.EVENT,
      commit ? RecordFlag.COMMIT : 0,
      this.batchIndex,
      seq,
      p.timeMs,
      this.prevHash,
      this.saltSeed,
    )
    hash.copy(this.prevHash)
    this.batchIndex = commit ? 0 : this.batchIndex + 1
    this.segBytes += p.buf.length
    this.push(p.buf)
    if (this.chunkBytes >= WRITE_BUFFER_BYTES) await this.flush()
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
      await writeAll(this.fh!, chunks)
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
