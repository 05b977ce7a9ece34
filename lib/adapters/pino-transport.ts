/**
 * mtlog-audit/pino-transport: a pino transport target that attaches to the
 * app's one sink from pino's worker thread.
 *
 *   const sink = await AuditSink.open({ dir })
 *   const transport = pino.transport({ target: 'mtlog-audit/pino-transport', options: { handle: sink.handle() } })
 *   const logger = pino(transport)
 *   ...
 *   await flushLogger(logger)        // mtlog-audit/pino: every line so far is durable
 *
 * thread-stream starts a worker that imports this module and calls its
 * default export with the options; the SharedArrayBuffer in the handle is
 * shared, not copied, so the worker is one more producer of the same ring
 * (no second WAL, no second lock, no message per line).
 *
 * Contract:
 * - flush(cb) is the durable barrier: thread-stream ≥ 4.1.0 waits until the
 *   worker has read every byte written, then calls this destination's flush(),
 *   which resolves when every line read is durable (older thread-stream never
 *   reaches the worker: its flush is not a barrier). One target only: with
 *   `targets`, pino's own worker sits between and its flush does not reach here.
 * - A refused line or a failed sink is an 'error' event: thread-stream ends
 *   the transport and the app's transport stream emits 'error' (fail closed).
 * - end() waits for every line to be durable, then lets the worker exit.
 * - Backpressure: past INTEGRATION.transportPendingMax pending emits, write()
 *   answers false and 'drain' follows once they are durable.
 * - pino posts its messageKey / errorKey when the logger is created; lines
 *   that arrive before that message are held (and covered by flush) until it
 *   does, so they map with the logger's keys. The transport is ready at once:
 *   waiting for 'ready' before creating the logger does not deadlock.
 */

import { parentPort } from 'node:worker_threads'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { INTEGRATION } from '../../shared/limits.js'
import { type AttachedProducer, AuditSink, type FlushResult, type SinkHandle } from '../sink/index.js'
import { coded } from './common.js'
import { AuditDestination } from './pino.js'
import type { PinoLineOptions } from './pino-lines.js'

export interface PinoTransportOptions extends PinoLineOptions {
  /** sink.handle() of the app's sink. */
  handle: SinkHandle
  /** Set by pino.transport(): pino posts its messageKey / errorKey / levels once the logger exists. */
  pinoWillSendConfig?: boolean
}

interface PinoConfig {
  messageKey?: string
  errorKey?: string
}

/** What thread-stream drives: write / end / flush, 'error', 'drain', 'close'. */
export class TransportDestination extends AuditDestination {
  private ending: Promise<void> | undefined
  /** Chunks written before pino's config arrived (undefined once it did, or when none is expected). */
  private held: (string | Uint8Array)[] | undefined
  private readonly configured: Promise<void>

  constructor(
    private readonly producer: AttachedProducer,
    opts: PinoLineOptions & { lineCharsMax: number },
    config?: Promise<PinoConfig>,
  ) {
    super(producer, { ...opts, onRefused: 'emit' })
    if (config === undefined) {
      this.configured = Promise.resolve()
      return
    }
    this.held = []
    this.configured = config.then((c) => {
      // Options given to the transport win over the logger's.
      this.setLineOptions({ messageKey: opts.messageKey ?? c.messageKey, errorKey: opts.errorKey ?? c.errorKey })
      const held = this.held!
      this.held = undefined
      for (const chunk of held) this.write(chunk)
    })
  }

  override flush(cb?: (err?: Error | null) => void): Promise<FlushResult> {
    if (this.held === undefined) return super.flush(cb)
    const p = this.configured.then(() => super.flush())
    if (cb !== undefined)
      p.then(
        () => cb(null),
        (err: Error) => cb(err),
      )
    return p
  }

  override write(chunk: string | Uint8Array): boolean {
    if (this.held !== undefined) {
      this.held.push(chunk)
      return true
    }
    if (!super.write(chunk)) return false
    if (this.producer.pending() < INTEGRATION.transportPendingMax) return true
    this.flush().then(
      () => this.emit('drain'),
      () => {}, // the refusal was already an 'error' event
    )
    return false
  }

  /** Everything written is made durable, this thread's producer closes, then 'finish' and 'close'. */
  end(): this {
    this.ending ??= this.flush().then(
      async () => {
        await this.producer.close()
        this.emit('finish')
        this.emit('close')
      },
      async (err: unknown) => {
        if (this.listenerCount('error') > 0 && this.refusal() === undefined) this.emit('error', coded(err, 'flush'))
        await this.producer.close()
        this.emit('close')
      },
    )
    return this
  }
}

function pinoConfig(): Promise<PinoConfig> {
  return new Promise((resolve) => {
    const onMessage = (m: { code?: unknown; config?: PinoConfig } | null): void => {
      if (m?.code !== 'PINO_CONFIG') return
      parentPort!.off('message', onMessage)
      resolve(m.config ?? {})
    }
    parentPort!.on('message', onMessage)
  })
}

/** The transport's entry: thread-stream calls it in pino's worker with the target's options. */
export default async function auditTransport(options: PinoTransportOptions): Promise<TransportDestination> {
  if (options?.handle?.kind !== 'mtlog-audit/handle@1')
    throw new AuditError(
      ERROR_CODES.OPTION_INVALID,
      'mtlog-audit/pino-transport needs options.handle = sink.handle()',
      {
        details: { option: 'handle' },
      },
    )
  const producer = AuditSink.attach(options.handle)
  const config = options.pinoWillSendConfig === true && parentPort !== null ? pinoConfig() : undefined
  return new TransportDestination(
    producer,
    {
      messageKey: options.messageKey,
      errorKey: options.errorKey,
      timeUnit: options.timeUnit,
      // A line longer than this many characters is longer than eventBytesMax bytes.
      lineCharsMax: options.handle.eventBytesMax,
    },
    config,
  )
}
