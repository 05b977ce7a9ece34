/**
 * logStats: what a log holds: segments, records, bytes, events by level and by
 * hour (UTC, from event timestamps), and the write rate of each segment (from
 * its header's creation time to the file's last modification).
 *
 * Read-only, like readLog (which it uses, so every record is checked); damage
 * stops the count there and is reported in firstBad.
 */

import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { decodeSegmentHeader, parseSegmentFileName, SEGMENT_HEADER_BYTES } from '../../shared/format.js'
import { LEVELS, type Level } from '../../shared/event.js'
import type { ReadKeys } from './sealed.js'
import { readLog } from './reader.js'
import { listWal } from './salvage.js'
import { checkStatsArgs } from './args.js'
import { openRegular } from '../../shared/files.js'

export interface SegmentStats {
  name: string
  firstSeq: number
  bytes: number
  /** Records read from it (all, when the log is intact). */
  records: number
  /** From the segment header (when it checks out). */
  createdAt: string | undefined
  /** The file's mtime: its last write. */
  modifiedAt: string
  /** Records per second between createdAt and modifiedAt (undefined when that span is 0 or unknown). */
  recordsPerSecond: number | undefined
  bytesPerSecond: number | undefined
}

export interface LogStats {
  ok: boolean
  dir: string
  segments: number
  records: number
  /** Bytes of all segment files. */
  bytes: number
  firstSeq: number | undefined
  lastSeq: number | undefined
  firstTime: string | undefined
  lastTime: string | undefined
  /** Records per second over [firstTime, lastTime] (event timestamps). */
  eventsPerSecond: number | undefined
  byLevel: Record<Level, number>
  /** Events per UTC hour ('2024-01-31T13'; extended years keep their sign and digits: '+275760-09-13T00'), in time order. */
  byHour: { hour: string; events: number }[]
  /** Write rate per segment, in seq order. */
  writeRate: SegmentStats[]
  /** Side files of torn tails cut by earlier recoveries. */
  sideFiles: string[]
  firstBad: { segment: string; offset: number; seq: number; problem: string; message: string } | undefined
}

export interface StatsOptions extends ReadKeys {
  onBytes?: (bytes: number) => void
}

/** Count what dir holds. */
export async function logStats(dir: string, options: StatsOptions = {}): Promise<LogStats> {
  options = checkStatsArgs(dir, options)
  const abs = path.resolve(dir)
  const { segments, sideFiles } = await listWal(abs)
  const writeRate: SegmentStats[] = []
  const index = new Map<string, SegmentStats>()
  for (const name of segments) {
    const file = path.join(abs, name)
    let st, head: Buffer
    try {
      st = await fs.stat(file)
      const fh = await openRegular(file, 'r')
      try {
        head = Buffer.alloc(SEGMENT_HEADER_BYTES)
        const { bytesRead } = await fh.read(head, 0, SEGMENT_HEADER_BYTES, 0)
        head = head.subarray(0, bytesRead)
      } finally {
        await fh.close()
      }
    } catch (err) {
      if (err instanceof AuditError) throw err // a FIFO or device named like a segment: ERR_AUDIT_NOT_A_FILE
      throw new AuditError(ERROR_CODES.IO, `cannot read ${name}: ${(err as Error).message}`, {
        cause: err,
        details: { segment: name },
      })
    }
    const h = decodeSegmentHeader(head)
    const s: SegmentStats = {
      name,
      firstSeq: parseSegmentFileName(name)!,
      bytes: st.size,
      records: 0,
      createdAt: 'problem' in h ? undefined : new Date(h.createdMs).toISOString(),
      modifiedAt: st.mtime.toISOString(),
      recordsPerSecond: undefined,
      bytesPerSecond: undefined,
    }
    writeRate.push(s)
    index.set(name, s)
  }
  const stats: LogStats = {
    ok: true,
    dir: abs,
    segments: segments.length,
    records: 0,
    bytes: writeRate.reduce((a, s) => a + s.bytes, 0),
    firstSeq: undefined,
    lastSeq: undefined,
    firstTime: undefined,
    lastTime: undefined,
    eventsPerSecond: undefined,
    byLevel: Object.fromEntries(LEVELS.map((l) => [l, 0])) as Record<Level, number>,
    byHour: [],
    writeRate,
    sideFiles,
    firstBad: undefined,
  }
  const hours = new Map<number, number>()
  let minMs = Infinity
  let maxMs = -Infinity
  try {
    const keys = { keyring: options.keyring, provider: options.provider }
    for await (const rec of readLog(abs, { ...keys, onSegment: (_s, bytes) => options.onBytes?.(bytes) })) {
      stats.records++
      stats.firstSeq ??= rec.seq
      stats.lastSeq = rec.seq
      stats.byLevel[rec.event.level] = (stats.byLevel[rec.event.level] ?? 0) + 1
      const ms = rec.timestamp.getTime()
      if (ms < minMs) minMs = ms
      if (ms > maxMs) maxMs = ms
      // Keyed by the hour's start in ms: labels of extended years ('+275760-09-13T00')
      // neither have a fixed width nor sort as strings.
      const hour = ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS)
      hours.set(hour, (hours.get(hour) ?? 0) + 1)
      index.get(rec.segment)!.records++
    }
  } catch (err) {
    if (!(err instanceof AuditError) || err.code !== ERROR_CODES.CORRUPT) throw err
    const d = err.details ?? {}
    stats.ok = false
    stats.firstBad = {
      segment: String(d.segment),
      offset: Number(d.offset),
      seq: Number(d.seq),
      problem: String(d.problem),
      message: err.message,
    }
  }
  if (stats.records > 0) {
    stats.firstTime = new Date(minMs).toISOString()
    stats.lastTime = new Date(maxMs).toISOString()
    if (maxMs > minMs) stats.eventsPerSecond = Number((stats.records / ((maxMs - minMs) / 1000)).toPrecision(3))
  }
  stats.byHour = [...hours].sort((a, b) => a[0] - b[0]).map(([ms, events]) => ({ hour: hourLabel(ms), events }))
  for (const s of writeRate) {
    if (s.createdAt === undefined) continue
    const seconds = (Date.parse(s.modifiedAt) - Date.parse(s.createdAt)) / 1000
    if (seconds > 0) {
      s.recordsPerSecond = round(s.records / seconds)
      s.bytesPerSecond = round(s.bytes / seconds)
    }
  }
  return stats
}

const HOUR_MS = 3_600_000

/** The UTC hour starting at ms: its ISO 8601 date and hour ('2024-01-31T13', '+275760-09-13T00', '-000001-12-31T23'). */
function hourLabel(ms: number): string {
  const iso = new Date(ms).toISOString()
  return iso.slice(0, iso.indexOf('T') + 3)
}

function round(x: number): number {
  return Math.round(x * 10) / 10
}
