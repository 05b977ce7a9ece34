/**
 * Keys of C2SP signed notes (c2sp.org/signed-note, c2sp.org/tlog-cosignature):
 * key ids, the verifier key text `name+keyid+base64(type||public key)`, the
 * signer key text `PRIVATE+KEY+name+keyid+base64(0x01||seed)`, and the two
 * signature types mtlog-audit signs and checks, both Ed25519 (node:crypto):
 *
 * - 0x01 Ed25519 over the note text (a log signing its checkpoints);
 * - 0x04 timestamped Ed25519 cosignature/v1 (a witness): the signature is
 *   u64 big-endian POSIX time || Ed25519 over
 *   "cosignature/v1\ntime <t>\n" || note text.
 *
 * Contract: key id = SHA-256(name || 0x0A || type || 32-byte public key)[:4]
 * (big-endian uint32). Parsers are strict (canonical base64, exact lengths, the
 * declared key id must match the key, small-order and non-canonical Ed25519
 * public keys refused: OpenSSL accepts forgeries under them) and every failure
 * is ERR_AUDIT_KEY_INVALID whose message shows no key bytes. A signer keeps its
 * private key in a KeyObject behind a private field, so logging a signer prints
 * no key material.
 */

import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

/** Signature type bytes (c2sp.org/signed-note, "Signature types"). */
export const SIG_TYPE = { ed25519: 0x01, cosignatureV1: 0x04 } as const
export type SigType = (typeof SIG_TYPE)[keyof typeof SIG_TYPE]

export const ED25519_PUBLIC_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64
/** A cosignature/v1 signature: 8-byte timestamp then the Ed25519 signature. */
export const COSIGNATURE_BYTES = 8 + ED25519_SIGNATURE_BYTES

export interface NoteSigner {
  readonly name: string
  readonly keyId: number
  readonly type: SigType
  readonly publicKey: Buffer
  /** The signature bytes (without the key id) over the note text. */
  sign(text: Buffer): Buffer
}

export interface NoteVerifier {
  readonly name: string
  readonly keyId: number
  readonly type: SigType
  readonly publicKey: Buffer
  /** Does `signature` (without the key id) sign the note text? Never throws. */
  verify(text: Buffer, signature: Buffer): boolean
}

// DER wrappers that turn raw Ed25519 bytes into node KeyObjects (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

function keyError(message: string, problem: string): AuditError {
  return new AuditError(ERROR_CODES.KEY_INVALID, message, { details: { problem } })
}

/** C2SP key names: non-empty, no Unicode space, no '+', no control character, bounded. */
export function isValidKeyName(name: string): boolean {
  return (
    name.length > 0 &&
    Buffer.byteLength(name) <= FIXED.keyNameBytesMax &&
    name.isWellFormed() &&
    !/[\s\u0085+\x00-\x1f\x7f]/u.test(name)
  )
}

export function keyIdOf(name: string, type: SigType, publicKey: Buffer): number {
  const h = createHash('sha256')
    .update(name)
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
  return h.readUInt32BE(0)
}

export function keyIdHex(keyId: number): string {
  return keyId.toString(16).padStart(8, '0')
}

/** Base64 that decodes and re-encodes to itself (node's decoder skips junk silently). */
export function strictBase64(s: string): Buffer | undefined {
  if (s.length === 0 || s.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(s)) return undefined
  const b = Buffer.from(s, 'base64')
  return b.toString('base64') === s ? b : undefined
}

// Small-order points: a signature (R = identity, S = 0) verifies under them for
// a large share of messages, and node (OpenSSL) does not refuse them. Both sign
// bits of each are listed; non-canonical y (≥ p) is refused separately.
const WEAK_PUBLIC_KEYS = new Set(
  [
    '0100000000000000000000000000000000000000000000000000000000000000',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    '0000000000000000000000000000000000000000000000000000000000000000',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  ].flatMap((h) => [h, h.slice(0, 62) + (parseInt(h.slice(62), 16) | 0x80).toString(16)]),
)

