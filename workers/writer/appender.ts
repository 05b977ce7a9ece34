/**
 * Appends framed batches to the active segment and rotates segments, in one
 * directory or, with a mirror, in two.
 *
 * Contract:
 * - The writer asks room() before it builds a batch and saltSeed() for the
 *   salt its records are sealed with; rotate() starts the next segment (the
 *   writer has sealed the old one: its last record carries SEALED).
 * - write(buf, len) writes the whole batch at the end of the segment (looping
 *   on short writes) in every directory; sync() then fdatasyncs every copy
 *   (on libuv's pool when the storage can, all copies at once). Only after
 *   sync() resolves may the batch be acknowledged, and no other batch is
 *   written before that: at most one batch is ever unsynced.
 * - Zero-ahead: after a batch of ≤ FIXED.zeroAheadBatchBytesMax bytes that ends
 *   past the zero-filled end of the segment, write() also writes
 *   FIXED.zeroAheadBytes of zeros after it (never past segmentBytesMax); the
 *   batch's own sync makes them durable. Later small batches overwrite zeros in
 *   place: the file's size does not change, so their fdatasync commits no
 *   metadata. Zeros after the last COMMIT are what recovery and readers call a
 *   zero tail (docs/wal-format.md section 7). A disk too full for the zeros
 *   (ENOSPC) is not an error: the batch is already written, and later batches
 *   grow the file as before.
 * - A segment that is done has no zero tail: rotate() cuts the old segment's
 *   zeros (ftruncate + fsync) before it creates the next one, and seal() does
 *   the same for the active segment when the sink closes cleanly. Sealed
 *   segments and a cleanly closed log are exactly header + records.
 * - room() tells how many bytes the active segment still takes; rotate()
 *   starts a new one. Never rotate while a sync is in flight.
 * - A new segment is born complete and durable: header written to
 *   <name>.wal.tmp, fdatasync, rename to <name>.wal, fsync the directory;
 *   only then does a record go into it. A rotation never splits a batch.
 * - With a mirror, both copies are byte-identical (same header, same salt,
 *   same records at the same offsets), so a damaged range in one copy can be
 *   repaired from the other.
 * - Any storage error is thrown as ERR_AUDIT_IO; the writer then fails closed
 *   and never calls this appender again (no fsync retry on the same file).
 */

import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { ioError } from '../../shared/errors.js'
import { encodeSegmentHeader, SALT_BYTES, segmentFileName, type SegmentHeader } from '../../shared/format.js'
import { type Storage, writeFully } from '../../shared/storage.js'
import { crc32c } from '../../shared/crc32c.js'
import { FIXED } from '../../shared/limits.js'

interface Active {
  name: string
  /** Header bytes: where the first record goes. */
  headerBytes: number
  /** One descriptor per directory, in the order of `dirs`. */
  fds: number[]
  /** End of the last record written. */
  size: number
  /** End of the file: size plus the zeros written ahead (≥ size). */
  zeroedEnd: number
  saltSeed: number
}

let zeroChunk: Buffer | undefined

export class Appender {
  private active: Active | undefined
  /** fdatasync and fsync calls made (batches, new segments, directories). */
  syncCalls = 0

  constructor(
    private readonly s: Storage,
    /** The WAL directory, then the mirror if there is one. */
    private readonly dirs: readonly string[],
    private readonly segmentBytesMax: number,
    private readonly nowMs: () => number,
    private readonly onSegment: (name: string) => void,
    existing: { name: string; header: SegmentHeader; size: number } | undefined,
    /** What every new segment's header carries: the log's id and the writer's batchBytesMax. */
    private readonly identity: { logId: Buffer; batchBytesMax: number },
  ) {
    if (existing !== undefined) {
      const fds: number[] = []
      for (const dir of dirs) {
        const file = path.join(dir, existing.name)
        try {
          fds.push(s.open(file, 'r+'))
        } catch (err) {
          for (const fd of fds) s.close(fd)
          throw ioError('open', file, err)
        }
      }
      this.active = {
        name: existing.name,
        headerBytes: existing.header.bytes,
        fds,
        size: existing.size,
        zeroedEnd: existing.size,
        saltSeed: existing.header.saltSeed,
      }
    }
  }

  /** Bytes the active segment still takes; an empty segment takes any batch. */
  room(): number {
    const a = this.active!
    return a.size === a.headerBytes ? Number.MAX_SAFE_INTEGER : this.segmentBytesMax - a.size
  }

  /** The salt seed records of the active segment are sealed with. */
  saltSeed(): number {
    return this.active!.saltSeed
  }

  /** Bytes the active segment holds (header and records; zeros ahead not counted). */
  size(): number {
    return this.active!.size
  }

