/**
 * Frames: the record payloads of one writer batch, encrypted with ONE
 * AES-256-GCM call (docs/encryption.md, "Frames").
 *
 * node:crypto's set-up of a cipher costs several µs per call, far more than
 * encrypting a 256-byte record, so the writer seals a whole batch at once:
 * - IV (96 bits) = the data key's 4-byte epoch salt || the frame's first seq (u64
 *   big-endian). A data key belongs to one epoch (one writer session) and seqs
 *   only grow within a session, so no two frames under one key share an IV.
 * - AAD = domain || log id || key id || record count || for each record (seq,
 *   ciphertext length): the tag binds every ciphertext to its log, key, seq and
 *   place in the frame; a ciphertext changed, moved between records, frames or
 *   logs, or a seq or length edited, fails the tag.
 * - Ciphertexts are the GCM output split at the record boundaries (GCM is a
 *   stream mode: record i is bytes [offset_i, offset_i + len_i) of the frame's
 *   keystream), so a salvager can decrypt one record of a damaged frame with
 *   `decryptSliceUnauthenticated`, knowing it is unauthenticated.
 *
 * Contract: `openFrame` returns plaintexts only when the tag verified, otherwise
 * throws ERR_AUDIT_DECRYPT_FAILED with details.seq = the frame's first seq (one
 * tag cannot say which record changed); so does anything else that stored data
 * can get wrong (seqs not increasing, an IV or tag of the wrong size, an IV that
 * does not name the first seq). A caller's mistakes (a key that is not 256 bits,
 * no records, a seq that is not an integer ≥ 1) are ERR_AUDIT_OPTION_INVALID.
 */

import { createCipheriv, createDecipheriv } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { Aad, checkKey, type CipherKey, IV_BYTES, readU64, TAG_BYTES, writeU64 } from './aead.js'

export const FRAME_DOMAIN = 'mtlog-audit/frame/v1'
export const EPOCH_SALT_BYTES = 4

export interface FrameSealInput {
  logId: string
  keyId: string
  epochSalt: Buffer
  items: readonly { seq: number; plaintext: Buffer }[]
}

export interface SealedFrame {
  /** One per item, in order: views into one buffer, each as long as its plaintext. */
  ciphertexts: Buffer[]
  tag: Buffer
  iv: Buffer
}

export interface FrameOpenInput {
  logId: string
  keyId: string
  iv: Buffer
  items: readonly { seq: number; ciphertext: Buffer }[]
  tag: Buffer
}

function bad(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `frame: ${message}`, { details: { option } })
}

/** The IV of a frame: epoch salt, then the first seq as 8 bytes big-endian. */
export function frameIv(epochSalt: Buffer, firstSeq: number): Buffer {
  if (!Buffer.isBuffer(epochSalt) || epochSalt.length !== EPOCH_SALT_BYTES)
    throw bad('epochSalt', `an epoch salt is ${EPOCH_SALT_BYTES} bytes`)
  const iv = Buffer.alloc(IV_BYTES)
  epochSalt.copy(iv, 0)
  writeU64(iv, EPOCH_SALT_BYTES, firstSeq)
  return iv
}

function checkIds(logId: unknown, keyId: unknown): void {
  if (typeof logId !== 'string' || logId.length === 0 || Buffer.byteLength(logId) > FIXED.logIdBytesMax)
    throw bad('logId', `a log id is 1..${FIXED.logIdBytesMax} bytes`)
  if (typeof keyId !== 'string' || keyId.length === 0 || keyId.length > 64)
    throw bad('keyId', 'a key id is 1..64 chars')
}

/** 1..frameRecordsMax records, seqs safe integers ≥ 1, total bytes within frameBytesMax. */
function checkItems(seqs: readonly number[], lengths: readonly number[]): void {
  if (seqs.length === 0 || seqs.length > FIXED.frameRecordsMax)
    throw bad('items', `a frame holds 1..${FIXED.frameRecordsMax} records`)
  let total = 0
  for (let i = 0; i < seqs.length; i++) {
    const s = seqs[i]!
    if (!Number.isSafeInteger(s) || s < 1) throw bad('items', 'a seq is an integer ≥ 1')
    total += lengths[i]!
  }
  if (total > FIXED.frameBytesMax) throw bad('items', `a frame holds at most ${FIXED.frameBytesMax} bytes`)
}

