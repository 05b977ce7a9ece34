/**
 * LogWatcher: follows a live log from another process, read-only (the engine
 * of `mtlog-audit monitor`).
 *
 *   poll() ──► list segments ──► read the bytes of the current segment past the
 *   last record checked ──► walk them with the one record walker
 *   (shared/scan.ts RecordCursor: CRC, type, seq, chain, batchIndex) ──►
 *   snapshot: committed seq, events/s, durable lag, uncommitted tail bytes,
 *   current segment, writer (LOCK), problems seen
 *
 * It starts at the last segment (its header's chainStart and first seq), so a
 * large log costs one segment to start; `verify` checks the rest. A record that
 * runs past the end of the file is a batch being written, and zero bytes after
 * the last record are space the writer zero-filled ahead of its next batch
 * (a zero tail, exactly as verify sees it): both are looked at again on the
 * next poll. Any other problem is reported when it is still there on the next
 * poll (a read racing a write can see it once).
 *
 * Definitions (docs/cli.md "monitor"):
 * - durable lag = now − timestamp of the last committed record (events carry
 *   their emit time unless the app set one), and tail bytes = bytes after the
 *   last COMMIT of the current segment (written, not yet committed);
 * - events/s = committed seqs per second over the last windowMs.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import {
  decodeSegmentHeader,
  parseSegmentFileName,
  RecordFlag,
  SEGMENT_HEADER_BYTES,
  type SegmentHeader,
  versionUnsupported,
} from '../../shared/format.js'
import { RecordCursor, zeroFrom } from '../../shared/scan.js'
import { LIMITS } from '../../shared/limits.js'
import { listWal } from './salvage.js'
import { checkWatcherArgs } from './args.js'
import { openRegular } from '../../shared/files.js'
import { lockHolder } from '../../shared/lock.js'

export interface MonitorSnapshot {
  dir: string
  at: string
  segments: number
  /** The segment being written and its size. */
  segment: string | undefined
  segmentBytes: number
  /** Last committed seq (= committed records, seqs start at 1). */
  committedSeq: number
  /** Timestamp of the last committed record. */
  lastCommitTime: string | undefined
  /** now − lastCommitTime, in ms. */
  durableLagMs: number | undefined
  /** Bytes written after the last COMMIT of the current segment (zeros kept ahead of the next batch not counted). */
  tailBytes: number
  eventsPerSecond: number
  writer: { pid: number; host: string; alive: boolean } | undefined
  errorCount: number
  /** The latest problems (at most 10). */
  errors: string[]
}

const PAYLOAD_MAX = LIMITS.eventBytesMax.max
const READ_BYTES_MAX = PAYLOAD_MAX + 1024 * 1024
const ERRORS_KEPT = 10

interface Current {
  name: string
  header: SegmentHeader
  validEnd: number
  /** End of the written bytes: the segment's size, or where the zeros kept ahead of the next batch begin. */
  dataEnd: number
  commitEnd: number
  size: number
  batchIndex: number
}

export class LogWatcher {
  readonly dir: string
  private cur: Current | undefined
  private seq = 0
  private prevHash = Buffer.alloc(32)
  private commitSeq = 0
  private commitHash = Buffer.alloc(32)
  private lastCommitMs: number | undefined
  private segments = 0
  private suspect: string | undefined
  private reported = new Set<string>()
  private errors: string[] = []
  private errorCount = 0
  private samples: { t: number; seq: number }[] = []

  constructor(
    dir: string,
    private readonly options: { windowMs?: number } = {},
  ) {
    checkWatcherArgs(dir, options)
    this.dir = path.resolve(dir)
  }

  /** Read what is new and return the picture. Throws only when the directory is not a WAL at the first poll. */
  async poll(): Promise<MonitorSnapshot> {
    let names: string[]
    try {
      names = (await listWal(this.dir)).segments
    } catch (err) {
      if (this.cur === undefined) throw err
      this.error(`cannot list ${this.dir}: ${(err as Error).message}`)
      names = []
    }
    this.segments = names.length
    if (this.cur === undefined && names.length > 0) await this.enter(names[names.length - 1]!, true)
    while (this.cur !== undefined) {
      await this.readNew()
      const next = names.find((n) => n > this.cur!.name)
      if (next === undefined) break
      // The writer rotated: what it left in this segment is final.
      await this.readNew()
      if (this.cur.validEnd !== this.cur.size || this.cur.commitEnd !== this.cur.size) {
        this.error(
          `${this.cur.name} was sealed at ${this.cur.size} bytes but its records end at ${this.cur.commitEnd} (damage or an uncommitted batch in a sealed segment)`,
        )
      }
      await this.enter(next, false)
    }
    return this.snapshot(await this.writer())
  }

  private error(message: string): void {
    if (this.reported.has(message)) return
    this.reported.add(message)
    this.errorCount++
    this.errors.push(`${new Date().toISOString()} ${message}`)
    if (this.errors.length > ERRORS_KEPT) this.errors.shift()
  }

