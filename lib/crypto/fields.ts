/**
 * Personal-data fields: the named properties of one event, encrypted under the
 * subject's own key so that erasing that key (crypto-shredding) makes them
 * unreadable in every copy of the log (docs/encryption.md, "Personal data").
 *
 * Contract:
 * - `encryptFields(subjectKey, { logId, seq, keyId }, fields)` is one AES-256-GCM
 *   call over the JSON of `fields`, with a random 96-bit IV and AAD = domain,
 *   log id, seq, subject key id and the field names. Random, because a subject
 *   key lives across epochs and restarts, so no counter could be trusted never
 *   to repeat; 2^32 random IVs per key is the NIST SP 800-38D bound, far above
 *   one person's events. (The IVs come from a pooled CSPRNG buffer, aead.ts
 *   randomIv: one random call per IV would double the cost.) The result names
 *   the key and the fields in clear, never their values.
 * - `decryptFields` returns the fields only when the tag verifies for that log,
 *   seq and key id; otherwise ERR_AUDIT_DECRYPT_FAILED naming the seq.
 * - `maskFields` is what a reader shows instead: ENCRYPTED_MARKER without the
 *   keyring, ERASED_MARKER once the subject key was erased.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { Aad, checkKey, type CipherKey, gcmOpen, gcmSeal, IV_BYTES, randomIv, strictBase64, TAG_BYTES } from './aead.js'

/** What replay shows for a personal field when it has no keyring. */
export const ENCRYPTED_MARKER = '[encrypted]'
/** What replay shows for a personal field whose subject key was erased. */
export const ERASED_MARKER = '[erased]'

export const FIELDS_DOMAIN = 'mtlog-audit/fields/v1'

export interface FieldsContext {
  logId: string
  /** The record's seq, or 0 when the box travels inside a frame that binds it to its seq. */
  seq: number
  /** The subject key's id (lib/crypto keyring). */
  keyId: string
}

/** The stored form: key id and field names in clear, `box` = base64(IV || ciphertext || tag). */
export interface EncryptedFields {
  v: 1
  keyId: string
  names: string[]
  box: string
}

function bad(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `personal fields: ${message}`, { details: { option } })
}

function checkContext(ctx: FieldsContext): void {
  if (typeof ctx.logId !== 'string' || ctx.logId.length === 0 || Buffer.byteLength(ctx.logId) > FIXED.logIdBytesMax)
    throw bad('logId', `a log id is 1..${FIXED.logIdBytesMax} bytes`)
  // seq 0: the box is bound to its record by the frame that holds it (the sink encrypts
  // personal fields before the event has a seq; the frame's AAD names the seq).
  if (!Number.isSafeInteger(ctx.seq) || ctx.seq < 0) throw bad('seq', 'a seq is an integer ≥ 0')
  if (typeof ctx.keyId !== 'string' || ctx.keyId.length === 0 || ctx.keyId.length > 64)
    throw bad('keyId', 'a key id is 1..64 chars')
}

function fieldsAad(ctx: FieldsContext, names: readonly string[]): Buffer {
  const aad = new Aad(FIELDS_DOMAIN).text(ctx.logId).u64(ctx.seq).text(ctx.keyId).u64(names.length)
  for (const n of names) aad.text(n)
  return aad.done()
}

export function encryptFields(
  subjectKey: CipherKey,
  ctx: FieldsContext,
  fields: Record<string, unknown>,
): EncryptedFields {
  checkKey(subjectKey, 'subjectKey')
  checkContext(ctx)
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw bad('fields', 'fields is an object')
  // A key whose value is undefined is absent in JSON: leave it out of the names too.
  const names = Object.keys(fields).filter((k) => fields[k] !== undefined)
  if (names.length === 0) throw bad('fields', 'no fields to encrypt')
  let json: string
  try {
    json = JSON.stringify(Object.fromEntries(names.map((n) => [n, fields[n]])))
  } catch (err) {
    throw new AuditError(ERROR_CODES.EVENT_INVALID, 'personal fields cannot be serialized as JSON', {
      cause: err,
      details: { path: 'properties' },
    })
  }
  const plain = Buffer.from(json, 'utf8')
  const iv = randomIv()
  const { ciphertext, tag } = gcmSeal(subjectKey, iv, fieldsAad(ctx, names), plain)
  plain.fill(0)
  return { v: 1, keyId: ctx.keyId, names, box: Buffer.concat([iv, ciphertext, tag]).toString('base64') }
}

export function decryptFields(
  subjectKey: CipherKey,
  ctx: FieldsContext,
  enc: EncryptedFields,
): Record<string, unknown> {
  checkKey(subjectKey, 'subjectKey')
  checkContext(ctx)
  const fail = (why: string): AuditError =>
    new AuditError(ERROR_CODES.DECRYPT_FAILED, `personal fields of seq ${ctx.seq} do not decrypt: ${why}`, {
      details: { seq: ctx.seq, keyId: ctx.keyId.slice(0, 24) },
    })
  if (!isEncryptedFields(enc)) throw fail('not an encrypted-fields object')
  if (enc.keyId !== ctx.keyId) throw fail('the box names another subject key')
  const box = strictBase64(enc.box)
  if (box === undefined || box.length < IV_BYTES + TAG_BYTES) throw fail('the box is not base64 of IV, data and tag')
  const plain = gcmOpen(
    subjectKey,
    box.subarray(0, IV_BYTES),
    fieldsAad(ctx, enc.names),
    box.subarray(IV_BYTES, box.length - TAG_BYTES),
    box.subarray(box.length - TAG_BYTES),
  )
  if (plain === undefined) throw fail('authentication failed (changed, moved, or another key)')
  try {
    const fields = JSON.parse(plain.toString('utf8')) as Record<string, unknown>
    const keys = Object.keys(fields)
    if (keys.length !== enc.names.length || keys.some((k, i) => k !== enc.names[i]))
      throw fail('the fields inside do not match the names outside')
    return fields
  } finally {
    plain.fill(0)
  }
}

export function isEncryptedFields(v: unknown): v is EncryptedFields {
  const o = v as Partial<EncryptedFields> | null
  return (
    typeof o === 'object' &&
    o !== null &&
    o.v === 1 &&
    typeof o.keyId === 'string' &&
    typeof o.box === 'string' &&
    Array.isArray(o.names) &&
    o.names.every((n) => typeof n === 'string')
  )
}

/** The fields as a reader without their key shows them: each name mapped to the marker. */
export function maskFields(
  enc: Pick<EncryptedFields, 'names'>,
  marker: typeof ENCRYPTED_MARKER | typeof ERASED_MARKER,
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const n of enc.names) out[n] = marker
  return out
}

/** Split properties into the personal fields named and the rest (names absent from the properties are skipped). */
export function splitFields(
  properties: Record<string, unknown>,
  names: readonly string[],
): { personal: Record<string, unknown>; rest: Record<string, unknown> } {
  const personal: Record<string, unknown> = {}
  const rest: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(properties)) (names.includes(k) ? personal : rest)[k] = v
  return { personal, rest }
}
