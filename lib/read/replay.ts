/**
 * replay: the events of a log in seq order, filtered (lib/read/query.ts).
 *
 * Default: readLog (every record checked; damage throws ERR_AUDIT_CORRUPT
 * after the events before it). With salvage: every intact record, also the
 * ones after damage (lib/read/salvage.ts); each lost seq range that meets the seq
 * filter is passed to onLost.
 */

import { decodeEvent } from '../../shared/event.js'
import { RecordType } from '../../shared/format.js'
import { compileFilters, type EventFilters, matchesFilters } from './query.js'
import { readLog, type LogRecord } from './reader.js'
import { type LostRange, payloadOf, salvageSegments } from './salvage.js'
import { checkReplayArgs } from './args.js'
import { clearView, type ReadKeys } from './sealed.js'
import { readSealed } from '../../shared/sealed.js'

export interface ReplayOptions extends ReadKeys {
  /** Read past damage: every intact record, lost ranges reported to onLost. */
  salvage?: boolean
  onLost?: (range: LostRange) => void
  /** Called with each segment's bytes as it is read (progress). */
  onBytes?: (bytes: number) => void
  /**
   * Check the whole log from seq 1 even when fromSeq skips segments (export
   * does: an export must never come from a damaged log without saying so).
   */
  verifyAll?: boolean
}

/** Events of dir that pass the filters, in seq order. */
export async function* replay(
  dir: string,
  filters: EventFilters = {},
  options: ReplayOptions = {},
): AsyncGenerator<LogRecord> {
  ;[filters, options] = checkReplayArgs(dir, filters, options)
  const f = compileFilters(filters)
  if (options.salvage) {
    for await (const seg of salvageSegments(dir)) {
      options.onBytes?.(seg.bytesRead)
      for (const it of seg.items) {
        if (it.kind === 'lost') {
          if (it.range.toSeq >= f.fromSeq && it.range.fromSeq <= f.toSeq) options.onLost?.(it.range)
          continue
        }
        const r = it.rec
        if (r.type !== RecordType.EVENT || r.seq < f.fromSeq || r.seq > f.toSeq) continue
        // Salvage reads records one by one, so a sealed event shows its clear part only (no frame to authenticate).
        const payload = payloadOf(r)
        const sealed = readSealed(payload)
        const event = sealed === undefined ? decodeEvent(payload, r.timeMs, r.seq) : clearView(sealed, r)
        const rec: LogRecord = { kind: 'event', seq: r.seq, timestamp: event.timestamp, event, segment: seg.name }
        if (matchesFilters(f, rec)) yield rec
      }
    }
    return
  }
  const range = options.verifyAll ? {} : { fromSeq: f.fromSeq, toSeq: f.toSeq }
  const keys = { keyring: options.keyring, provider: options.provider }
  for await (const rec of readLog(dir, { ...range, ...keys, onSegment: (_s, bytes) => options.onBytes?.(bytes) })) {
    if (matchesFilters(f, rec)) yield rec
  }
}
