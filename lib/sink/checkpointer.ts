/**
 * Checkpoints on the app thread's side: when to sign, and publishing what the
 * signer returns (docs/integrity.md, "Checkpoints").
 *
 *   a timer (unref'd) every min(everyMs, FIXED.checkpointPollMs) looks at the
 *   ring's durable seq: something durable since our last checkpoint record,
 *   and everyRecords records or everyMs ms since it?
 *     ─► one task in the signer pool (workers/signer/main.ts: its own thread,
 *        piscina with atomics 'async'): extend the tree over [covers + 1,
 *        durable], sign, export the note
 *     ─► publish the checkpoint record through this thread's Producer (ring
 *        kind CHECKPOINT): it takes the next seq, the writer writes it like
 *        an event, and its receipt says it is durable
 *   not due, but FIXED.signerFoldRecords durable records not in the tree yet
 *   (and no witnesses)?
 *     ─► a fold task: the signer extends the tree only (no signature, export
 *        or record), so a checkpoint's hashing is spread over small tasks
 *        instead of one burst (a 10,000-record burst raised the open-loop
 *        p99 at 10,000 events/s above off's spread; docs/integrity.md)
 *
 * Contract:
 * - Nothing in the durable path waits for a checkpoint: emits never wait for
 *   the signer, and a checkpoint covers only records already durable.
 * - One task at a time; a task that fails (key file gone, export disk full,
 *   signer crash) is counted and reported in stats() with its coded error;
 *   the tree does not move, so the next checkpoint covers everything since.
 * - finish() (close) waits for a running task, signs once more if anything is
 *   durable past the last checkpoint record, publishes that record, and shuts
 *   the pool down; it never throws (a failure is in stats()).
 * - The pool's module (piscina) is loaded only when signing is configured.
 */

import { AuditError, ERROR_CODES, invariant } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { RecordType } from '../../shared/format.js'
import type { Ring } from '../../shared/ring/ring.js'
import type { ResolvedSigning } from './options.js'
import { loadSigner } from '../integrity/index.js'
import type { Receipt } from './producer.js'
import type { SignResult, SignTask, TreeState } from '../../shared/checkpoint-record.js'

const SIGNER_URL = new URL('../../workers/signer/main.js', import.meta.url)

/**
 * Check the signing keys before anything is written: each file 0600 and
 * parsing (loadSigner's coded errors), and while rotating, two different keys
 * that give the log one origin: their names must match unless signing.name
 * sets it (a checkpoint's origin line never changes with a key).
 */
export async function checkSigningKeys(opts: ResolvedSigning): Promise<void> {
  const key = await loadSigner(opts.keyFile)
  if (opts.rotateFrom === undefined) return
  const previous = await loadSigner(opts.rotateFrom)
  if (previous.publicKey.equals(key.publicKey))
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'option signing.rotateFrom: is the same key as signing.keyFile', {
      details: { option: 'signing.rotateFrom' },
    })
  if (opts.name === undefined && previous.name !== key.name)
    throw new AuditError(
      ERROR_CODES.OPTION_INVALID,
      'option signing.name: required when rotating between keys with different names (the origin line must not change)',
      { details: { option: 'signing.name' } },
    )
}

/** What stats() tells about checkpoints. */
export interface CheckpointStats {
  /** Checkpoint records made durable since open. */
  written: number
  /** Fold tasks since open: the tree extended between checkpoints, nothing signed or written. */
  folded: number
  /** Signer tasks that failed since open (the next one covers what they would have). */
  failed: number
  /** The last checkpoint made durable: tree size, last seq it covers, its own seq, when (ms since epoch). */
  last: { size: number; covers: number; seq: number; atMs: number } | undefined
  /** The last failure's code and message (no key material: errors never carry it). */
  lastError: { code: string; message: string } | undefined
  /**
   * Where this session's first checkpoint took the tree from: 'log' (the last
   * checkpoint record our key, or the key we rotate from, signed) or 'start'
   * (the whole log hashed from seq 1); undefined before the first checkpoint.
   */
  resumedFrom: 'log' | 'start' | undefined
  /**
   * Leaves added since open: taken from the leaf ring (hashed by the writer as
   * it wrote them) or read back from disk and hashed by the signer (records of
   * an earlier session, or a signer that fell behind the ring).
   */
  leaves: { ring: number; disk: number }
  /** Checkpoints a witness did not cosign (counted per witness and checkpoint), and the last reason. */
  witnessFailed: number
  lastWitnessError: { url: string; code: string; message: string } | undefined
}