function increasing(seqs: readonly number[]): boolean {
  for (let i = 1; i < seqs.length; i++) if (seqs[i]! <= seqs[i - 1]!) return false
  return true
}

/** u32 length ‖ UTF-8 bytes of the domain string: the same for every frame. */
const DOMAIN_FIELD = new Aad(FRAME_DOMAIN).done()

/**
 * The frame's associated data (exported for the format's test vectors): the
 * layout of Aad (length-prefixed domain, log id, key id; u64 count; per record
 * u64 seq and u32 length), written into one buffer because the writer builds
 * one per batch and a frame of one record must not cost more than a bare GCM call.
 */
export function frameAad(logId: string, keyId: string, seqs: readonly number[], lengths: readonly number[]): Buffer {
  const logBytes = Buffer.byteLength(logId)
  const keyBytes = Buffer.byteLength(keyId)
  const b = Buffer.allocUnsafe(DOMAIN_FIELD.length + 4 + logBytes + 4 + keyBytes + 8 + seqs.length * 12)
  let o = DOMAIN_FIELD.copy(b, 0)
  o = b.writeUInt32BE(logBytes, o)
  o += b.write(logId, o, 'utf8')
  o = b.writeUInt32BE(keyBytes, o)
  o += b.write(keyId, o, 'utf8')
  writeU64(b, o, seqs.length)
  o += 8
  for (let i = 0; i < seqs.length; i++, o += 12) {
    writeU64(b, o, seqs[i]!)
    b.writeUInt32BE(lengths[i]!, o + 8)
  }
  return b
}

/** Split one buffer into views of the given lengths. */
function split(buf: Buffer, lengths: readonly number[]): Buffer[] {
  const out: Buffer[] = new Array(lengths.length)
  let off = 0
  for (let i = 0; i < lengths.length; i++) {
    out[i] = buf.subarray(off, off + lengths[i]!)
    off += lengths[i]!
  }
  return out
}

export function sealFrame(key: CipherKey, input: FrameSealInput): SealedFrame {
  checkKey(key, 'key')
  checkIds(input.logId, input.keyId)
  const seqs = input.items.map((it) => it.seq)
  const lengths = input.items.map((it) => it.plaintext.length)
  checkItems(seqs, lengths)
  if (!increasing(seqs)) throw bad('items', 'seqs must be strictly increasing')
  const iv = frameIv(input.epochSalt, seqs[0]!)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(frameAad(input.logId, input.keyId, seqs, lengths))
  // One update over the whole batch: the per-call cost is paid once per frame.
  const plain =
    input.items.length === 1 ? input.items[0]!.plaintext : Buffer.concat(input.items.map((it) => it.plaintext))
  const out = cipher.update(plain)
  cipher.final()
  if (plain !== input.items[0]!.plaintext) plain.fill(0) // our copy of the batch's plaintext
  return { ciphertexts: split(out, lengths), tag: cipher.getAuthTag(), iv }
}