/** A small-order point or a non-canonical encoding (y ≥ 2^255 - 19). */
export function isWeakEd25519PublicKey(pub: Buffer): boolean {
  if (WEAK_PUBLIC_KEYS.has(pub.toString('hex'))) return true
  if ((pub[31]! & 0x7f) !== 0x7f || pub[0]! < 0xed) return false
  for (let i = 1; i < 31; i++) if (pub[i] !== 0xff) return false
  return true
}

function publicKeyObject(pub: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, pub]), format: 'der', type: 'spki' })
}

function ed25519Verify(key: KeyObject, message: Buffer, signature: Buffer): boolean {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return false
  try {
    return verify(null, message, key, signature)
  } catch {
    return false
  }
}

/** The message a cosignature/v1 signs (c2sp.org/tlog-cosignature, "Ed25519 signed message"). */
export function cosignedMessage(text: Buffer, timeSeconds: bigint): Buffer {
  return Buffer.concat([Buffer.from(`cosignature/v1\ntime ${timeSeconds}\n`), text])
}

/** The timestamp of a cosignature/v1 signature (seconds since the epoch). */
export function cosignatureTime(signature: Buffer): number {
  if (signature.length !== COSIGNATURE_BYTES) throw keyError('not a cosignature/v1 signature', 'length')
  return Number(signature.readBigUInt64BE(0))
}

/** A verifier for one public key under one signature type. */
export function noteVerifier(name: string, type: SigType, publicKey: Buffer): NoteVerifier {
  if (!isValidKeyName(name))
    throw keyError(`key name ${preview(name)} is empty, too long or has a space or '+'`, 'name')
  if (publicKey.length !== ED25519_PUBLIC_BYTES) throw keyError('an Ed25519 public key is 32 bytes', 'length')
  if (isWeakEd25519PublicKey(publicKey))
    throw keyError('the public key is a small-order or non-canonical point', 'weak')
  const key = publicKeyObject(publicKey)
  const pub = Buffer.from(publicKey)
  const verifyFn =
    type === SIG_TYPE.ed25519
      ? (text: Buffer, sig: Buffer) => ed25519Verify(key, text, sig)
      : (text: Buffer, sig: Buffer) => {
          if (sig.length !== COSIGNATURE_BYTES) return false
          const t = sig.readBigUInt64BE(0)
          if (t >= 1n << 63n) return false // the spec caps the timestamp at 2^63 - 1
          return ed25519Verify(key, cosignedMessage(text, t), sig.subarray(8))
        }
  return Object.freeze({ name, type, keyId: keyIdOf(name, type, pub), publicKey: pub, verify: verifyFn })
}

/** The same public key as a cosignature/v1 verifier (a witness whose key file keygen wrote). */
export function asCosignatureVerifier(v: NoteVerifier): NoteVerifier {
  return v.type === SIG_TYPE.cosignatureV1 ? v : noteVerifier(v.name, SIG_TYPE.cosignatureV1, v.publicKey)
}

class Ed25519Signer implements NoteSigner {
  readonly type = SIG_TYPE.ed25519
  readonly keyId: number
  readonly publicKey: Buffer
  readonly #key: KeyObject

  constructor(
    readonly name: string,
    key: KeyObject,
  ) {
    this.#key = key
    this.publicKey = createPublicKey(key).export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length)
    this.keyId = keyIdOf(name, SIG_TYPE.ed25519, this.publicKey)
  }

  sign(text: Buffer): Buffer {
    return sign(null, text, this.#key)
  }
}

/** An Ed25519 note signer from a 32-byte seed (RFC 8032 private key). */
export function ed25519Signer(name: string, seed: Buffer): NoteSigner {
  if (!isValidKeyName(name))
    throw keyError(`key name ${preview(name)} is empty, too long or has a space or '+'`, 'name')
  if (seed.length !== 32) throw keyError('an Ed25519 private key is a 32-byte seed', 'length')
  const der = Buffer.concat([PKCS8_PREFIX, seed])
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  der.fill(0) // the KeyObject holds its own copy; leave no stray one on the heap
  return new Ed25519Signer(name, key)
}

/**
 * A cosignature/v1 signer over an Ed25519 signer's key: signs with the time
 * `nowSeconds()` gives (default: the clock). Use a key for one role only: a log
 * key that also cosigns could be made to sign a text beginning "cosignature/v1".
 */
