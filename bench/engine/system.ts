/**
 * What the bench measures: the System interface (open a store in a directory
 * ─► a Session: emit, counters, close, verify the store holds exactly the
 * events emitted) and mtlog-audit's own System. The peers implement the same
 * interface in bench/peers.ts.
 */

import fsSync from 'node:fs'
import { verifyLog } from '../../lib/read/index.js'
import { AuditSink, type SinkHandle } from '../../lib/sink/index.js'
import type { Emit } from './loops.js'

export interface Counters {
  /** Events the store has written so far. */
  events: number
  /** fdatasync / fsync / commit calls so far (what each system syncs per ack). */
  syncs: number
  /** mtlog-audit only: framed bytes the writer wrote. */
  framedBytes?: number
}

export interface Session {
  emit: Emit
  counters(): Counters
  /** mtlog-audit only: what another thread needs to emit into the same log. */
  handle?(): SinkHandle
  close(): Promise<void>
  destroy(err: Error): Promise<void>
  /** After close: does the store hold exactly `expected` events, intact? */
  verify(expected: number): Promise<{ ok: boolean; note: string }>
}

export interface System {
  readonly id: string
  readonly version: string
  /** One line: when an emit counts as acknowledged. */
  readonly durability: string
  /** emit() blocks the thread until durable (a closed-loop window only queues). */
  readonly blocking: boolean
  open(dir: string): Promise<Session>
}

const pkg = JSON.parse(fsSync.readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

export const mtlogAudit: System = {
  id: 'mtlog-audit',
  version: pkg.version,
  durability: 'emit() resolves after the fdatasync of the batch holding the event (group commit, hash-chained WAL)',
  blocking: false,
  async open(dir) {
    const sink = await AuditSink.open({ dir })
    return {
      emit: (ev) => sink.emit(ev),
      counters: () => {
        const s = sink.stats()
        return { events: s.records, syncs: s.fsyncs, framedBytes: s.bytes }
      },
      handle: () => sink.handle(),
      close: () => sink.close(),
      destroy: (err) => sink.destroy(err),
      async verify(expected) {
        const v = await verifyLog(dir)
        // The events, then the seal close() wrote.
        const ok = v.ok && v.events === expected && v.lastSeq === expected + 1
        return {
          ok,
          note: ok
            ? `verifyLog: ${v.events} events`
            : `verifyLog: ok=${v.ok}, events ${v.events}, expected ${expected}${v.firstBad ? `, first bad seq ${v.firstBad.seq}: ${v.firstBad.message}` : ''}`,
        }
      },
    }
  },
}
