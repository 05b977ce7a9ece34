/**
 * Key providers: who holds the key-encryption key (KEK) that wraps every key of
 * a keyring. The keyring never sees a KEK; it hands a provider 32 key bytes and
 * a context and stores what comes back.
 *
 * Contract of a KeyProvider (docs/encryption.md shows AWS KMS, Azure Key Vault
 * and GCP KMS implementations in outline):
 * - `id` names the provider and its KEK, and is stored in the keyring file, so a
 *   keyring is never opened with another provider's KEK by mistake.
 * - `wrap(plain, context)` returns an opaque blob; `unwrap(blob, context)` gives
 *   the same bytes back only for the same context (the KMS encryption context /
 *   additional authenticated data) and fails otherwise. The context names the key
 *   (id and purpose), so a wrapped subject key cannot be passed off as a data key.
 * - Neither may log or echo key bytes.
 *
 * LocalKeyProvider is the built-in one: a random KEK kept inside the keyring
 * file itself. It protects a log copied without its keyring; it does not protect
 * against anyone who can read the keyring file.
 */

import { createSecretKey, type KeyObject, randomBytes, randomFillSync } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { Aad, gcmOpen, gcmSeal, IV_BYTES, KEY_BYTES, TAG_BYTES } from './aead.js'

export type KeyPurpose = 'data' | 'lookup' | 'subject'

/** What a wrapped key is bound to. */
export interface WrapContext {
  keyId: string
  purpose: KeyPurpose
}

export interface KeyProvider {
  readonly id: string
  wrap(plain: Buffer, context: WrapContext): Promise<Buffer>
  unwrap(wrapped: Buffer, context: WrapContext): Promise<Buffer>
}

export const LOCAL_PROVIDER_ID = 'local'

const WRAP_DOMAIN = 'mtlog-audit/key-wrap/v1'

/**
 * The context as associated data bytes: what a provider whose service takes raw
 * AAD (GCP KMS `additionalAuthenticatedData`, Azure Managed HSM AES-GCM) binds.
 */
export function wrapAad(context: WrapContext): Buffer {
  return new Aad(WRAP_DOMAIN).text(context.keyId).text(context.purpose).done()
}

/** The context as a string map: what AWS KMS takes as `EncryptionContext`. */
export function wrapEncryptionContext(context: WrapContext): Record<string, string> {
  return { 'mtlog-audit': 'key-wrap/v1', keyId: context.keyId, purpose: context.purpose }
}

/** Bytes of a local wrapped key: IV, the 32 encrypted key bytes, tag. */
export const LOCAL_WRAPPED_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES

/** Each local provider's KEK, out of reach of anything outside this module (no field to print or serialize). */
const KEKS = new WeakMap<LocalKeyProvider, KeyObject>()

export class LocalKeyProvider implements KeyProvider {
  readonly id = LOCAL_PROVIDER_ID

  /** A provider over the given 32 KEK bytes (the caller's buffer is copied, not kept). */
  constructor(kek: Buffer) {
    if (!Buffer.isBuffer(kek) || kek.length !== KEY_BYTES)
      throw new AuditError(ERROR_CODES.OPTION_INVALID, `a local KEK must be a Buffer of ${KEY_BYTES} bytes`, {
        details: { option: 'kek' },
      })
    KEKS.set(this, createSecretKey(kek))
  }

  /** A provider with a fresh random KEK. */
  static generate(): LocalKeyProvider {
    const kek = randomBytes(KEY_BYTES)
    try {
      return new LocalKeyProvider(kek)
    } finally {
      kek.fill(0)
    }
  }

  async wrap(plain: Buffer, context: WrapContext): Promise<Buffer> {
    // A random IV per wrap: a keyring wraps at most keyringEntriesMax keys under
    // one KEK, far below the 2^32 random-IV messages NIST SP 800-38D allows.
    const iv = randomFillSync(Buffer.alloc(IV_BYTES))
    const { ciphertext, tag } = gcmSeal(kekOf(this), iv, wrapAad(context), plain)
    return Buffer.concat([iv, ciphertext, tag])
  }

  async unwrap(wrapped: Buffer, context: WrapContext): Promise<Buffer> {
    const plain =
      wrapped.length === LOCAL_WRAPPED_BYTES
        ? gcmOpen(
            kekOf(this),
            wrapped.subarray(0, IV_BYTES),
            wrapAad(context),
            wrapped.subarray(IV_BYTES, IV_BYTES + KEY_BYTES),
            wrapped.subarray(IV_BYTES + KEY_BYTES),
          )
        : undefined
    if (plain === undefined)
      throw new AuditError(ERROR_CODES.DECRYPT_FAILED, `key ${context.keyId} does not unwrap under the local KEK`, {
        details: { keyId: context.keyId },
      })
    return plain
  }

  /** Whether two local providers hold the same KEK (compared by the keyring, never printed). */
  sameKek(other: LocalKeyProvider): boolean {
    return kekOf(this).equals(kekOf(other))
  }
}

/**
 * The KEK bytes of a local provider, for the keyring file only (the caller
 * writes them to the 0600 file and zeroes its copy). Not re-exported by the
 * room's face.
 */
export function exportLocalKek(p: LocalKeyProvider): Buffer {
  return kekOf(p).export()
}

function kekOf(p: LocalKeyProvider): KeyObject {
  const kek = KEKS.get(p)
  if (kek === undefined)
    throw new AuditError(ERROR_CODES.INVARIANT, 'invariant violated: a local provider without a KEK')
  return kek
}
