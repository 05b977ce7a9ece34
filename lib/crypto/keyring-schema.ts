/**
 * The keyring file's schema (version 1) and its strict validation.
 *
 * Contract:
 * - `parseKeyring(bytes)` accepts exactly the documented shape (docs/encryption.md,
 *   "The keyring file") and refuses everything else with ERR_AUDIT_KEYRING_INVALID,
 *   `details.problem` naming the rule and `details.keyId` the entry: unknown or
 *   missing fields, bad ids, purposes, dates, base64, duplicate ids or subjects,
 *   current keys that do not exist or are retired, too many entries. A keyring is
 *   never "repaired": a hand-edited file is refused, because a silently dropped
 *   key is data lost for ever.
 * - `serializeKeyring(doc)` writes the same shape, one entry per line, so a diff
 *   of two versions reads well and `grep` for a wrapped value works.
 * - Messages name ids and rules, never values of `wrapped` or `kek`.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { KEY_BYTES, strictBase64 } from './aead.js'
import { LOCAL_PROVIDER_ID, type KeyPurpose } from './provider.js'

export const KEYRING_TYPE = 'mtlog-audit-keyring'
export const KEYRING_VERSION = 1

export interface KeyEntry {
  id: string
  purpose: KeyPurpose
  /** ISO 8601 UTC, milliseconds. */
  created: string
  /** The key as the provider wrapped it, base64. */
  wrapped: string
  /** When a data key stopped being current, or a lookup key was replaced. */
  retired?: string
  /** Data keys: the 4-byte epoch salt of every frame IV under this key, hex. */
  salt?: string
  /** Subject keys: the subject's pseudonym (hex HMAC-SHA256 under a lookup key). */
  subject?: string
  /** Subject keys: the id of the lookup key that made the pseudonym. */
  lookup?: string
}

/** What erasure leaves of a subject key: its id and when it was shredded. */
export interface ErasedEntry {
  id: string
  erased: string
}

export interface KeyringDoc {
  type: typeof KEYRING_TYPE
  version: typeof KEYRING_VERSION
  provider: string
  /** LocalKeyProvider only: its KEK, base64. */
  kek?: string
  currentData: string
  currentLookup: string
  keys: KeyEntry[]
  erased: ErasedEntry[]
}

const PREFIX: Record<KeyPurpose, string> = { data: 'd', lookup: 'l', subject: 's' }
const ID = /^[dls]-[0-9a-f]{16}$/
const DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const PSEUDONYM = /^[0-9a-f]{64}$/
const SALT = /^[0-9a-f]{8}$/
const PROVIDER_ID = /^[\x21-\x7e]+$/

export function keyIdPrefix(purpose: KeyPurpose): string {
  return PREFIX[purpose]
}

export function isPseudonym(s: unknown): s is string {
  return typeof s === 'string' && PSEUDONYM.test(s)
}

export function isProviderId(s: unknown): s is string {
  return typeof s === 'string' && s.length <= FIXED.providerIdCharsMax && PROVIDER_ID.test(s)
}

function invalid(problem: string, message: string, keyId?: string): AuditError {
  return new AuditError(ERROR_CODES.KEYRING_INVALID, `keyring: ${message}`, {
    details: keyId === undefined ? { problem } : { problem, keyId },
  })
}

function isDate(v: unknown): v is string {
  return typeof v === 'string' && DATE.test(v) && new Date(v).toISOString() === v
}

function onlyFields(o: Record<string, unknown>, allowed: readonly string[], where: string, keyId?: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) throw invalid('unknown-field', `unknown field "${k.slice(0, 32)}" in ${where}`, keyId)
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function wrappedOk(v: unknown): boolean {
  const b = strictBase64(v)
  return b !== undefined && b.length <= FIXED.wrappedKeyBytesMax
}

const ENTRY_FIELDS = ['id', 'purpose', 'created', 'wrapped', 'retired', 'salt', 'subject', 'lookup'] as const

function checkEntry(v: unknown, index: number): KeyEntry {
  if (!isObject(v)) throw invalid('entry', `keys[${index}] is not an object`)
  const id = typeof v.id === 'string' && ID.test(v.id) ? v.id : undefined
  if (id === undefined) throw invalid('id', `keys[${index}] has no valid id`)
  onlyFields(v, ENTRY_FIELDS, `key ${id}`, id)
  const purpose = v.purpose
  if (purpose !== 'data' && purpose !== 'lookup' && purpose !== 'subject')
    throw invalid('purpose', `key ${id} has an unknown purpose`, id)
  if (id[0] !== PREFIX[purpose]) throw invalid('id', `key ${id}: its id does not match purpose ${purpose}`, id)
  if (!isDate(v.created)) throw invalid('date', `key ${id} has no valid "created" date`, id)
  if (v.retired !== undefined && !isDate(v.retired)) throw invalid('date', `key ${id} has a bad "retired" date`, id)
  if (!wrappedOk(v.wrapped)) throw invalid('wrapped', `key ${id}: "wrapped" is not base64 of a wrapped key`, id)
  const needs = { salt: purpose === 'data', subject: purpose === 'subject', lookup: purpose === 'subject' }
  for (const [field, needed] of Object.entries(needs))
    if (needed !== (v[field] !== undefined)) throw invalid('entry', `key ${id}: "${field}" is wrong for ${purpose}`, id)
  if (purpose === 'data' && !(typeof v.salt === 'string' && SALT.test(v.salt)))
    throw invalid('salt', `key ${id} has a bad salt`, id)
  if (purpose === 'subject' && !isPseudonym(v.subject)) throw invalid('subject', `key ${id} has a bad subject`, id)
  if (purpose === 'subject' && !(typeof v.lookup === 'string' && ID.test(v.lookup)))
    throw invalid('lookup', `key ${id} has a bad lookup key id`, id)
  if (purpose === 'subject' && v.retired !== undefined)
    throw invalid('entry', `key ${id}: a subject key is erased, never retired`, id)
  return v as unknown as KeyEntry
}

