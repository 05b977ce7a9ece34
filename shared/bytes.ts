/**
 * A segment's bytes, read through a bounded window: what the record walker
 * (shared/scan.ts) runs over, so no reader, resume or recovery holds a whole
 * segment in memory.
 *
 *   SegmentBytes.of(buf)        bytes already in memory (tests, small files):
 *                               the window is the buffer, nothing is read
 *   SegmentBytes.open(file)     a regular file (shared/files.ts), read with
 *                               positioned reads; readers use this
 *   new SegmentBytes(read, size) any positioned read: the writer passes its
 *                               Storage's pread (fault injection, torture)
 *
 * window(off, len) makes [off, min(off + len, size)) readable in `buf` at
 * `off - base` and returns that index. When the range is not in the window
 * already, the window moves: it is refilled from `off` with max(len,
 * windowBytes) bytes (fewer at the end of the file). So a forward walk reads
 * each byte about once, and memory is one buffer of max(windowBytes, the
 * largest range asked for): a record walker asks for at most one record
 * (RECORD_HEADER_BYTES + payloadBytesMax). Reads are synchronous: the walker
 * is synchronous, and a few-MiB pread blocks no longer than scanning it does.
 *
 * `size` is the file's size when opened (later growth by a live writer is not
 * read, as before). A read that returns less than asked (the file was cut
 * meanwhile) ends the bytes there: size shrinks to what could be read.
 *
 * `track()` keeps a digest of every read (its position, length and a hash of
 * its bytes): two walks of the same file that read the same bytes in the same
 * places give equal lists (workers/writer/resume.ts confirms a cut that way,
 * with a second, independent read).
 */

import crypto from 'node:crypto'
import fs from 'node:fs'
import { AuditError } from './errors.js'
import { FIXED } from './limits.js'
import { openRegularSync } from './files.js'

/** Fill buf[off, off + len) from file position pos; returns the count read (0 at end of file). */
export type PositionedRead = (buf: Buffer, off: number, len: number, pos: number) => number

/** One read of a tracked walk: where, how much, and a digest of the bytes. */
export interface ReadDigest {
  pos: number
  len: number
  digest: string
}

export class SegmentBytes {
  /** The window: bytes [base, base + filled) of the segment are buf[0, filled). */
  buf: Buffer
  base = 0
  filled = 0
  /** Bytes of the segment (its size when opened, or fewer when a read came back short). */
  size: number
  /** Bytes read from the file so far (a forward walk reads each byte about once). */
  bytesRead = 0
  /**
   * How many times the window was filled from the file: bytes checked while this
   * was n are still the window's bytes while it is n (0: bytes given in memory,
   * which their owner may still change, so nothing can be assumed of them).
   */
  fills = 0
  /** Set by track(): every read's digest, in order. */
  reads: ReadDigest[] | undefined

  constructor(
    private readonly read: PositionedRead | undefined,
    size: number,
    /** Bytes a window holds at least (a range asked for that is larger gets a larger one). */
    readonly windowBytes: number = FIXED.segmentWindowBytes,
    buf?: Buffer,
  ) {
    this.size = size
    if (buf !== undefined) {
      this.buf = buf
      this.filled = buf.length
    } else this.buf = Buffer.alloc(0)
  }

  /** Bytes already in memory: the window is buf itself. */
  static of(buf: Buffer): SegmentBytes {
    return new SegmentBytes(undefined, buf.length, Math.max(buf.length, 1), buf)
  }

  /**
   * A regular file opened for reading (ERR_AUDIT_NOT_A_FILE for anything else).
   * An fs error opening or reading it is passed through `fail` (the caller's
   * coded error) or thrown as it is. Close it with close().
   */
  static open(
    file: string,
    options: { windowBytes?: number; fail?: (err: unknown) => unknown } = {},
  ): SegmentBytes & { close(): void } {
    const fail = options.fail ?? ((err: unknown) => err)
    let fd: number
    try {
      fd = openRegularSync(file, 'r')
    } catch (err) {
      throw err instanceof AuditError ? err : fail(err)
    }
    try {
      const size = fs.fstatSync(fd).size
      const read: PositionedRead = (b, o, l, p) => {
        try {
          return fs.readSync(fd, b, o, l, p)
        } catch (err) {
          throw fail(err)
        }
      }
      return Object.assign(new SegmentBytes(read, size, options.windowBytes), { close: () => fs.closeSync(fd) })
    } catch (err) {
      fs.closeSync(fd)
      throw err instanceof AuditError ? err : fail(err)
    }
  }

  /** Keep a digest of every read from now on (see the module comment). */
  track(): this {
    this.reads = []
    return this
  }

  /** Make [off, min(off + len, size)) readable; returns its index in buf. */
  window(off: number, len: number): number {
    const end = Math.min(off + len, this.size)
    if (off >= this.base && end <= this.base + this.filled) return off - this.base
    if (this.read === undefined) throw new RangeError(`bytes [${off}, ${end}) are outside the ${this.size} in memory`)
    const want = Math.max(0, Math.min(Math.max(len, this.windowBytes), this.size - off))
    if (this.buf.length < want) this.buf = Buffer.allocUnsafe(want)
    let got = 0
    while (got < want) {
      const n = this.read(this.buf, got, want - got, off + got)
      if (n <= 0) break
      got += n
    }
    this.bytesRead += got
    this.fills++
    this.reads?.push({
      pos: off,
      len: got,
      digest: crypto.createHash('sha256').update(this.buf.subarray(0, got)).digest('hex'),
    })
    this.base = off
    this.filled = got
    if (got < want) this.size = off + got
    return 0
  }

  /** The byte at off (off < size). */
  at(off: number): number {
    return this.buf[this.window(off, 1)]!
  }

  /** A copy of bytes [from, to) (to ≤ size). */
  copy(from: number, to: number): Buffer {
    const out = Buffer.allocUnsafe(to - from)
    for (let done = 0; done < out.length; ) {
      const n = Math.min(out.length - done, this.windowBytes)
      const i = this.window(from + done, n)
      this.buf.copy(out, done, i, i + n)
      done += n
    }
    return out
  }
}

/** A Buffer, or bytes read through a window. */
export type Bytes = Buffer | SegmentBytes

export function bytesOf(b: Bytes): SegmentBytes {
  return b instanceof SegmentBytes ? b : SegmentBytes.of(b)
}

/** Where two tracked walks first read different bytes (or in different places); undefined when they read the same. */
export function firstDifferentRead(a: readonly ReadDigest[], b: readonly ReadDigest[]): ReadDigest | undefined {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]!
    const y = b[i]!
    if (x.pos !== y.pos || x.len !== y.len || x.digest !== y.digest) return x
  }
  return a.length === b.length ? undefined : (a[n] ?? b[n])
}
