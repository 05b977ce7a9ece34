/**
 * Appends framed batches to the active segment and rotates segments.
 *
 * Contract:
 * - prepare(batchBytes, firstSeq, prevHash) makes sure the batch goes into a
 *   segment with room for it (rotating first if needed) and returns that
 *   segment's salt seed, which the records must be sealed with.
 * - append(buf, len) writes the whole batch at the end of the segment (looping
 *   on short writes) and fdatasyncs it. Only after it returns may the batch be
 *   acknowledged.
 * - A new segment is born complete and durable: header written to
 *   <name>.wal.tmp, fdatasync, rename to <name>.wal, fsync the directory;
 *   only then does a record go into it. A rotation never splits a batch.
 * - Any storage error is thrown as ERR_AUDIT_IO; the writer then fails closed
 *   and never calls this appender again (no fsync retry on the same file).
 */

import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { ioError } from '../shared/errors.js'
import { encodeSegmentHeader, SALT_BYTES, SEGMENT_HEADER_BYTES, segmentFileName, type SegmentHeader } from '../shared/format.js'
import { type Storage, writeFully } from '../shared/storage.js'
import { crc32c } from '../shared/crc32c.js'

interface Active {
  name: string
  fd: number
  size: number
  saltSeed: number
}

export class Appender {
  private active: Active | undefined

  constructor(
    private readonly s: Storage,
    private readonly dir: string,
    private readonly segmentBytesMax: number,
    private readonly nowMs: () => number,
    private readonly onSegment: (name: string) => void,
    existing: { name: string; header: SegmentHeader; size: number } | undefined,
  ) {
    if (existing !== undefined) {
      const file = path.join(dir, existing.name)
      try {
        this.active = { name: existing.name, fd: s.open(file, 'r+'), size: existing.size, saltSeed: existing.header.saltSeed }
      } catch (err) {
        throw ioError('open', file, err)
      }
    }
  }

  /** Make room for a batch; returns the salt seed of the segment it goes into. */
  prepare(batchBytes: number, firstSeq: number, prevHash: Buffer): number {
    const a = this.active
    if (a !== undefined && (a.size + batchBytes <= this.segmentBytesMax || a.size === SEGMENT_HEADER_BYTES)) return a.saltSeed
    return this.rotate(firstSeq, prevHash).saltSeed
  }

  /** Create the first segment of a new WAL so the directory is one from the start. */
  ensureSegment(firstSeq: number, prevHash: Buffer): void {
    if (this.active === undefined) this.rotate(firstSeq, prevHash)
  }

  append(buf: Buffer, len: number): void {
    const a = this.active!
    const file = path.join(this.dir, a.name)
    try {
      writeFully(this.s, a.fd, buf, 0, len, a.size)
    } catch (err) {
      throw ioError('write', file, err)
    }
    a.size += len
    try {
      this.s.fdatasync(a.fd)
    } catch (err) {
      throw ioError('fdatasync', file, err)
    }
  }

  segmentName(): string | undefined {
    return this.active?.name
  }

  close(): void {
    const a = this.active
    this.active = undefined
    if (a !== undefined) this.s.close(a.fd)
  }

  private rotate(firstSeq: number, prevHash: Buffer): Active {
    const name = segmentFileName(firstSeq)
    const final = path.join(this.dir, name)
    const tmp = `${final}.tmp`
    const salt = randomBytes(SALT_BYTES)
    const header = encodeSegmentHeader({ firstSeq, createdMs: this.nowMs(), chainStart: prevHash, salt })
    let fd: number
    try {
      fd = this.s.open(tmp, 'wx')
      writeFully(this.s, fd, header, 0, header.length, 0)
      this.s.fdatasync(fd)
      this.s.rename(tmp, final)
      this.s.fsyncDir(this.dir)
    } catch (err) {
      throw ioError('create segment', final, err)
    }
    const old = this.active
    this.active = { name, fd, size: SEGMENT_HEADER_BYTES, saltSeed: crc32c(salt) }
    if (old !== undefined) {
      try {
        this.s.close(old.fd)
      } catch {
        // its data is already fdatasync'ed; a failed close loses nothing
      }
    }
    this.onSegment(name)
    return this.active
  }
}
