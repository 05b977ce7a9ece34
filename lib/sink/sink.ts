/**
 * AuditSink: the public handle of one WAL directory, and its lifecycle.
 *
 *   open() ─► validate options ─► allocate ring ─► start writer worker
 *            ─► writer locks + recovers ─► 'ready' (or 'open-failed': coded error)
 *   emit() ─► this thread's Producer (lib/sink/producer.ts)
 *   handle() / AuditSink.attach(handle): Producers in other worker_threads
 *   flush() ─► { durableSeq } once this thread's emits so far are durable (a barrier)
 *   stats() / histograms() / health() ─► figures and a verdict from memory, no I/O
 *   close() ─► drain this thread's emits ─► ask the writer to stop taking
 *            records, drain the ring and sync ─► 'closed' ─► worker exits
 *   destroy(err) ─► reject everything now, terminate the writer
 *
 * States: open → closing → closed; open → failed (writer error or crash);
 * any → destroyed. close() and destroy() are idempotent and return the same
 * promise when called again. A failed sink rejects every emit with
 * ERR_AUDIT_FAILED whose cause is the first failure; reopen to recover.
 */

import { Worker } from 'node:worker_threads'
import { AuditError, ERROR_CODES, fromWire, toWire } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { isWriterMessage, type OpenReport, type WriterInit, type WriterMessage } from '../../shared/ring/protocol.js'
import { Ring } from '../../shared/ring/ring.js'
import { Stat, STATE_OPEN } from '../../shared/ring/layout.js'
import type { AuditEvent } from '../../shared/event.js'
import { type AuditSinkOptions, resolveOptions, type ResolvedOptions } from './options.js'
import { type FlushResult, Producer, type Receipt } from './producer.js'
import { evaluateHealth, type HealthOptions, resolveHealthOptions, type SinkHealth, StallClock } from './health.js'
import {
  inFlight,
  lastDurableAtMs,
  readEmitCounts,
  readHistograms,
  ringUsedBytes,
  type SinkHistograms,
} from './telemetry.js'
import { releaseLockFile } from '../../shared/lock.js'
import { Checkpointer, type CheckpointStats, checkSigningKeys } from './checkpointer.js'
import { LeafRing } from '../../shared/leaf-ring.js'
import { pinDir } from '../../shared/files.js'
import { SEALED_OVERHEAD_BYTES } from '../../shared/sealed.js'
import { type ErasureOptions, type ErasureReceipt, SinkCrypto } from './crypt.js'

const WRITER_URL = new URL('../../workers/writer/main.js', import.meta.url)

/** What another thread needs to emit into this sink; send it with postMessage or workerData. */
export interface SinkHandle {
  readonly kind: 'mtlog-audit/handle@1'
  readonly sab: SharedArrayBuffer
  readonly eventBytesMax: number
  readonly pendingEmitsMax: number
}

export interface SinkStats {
  /** Highest seq known durable. */
  durableSeq: number
  batches: number
  records: number
  bytes: number
  fsyncs: number
  segmentsCreated: number
  lastBatchRecords: number
  /** Emits of this thread not settled yet. */
  pending: number
  /** Events of every thread that hold a seq and are not durable yet. */
  inFlight: number
  /** Emits of every thread since open: resolved, rejected after acceptance, refused at the call. */
  emitsDurable: number
  emitsFailed: number
  emitsRefused: number
  ringBytes: number
  /** Ring bytes reserved by producers and not yet taken by the writer. */
  ringUsedBytes: number
  /** Wall-clock ms (epoch) when the writer last made a batch durable; undefined before the first. */
  lastDurableAtMs: number | undefined
  state: 'open' | 'closing' | 'closed' | 'failed' | 'destroyed'
  /** Signed checkpoints since open (undefined without the `signing` option). */
  checkpoints: CheckpointStats | undefined
}

type State = 'open' | 'closing' | 'closed' | 'failed' | 'destroyed'

export class AuditSink {
  private state: State = 'open'
  private closePromise: Promise<void> | undefined
  private destroyPromise: Promise<void> | undefined
  private readonly exited: Promise<number>
  private failure: Error | undefined
  /** The writer said 'closed' or 'failed': its exit is expected from here on. */
  private writerDone = false
  private onClosed: ((lastSeq: number) => void) | undefined
  /** health(): a stall of any thread, seen across calls. */
  private readonly stall = new StallClock()
  /** Signs checkpoints (the `signing` option). */
  private checkpointer: Checkpointer | undefined