function checkErased(v: unknown, index: number): ErasedEntry {
  if (!isObject(v) || typeof v.id !== 'string' || !ID.test(v.id) || v.id[0] !== 's')
    throw invalid('erased', `erased[${index}] has no valid subject key id`)
  onlyFields(v, ['id', 'erased'], `erased ${v.id}`, v.id)
  if (!isDate(v.erased)) throw invalid('date', `erased ${v.id} has no valid date`, v.id)
  return v as unknown as ErasedEntry
}

/** The cross-entry rules: unique ids and subjects, current keys that exist and are live. */
function checkRelations(doc: KeyringDoc): void {
  const byId = new Map<string, KeyEntry>()
  const subjects = new Set<string>()
  for (const k of doc.keys) {
    if (byId.has(k.id)) throw invalid('duplicate', `key id ${k.id} appears twice`, k.id)
    byId.set(k.id, k)
    if (k.subject !== undefined) {
      if (subjects.has(k.subject)) throw invalid('duplicate', `two keys for one subject (${k.id})`, k.id)
      subjects.add(k.subject)
    }
  }
  for (const e of doc.erased)
    if (byId.has(e.id)) throw invalid('duplicate', `key ${e.id} is both live and erased`, e.id)
  if (new Set(doc.erased.map((e) => e.id)).size !== doc.erased.length)
    throw invalid('duplicate', 'an erased key id appears twice')
  const current = (id: string, purpose: KeyPurpose): void => {
    const k = byId.get(id)
    if (k === undefined || k.purpose !== purpose || k.retired !== undefined)
      throw invalid('current', `the current ${purpose} key ${id.slice(0, 20)} is not a live ${purpose} key`, id)
  }
  current(doc.currentData, 'data')
  current(doc.currentLookup, 'lookup')
  for (const k of doc.keys) {
    if (k.purpose === 'data' && k.retired === undefined && k.id !== doc.currentData)
      throw invalid('current', `data key ${k.id} is neither current nor retired`, k.id)
    if (k.purpose === 'lookup' && k.retired === undefined && k.id !== doc.currentLookup)
      throw invalid('current', `lookup key ${k.id} is neither current nor retired`, k.id)
    if (k.lookup !== undefined && byId.get(k.lookup)?.purpose !== 'lookup')
      throw invalid('lookup', `subject key ${k.id} names a lookup key that is not in the keyring`, k.id)
  }
}

const DOC_FIELDS = ['type', 'version', 'provider', 'kek', 'currentData', 'currentLookup', 'keys', 'erased'] as const

export function parseKeyring(bytes: Buffer): KeyringDoc {
  if (bytes.length > FIXED.keyringBytesMax) throw invalid('size', `larger than ${FIXED.keyringBytesMax} bytes`)
  let v: unknown
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch {
    throw invalid('json', 'not JSON')
  }
  if (!isObject(v)) throw invalid('json', 'not a JSON object')
  if (v.type !== KEYRING_TYPE) throw invalid('type', `"type" is not "${KEYRING_TYPE}"`)
  if (v.version !== KEYRING_VERSION) throw invalid('version', `unknown keyring version (this release reads 1)`)
  onlyFields(v, DOC_FIELDS, 'the keyring')
  if (!isProviderId(v.provider)) throw invalid('provider', 'bad provider id')
  const local = v.provider === LOCAL_PROVIDER_ID
  if (local !== (v.kek !== undefined)) throw invalid('kek', 'a "kek" belongs in a local keyring and only there')
  if (local && strictBase64(v.kek)?.length !== KEY_BYTES)
    throw invalid('kek', 'the local KEK is not 32 bytes of base64')
  if (typeof v.currentData !== 'string' || typeof v.currentLookup !== 'string')
    throw invalid('current', 'no current data or lookup key id')
  if (!Array.isArray(v.keys) || !Array.isArray(v.erased)) throw invalid('entry', '"keys" and "erased" must be arrays')
  if (v.keys.length + v.erased.length > FIXED.keyringEntriesMax)
    throw invalid('size', `more than ${FIXED.keyringEntriesMax} entries`)
  const doc = v as unknown as KeyringDoc
  doc.keys = v.keys.map(checkEntry)
  doc.erased = v.erased.map(checkErased)
  checkRelations(doc)
  return doc
}

/** The file's bytes: header fields, then one key or erasure per line. */
export function serializeKeyring(doc: KeyringDoc): Buffer {
  const head: Record<string, unknown> = { type: doc.type, version: doc.version, provider: doc.provider }
  if (doc.kek !== undefined) head.kek = doc.kek
  head.currentData = doc.currentData
  head.currentLookup = doc.currentLookup
  const lines = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`)
  const list = (items: object[]): string =>
    items.length === 0 ? '[]' : `[\n${items.map((i) => `    ${JSON.stringify(i)}`).join(',\n')}\n  ]`
  const text = `{\n${lines.join('\n')}\n  "keys": ${list(doc.keys)},\n  "erased": ${list(doc.erased)}\n}\n`
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length > FIXED.keyringBytesMax || doc.keys.length + doc.erased.length > FIXED.keyringEntriesMax)
    throw invalid('size', `the keyring would exceed its bounds (keyringBytesMax, keyringEntriesMax)`)
  return bytes
}

/** The key ids' form: the purpose's letter and 64 random bits in hex. */
export function isKeyId(s: unknown): s is string {
  return typeof s === 'string' && ID.test(s)
}
