/**
 * The one AEAD of lib/crypto/: AES-256-GCM from node:crypto, with a 96-bit IV and
 * a 128-bit tag, plus the unambiguous encoding of associated data that every
 * construction here (key wrap, frames, personal-data fields) uses.
 *
 * Contract:
 * - `gcmSeal` / `gcmOpen` are single-call AEAD over one buffer; `gcmOpen` returns
 *   plaintext only after the tag verified, and zeroes what it decrypted otherwise.
 * - A tag is always exactly TAG_BYTES: node accepts shorter GCM tags when asked,
 *   which would weaken forgery resistance, so every decipher pins authTagLength.
 * - `Aad` writes length-prefixed fields after a domain string, so two different
 *   field lists never encode to the same bytes (no ambiguity between a log id
 *   ending in "x" and a key id starting with it) and constructions never collide.
 * - Errors never carry key bytes: keys are checked by length only.
 */

import { createCipheriv, createDecipheriv, type KeyObject, randomFillSync } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

export const KEY_BYTES = 32
export const IV_BYTES = 12
export const TAG_BYTES = 16

/** A 256-bit AES key: a KeyObject (what the keyring hands out) or raw bytes. */
export type CipherKey = KeyObject | Buffer

const GCM = 'aes-256-gcm'

let ivPool = Buffer.alloc(0)
let ivPoolOffset = 0

/**
 * A fresh random 96-bit IV (its own buffer), cut from a pool of CSPRNG bytes
 * refilled randomIvPoolBytes at a time: each pool byte is handed out once, so the
 * IVs are as random as one call each, at a fraction of the cost. IVs are public
 * (stored beside the ciphertext), so the pool needs no zeroing.
 */
export function randomIv(): Buffer {
  if (ivPoolOffset + IV_BYTES > ivPool.length) {
    ivPool = randomFillSync(Buffer.allocUnsafe(FIXED.randomIvPoolBytes))
    ivPoolOffset = 0
  }
  const iv = Buffer.from(ivPool.subarray(ivPoolOffset, ivPoolOffset + IV_BYTES))
  ivPoolOffset += IV_BYTES
  return iv
}

/** Refuse anything but a 256-bit secret key, naming only its size. */
export function checkKey(key: CipherKey, what: string): void {
  const size = Buffer.isBuffer(key) ? key.length : key.type === 'secret' ? (key.symmetricKeySize ?? 0) : -1
  if (size !== KEY_BYTES)
    throw new AuditError(ERROR_CODES.OPTION_INVALID, `${what} must be a 256-bit secret key (got ${size} bytes)`, {
      details: { option: what },
    })
}

/** Encrypt `plaintext` in one call; returns ciphertext (same length) and the tag. */
export function gcmSeal(
  key: CipherKey,
  iv: Buffer,
  aad: Buffer,
  plaintext: Buffer,
): { ciphertext: Buffer; tag: Buffer } {
  const cipher = createCipheriv(GCM, key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(aad)
  const ciphertext = cipher.update(plaintext)
  cipher.final() // GCM emits nothing here; it computes the tag
  return { ciphertext, tag: cipher.getAuthTag() }
}

/** Decrypt and verify in one call; undefined when the tag does not verify (the caller names what failed). */
export function gcmOpen(key: CipherKey, iv: Buffer, aad: Buffer, ciphertext: Buffer, tag: Buffer): Buffer | undefined {
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined
  const decipher = createDecipheriv(GCM, key, iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(aad)
  decipher.setAuthTag(tag)
  const plain = decipher.update(ciphertext)
  try {
    decipher.final()
  } catch {
    plain.fill(0) // unauthenticated bytes never leave this function
    return undefined
  }
  return plain
}

/**
 * Associated data: a domain string, then fields each prefixed by its length, so
 * the encoding is injective. Numbers are written at a fixed width.
 */
export class Aad {
  private readonly parts: Buffer[] = []

  constructor(domain: string) {
    this.bytes(Buffer.from(domain, 'utf8'))
  }

  /** A variable-length field: u32 length, then the bytes. */
  bytes(b: Buffer): this {
    const len = Buffer.allocUnsafe(4)
    len.writeUInt32BE(b.length)
    this.parts.push(len, b)
    return this
  }

  text(s: string): this {
    return this.bytes(Buffer.from(s, 'utf8'))
  }

  /** A seq or count as 8 bytes big-endian (safe integers only). */
  u64(n: number): this {
    const b = Buffer.allocUnsafe(8)
    writeU64(b, 0, n)
    this.parts.push(b)
    return this
  }

  /** Append pre-encoded fixed-width bytes (a caller that builds many fields at once). */
  raw(b: Buffer): this {
    this.parts.push(b)
    return this
  }

  done(): Buffer {
    return Buffer.concat(this.parts)
  }
}

/** n (a safe non-negative integer) as 8 bytes big-endian at off, without BigInt. */
export function writeU64(b: Buffer, off: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), off)
  b.writeUInt32BE(n >>> 0, off + 4)
}

export function readU64(b: Buffer, off: number): number {
  return b.readUInt32BE(off) * 0x1_0000_0000 + b.readUInt32BE(off + 4)
}

/** Standard base64 that round-trips exactly (Buffer.from(x, 'base64') silently skips junk). */
export function strictBase64(s: unknown): Buffer | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s))
    return undefined
  const b = Buffer.from(s, 'base64')
  return b.toString('base64') === s ? b : undefined
}
