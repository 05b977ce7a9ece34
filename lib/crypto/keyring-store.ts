/**
 * The keyring's state and its file kept in step: the parsed document, indexes,
 * the cache of unwrapped keys, and the one way to change it (lib/crypto/keyring.ts
 * builds the key semantics on top).
 *
 * Contract:
 * - `mutate(change)` runs changes one at a time: re-read the file (validated, and
 *   refused with ERR_AUDIT_KEYRING_INVALID `replaced` if it is now another
 *   keyring; skipped when the file's inode, size and mtime are those of the
 *   version adopted last, as every rewrite makes a new inode), apply the change
 *   to what is on disk, write it atomically and durably (keyring-file.ts), then
 *   adopt it. A key made by a change enters the cache only once the file
 *   holding it is durable.
 * - Adopting a document drops every cached key that is no longer in it (an
 *   erased subject key does not outlive its erasure in this process) and unwraps
 *   the current data key and every lookup key, so they are usable synchronously.
 * - Unwrapped keys exist only as KeyObjects; raw buffers are zeroed after use.
 */

import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto'
import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { KEY_BYTES, strictBase64 } from './aead.js'
import { type FileStamp, readKeyringFile, sameStamp, statKeyringFile, writeKeyringFile } from './keyring-file.js'
import {
  type KeyEntry,
  keyIdPrefix,
  KEYRING_TYPE,
  KEYRING_VERSION,
  type KeyringDoc,
  parseKeyring,
  serializeKeyring,
} from './keyring-schema.js'
import { exportLocalKek, type KeyProvider, type KeyPurpose, LOCAL_PROVIDER_ID, LocalKeyProvider } from './provider.js'
import { unwrapKey, wrapKey } from './wrap.js'

/** A data key: the key of one epoch, and the 4-byte salt that starts every frame IV under it. */
export interface DataKey {
  id: string
  key: KeyObject
  epochSalt: Buffer
}

/** Keys a change made, kept aside until the file that holds them is durable. */
export type FreshKeys = Map<string, KeyObject>

export const now = (): string => new Date().toISOString()

export class KeyringStore {
  #doc: KeyringDoc
  #byId = new Map<string, KeyEntry>()
  #bySubject = new Map<string, KeyEntry>()
  #erased = new Map<string, string>()
  /** Unwrapped keys by id; filled lazily except the current data key and the lookup keys. */
  #keys = new Map<string, KeyObject>()
  #current!: DataKey
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false
  /** The file version the adopted document came from (or was written as). */
  #stamp: FileStamp | undefined

  private constructor(
    readonly file: string,
    readonly provider: KeyProvider,
    doc: KeyringDoc,
  ) {
    this.#doc = doc
  }

  /** A new file (never over an existing name) with a current data key and a current lookup key. */
  static async create(file: string, provider: KeyProvider): Promise<KeyringStore> {
    const doc: KeyringDoc = {
      type: KEYRING_TYPE,
      version: KEYRING_VERSION,
      provider: provider.id,
      currentData: '',
      currentLookup: '',
      keys: [],
      erased: [],
    }
    if (provider instanceof LocalKeyProvider) {
      const kek = exportLocalKek(provider)
      doc.kek = kek.toString('base64')
      kek.fill(0)
    }
    const store = new KeyringStore(file, provider, doc)
    const fresh: FreshKeys = new Map()
    doc.currentData = (await store.newEntry(doc, 'data', fresh)).id
    doc.currentLookup = (await store.newEntry(doc, 'lookup', fresh)).id
    store.#stamp = await writeKeyringFile(file, serializeKeyring(doc), 'create')
    for (const [id, k] of fresh) store.#keys.set(id, k)
    await store.#adopt(doc)
    return store
  }

  static async load(file: string, given: KeyProvider | undefined): Promise<KeyringStore> {
    const { bytes, stamp } = await readKeyringFile(file)
    const doc = parseKeyring(bytes)
    const store = new KeyringStore(file, providerFor(doc, given), doc)
    store.#stamp = stamp
    await store.#adopt(doc)
    return store
  }

  /** The adopted document: read it, never change it (changes go through mutate). */
  get doc(): KeyringDoc {
    this.check()
    return this.#doc
  }

  get current(): DataKey {
    this.check()
    return this.#current
  }

  entry(id: string): KeyEntry | undefined {
    return this.#byId.get(id)
  }

  entryForSubject(pseudonym: string): KeyEntry | undefined {
    return this.#bySubject.get(pseudonym)
  }

  erasedAt(id: string): string | undefined {
    return this.#erased.get(id)
  }

  /** An unwrapped key that adopt() guarantees (the lookup keys): synchronous. */
  cached(id: string): KeyObject {
    const key = this.#keys.get(id)
    if (key === undefined) throw new AuditError(ERROR_CODES.INVARIANT, `invariant violated: key ${id} not unwrapped`)
    return key
  }

