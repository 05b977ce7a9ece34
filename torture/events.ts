/**
 * The oracle of emitted events. Every event a scenario emits is a pure
 * function of (salt, producer, n): its properties, its padding length and its
 * timestamp. So the checker can tell, from the stored bytes alone, which emit
 * a record claims to be and whether every byte is what that emit sent; a
 * record that matches no emit was never emitted.
 */

import type { AuditEvent } from '../lib/index.js'
import { mix } from './prng.js'

export interface EventId {
  p: number
  n: number
}

export interface Oracle {
  readonly salt: number
  event(p: number, n: number): AuditEvent
  /** The exact payload bytes the WAL must hold for (p, n). */
  payload(p: number, n: number): Buffer
  timeMs(p: number, n: number): number
  /** Which emit a payload claims to be, or undefined if it is no emit's shape. */
  identify(payload: Buffer): EventId | undefined
}

export interface OracleOptions {
  salt: number
  padMax?: number
  /** Timestamps: 'steady' increases with n; 'jumpy' jumps back and forward by up to hours. */
  clock?: 'steady' | 'jumpy'
  baseMs?: number
}

const TEMPLATE = 'torture {p} {n}'
const HEAD =
  /^\{"level":"Information","messageTemplate":"torture \{p\} \{n\}","properties":\{"p":(\d{1,9}),"n":(\d{1,9}),/

export function makeOracle(o: OracleOptions): Oracle {
  const padMax = o.padMax ?? 300
  const base = o.baseMs ?? 1_767_225_600_000 // 2026-01-01
  const clock = o.clock ?? 'steady'
  const cache = new Map<number, Buffer>()
  const timeMs = (p: number, n: number): number => {
    if (clock === 'steady') return base + p * 1_000_000 + n
    const h = mix(o.salt, p, n, 7)
    // Every 8th event jumps back up to ~2 h; others jump forward up to ~1 h, some land before 1970.
    const span = (h % 3_600_000) - (h % 8 === 0 ? 7_200_000 : 0)
    return (h % 97 === 0 ? -86_400_000 : base) + p * 1000 + span
  }
  const props = (p: number, n: number): Record<string, unknown> => {
    const len = mix(o.salt, p, n) % (padMax + 1)
    return { p, n, pad: String.fromCharCode(97 + ((p + n) % 26)).repeat(len) }
  }
  return {
    salt: o.salt,
    event: (p, n) => ({
      timestamp: timeMs(p, n),
      level: 'Information',
      messageTemplate: TEMPLATE,
      properties: props(p, n),
    }),
    payload(p, n) {
      const key = p * 0x1_0000_0 + n
      let b = cache.get(key)
      if (b === undefined) {
        b = Buffer.from(JSON.stringify({ level: 'Information', messageTemplate: TEMPLATE, properties: props(p, n) }))
        if (cache.size > 200_000) cache.clear()
        cache.set(key, b)
      }
      return b
    },
    timeMs,
    identify(payload) {
      // Every emit starts the same way; read p and n from there (the full bytes are compared by the caller).
      const m = HEAD.exec(payload.toString('latin1', 0, Math.min(payload.length, 120)))
      if (m === null) return undefined
      return { p: Number(m[1]), n: Number(m[2]) }
    },
  }
}