  /** Write a batch at the end of the segment (zeroAhead false: the segment's last write, a seal). */
  write(buf: Buffer, len: number, zeroAhead = true): void {
    const a = this.active!
    const end = a.size + len
    const zeroTo =
      zeroAhead && len <= FIXED.zeroAheadBatchBytesMax && end > a.zeroedEnd
        ? Math.min(end + FIXED.zeroAheadBytes, this.segmentBytesMax)
        : end
    for (let i = 0; i < a.fds.length; i++) {
      try {
        writeFully(this.s, a.fds[i]!, buf, 0, len, a.size)
      } catch (err) {
        throw ioError('write', path.join(this.dirs[i]!, a.name), err)
      }
      if (zeroTo > end) this.writeZeros(i, end, zeroTo)
    }
    a.size = end
    a.zeroedEnd = Math.max(a.zeroedEnd, zeroTo)
  }

  /**
   * Zeros are an optimisation, never a reason to fail: a disk too full for them
   * (ENOSPC, EDQUOT) keeps what fitted, and the batches that follow grow the
   * file as they would without zero-ahead until the data itself finds no room.
   * Any other error fails the sink like a failed batch write.
   */
  private writeZeros(i: number, from: number, to: number): void {
    const a = this.active!
    zeroChunk ??= Buffer.alloc(FIXED.zeroAheadBytes)
    try {
      writeFully(this.s, a.fds[i]!, zeroChunk, 0, to - from, from)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ENOSPC' && code !== 'EDQUOT') throw ioError('write', path.join(this.dirs[i]!, a.name), err)
    }
  }

  /** Cut the active segment's zeros (ftruncate + fsync every copy): a clean close leaves header + records only. */
  seal(): void {
    const a = this.active
    if (a !== undefined) this.cutZeros(a)
  }

  private cutZeros(a: Active): void {
    if (a.zeroedEnd === a.size) return
    for (let i = 0; i < a.fds.length; i++) {
      try {
        this.s.truncate(a.fds[i]!, a.size)
        this.s.fsync(a.fds[i]!)
        this.syncCalls++
      } catch (err) {
        throw ioError('cut zeros of', path.join(this.dirs[i]!, a.name), err)
      }
    }
    a.zeroedEnd = a.size
  }

  /** fdatasync every copy of the active segment on this thread; throws ERR_AUDIT_IO. */
  syncNow(): void {
    const a = this.active!
    for (let i = 0; i < a.fds.length; i++) {
      this.syncCalls++
      try {
        this.s.fdatasync(a.fds[i]!)
      } catch (err) {
        throw ioError('fdatasync', path.join(this.dirs[i]!, a.name), err)
      }
    }
  }

  /** fdatasync every copy of the active segment; rejects with ERR_AUDIT_IO. */
  sync(): Promise<void> {
    const a = this.active!
    this.syncCalls += a.fds.length
    return Promise.all(
      a.fds.map((fd, i) => {
        const file = path.join(this.dirs[i]!, a.name)
        try {
          const pending = this.s.fdatasyncAsync?.(fd)
          if (pending === undefined) {
            this.s.fdatasync(fd)
            return undefined
          }
          return pending.catch((err: unknown) => {
            throw ioError('fdatasync', file, err)
          })
        } catch (err) {
          return Promise.reject(ioError('fdatasync', file, err))
        }
      }),
    ).then(() => undefined)
  }

  segmentName(): string | undefined {
    return this.active?.name
  }

  close(): void {
    const a = this.active
    this.active = undefined
    if (a !== undefined) for (const fd of a.fds) this.s.close(fd)
  }

  rotate(firstSeq: number, prevHash: Buffer): Active {
    // The old segment is sealed: exactly its records, durable, before the next one exists.
    if (this.active !== undefined) this.cutZeros(this.active)
    const name = segmentFileName(firstSeq)
    const salt = randomBytes(SALT_BYTES)
    const header = encodeSegmentHeader({
      firstSeq,
      createdMs: this.nowMs(),
      chainStart: prevHash,
      salt,
      logId: this.identity.logId,
      batchBytesMax: this.identity.batchBytesMax,
    })
    const fds: number[] = []
    for (const dir of this.dirs) {
      const final = path.join(dir, name)
      const tmp = `${final}.tmp`
      try {
        const fd = this.s.open(tmp, 'wx')
        fds.push(fd)
        writeFully(this.s, fd, header, 0, header.length, 0)
        this.s.fdatasync(fd)
        this.s.rename(tmp, final)
        this.s.fsyncDir(dir)
        this.syncCalls += 2
      } catch (err) {
        throw ioError('create segment', final, err)
      }
    }
    const old = this.active
    const at = header.length
    this.active = { name, headerBytes: at, fds, size: at, zeroedEnd: at, saltSeed: crc32c(salt) }
    if (old !== undefined) {
      for (const fd of old.fds) {
        try {
          this.s.close(fd)
        } catch {
          // its data is already fdatasync'ed; a failed close loses nothing
        }
      }
    }
    this.onSegment(name)
    return this.active
  }
}
