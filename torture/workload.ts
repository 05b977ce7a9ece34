/**
 * One run of the real sink (real writer worker, real ring, real producer) over
 * the simulated disk, journaled: what every crash-state scenario starts from.
 *
 *   AuditSink.open({ storage: sim-storage + journal SAB }) ─► waves of emits
 *   each receipt ─► (seq, producer, n, at = journal op count when it resolved)
 *   close (or the injected fault fails the sink) ─► decode the journal
 *
 * A receipt with `at = c` was acknowledged once c ops had happened, so a crash
 * after any c' ≥ c ops must keep it: that is the whole durability check.
 */

import { mkdirSync } from 'node:fs'
import { AuditSink, type AuditSinkOptions } from '../lib/index.js'
import type { Ack } from './checker.js'
import type { Oracle } from './events.js'
import { journalCount, readJournal, resetJournal } from './journal.js'
import { int, type Rng } from './prng.js'
import type { SimConfig } from './sim-storage.js'
import { type Files, filesToWire, type Op } from './sim-fs.js'

export const SIM_MODULE = new URL('./sim-storage.js', import.meta.url).pathname

/** Small limits so short workloads rotate segments and build many batches. */
export const SMALL: Omit<AuditSinkOptions, 'dir'> = {
  eventBytesMax: 1024,
  batchBytesMax: 4096,
  segmentBytesMax: 64 * 1024,
  ringBytes: 64 * 1024,
}

export interface TimedAck extends Ack {
  at: number
}

export interface SimRun {
  ops: Op[]
  acks: TimedAck[]
  rejected: { p: number; n: number; code: string; at: number }[]
  openError: { code: string; message: string } | undefined
  closeError: { code: string; message: string } | undefined
  /** Emits that resolved after an earlier emit had already been rejected for a failure. */
  ackedAfterFailure: string[]
  emitted: number
}

export interface RunOptions {
  dir: string
  mirror?: string
  initial?: Files
  sinkOpts?: Omit<AuditSinkOptions, 'dir' | 'storage' | 'mirror'>
  sim?: Omit<SimConfig, 'journal' | 'initial'>
  oracle: Oracle
  producer: number
  count: number
  rng: Rng
  journal: SharedArrayBuffer
  /** Start n here (a producer continuing across runs). */
  firstN?: number
}

const code = (e: unknown): string => (e as { code?: string })?.code ?? 'no-code'

export async function runSim(o: RunOptions): Promise<SimRun> {
  mkdirSync(o.dir, { recursive: true }) // the lock file lives on the real file system
  if (o.mirror !== undefined) mkdirSync(o.mirror, { recursive: true })
  resetJournal(o.journal)
  const out: SimRun = {
    ops: [],
    acks: [],
    rejected: [],
    openError: undefined,
    closeError: undefined,
    ackedAfterFailure: [],
    emitted: 0,
  }
  const config: SimConfig = { ...o.sim, journal: o.journal, initial: o.initial ? filesToWire(o.initial) : undefined }
  let sink: AuditSink
  try {
    sink = await AuditSink.open({
      dir: o.dir,
      mirror: o.mirror,
      ...(o.sinkOpts ?? SMALL),
      storage: { module: SIM_MODULE, config },
    })
  } catch (err) {
    out.openError = { code: code(err), message: (err as Error).message }
    out.ops = readJournal(o.journal)
    return out
  }
  let failedSeen = false
  let n = o.firstN ?? 0
  const end = n + o.count
  let extra = 0
  while (n < end && extra < 3) {
    const wave = int(o.rng, 1, 24)
    const ps: Promise<void>[] = []
    for (let k = 0; k < wave && n < end; k++, n++) {
      const my = n
      const issuedAfterFailure = failedSeen
      out.emitted++
      ps.push(
        sink.emit(o.oracle.event(o.producer, my)).then(
          (r) => {
            out.acks.push({ seq: r.seq, p: o.producer, n: my, at: journalCount(o.journal) })
            if (issuedAfterFailure)
              out.ackedAfterFailure.push(
                `emit ${o.producer}/${my} was issued after a failure was reported and still resolved with seq ${r.seq}`,
              )
          },
          (e) => {
            out.rejected.push({ p: o.producer, n: my, code: code(e), at: journalCount(o.journal) })
            failedSeen = true
          },
        ),
      )
    }
    await Promise.all(ps)
    if (failedSeen) extra++ // a few more waves after the failure: each must reject
  }
  try {
    await sink.close()
  } catch (err) {
    out.closeError = { code: code(err), message: (err as Error).message }
  }
  out.ops = readJournal(o.journal)
  return out
}