export function openFrame(key: CipherKey, input: FrameOpenInput): Buffer[] {
  checkKey(key, 'key')
  checkIds(input.logId, input.keyId)
  const seqs = input.items.map((it) => it.seq)
  const lengths = input.items.map((it) => it.ciphertext.length)
  checkItems(seqs, lengths)
  const first = seqs[0]!
  const fail = (why: string): AuditError =>
    new AuditError(
      ERROR_CODES.DECRYPT_FAILED,
      `frame of seqs ${first}..${seqs[seqs.length - 1]} under key ${input.keyId.slice(0, 24)} does not decrypt: ${why}`,
      {
        details: { seq: first, lastSeq: seqs[seqs.length - 1]!, keyId: input.keyId.slice(0, 24), records: seqs.length },
      },
    )
  if (!Buffer.isBuffer(input.iv) || input.iv.length !== IV_BYTES) throw fail(`the IV is not ${IV_BYTES} bytes`)
  if (!Buffer.isBuffer(input.tag) || input.tag.length !== TAG_BYTES) throw fail(`the tag is not ${TAG_BYTES} bytes`)
  // Seqs and IV come from the records as stored: when they are wrong the frame is damaged, not the call.
  if (!increasing(seqs)) throw fail('its seqs are not increasing')
  if (readU64(input.iv, EPOCH_SALT_BYTES) !== first) throw fail('the IV does not name the first seq')
  const decipher = createDecipheriv('aes-256-gcm', key, input.iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(frameAad(input.logId, input.keyId, seqs, lengths))
  decipher.setAuthTag(input.tag)
  const cipherAll =
    input.items.length === 1 ? input.items[0]!.ciphertext : Buffer.concat(input.items.map((it) => it.ciphertext))
  const plain = decipher.update(cipherAll)
  try {
    decipher.final()
  } catch {
    plain.fill(0) // unauthenticated plaintext never leaves
    throw fail('authentication failed (changed, moved, or another key)')
  }
  return split(plain, lengths)
}

/**
 * Decrypt bytes at `byteOffsetInFrame` of a frame WITHOUT authentication: GCM
 * encrypts plaintext block i with AES-CTR at counter IV || (2 + i), so any slice
 * can be decrypted alone. For salvaging one record out of a frame whose tag or
 * neighbours are damaged; the caller must report the result as unauthenticated
 * (a changed ciphertext bit gives a changed plaintext bit, silently).
 */
export function decryptSliceUnauthenticated(
  key: CipherKey,
  iv: Buffer,
  byteOffsetInFrame: number,
  ciphertext: Buffer,
): Buffer {
  checkKey(key, 'key')
  if (!Buffer.isBuffer(iv) || iv.length !== IV_BYTES) throw bad('iv', `an IV is ${IV_BYTES} bytes`)
  if (
    !Number.isSafeInteger(byteOffsetInFrame) ||
    byteOffsetInFrame < 0 ||
    byteOffsetInFrame + ciphertext.length > FIXED.frameBytesMax
  )
    throw bad('byteOffsetInFrame', `the slice must lie within 0..${FIXED.frameBytesMax} bytes of the frame`)
  const block = Math.floor(byteOffsetInFrame / 16)
  const skip = byteOffsetInFrame % 16
  const counter = Buffer.alloc(16)
  iv.copy(counter, 0)
  // 2 + block < 2^32 because frameBytesMax is far below 2^32 blocks: the 32-bit GCM
  // counter never wraps, so node's 128-bit CTR increment agrees with GCM's inc32.
  counter.writeUInt32BE(2 + block, 12)
  const ctr = createDecipheriv('aes-256-ctr', key, counter)
  const out = ctr.update(skip === 0 ? ciphertext : Buffer.concat([Buffer.alloc(skip), ciphertext]))
  return skip === 0 ? out : out.subarray(skip)
}

/**
 * One epoch's sealer: refuses a frame whose first seq is not above the last seq
 * it sealed, so within an epoch (one data key) an IV is never used twice even if
 * a caller's seq counter went wrong.
 */
export class EpochSealer {
  #lastSeq = 0

  constructor(
    private readonly dataKey: { id: string; key: CipherKey; epochSalt: Buffer },
    private readonly logId: string,
  ) {
    checkKey(dataKey.key, 'dataKey.key')
    checkIds(logId, dataKey.id)
  }

  get keyId(): string {
    return this.dataKey.id
  }

  seal(items: FrameSealInput['items']): SealedFrame {
    const first = items[0]?.seq
    if (first === undefined || !(first > this.#lastSeq))
      throw new AuditError(
        ERROR_CODES.INVARIANT,
        `invariant violated: frame starts at seq ${String(first)}, not after ${this.#lastSeq} (an IV would repeat)`,
      )
    const sealed = sealFrame(this.dataKey.key, {
      logId: this.logId,
      keyId: this.dataKey.id,
      epochSalt: this.dataKey.epochSalt,
      items,
    })
    this.#lastSeq = items[items.length - 1]!.seq
    return sealed
  }
}
