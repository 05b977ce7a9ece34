/**
 * The keyring: every key a log is encrypted with, wrapped by one provider's KEK,
 * in one 0600 JSON file (docs/encryption.md, "Key hierarchy").
 *
 * Contract:
 * - Keys are 256-bit random (never derived): a data key per epoch (frames), a
 *   lookup key (pseudonyms), a key per subject (personal fields). Unwrapped keys
 *   live only in KeyObjects in this process; the file holds them wrapped.
 * - Every change (rotate, a new subject key, erasure) is one atomic rewrite of
 *   the file made durable before the call resolves: a key is never handed out
 *   before it is durable, and an erasure either happened or did not.
 * - A change re-reads the file first and applies itself to what is on disk, so
 *   two keyrings open on one file (a writer, the CLI) do not undo each other's
 *   changes; callers must still not change one file from two processes at the
 *   same instant (the sink's directory lock serializes that).
 * - A Keyring sees another Keyring's changes to the file (a rotation, an erasure)
 *   at `refresh()`, at its own next change, or when asked for an id it does not
 *   know; keys no longer in the file are then dropped from memory.
 * - `list()` and errors carry ids, purposes and dates, never key bytes.
 */

import { createHmac, type KeyObject } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { type DataKey, KeyringStore, now } from './keyring-store.js'
import { type ErasedEntry, isPseudonym, type KeyEntry } from './keyring-schema.js'
import { type KeyProvider, type KeyPurpose, LOCAL_PROVIDER_ID, LocalKeyProvider } from './provider.js'
import { isProvider } from './wrap.js'

export type { DataKey } from './keyring-store.js'

export interface KeyringOptions {
  /** The provider holding the KEK; omitted: a LocalKeyProvider whose KEK is in the file. */
  provider?: KeyProvider
}

export interface SubjectKey {
  id: string
  key: KeyObject
  pseudonym: string
}

export type SubjectKeyLookup =
  { status: 'present'; key: SubjectKey } | { status: 'erased'; erasedAt: string } | { status: 'unknown' }

export interface KeyInfo {
  id: string
  purpose: KeyPurpose
  created: string
  retired?: string
  current: boolean
  /** Subject keys: the pseudonym they belong to. */
  subject?: string
}

export interface ErasureResult {
  pseudonyms: string[]
  /** The subject keys shredded (none when the subjects had no key). */
  keyIds: string[]
  erasedAt: string
}

function optionInvalid(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, message, { details: { option } })
}

function checkPseudonym(p: unknown): string {
  if (!isPseudonym(p)) throw optionInvalid('pseudonym', 'a pseudonym is 64 lower-case hex characters')
  return p
}

function checkProvider(p: unknown): void {
  if (p === undefined) return
  if (!isProvider(p)) throw optionInvalid('provider', 'provider must be a KeyProvider (id, wrap, unwrap)')
  if (p.id === LOCAL_PROVIDER_ID && !(p instanceof LocalKeyProvider))
    throw optionInvalid('provider', `provider id "${LOCAL_PROVIDER_ID}" is reserved for LocalKeyProvider`)
}

export class Keyring {
  readonly #store: KeyringStore

  private constructor(store: KeyringStore) {
    this.#store = store
  }

  get file(): string {
    return this.#store.file
  }

  get providerId(): string {
    return this.#store.provider.id
  }

  /** A new keyring file (refused with ERR_AUDIT_OUTPUT_EXISTS if the name exists) with a data and a lookup key. */
  static async create(file: string, options: KeyringOptions = {}): Promise<Keyring> {
    checkProvider(options.provider)
    return new Keyring(await KeyringStore.create(file, options.provider ?? LocalKeyProvider.generate()))
  }

  /** Open an existing keyring: mode, schema and provider checked; current keys unwrapped. */
  static async load(file: string, options: KeyringOptions = {}): Promise<Keyring> {
    checkProvider(options.provider)
    return new Keyring(await KeyringStore.load(file, options.provider))
  }