  private async enter(name: string, first: boolean): Promise<void> {
    const firstSeq = parseSegmentFileName(name)!
    const head = await this.read(name, 0, SEGMENT_HEADER_BYTES)
    const h = head === undefined ? undefined : decodeSegmentHeader(head)
    if (h !== undefined && 'problem' in h && h.problem === 'version') {
      throw versionUnsupported(name, h.version)
    }
    if (h === undefined || 'problem' in h) {
      this.error(`${name}: segment header is bad (${h === undefined ? 'unreadable' : h.problem})`)
      this.cur = undefined
      return
    }
    if (first) {
      this.seq = firstSeq
      this.commitSeq = firstSeq - 1
      h.chainStart.copy(this.prevHash)
      h.chainStart.copy(this.commitHash)
    } else {
      if (firstSeq !== this.commitSeq + 1)
        this.error(`${name} should start at seq ${this.commitSeq + 1} (a segment is missing)`)
      if (!h.chainStart.equals(this.commitHash))
        this.error(`${name}: header chainStart does not continue the hash chain`)
      this.seq = firstSeq
      this.commitSeq = firstSeq - 1
      h.chainStart.copy(this.prevHash)
      h.chainStart.copy(this.commitHash)
    }
    this.cur = { name, header: h, validEnd: h.bytes, dataEnd: h.bytes, commitEnd: h.bytes, size: h.bytes, batchIndex: 0 }
    this.suspect = undefined
  }

  private async read(name: string, from: number, max: number): Promise<Buffer | undefined> {
    let fh: fs.FileHandle | undefined
    try {
      fh = await openRegular(path.join(this.dir, name), 'r')
      const size = (await fh.stat()).size
      if (this.cur?.name === name) this.cur.size = size
      const n = Math.max(0, Math.min(max, size - from))
      const buf = Buffer.alloc(n)
      let done = 0
      while (done < n) {
        const { bytesRead } = await fh.read(buf, done, n - done, from + done)
        if (bytesRead === 0) break
        done += bytesRead
      }
      return buf.subarray(0, done)
    } catch (err) {
      this.error(`cannot read ${name}: ${(err as Error).message}`)
      return undefined
    } finally {
      await fh?.close()
    }
  }

  /** Check the records past validEnd of the current segment. */
  private async readNew(): Promise<void> {
    const c = this.cur!
    for (;;) {
      const buf = await this.read(c.name, c.validEnd, READ_BYTES_MAX)
      if (buf === undefined || buf.length === 0) return
      const cursor = new RecordCursor(buf, c.header, PAYLOAD_MAX, {
        offset: 0,
        seq: this.seq,
        hash: this.prevHash,
        batchIndex: c.batchIndex,
      })
      let more = false
      let zeros = false
      let spot: string | undefined
      for (let r = cursor.next(); r !== undefined; r = cursor.next()) {
        if (!('ok' in r)) {
          // A batch being written (or a record across the end of this read), or
          // the zeros the writer keeps ahead of its next batch: look again later.
          if (r.problem === 'truncated') {
            more = buf.length === READ_BYTES_MAX && r.offset > 0
            break
          }
          if (r.problem === 'zero' && zeroFrom(buf, r.offset) === r.offset) {
            zeros = true
            break
          }
          spot = `${c.name} offset ${c.validEnd + r.offset} seq ${r.seq}: record is bad (${r.problem})`
          break
        }
        if (r.flags & RecordFlag.COMMIT) {
          c.commitEnd = c.validEnd + r.end
          this.commitSeq = r.lastSeq
          cursor.hash.copy(this.commitHash)
          this.lastCommitMs = r.timeMs
        }
      }
      const advanced = cursor.offset
      c.validEnd += advanced
      c.dataEnd = zeros ? c.validEnd : c.size
      c.batchIndex = cursor.batchIndex
      this.seq = cursor.seq
      cursor.hash.copy(this.prevHash)
      // A problem counts when the next poll finds it again in the same place.
      if (spot !== undefined && this.suspect === spot) this.error(spot)
      this.suspect = spot
      if (spot !== undefined) return
      if (!more && (buf.length < READ_BYTES_MAX || advanced < buf.length)) return
    }
  }

  private async writer(): Promise<MonitorSnapshot['writer']> {
    // The lock files (LOCK, LOCK.<n>) as the writer judges them: shared/lock.ts.
    const h = lockHolder(this.dir)
    return h === undefined ? undefined : { pid: h.pid, host: h.host, alive: h.alive }
  }

  private snapshot(writer: MonitorSnapshot['writer']): MonitorSnapshot {
    const now = Date.now()
    const windowMs = this.options.windowMs ?? 5000
    this.samples.push({ t: now, seq: this.commitSeq })
    while (this.samples.length > 2 && now - this.samples[1]!.t >= windowMs) this.samples.shift()
    const first = this.samples[0]!
    const rate = now > first.t ? ((this.commitSeq - first.seq) * 1000) / (now - first.t) : 0
    return {
      dir: this.dir,
      at: new Date(now).toISOString(),
      segments: this.segments,
      segment: this.cur?.name,
      segmentBytes: this.cur?.size ?? 0,
      committedSeq: this.commitSeq,
      lastCommitTime: this.lastCommitMs === undefined ? undefined : new Date(this.lastCommitMs).toISOString(),
      durableLagMs: this.lastCommitMs === undefined ? undefined : now - this.lastCommitMs,
      tailBytes: this.cur === undefined ? 0 : Math.max(0, this.cur.dataEnd - this.cur.commitEnd),
      eventsPerSecond: Math.round(rate * 10) / 10,
      writer,
      errorCount: this.errorCount,
      errors: [...this.errors],
    }
  }
}
