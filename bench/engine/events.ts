/**
 * The bench's events: exactly payloadBytes of JSON each (asserted), varied by
 * thread and index, so that every system stores the same bytes per event.
 * RECORD_HEADER_BYTES turns a payload size into what a record takes in the WAL.
 */

import type { AuditEvent } from '../../shared/event.js'

/** docs/wal-format.md: every record is a 64-byte header + payload. */
export const RECORD_HEADER_BYTES = 64

export type MakeEvent = (thread: number, i: number) => AuditEvent

function digits(n: number, width: number): string {
  return String(n).padStart(width, '0')
}

const ACTIONS = ['read', 'edit', 'view', 'copy'] as const

function richEvent(thread: number, i: number, filler: string): AuditEvent {
  return {
    level: 'Information',
    messageTemplate: 'User {UserId} did {Action} on record {RecordId} from {ClientIp} in thread {Thread}',
    properties: {
      UserId: `u-${digits(i % 99_991, 5)}`,
      Action: ACTIONS[i & 3],
      RecordId: `r-${thread}-${digits(i % 1e9, 9)}`,
      ClientIp: `10.${digits((i >>> 16) & 255, 3)}.${digits((i >>> 8) & 255, 3)}.${digits(i & 255, 3)}`,
      Thread: thread,
      Filler: filler,
    },
  }
}

/** Below ~180 B there is no room for properties: a bare message. */
function tinyEvent(_thread: number, i: number, filler: string): AuditEvent {
  return { level: 'Information', messageTemplate: `Login u-${digits(i % 99_991, 5)} ${filler}` }
}

/** The bytes encodeEvent stores for ev (level, messageTemplate, properties). */
export function jsonBytes(ev: AuditEvent): number {
  return Buffer.byteLength(
    JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }),
  )
}

const makers = new Map<number, MakeEvent>()

/** Events of exactly payloadBytes of JSON (asserted), varied by thread and index. */
export function eventMaker(payloadBytes: number): MakeEvent {
  const known = makers.get(payloadBytes)
  if (known !== undefined) return known
  for (const form of [richEvent, tinyEvent]) {
    const base = jsonBytes(form(0, 0, ''))
    if (base > payloadBytes) continue
    const filler = 'x'.repeat(payloadBytes - base)
    const mk: MakeEvent = (thread, i) => form(thread % 10, i, filler)
    for (const [t, i] of [
      [0, 0],
      [9, 987_654_321],
    ] as const) {
      if (jsonBytes(mk(t, i)) !== payloadBytes)
        throw new Error(`bench: event of thread ${t}, index ${i} is not ${payloadBytes} B`)
    }
    makers.set(payloadBytes, mk)
    return mk
  }
  throw new Error(
    `bench: the smallest event is ${jsonBytes(tinyEvent(0, 0, ''))} B of JSON (asked for ${payloadBytes})`,
  )
}