  /** A new current data key; the old ones stay for reading. Durable when this resolves. */
  async rotate(): Promise<KeyInfo> {
    const id = await this.#store.mutate(async (doc, fresh) => {
      const at = now()
      doc.keys = doc.keys.map((k) => (k.id === doc.currentData ? { ...k, retired: at } : k))
      doc.currentData = (await this.#store.newEntry(doc, 'data', fresh)).id
      return doc.currentData
    })
    return this.#info(this.#store.entry(id)!)
  }

  /**
   * Start an epoch: a fresh data key (rotate), durable before it is returned. A
   * writer session calls this once at start, so no (key, IV) of an earlier
   * session, crashed or not, can ever be used again.
   */
  async openEpoch(): Promise<DataKey> {
    const info = await this.rotate()
    return this.dataKey(info.id)
  }

  currentDataKey(): DataKey {
    return this.#store.current
  }

  /** The data key with this id (old epochs included); ERR_AUDIT_KEY_UNKNOWN if the keyring has none. */
  async dataKey(id: string): Promise<DataKey> {
    this.#store.check()
    let e = this.#store.entry(id)
    if (e === undefined) {
      await this.#store.refresh() // another process may have rotated since we loaded
      e = this.#store.entry(id)
    }
    if (e === undefined || e.purpose !== 'data') {
      const shown = String(id).slice(0, 24)
      throw new AuditError(ERROR_CODES.KEY_UNKNOWN, `data key ${shown} is not in keyring ${this.file}`, {
        details: { keyId: shown },
      })
    }
    return { id: e.id, key: await this.#store.unwrap(e), epochSalt: Buffer.from(e.salt!, 'hex') }
  }

  /** The subject's pseudonym under the current lookup key: hex(HMAC-SHA256(lookupKey, subjectId)). */
  pseudonym(subjectId: string): string {
    return this.#hmac(this.#store.doc.currentLookup, subjectId)
  }

  /** The subject's pseudonyms under every lookup key, current first (erasure must reach them all). */
  pseudonyms(subjectId: string): string[] {
    const doc = this.#store.doc
    const lookups = doc.keys.filter((k) => k.purpose === 'lookup' && k.id !== doc.currentLookup)
    return [doc.currentLookup, ...lookups.map((k) => k.id)].map((id) => this.#hmac(id, subjectId))
  }

  /** A new current lookup key: new pseudonyms from now on; the old key stays so erasure still finds old subjects. */
  async rotateLookupKey(): Promise<KeyInfo> {
    const id = await this.#store.mutate(async (doc, fresh) => {
      const at = now()
      doc.keys = doc.keys.map((k) => (k.id === doc.currentLookup ? { ...k, retired: at } : k))
      doc.currentLookup = (await this.#store.newEntry(doc, 'lookup', fresh)).id
      return doc.currentLookup
    })
    return this.#info(this.#store.entry(id)!)
  }

  /**
   * Destroy a retired lookup key and crypto-shred every subject key whose
   * pseudonym it made, in one durable rewrite: after this nobody (the keyring's
   * holder included) can link a pseudonym of that generation to a subject id,
   * and the personal fields of that generation are unreadable. The end of a
   * lookup-key rotation schedule (docs/encryption.md, "What remains").
   */
  async dropLookupKey(id: string): Promise<ErasureResult> {
    this.#store.check()
    return this.#store.mutate(async (doc) => {
      const lookup = doc.keys.find((k) => k.id === id && k.purpose === 'lookup')
      if (lookup === undefined || id === doc.currentLookup)
        throw optionInvalid('lookupKeyId', `${String(id).slice(0, 24)} is not a retired lookup key of this keyring`)
      const at = now()
      const doomed = doc.keys.filter((k) => k.lookup === id)
      doc.keys = doc.keys.filter((k) => k !== lookup && !doomed.includes(k))
      for (const k of doomed) doc.erased.push({ id: k.id, erased: at })
      return { pseudonyms: doomed.map((k) => k.subject!), keyIds: doomed.map((k) => k.id), erasedAt: at }
    })
  }

  async subjectKey(pseudonym: string, options: { create: boolean }): Promise<SubjectKey | undefined> {
    return (await this.subjectKeys([pseudonym], options)).get(pseudonym)
  }

  /** Subject keys for many pseudonyms; with create, the missing ones are made in one durable rewrite. */
  async subjectKeys(pseudonyms: readonly string[], options: { create: boolean }): Promise<Map<string, SubjectKey>> {
    this.#store.check()
    for (const p of pseudonyms) checkPseudonym(p)
    const missing = [...new Set(pseudonyms.filter((p) => this.#store.entryForSubject(p) === undefined))]
    if (missing.length > 0 && options.create === true)
      await this.#store.mutate(async (doc, fresh) => {
        const have = new Set(doc.keys.map((k) => k.subject))
        const todo = missing.filter((p) => !have.has(p))
        // Wrapped side by side: with a KMS each wrap is a network round trip.
        await Promise.all(
          todo.map((p) => this.#store.newEntry(doc, 'subject', fresh, { subject: p, lookup: doc.currentLookup })),
        )
      })
    const out = new Map<string, SubjectKey>()
    for (const p of pseudonyms) {
      const e = this.#store.entryForSubject(p)
      if (e !== undefined) out.set(p, { id: e.id, key: await this.#store.unwrap(e), pseudonym: p })
    }
    return out
  }

  /** What the keyring knows of a subject key id a record names: present, erased, or unknown. */
  async subjectKeyById(id: string): Promise<SubjectKeyLookup> {
    this.#store.check()
    if (this.#store.entry(id) === undefined && this.#store.erasedAt(id) === undefined) await this.#store.refresh()
    const e = this.#store.entry(id)
    if (e !== undefined && e.purpose === 'subject')
      return { status: 'present', key: { id: e.id, key: await this.#store.unwrap(e), pseudonym: e.subject! } }
    const at = this.#store.erasedAt(id)
    return at !== undefined ? { status: 'erased', erasedAt: at } : { status: 'unknown' }
  }

  /**
   * Crypto-shred subjects: their wrapped keys leave the file in one atomic,
   * durable rewrite (an erasure mark with the key id and time stays). From then
   * on no copy of the log can decrypt their personal fields with this keyring.
   */
  async eraseSubject(pseudonym: string | readonly string[]): Promise<ErasureResult> {
    this.#store.check()
    const pseudonyms = [...new Set(typeof pseudonym === 'string' ? [pseudonym] : pseudonym)].map(checkPseudonym)
    return this.#store.mutate(async (doc) => {
      const at = now()
      const doomed = doc.keys.filter((k) => k.subject !== undefined && pseudonyms.includes(k.subject))
      doc.keys = doc.keys.filter((k) => !doomed.includes(k))
      for (const k of doomed) doc.erased.push({ id: k.id, erased: at })
      return { pseudonyms, keyIds: doomed.map((k) => k.id), erasedAt: at }
    })
  }

  /** Every key: id, purpose, dates, whether current. Never key bytes. */
  list(): KeyInfo[] {
    return this.#store.doc.keys.map((k) => this.#info(k))
  }

  erasures(): ErasedEntry[] {
    return this.#store.doc.erased.map((e) => ({ ...e }))
  }

  /** Re-read the file (another process may have rotated or erased); cached keys no longer in it are dropped. */
  refresh(): Promise<void> {
    return this.#store.refresh()
  }

  /** Drop every unwrapped key; later calls throw ERR_AUDIT_CLOSED. */
  close(): void {
    this.#store.close()
  }

  #info(k: KeyEntry): KeyInfo {
    const doc = this.#store.doc
    const info: KeyInfo = { id: k.id, purpose: k.purpose, created: k.created, current: false }
    if (k.retired !== undefined) info.retired = k.retired
    if (k.subject !== undefined) info.subject = k.subject
    info.current = k.id === doc.currentData || k.id === doc.currentLookup
    return info
  }

  #hmac(lookupId: string, subjectId: string): string {
    if (typeof subjectId !== 'string' || subjectId.length === 0 || subjectId.length > FIXED.subjectIdCharsMax)
      throw optionInvalid('subjectId', `a subject id is a string of 1..${FIXED.subjectIdCharsMax} characters`)
    return createHmac('sha256', this.#store.cached(lookupId)).update(subjectId, 'utf8').digest('hex')
  }
}