interface Pool {
  run(task: SignTask): Promise<SignResult>
  destroy(): Promise<void>
}

export class Checkpointer {
  private tree: TreeState | undefined
  /** The last seq our last signed checkpoint covers (the tree may be ahead of it: folds). */
  private signedCovers = 0
  private running: Promise<void> | undefined
  private timer: NodeJS.Timeout | undefined
  /** Seq of our last checkpoint record (records after it are what a new checkpoint would add). */
  private lastRecordSeq: number
  private lastAtMs = Date.now()
  private lastNote: string | undefined
  private stopped = false
  readonly stats: CheckpointStats = {
    written: 0,
    folded: 0,
    failed: 0,
    last: undefined,
    lastError: undefined,
    resumedFrom: undefined,
    leaves: { ring: 0, disk: 0 },
    witnessFailed: 0,
    lastWitnessError: undefined,
  }

  private constructor(
    private readonly pool: Pool,
    private readonly opts: ResolvedSigning,
    private readonly task: { dir: string; logId: string; fileMode: number; leaves?: SharedArrayBuffer | undefined },
    private readonly ring: Ring,
    private readonly publish: (kind: number, json: string) => Promise<Receipt>,
  ) {
    this.lastRecordSeq = 0
  }

  static async start(
    opts: ResolvedSigning,
    task: { dir: string; logId: string; fileMode: number; leaves?: SharedArrayBuffer | undefined },
    ring: Ring,
    publish: (kind: number, json: string) => Promise<Receipt>,
  ): Promise<Checkpointer> {
    const { Piscina } = await import('piscina')
    const piscina = new Piscina<SignTask, SignResult>({
      filename: SIGNER_URL.href,
      minThreads: 1,
      maxThreads: 1,
      atomics: 'async',
      // The signer reads files and signs: a task takes ms to s, and only one runs at a time.
      idleTimeout: FIXED.checkpointPollMs * 100,
    })
    const c = new Checkpointer(
      { run: (t) => piscina.run(t), destroy: () => piscina.destroy() },
      opts,
      task,
      ring,
      publish,
    )
    c.timer = setInterval(() => c.tick(), Math.min(opts.everyMs, FIXED.checkpointPollMs))
    c.timer.unref()
    return c
  }

  /**
   * Seqs durable and not covered by a signed checkpoint, our own last
   * checkpoint record aside (a checkpoint alone is no reason for another: an
   * idle log signs nothing new).
   */
  private uncovered(): number {
    const covers = this.signedCovers
    const durable = this.ring.durableSeq()
    return durable - covers - (this.lastRecordSeq > covers && this.lastRecordSeq <= durable ? 1 : 0)
  }

  private due(): boolean {
    const n = this.uncovered()
    return n > 0 && (n >= this.opts.everyRecords || Date.now() - this.lastAtMs >= this.opts.everyMs)
  }

  /** Fold now: enough durable records not in the tree, and no witness (its proofs want a checkpoint's new leaves). */
  private foldDue(): boolean {
    return (
      (this.opts.witnesses?.length ?? 0) === 0 &&
      this.ring.durableSeq() - (this.tree?.covers ?? 0) >= FIXED.signerFoldRecords
    )
  }