export function cosigner(signer: NoteSigner, nowSeconds: () => number = () => Date.now() / 1000): NoteSigner {
  if (signer.type !== SIG_TYPE.ed25519) throw keyError('a cosigner needs an Ed25519 (type 0x01) key', 'type')
  const keyId = keyIdOf(signer.name, SIG_TYPE.cosignatureV1, signer.publicKey)
  return Object.freeze({
    name: signer.name,
    type: SIG_TYPE.cosignatureV1,
    keyId,
    publicKey: signer.publicKey,
    sign(text: Buffer): Buffer {
      const t = BigInt(Math.floor(nowSeconds()))
      const head = Buffer.alloc(8)
      head.writeBigUInt64BE(t)
      return Buffer.concat([head, signer.sign(cosignedMessage(text, t))])
    },
  })
}

export function formatVerifierKey(v: { name: string; type: SigType; publicKey: Buffer }): string {
  const keyId = keyIdOf(v.name, v.type, v.publicKey)
  return `${v.name}+${keyIdHex(keyId)}+${Buffer.concat([Buffer.from([v.type]), v.publicKey]).toString('base64')}`
}

/** Split `name+hex+base64` (base64 may itself hold '+'); undefined when the shape is wrong. */
function splitKeyText(text: string): { name: string; hex: string; data: Buffer } | undefined {
  const a = text.indexOf('+')
  const b = a < 0 ? -1 : text.indexOf('+', a + 1)
  if (b < 0) return undefined
  const hex = text.slice(a + 1, b)
  const data = strictBase64(text.slice(b + 1))
  if (!/^[0-9a-fA-F]{8}$/.test(hex) || data === undefined) return undefined
  return { name: text.slice(0, a), hex, data }
}

/** Parse a verifier key `name+keyid+base64(type||public key)` of type 0x01 or 0x04. */
export function parseVerifierKey(text: string): NoteVerifier {
  const parts = splitKeyText(text)
  if (parts === undefined) throw keyError('not a verifier key (name+keyid+base64)', 'shape')
  const type = parts.data[0]
  if (type !== SIG_TYPE.ed25519 && type !== SIG_TYPE.cosignatureV1)
    throw keyError(`verifier key of unsupported signature type ${type ?? 'none'}`, 'type')
  const v = noteVerifier(parts.name, type, parts.data.subarray(1))
  if (v.keyId !== parseInt(parts.hex, 16)) throw keyError('the verifier key id does not match its key', 'key-id')
  return v
}

const PRIVATE_PREFIX = 'PRIVATE+KEY+'

/** The signer key text of keygen: `PRIVATE+KEY+name+keyid+base64(0x01||seed)`. */
export function formatSignerKey(name: string, seed: Buffer): string {
  const s = ed25519Signer(name, seed)
  return `${PRIVATE_PREFIX}${name}+${keyIdHex(s.keyId)}+${Buffer.concat([Buffer.from([SIG_TYPE.ed25519]), seed]).toString('base64')}`
}

/** Parse a signer key text. Messages never quote the text: it is a secret. */
export function parseSignerKey(text: string): NoteSigner {
  const parts = text.startsWith(PRIVATE_PREFIX) ? splitKeyText(text.slice(PRIVATE_PREFIX.length)) : undefined
  if (parts === undefined) throw keyError('not a signer key (PRIVATE+KEY+name+keyid+base64)', 'shape')
  if (parts.data[0] !== SIG_TYPE.ed25519 || parts.data.length !== 33)
    throw keyError('the signer key is not an Ed25519 (type 0x01) 32-byte key', 'type')
  // A garbled text can put key bytes where the name goes: say nothing of it.
  if (!isValidKeyName(parts.name)) throw keyError('the signer key name is empty, too long or has a space', 'name')
  const signer = ed25519Signer(parts.name, parts.data.subarray(1))
  parts.data.fill(0)
  if (signer.keyId !== parseInt(parts.hex, 16)) throw keyError('the signer key id does not match its key', 'key-id')
  return signer
}