  private constructor(
    private readonly worker: Worker,
    private readonly ring: Ring,
    private readonly producer: Producer,
    readonly options: Readonly<ResolvedOptions>,
    /** What open() found and did: last seq, segments, a cut torn tail. */
    readonly openReport: OpenReport,
    private readonly locks: { file: string; token: string }[],
    /** Encryption and erasure (lib/sink/crypt.ts), when the encryption option is set. */
    private readonly crypt: SinkCrypto | undefined,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', resolve))
    worker.on('message', (m: unknown) => this.onMessage(m))
    worker.on('error', (err) => this.onCrash(err))
    worker.once('exit', (code) => {
      if (!this.writerDone && (this.state === 'open' || this.state === 'closing')) {
        this.onCrash(new Error(`writer worker exited with code ${code} without closing`))
      }
      for (const l of this.locks) releaseLockFile(l.file, l.token)
    })
  }

  /** Open (or create) the WAL in options.dir and start its writer. */
  static async open(options: AuditSinkOptions): Promise<AuditSink> {
    const opts = resolveOptions(options)
    // A key file that is not 0600 or does not parse is refused before anything is written.
    if (opts.signing !== undefined) await checkSigningKeys(opts.signing)
    // The session's data key is durable in the keyring before the writer can use it.
    const crypt = opts.encryption === undefined ? undefined : await SinkCrypto.open(opts.encryption, opts.personalData)
    try {
      return await AuditSink.start(opts, crypt)
    } catch (err) {
      crypt?.close()
      throw err
    }
  }