  private tick(): void {
    if (this.running !== undefined || this.stopped) return
    const task = this.due() ? this.once() : this.foldDue() ? this.fold() : undefined
    if (task === undefined) return
    this.running = task.finally(() => {
      this.running = undefined
    })
  }

  /** The task for the signer pool: extend the tree to durableSeq, and sign unless fold. */
  private taskFor(durableSeq: number, fold: boolean): SignTask {
    return {
      dir: this.task.dir,
      keyFile: this.opts.keyFile,
      ...(this.opts.rotateFrom === undefined ? {} : { rotateFromKeyFile: this.opts.rotateFrom }),
      name: this.opts.name,
      logId: this.task.logId,
      tree: this.tree,
      durableSeq,
      exportDir: this.opts.exportDir,
      fileMode: this.task.fileMode,
      witnesses: this.opts.witnesses,
      ...(this.task.leaves === undefined ? {} : { leaves: this.task.leaves }),
      ...(fold ? { fold: true } : {}),
    }
  }

  /** What a task added to the tree, in stats. */
  private counted(result: SignResult): void {
    if (result.resumedFrom !== 'task' && this.stats.resumedFrom === undefined)
      this.stats.resumedFrom = result.resumedFrom
    this.stats.leaves.ring += result.leavesFromRing
    this.stats.leaves.disk += result.leavesFromDisk
  }

  private failedWith(err: unknown): void {
    this.stats.failed++
    const coded =
      err instanceof AuditError
        ? err
        : new AuditError(ERROR_CODES.SIGNER_FAILED, `the checkpoint signer failed: ${(err as Error)?.message}`, {
            cause: err,
          })
    this.stats.lastError = { code: coded.code, message: coded.message }
  }

  /** Extend the tree over what is durable now, signing nothing; failures are counted, never thrown. */
  private async fold(): Promise<void> {
    try {
      const result = await this.pool.run(this.taskFor(this.ring.durableSeq(), true))
      this.counted(result)
      this.tree = result.tree
      this.stats.folded++
    } catch (err) {
      this.failedWith(err)
    }
  }

  /** Sign what is durable now and publish the record; failures are counted, never thrown. */
  private async once(): Promise<void> {
    const durableSeq = this.ring.durableSeq()
    this.lastAtMs = Date.now()
    try {
      const result = await this.pool.run(this.taskFor(durableSeq, false))
      this.stats.witnessFailed += result.witnessErrors.length
      if (result.witnessErrors.length > 0) this.stats.lastWitnessError = result.witnessErrors.at(-1)
      invariant(result.record !== undefined && result.note !== undefined, 'a signing task returned no checkpoint')
      const receipt = await this.publish(RecordType.CHECKPOINT, result.record)
      this.counted(result)
      this.tree = result.tree
      this.signedCovers = result.tree.covers
      this.lastNote = result.note
      this.lastRecordSeq = receipt.seq
      this.stats.written++
      this.stats.last = { size: result.tree.size, covers: result.tree.covers, seq: receipt.seq, atMs: Date.now() }
    } catch (err) {
      this.failedWith(err)
    }
  }

  /**
   * A checkpoint covering at least `seq` (durable already), signed now unless
   * one already covers it: what eraseSubject returns with its tombstone.
   * undefined when the signer failed (stats() says why).
   */
  async coverNow(seq: number): Promise<(CheckpointStats['last'] & { note: string }) | undefined> {
    await this.running
    if (this.signedCovers < seq) {
      this.running = this.once().finally(() => {
        this.running = undefined
      })
      await this.running
    }
    const last = this.stats.last
    return last !== undefined && last.covers >= seq && this.lastNote !== undefined
      ? { ...last, note: this.lastNote }
      : undefined
  }

  /** Close: a last checkpoint over everything durable, then stop the pool. */
  async finish(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.running
    if (this.uncovered() > 0) await this.once()
    await this.pool.destroy().catch(() => undefined)
  }

  /** Destroy: stop without a last checkpoint. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    await this.pool.destroy().catch(() => undefined)
  }
}