  async unwrap(e: KeyEntry): Promise<KeyObject> {
    const have = this.#keys.get(e.id)
    if (have !== undefined) return have
    const raw = await unwrapKey(this.provider, strictBase64(e.wrapped)!, { keyId: e.id, purpose: e.purpose })
    try {
      const key = createSecretKey(raw)
      // Cache only if the entry is still the adopted one (a change may have replaced it meanwhile).
      if (this.#byId.get(e.id) === e) this.#keys.set(e.id, key)
      return key
    } finally {
      raw.fill(0)
    }
  }

  /** A new random key of `purpose`, wrapped into doc; its KeyObject goes to `fresh`. */
  async newEntry(
    doc: KeyringDoc,
    purpose: KeyPurpose,
    fresh: FreshKeys,
    extra: Pick<KeyEntry, 'subject' | 'lookup'> = {},
  ): Promise<KeyEntry> {
    const taken = idsOf(doc)
    let id: string
    do id = `${keyIdPrefix(purpose)}-${randomBytes(8).toString('hex')}`
    while (taken.has(id))
    taken.add(id) // before the first await: the calls of one batch run side by side
    const key = randomBytes(KEY_BYTES)
    try {
      const wrapped = await wrapKey(this.provider, key, { keyId: id, purpose })
      const entry: KeyEntry = { id, purpose, created: now(), wrapped: wrapped.toString('base64') }
      if (purpose === 'data') entry.salt = randomBytes(4).toString('hex')
      Object.assign(entry, extra)
      doc.keys.push(entry)
      fresh.set(id, createSecretKey(key))
      return entry
    } finally {
      key.fill(0)
    }
  }

  /** One change: re-read, apply to the file's state, write atomically, adopt. Changes run one at a time. */
  mutate<T>(change: (doc: KeyringDoc, fresh: FreshKeys) => Promise<T>): Promise<T> {
    this.check()
    return this.#serial(async () => {
      const base = await this.#reread()
      // A shallow copy: changes replace entries and arrays, never edit an adopted entry in place.
      const doc: KeyringDoc = { ...base, keys: [...base.keys], erased: [...base.erased] }
      const fresh: FreshKeys = new Map()
      const out = await change(doc, fresh)
      const stamp = await writeKeyringFile(this.file, serializeKeyring(doc), 'replace')
      this.#stamp = stamp
      for (const [id, k] of fresh) this.#keys.set(id, k)
      await this.#adopt(doc)
      return out
    })
  }

  /** Re-read the file and adopt it. */
  async refresh(): Promise<void> {
    this.check()
    await this.#serial(() => this.#reread())
  }

  close(): void {
    this.#closed = true
    this.#keys.clear()
  }

  check(): void {
    if (this.#closed) throw new AuditError(ERROR_CODES.CLOSED, `keyring ${this.file} is closed`)
  }

  #serial<T>(body: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(body)
    this.#queue = run.catch(() => {})
    return run
  }

  /** Make doc the state: indexes, cache pruned, current data key and lookup keys unwrapped. */
  async #adopt(doc: KeyringDoc): Promise<void> {
    const byId = new Map(doc.keys.map((k) => [k.id, k]))
    for (const id of [...this.#keys.keys()]) if (!byId.has(id)) this.#keys.delete(id)
    this.#doc = doc
    this.#byId = byId
    this.#bySubject = new Map(doc.keys.filter((k) => k.subject !== undefined).map((k) => [k.subject!, k]))
    this.#erased = new Map(doc.erased.map((e) => [e.id, e.erased]))
    for (const k of doc.keys) if (k.purpose === 'lookup') await this.unwrap(k)
    const cur = byId.get(doc.currentData)!
    this.#current = { id: cur.id, key: await this.unwrap(cur), epochSalt: Buffer.from(cur.salt!, 'hex') }
  }

  /** The file's current document: the adopted one when the file is the version it came from, else read and adopted. */
  async #reread(): Promise<KeyringDoc> {
    // Parsing a large keyring costs seconds; a file nobody rewrote since needs none of it.
    if (sameStamp(await statKeyringFile(this.file), this.#stamp)) return this.#doc
    const { bytes, stamp } = await readKeyringFile(this.file)
    const doc = parseKeyring(bytes)
    let same = doc.provider === this.provider.id
    if (same && doc.kek !== undefined)
      same = this.provider instanceof LocalKeyProvider && this.provider.sameKek(localFrom(doc))
    if (!same)
      throw new AuditError(ERROR_CODES.KEYRING_INVALID, `keyring: ${this.file} was replaced by another keyring`, {
        details: { problem: 'replaced' },
      })
    await this.#adopt(doc)
    this.#stamp = stamp
    return doc
  }
}

/** Every id a document holds, live or erased (cached per document: a batch of new keys checks each in O(1)). */
const ID_SETS = new WeakMap<KeyringDoc, Set<string>>()
function idsOf(doc: KeyringDoc): Set<string> {
  let ids = ID_SETS.get(doc)
  if (ids === undefined) {
    ids = new Set([...doc.keys.map((k) => k.id), ...doc.erased.map((e) => e.id)])
    ID_SETS.set(doc, ids)
  }
  return ids
}

/** The provider a keyring document needs: its own local KEK, or the caller's provider with the same id. */
function providerFor(doc: KeyringDoc, given: KeyProvider | undefined): KeyProvider {
  if (doc.provider === LOCAL_PROVIDER_ID) {
    const local = localFrom(doc)
    if (given === undefined) return local
    if (given instanceof LocalKeyProvider && given.sameKek(local)) return given
  } else if (given !== undefined && given.id === doc.provider) {
    return given
  }
  const named = `keyring: its keys are wrapped by provider "${doc.provider.slice(0, 64)}"`
  throw new AuditError(
    ERROR_CODES.KEYRING_INVALID,
    given === undefined
      ? `${named}; pass that provider`
      : `${named}, not by the one given ("${String(given.id).slice(0, 64)}")`,
    { details: { problem: 'provider', provider: doc.provider.slice(0, 64) } },
  )
}

function localFrom(doc: KeyringDoc): LocalKeyProvider {
  const kek = strictBase64(doc.kek)!
  try {
    return new LocalKeyProvider(kek)
  } finally {
    kek.fill(0)
  }
}