  private static async start(opts: ResolvedOptions, crypt: SinkCrypto | undefined): Promise<AuditSink> {
    const ring = Ring.allocate(opts.ringBytes)
    const init: WriterInit = {
      sab: ring.sab,
      // Pinned: made, then resolved to its real path once (a symlink swapped later is not followed).
      dir: pinDir(opts.dir, opts.fileMode),
      eventBytesMax: opts.eventBytesMax,
      batchBytesMax: opts.batchBytesMax,
      segmentBytesMax: opts.segmentBytesMax,
      mirror: opts.mirror === undefined ? undefined : pinDir(opts.mirror, opts.fileMode),
      storage: opts.storage,
      clockMs: undefined,
      fileMode: opts.fileMode,
      ...(opts.signing === undefined ? {} : { leaves: LeafRing.memory() }),
      ...(crypt === undefined
        ? {}
        : {
            crypt: { dataKey: crypt.dataKey, keyPort: crypt.writerPort, template: opts.encryption!.template === true },
          }),
    }
    // The writer is a module file: flags meant for the app's own entry (--input-type,
    // --eval) must not reach it.
    const worker = startWriter(init, opts.dir)
    const first = await new Promise<WriterMessage>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new AuditError(
              ERROR_CODES.WRITER_CRASHED,
              `writer did not open ${opts.dir} within ${FIXED.openTimeoutMs} ms`,
            ),
          ),
        FIXED.openTimeoutMs,
      )
      const done = (fn: () => void): void => {
        clearTimeout(timer)
        worker.off('message', onMessage)
        worker.off('error', onError)
        worker.off('exit', onExit)
        fn()
      }
      const onMessage = (m: unknown): void => done(() => (isWriterMessage(m) ? resolve(m) : reject(unknownMessage(m))))
      const onError = (err: Error): void =>
        done(() =>
          reject(
            new AuditError(ERROR_CODES.WRITER_CRASHED, `writer crashed while opening ${opts.dir}: ${err.message}`, {
              cause: err,
            }),
          ),
        )
      const onExit = (code: number): void =>
        done(() =>
          reject(new AuditError(ERROR_CODES.WRITER_CRASHED, `writer exited (code ${code}) while opening ${opts.dir}`)),
        )
      worker.on('message', onMessage)
      worker.once('error', onError)
      worker.once('exit', onExit)
    }).catch(async (err) => {
      await worker.terminate()
      throw err
    })
    if (first.type === 'open-failed') {
      await worker.terminate()
      throw fromWire(first.error)
    }
    if (first.type !== 'ready') {
      await worker.terminate()
      throw unknownMessage(first)
    }
    crypt?.setLogId(first.report.logId)
    const producer = new Producer(ring, eventJsonBytesMax(opts), opts.pendingEmitsMax)
    const sink = new AuditSink(worker, ring, producer, opts, first.report, first.locks, crypt)
    if (opts.signing !== undefined) {
      try {
        sink.checkpointer = await Checkpointer.start(
          opts.signing,
          { dir: init.dir, logId: first.report.logId, fileMode: opts.fileMode, leaves: init.leaves },
          ring,
          (kind, json) => producer.publishRecord(kind, json),
        )
      } catch (err) {
        await sink.close().catch(() => undefined)
        throw err
      }
    }
    return sink
  }

  /** Attach to a sink opened in another thread; the producer's emit() has the same contract. */
  static attach(handle: SinkHandle): AttachedProducer {
    if (handle?.kind !== 'mtlog-audit/handle@1' || !(handle.sab instanceof SharedArrayBuffer)) {
      throw new AuditError(ERROR_CODES.OPTION_INVALID, 'attach() needs the object returned by sink.handle()', {
        details: { option: 'handle' },
      })
    }
    return new AttachedProducer(new Producer(new Ring(handle.sab), handle.eventBytesMax, handle.pendingEmitsMax))
  }

  /** Resolves with { seq } once the event and all before it are fdatasync'ed. */
  emit(event: AuditEvent): Promise<Receipt> {
    if (this.state !== 'open') return this.producer.refuse(this.stateError())
    if (this.crypt?.personalData === undefined) return this.producer.emit(event)
    let ev: AuditEvent | Promise<AuditEvent>
    try {
      ev = this.crypt.prepare(event)
    } catch (err) {
      return this.producer.refuse(err as Error)
    }
    if (!(ev instanceof Promise)) return this.producer.emit(ev)
    return ev.then(
      (e) => (this.state === 'open' ? this.producer.emit(e) : this.producer.refuse(this.stateError())),
      (err: Error) => this.producer.refuse(err),
    )
  }

  /**
   * Crypto-shred a data subject (personalData): their subject keys leave the
   * keyring (durable), then a tombstone record naming their pseudonym is
   * written; resolves with its receipt once durable. Every copy of the log
   * then shows their personal fields as [erased]; no byte of the log changes,
   * so verification and every proof stay valid.
   */
  async eraseSubject(subjectId: string, options: ErasureOptions = {}): Promise<ErasureReceipt> {
    const crypt = this.needCrypt('eraseSubject')
    if (this.state !== 'open') throw this.stateError()
    const receipt = await crypt.eraseSubject(subjectId, options, (type, json) =>
      this.producer.publishRecord(type, json),
    )
    const cp = await this.checkpointer?.coverNow(receipt.seq)
    return cp === undefined
      ? receipt
      : { ...receipt, signed: true, checkpoint: { size: cp.size, covers: cp.covers, note: cp.note } }
  }

  /**
   * A new data key (durable in the keyring), then a key-change record: the
   * events after its seq are written under the new key; older ones stay
   * readable with the retired key.
   */
  async rotateKey(): Promise<{ seq: number; keyId: string }> {
    const crypt = this.needCrypt('rotateKey')
    if (this.state !== 'open') throw this.stateError()
    return crypt.rotate((type, json) => this.producer.publishRecord(type, json))
  }

  private needCrypt(what: string): SinkCrypto {
    if (this.crypt === undefined)
      throw new AuditError(ERROR_CODES.OPTION_INVALID, `${what}() needs the encryption option`, {
        details: { option: 'encryption' },
      })
    return this.crypt
  }

  /** Resolves { durableSeq } once every emit this thread made so far is durable; rejects (coded) if one failed or the sink failed. */
  flush(): Promise<FlushResult> {
    if (this.state === 'failed' || this.state === 'destroyed') return Promise.reject(this.stateError())
    return this.producer.flush()
  }

  handle(): SinkHandle {
    return {
      kind: 'mtlog-audit/handle@1',
      sab: this.ring.sab,
      eventBytesMax: eventJsonBytesMax(this.options),
      pendingEmitsMax: this.options.pendingEmitsMax,
    }
  }

  stats(): SinkStats {
    const r = this.ring
    const emits = readEmitCounts(r)
    return {
      durableSeq: r.durableSeq(),
      batches: r.stat(Stat.BATCHES),
      records: r.stat(Stat.RECORDS),
      bytes: r.stat(Stat.BYTES),
      fsyncs: r.stat(Stat.FSYNCS),
      segmentsCreated: r.stat(Stat.SEGMENTS),
      lastBatchRecords: r.stat(Stat.LAST_BATCH_RECORDS),
      pending: this.producer.pending(),
      inFlight: inFlight(r),
      emitsDurable: emits.durable,
      emitsFailed: emits.failed,
      emitsRefused: emits.refused,
      ringBytes: r.size,
      ringUsedBytes: ringUsedBytes(r),
      lastDurableAtMs: lastDurableAtMs(r),
      state: this.currentState(),
      checkpoints: this.checkpointer === undefined ? undefined : structuredClone(this.checkpointer.stats),
    }
  }

  /** Emit → durable latency, fsync durations and batch sizes since open (shared by every thread). */
  histograms(): SinkHistograms {
    return readHistograms(this.ring)
  }

  /**
   * pass / warn / fail with reasons, from memory only (no I/O): failed closed
   * (disk full, writer gone), closed, emits stalled, ring nearly full.
   * docs/operations.md, "Health", lists the reasons.
   */
  health(options?: HealthOptions): SinkHealth {
    const opts = resolveHealthOptions(options)
    const state = this.currentState()
    const durableSeq = this.ring.durableSeq()
    const flying = inFlight(this.ring)
    const anyThread = this.stall.observe(durableSeq, flying)
    const stalledMs = state === 'open' ? Math.max(this.producer.stalledMs(), anyThread) : 0
    const wire = this.ring.failure()
    return evaluateHealth(
      {
        state,
        failure: wire ?? (this.failure === undefined ? undefined : toWire(this.failure)),
        durableSeq,
        inFlight: flying,
        stalledMs,
        ringFillRatio: ringUsedBytes(this.ring) / this.ring.size,
        lastDurableAtMs: lastDurableAtMs(this.ring),
      },
      opts,
    )
  }

  /** The lifecycle state, with a failure recorded by another thread (the writer) seen at once. */
  private currentState(): SinkStats['state'] {
    if (this.state === 'open' || this.state === 'closing') {
      const st = this.ring.state()
      if (st !== STATE_OPEN && this.ring.failure() !== undefined) return 'failed'
    }
    return this.state
  }

  /** Drain and sync everything emitted, stop the writer. Rejects if the sink failed. */
  close(): Promise<void> {
    if (this.destroyPromise !== undefined) return this.destroyPromise
    this.closePromise ??= this.doClose()
    return this.closePromise
  }

  /** `await using sink = await AuditSink.open(...)`: close() when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  private async doClose(): Promise<void> {
    if (this.state === 'open') this.state = 'closing'
    if (this.checkpointer !== undefined) {
      // A last checkpoint over everything this thread emitted, before the seal.
      if (this.state === 'closing') await this.producer.flush().catch(() => undefined)
      if (this.state === 'closing') await this.checkpointer.finish()
      else await this.checkpointer.stop()
    }
    await this.producer.drain()
    if (this.state === 'closing') {
      const closed = new Promise<void>((resolve) => {
        this.onClosed = () => resolve()
      })
      this.ring.requestClose()
      const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, FIXED.closeTimeoutMs, 'timeout').unref())
      const outcome = await Promise.race([closed, this.exited, timeout])
      if (outcome === 'timeout')
        this.fail(
          new AuditError(ERROR_CODES.WRITER_CRASHED, `writer did not finish closing within ${FIXED.closeTimeoutMs} ms`),
        )
    }
    await this.worker.terminate()
    await this.exited
    this.crypt?.close()
    if (this.state === 'failed') throw this.stateError()
    this.state = 'closed'
  }

  /** Stop now: reject every pending emit, terminate the writer. Unacknowledged events may be lost; acknowledged ones never are. */
  destroy(err?: Error): Promise<void> {
    this.destroyPromise ??= (async () => {
      const reason = new AuditError(
        ERROR_CODES.DESTROYED,
        `the audit sink was destroyed${err ? `: ${err.message}` : ''}`,
        { cause: err },
      )
      if (this.state === 'open' || this.state === 'closing') this.state = 'destroyed'
      this.ring.fail(toWire(reason))
      this.producer.abort(reason)
      await this.checkpointer?.stop()
      await this.worker.terminate()
      await this.exited
      this.crypt?.close()
    })()
    return this.destroyPromise
  }

  private onMessage(m: unknown): void {
    if (!isWriterMessage(m)) return this.onCrash(unknownMessage(m))
    if (m.type === 'failed') {
      this.writerDone = true
      this.fail(fromWire(m.error))
    } else if (m.type === 'closed') {
      this.writerDone = true
      this.onClosed?.(m.lastSeq)
    } else this.onCrash(unknownMessage(m))
  }

  private onCrash(err: Error): void {
    this.fail(new AuditError(ERROR_CODES.WRITER_CRASHED, `the writer worker crashed: ${err.message}`, { cause: err }))
  }

  private fail(err: Error): void {
    if (this.state === 'failed' || this.state === 'destroyed' || this.state === 'closed') return
    this.state = 'failed'
    this.failure = err
    // Wake and reject every producer thread (a no-op if the writer recorded it first).
    this.ring.fail(toWire(err))
    this.onClosed?.(-1)
  }

  private stateError(): Error {
    if (this.state === 'destroyed') return new AuditError(ERROR_CODES.DESTROYED, 'the audit sink was destroyed')
    if (this.state === 'failed' || this.ring.state() !== STATE_OPEN) {
      const wire = this.ring.failure()
      const cause = wire ? fromWire(wire) : this.failure
      if (cause !== undefined)
        return new AuditError(
          ERROR_CODES.FAILED,
          `the audit sink failed and acknowledges nothing more: ${cause.message}`,
          { cause },
        )
    }
    return new AuditError(ERROR_CODES.CLOSED, 'the audit sink is closed (or closing) and takes no more events')
  }
}

