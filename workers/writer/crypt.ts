/**
 * The writer's encryption stage: the events of a batch are sealed in frames,
 * each by ONE AES-256-GCM call (docs/encryption.md, "Frames"; the payload
 * layout is shared/sealed.ts).
 *
 *   fill(): an event is copied into the batch after room for its head (and, for
 *           a frame's first event, the tag); nothing is hashed yet
 *   end of a fill() pass with ≥ frameRecordsMin events waiting, a full batch,
 *   or flush(): split each event's JSON at the end of its clear part ─► seal
 *           the rest of every waiting event as one frame (EpochSealer: IV =
 *           epoch salt ‖ first seq, AAD = log id, key id, every (seq, length))
 *           ─► ciphertext over the plaintext in place, heads and tag written
 *           ─► the writer then chains and checksums those records as usual
 *
 * So sealing runs while the previous batch's fdatasync does, as hashing does
 * without encryption; a batch holds one or more frames, never part of one.
 *
 * Keys: the session's data key comes in WriterInit (made durable in the keyring
 * by the sink before the writer starts). A rotation arrives as a KEY_CHANGE
 * record in the ring, after the sink posted the new key on the key port; the
 * writer takes it with receiveMessageOnPort when it meets the record, which is
 * always the first record of its batch, so one batch is one key. Key bytes
 * never enter the batch, a record or an error.
 */

import { type MessagePort, receiveMessageOnPort } from 'node:worker_threads'
import type { KeyObject } from 'node:crypto'
import { AuditError, ERROR_CODES, invariant } from '../../shared/errors.js'
import { RecordType } from '../../shared/format.js'
import { clearPrefixBytes, keyIdBytes, SEALED_HEAD_BYTES, sealedHeadBytes, writeSealedHead } from '../../shared/sealed.js'
import { EpochSealer } from '../../lib/crypto/index.js'

/** A data key as it crosses to the writer (a KeyObject clones across threads; a Buffer arrives as a Uint8Array). */
export interface WireDataKey {
  id: string
  key: KeyObject
  epochSalt: Uint8Array
}

export interface WriterCryptInit {
  dataKey: WireDataKey
  /** Rotated data keys arrive here, posted before their KEY_CHANGE record is published. */
  keyPort: MessagePort
  /** Encrypt the message template too (only the level stays in clear). */
  template: boolean
}

export class BatchCrypt {
  private sealer: EpochSealer
  private keyId8: Buffer
  /** The sealed events of the batch being built: payload offset in the batch (after the head), bytes, seq. */
  private at: number[] = []
  private lens: number[] = []
  private seqs: number[] = []

  constructor(
    private readonly init: WriterCryptInit,
    private readonly logIdHex: string,
  ) {
    ;[this.sealer, this.keyId8] = this.sealerFor(init.dataKey)
  }

  get keyId(): string {
    return this.sealer.keyId
  }

  /** Events taken since the last frame was sealed. */
  pending(): number {
    return this.at.length
  }

  /** Bytes a record of this type takes in the batch before its ring payload. */
  headBytes(type: number): number {
    return type === RecordType.EVENT ? sealedHeadBytes(this.at.length === 0) : 0
  }

  /** A key change is always the first record of its batch (one batch, one key). */
  startsBatch(type: number): boolean {
    return type === RecordType.KEY_CHANGE
  }

  /** Note a record copied into the batch; a key change switches the key for the records after it. */
  place(type: number, seq: number, payloadOff: number, len: number, payload: Uint8Array): void {
    if (type === RecordType.EVENT) {
      this.at.push(payloadOff)
      this.lens.push(len)
      this.seqs.push(seq)
    } else if (type === RecordType.KEY_CHANGE) {
      invariant(this.at.length === 0, 'a key change in the middle of a frame')
      this.switchTo(keyIdOf(payload))
    }
  }

  /** Seal the events taken since the last frame as one frame, in place; returns how many were sealed. */
  seal(batch: Buffer): number {
    const n = this.at.length
    if (n === 0) return 0
    const items: { seq: number; plaintext: Buffer }[] = new Array(n)
    const clears: number[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const json = batch.subarray(this.at[i]!, this.at[i]! + this.lens[i]!)
      const clear = clearPrefixBytes(json, !this.init.template)
      invariant(clear > 0, `event of seq ${this.seqs[i]} does not start as the sink encodes events`)
      clears[i] = clear
      items[i] = { seq: this.seqs[i]!, plaintext: json.subarray(clear) }
    }
    const sealed = this.sealer.seal(items)
    for (let i = 0; i < n; i++) {
      const payloadOff = this.at[i]!
      sealed.ciphertexts[i]!.copy(batch, payloadOff + clears[i]!)
      const headOff = payloadOff - sealedHeadBytes(i === 0)
      writeSealedHead(batch, headOff, i === 0, i, n, clears[i]!, this.keyId8)
      if (i === 0) sealed.tag.copy(batch, headOff + SEALED_HEAD_BYTES)
    }
    this.at = []
    this.lens = []
    this.seqs = []
    return n
  }

  private switchTo(keyId: string): void {
    // The sink posted the key before it published the record: it is queued on the port.
    for (;;) {
      const m = receiveMessageOnPort(this.init.keyPort) as { message: WireDataKey } | undefined
      if (m === undefined)
        throw new AuditError(ERROR_CODES.INVARIANT, `key change to ${keyId}: the writer never received that key`)
      if (m.message.id !== keyId) continue // a key whose record never came (its publish failed): skip it
      ;[this.sealer, this.keyId8] = this.sealerFor(m.message)
      return
    }
  }

  private sealerFor(k: WireDataKey): [EpochSealer, Buffer] {
    const id8 = keyIdBytes(k.id)
    invariant(id8 !== undefined, `data key id ${k.id.slice(0, 24)} is not d-<16 hex>`)
    return [new EpochSealer({ id: k.id, key: k.key, epochSalt: Buffer.from(k.epochSalt) }, this.logIdHex), id8]
  }
}

/** The key id a KEY_CHANGE record names (its JSON's keyId). */
function keyIdOf(payload: Uint8Array): string {
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(payload).toString('utf8'))
  } catch {
    v = undefined
  }
  const id = (v as { keyId?: unknown } | undefined)?.keyId
  invariant(typeof id === 'string', 'a key change record without a keyId')
  return id
}
