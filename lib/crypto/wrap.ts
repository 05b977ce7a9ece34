/**
 * Calling a key provider safely: what the keyring asks of any KeyProvider, with
 * its answers checked and its failures turned into coded errors.
 *
 * Contract:
 * - `wrapKey` returns the provider's blob, refused when it is not a Buffer of
 *   1..wrappedKeyBytesMax bytes; `unwrapKey` returns exactly KEY_BYTES bytes.
 * - A provider that throws becomes ERR_AUDIT_KEY_PROVIDER with the provider's
 *   error as `cause`; a key that does not unwrap under the local KEK (an edited
 *   entry, another keyring's KEK) is ERR_AUDIT_KEYRING_INVALID naming the key id.
 * - Neither message holds key bytes: only ids, purposes and sizes.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { KEY_BYTES } from './aead.js'
import { isProviderId } from './keyring-schema.js'
import type { KeyProvider, WrapContext } from './provider.js'

export function isProvider(p: unknown): p is KeyProvider {
  const o = p as Partial<KeyProvider> | null
  return (
    typeof o === 'object' &&
    o !== null &&
    isProviderId(o.id) &&
    typeof o.wrap === 'function' &&
    typeof o.unwrap === 'function'
  )
}

function providerError(p: KeyProvider, op: string, ctx: WrapContext, cause?: unknown, why?: string): AuditError {
  const reason = why ?? (cause instanceof Error ? cause.message.slice(0, 200) : String(cause).slice(0, 200))
  return new AuditError(
    ERROR_CODES.KEY_PROVIDER,
    `key provider "${p.id.slice(0, 64)}" failed to ${op} ${ctx.purpose} key ${ctx.keyId}: ${reason}`,
    { cause, details: { provider: p.id.slice(0, 64), op, keyId: ctx.keyId } },
  )
}

export async function wrapKey(p: KeyProvider, key: Buffer, ctx: WrapContext): Promise<Buffer> {
  let wrapped: unknown
  try {
    // A copy: a provider may keep or zero what it is given; our buffer is zeroed by our caller.
    wrapped = await p.wrap(Buffer.from(key), { ...ctx })
  } catch (err) {
    throw providerError(p, 'wrap', ctx, err)
  }
  if (!Buffer.isBuffer(wrapped) || wrapped.length === 0 || wrapped.length > FIXED.wrappedKeyBytesMax)
    throw providerError(p, 'wrap', ctx, undefined, `it returned no Buffer of 1..${FIXED.wrappedKeyBytesMax} bytes`)
  return wrapped
}

export async function unwrapKey(p: KeyProvider, wrapped: Buffer, ctx: WrapContext): Promise<Buffer> {
  let plain: unknown
  try {
    plain = await p.unwrap(wrapped, { ...ctx })
  } catch (err) {
    if (err instanceof AuditError && err.code === ERROR_CODES.DECRYPT_FAILED)
      throw new AuditError(
        ERROR_CODES.KEYRING_INVALID,
        `keyring: ${ctx.purpose} key ${ctx.keyId} does not unwrap under provider "${p.id.slice(0, 64)}" (an edited entry, or another keyring's KEK)`,
        { cause: err, details: { problem: 'unwrap', keyId: ctx.keyId } },
      )
    throw providerError(p, 'unwrap', ctx, err)
  }
  if (!Buffer.isBuffer(plain) || plain.length !== KEY_BYTES) {
    if (Buffer.isBuffer(plain)) plain.fill(0)
    throw providerError(p, 'unwrap', ctx, undefined, `it returned no ${KEY_BYTES}-byte key`)
  }
  return plain
}