/** A producer in another thread (from AuditSink.attach). */
export class AttachedProducer {
  constructor(private readonly producer: Producer) {}

  emit(event: AuditEvent): Promise<Receipt> {
    return this.producer.emit(event)
  }

  /** Emits of this thread not settled yet. */
  pending(): number {
    return this.producer.pending()
  }

  /** Resolves { durableSeq } once every emit of this thread so far is durable; rejects (coded) if one failed. */
  flush(): Promise<FlushResult> {
    return this.producer.flush()
  }

  /** Stop taking emits here and wait until this thread's emits have settled. */
  close(): Promise<void> {
    return this.producer.drain()
  }

  /** `await using p = AuditSink.attach(handle)`: close() when the scope ends. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * Start the writer. By default a worker inherits process.execArgv (V8 flags
 * such as --max-old-space-size included); only when the app was started with
 * flags meant for its own entry (--input-type, -e/-p with code) are those
 * left out, and if the worker refuses what remains, it starts with none.
 */
function startWriter(init: WriterInit, dir: string): Worker {
  const name = `mtlog-audit writer ${dir}`
  const filtered = writerExecArgv(process.execArgv)
  const attempts: (string[] | undefined)[] =
    filtered.length === process.execArgv.length ? [undefined, []] : [filtered, []]
  let last: unknown
  for (const execArgv of attempts) {
    try {
      // The key port moves to the writer; a KeyObject in workerData is cloned (it never becomes bytes).
      const transferList = init.crypt === undefined ? [] : [init.crypt.keyPort]
      return new Worker(WRITER_URL, {
        workerData: init,
        transferList,
        name,
        ...(execArgv === undefined ? {} : { execArgv }),
      })
    } catch (err) {
      last = err
    }
  }
  throw new AuditError(ERROR_CODES.WRITER_CRASHED, `cannot start the writer worker: ${(last as Error).message}`, {
    cause: last,
  })
}

/** process.execArgv without what only the app's entry may take: --input-type, and -e/-p/--eval/--print with their code. */
function writerExecArgv(argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a.startsWith('--input-type')) continue
    if (a === '-e' || a === '-p' || a === '--eval' || a === '--print') {
      i++ // its code
      continue
    }
    if (a.startsWith('--eval=') || a.startsWith('--print=')) continue
    out.push(a)
  }
  return out
}

/** The largest event JSON producers accept: with encryption, the sealed event's head and tag must fit in eventBytesMax too. */
function eventJsonBytesMax(opts: ResolvedOptions): number {
  return opts.encryption === undefined ? opts.eventBytesMax : opts.eventBytesMax - SEALED_OVERHEAD_BYTES
}

function unknownMessage(m: unknown): AuditError {
  return new AuditError(ERROR_CODES.INVARIANT, `unknown message from the writer: ${JSON.stringify(m)}`)
}
