/**
 * The sink's side of encryption and erasure (docs/encryption.md): the keyring,
 * the session's epoch, personal fields on the app thread, rotation and
 * erasure. The bulk encryption runs in the writer (workers/writer/crypt.ts).
 *
 *   open ─► Keyring.load ─► openEpoch (a new data key, durable) ─► writer (KeyObject)
 *   emit ─► personal fields? pseudonym (HMAC) ─► subject key (cache, or one
 *           durable keyring rewrite) ─► encryptFields ─► properties['@personal']
 *   rotateKey ─► keyring.rotate (durable) ─► key on the key port ─► KEY_CHANGE through the ring
 *   eraseSubject ─► keyring.eraseSubject (durable) ─► TOMBSTONE through the ring ─► { seq }
 *
 * Contract: a key is durable in the keyring before any record uses it; an
 * erasure is durable in the keyring before its tombstone is published (a crash
 * between the two leaves the key erased and no tombstone: eraseSubject again
 * writes it). Emits keep their call order even when one waits for a new
 * subject key. No key bytes leave this module except as KeyObjects to the writer.
 */

import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { RecordType } from '../../shared/format.js'
import { FIXED } from '../../shared/limits.js'
import { keyChangePayload, PERSONAL_PROPERTY } from '../../shared/sealed.js'
import type { AuditEvent } from '../../shared/event.js'
import { encryptFields, type KeyProvider, Keyring, type SubjectKey } from '../crypto/index.js'

export interface EncryptionOptions {
  /** The keyring file (mode 0600), or a Keyring already loaded. */
  keyring: string | Keyring
  /** The KEK's provider (a KMS); default: the local provider inside the keyring file. */
  provider?: KeyProvider
  /** Encrypt the message template too (default false: only properties and exception). */
  template?: boolean
}

export interface PersonalDataOptions {
  /** The property naming the data subject (its value is never stored in clear). */
  subject: string
  /** The properties encrypted under the subject's own key (erasable). */
  fields: string[]
}

export interface ErasureOptions {
  /** Who asked for the erasure (stored in the tombstone). */
  by?: string
  /** The legal basis (stored in the tombstone), e.g. "GDPR Art. 17(1)(b)". */
  legalBasis?: string
}

/** What eraseSubject resolves with: the tombstone's receipt and what was erased. */
export interface ErasureReceipt {
  /** The tombstone record's seq (durable when this resolves). */
  seq: number
  /** The subject's pseudonyms (one per lookup key) the tombstone names. */
  pseudonyms: string[]
  /** The subject keys shredded (none when the subject never had one or was erased before). */
  keyIds: string[]
  erasedAt: string
  /**
   * With the sink's signing option: the tombstone is covered by a signed
   * checkpoint made right after it (signed: true, checkpoint: its tree size,
   * the last seq it covers and the signed note); prove the tombstone with
   * `mtlog-audit prove --seq <seq>`. Without signing, or when the signer failed
   * (stats().checkpoints says why): signed: false.
   */
  signed: boolean
  checkpoint?: { size: number; covers: number; note: string }
}

type Publish = (type: number, json: string) => Promise<{ seq: number }>

function bad(option: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.OPTION_INVALID, `option ${option}: ${message}`, { details: { option } })
}

/** Check the encryption and personalData options (read once). */
export function resolveCryptoOptions(
  encryption: unknown,
  personalData: unknown,
): { encryption: EncryptionOptions | undefined; personalData: PersonalDataOptions | undefined } {
  let enc: EncryptionOptions | undefined
  if (encryption !== undefined) {
    if (typeof encryption !== 'object' || encryption === null) throw bad('encryption', 'must be { keyring, provider? }')
    const e = { ...(encryption as Record<string, unknown>) }
    for (const k of Object.keys(e))
      if (!['keyring', 'provider', 'template'].includes(k)) throw bad(`encryption.${k}`, 'unknown option')
    if (e.keyring === undefined)
      throw bad('encryption.keyring', 'a keyring file is needed (a provider wraps the keys kept in it)')
    if (
      !(e.keyring instanceof Keyring) &&
      (typeof e.keyring !== 'string' || e.keyring === '' || e.keyring.length > FIXED.pathCharsMax)
    )
      throw bad('encryption.keyring', `must be a keyring file path or a Keyring (got ${preview(e.keyring)})`)
    if (e.template !== undefined && typeof e.template !== 'boolean')
      throw bad('encryption.template', 'must be a boolean')
    enc = { keyring: e.keyring, provider: e.provider as KeyProvider | undefined, template: e.template === true }
  }
  let pd: PersonalDataOptions | undefined
  if (personalData !== undefined) {
    if (enc === undefined) throw bad('personalData', 'needs encryption (the subject keys live in the keyring)')
    if (typeof personalData !== 'object' || personalData === null)
      throw bad('personalData', 'must be { subject, fields }')
    const p = { ...(personalData as Record<string, unknown>) }
    for (const k of Object.keys(p))
      if (k !== 'subject' && k !== 'fields') throw bad(`personalData.${k}`, 'unknown option')
    if (typeof p.subject !== 'string' || p.subject === '' || p.subject.length > FIXED.previewCharsMax)
      throw bad('personalData.subject', 'must be a property name')
    const fields = Array.isArray(p.fields) ? [...(p.fields as unknown[])] : undefined
    if (fields === undefined || fields.some((f) => typeof f !== 'string' || f === '' || f === PERSONAL_PROPERTY))
      throw bad('personalData.fields', 'must be an array of property names')
    pd = { subject: p.subject, fields: [...new Set(fields as string[])].filter((f) => f !== p.subject) }
  }
  return { encryption: enc, personalData: pd }
}

export class SinkCrypto {
  /** The writer's end of the key port (transferred in WriterInit). */
  readonly writerPort: MessagePort
  private readonly keyPort: MessagePort
  private logId = ''
  /** Subject id → its key (the pseudonym's HMAC is paid once per subject, not per event). */
  private readonly subjectKeys = new Map<string, SubjectKey>()
  private readonly making = new Map<string, Promise<SubjectKey>>()
  /** New subjects gathered this turn, and the one keyring rewrite that makes them. */
  private batch: Set<string> | undefined
  private batchDone: Promise<Map<string, SubjectKey>> | undefined
  /** Emits waiting behind a subject key being made: later emits queue behind them (call order = seq order). */
  private queue: Promise<unknown> | undefined
  private queued = 0

  private constructor(
    readonly keyring: Keyring,
    private readonly ownsKeyring: boolean,
    readonly options: EncryptionOptions,
    readonly personalData: PersonalDataOptions | undefined,
    readonly dataKey: { id: string; key: import('node:crypto').KeyObject; epochSalt: Buffer },
  ) {
    const { port1, port2 } = new MessageChannel()
    this.keyPort = port1
    this.writerPort = port2
    this.keyPort.unref()
  }

  /** Load the keyring and start this session's epoch (a new data key, durable before it is returned). */
  static async open(options: EncryptionOptions, personalData: PersonalDataOptions | undefined): Promise<SinkCrypto> {
    const owns = !(options.keyring instanceof Keyring)
    const keyring =
      options.keyring instanceof Keyring
        ? options.keyring
        : await Keyring.load(options.keyring, options.provider === undefined ? {} : { provider: options.provider })
    try {
      const dk = await keyring.openEpoch()
      return new SinkCrypto(keyring, owns, options, personalData, dk)
    } catch (err) {
      if (owns) keyring.close()
      throw err
    }
  }

  /** The log id every ciphertext is bound to (from the writer's open report). */
  setLogId(logId: string): void {
    this.logId = logId
  }

  /**
   * The event to encode: personal fields (and the subject) moved into one box
   * under the subject's key. Returns the event itself when there is nothing
   * personal in it, or a promise when a subject key must be made (or an emit
   * before it still waits).
   */
  prepare(ev: AuditEvent): AuditEvent | Promise<AuditEvent> {
    const pd = this.personalData
    if (pd === undefined) return ev
    if (this.queued > 0) return this.enqueue(() => this.prepareNow(ev, pd))
    const r = this.prepareNow(ev, pd)
    return r instanceof Promise ? this.enqueue(() => r) : r
  }

  private enqueue<T>(fn: () => T | Promise<T>): Promise<T> {
    this.queued++
    const p = (this.queue ?? Promise.resolve()).then(fn)
    const done = p.then(
      () => undefined,
      () => undefined,
    )
    this.queue = done
    void done.then(() => {
      if (--this.queued === 0) this.queue = undefined
    })
    return p
  }

  private prepareNow(ev: AuditEvent, pd: PersonalDataOptions): AuditEvent | Promise<AuditEvent> {
    if (typeof ev !== 'object' || ev === null) return ev // encodeEvent refuses it, with its code
    const e = ev as unknown as Record<string, unknown>
    const properties = e.properties
    if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) return ev
    const props = { ...(properties as Record<string, unknown>) }
    if (PERSONAL_PROPERTY in props)
      throw refusal(
        `the property ${PERSONAL_PROPERTY} is reserved for encrypted personal fields`,
        `properties.${PERSONAL_PROPERTY}`,
      )
    const names = pd.fields.filter((f) => props[f] !== undefined)
    const subject = props[pd.subject]
    if (subject === undefined) {
      if (names.length > 0)
        throw refusal(
          `personal fields ${names.join(', ')} without the subject property ${pd.subject}`,
          `properties.${pd.subject}`,
        )
      return ev
    }
    if (typeof subject !== 'string' && typeof subject !== 'number')
      throw refusal(
        `the subject ${pd.subject} must be a string or a number (got ${preview(subject)})`,
        `properties.${pd.subject}`,
      )
    const personal: Record<string, unknown> = { [pd.subject]: subject }
    for (const n of names) personal[n] = props[n]
    for (const n of [pd.subject, ...names]) delete props[n]
    const id = String(subject)
    const finish = (key: SubjectKey): AuditEvent => {
      props[PERSONAL_PROPERTY] = encryptFields(key.key, { logId: this.logId, seq: 0, keyId: key.id }, personal)
      return {
        timestamp: e.timestamp as AuditEvent['timestamp'],
        level: e.level as AuditEvent['level'],
        messageTemplate: e.messageTemplate as string,
        properties: props,
        exception: e.exception as AuditEvent['exception'],
      }
    }
    const known = this.subjectKeys.get(id)
    if (known !== undefined) return finish(known)
    if (id.length === 0 || id.length > FIXED.subjectIdCharsMax)
      throw refusal(`the subject id must have 1..${FIXED.subjectIdCharsMax} characters`, `properties.${pd.subject}`)
    return this.subjectKey(id, this.keyring.pseudonym(id)).then(finish)
  }

  /**
   * The subject key for a pseudonym, made if missing. New subjects asked for in
   * one turn of the event loop are made together: one durable keyring rewrite.
   */
  private subjectKey(id: string, pseudonym: string): Promise<SubjectKey> {
    let p = this.making.get(pseudonym)
    if (p === undefined) {
      if (this.batch === undefined) {
        const batch = new Set<string>()
        this.batch = batch
        this.batchDone = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
          this.batch = undefined
          return this.keyring.subjectKeys([...batch], { create: true })
        })
      }
      this.batch.add(pseudonym)
      p = this.batchDone!.then((keys) => {
        const k = keys.get(pseudonym)
        if (k === undefined)
          throw new AuditError(ERROR_CODES.INVARIANT, 'invariant violated: a created subject key is missing')
        if (this.subjectKeys.size >= FIXED.subjectKeyCacheEntries) this.subjectKeys.clear()
        this.subjectKeys.set(id, k)
        return k
      })
      this.making.set(pseudonym, p)
      void p.then(
        () => this.making.delete(pseudonym),
        () => this.making.delete(pseudonym),
      )
    }
    return p
  }

  /** A new current data key, durable; then the writer gets it and a KEY_CHANGE record goes through the ring. */
  async rotate(publish: Publish): Promise<{ seq: number; keyId: string }> {
    const info = await this.keyring.rotate()
    const dk = await this.keyring.dataKey(info.id)
    this.keyPort.postMessage({ id: dk.id, key: dk.key, epochSalt: dk.epochSalt })
    const r = await publish(RecordType.KEY_CHANGE, keyChangePayload(dk.id, 'rotate').toString('utf8'))
    return { seq: r.seq, keyId: dk.id }
  }

  /** Crypto-shred a subject: its keys leave the keyring (durable), then a tombstone is written. */
  async eraseSubject(subjectId: unknown, options: ErasureOptions, publish: Publish): Promise<ErasureReceipt> {
    if ((typeof subjectId !== 'string' || subjectId === '') && typeof subjectId !== 'number')
      throw bad('subjectId', `must be a non-empty string or a number (got ${preview(subjectId)})`)
    const by = textOption(options?.by, 'by')
    const legalBasis = textOption(options?.legalBasis, 'legalBasis')
    // Emits made before this call that wait for a subject key get it first, so the erasure covers them.
    // (The queue's tail now is the last emit made before this call.)
    await Promise.all([this.queue, this.batchDone?.catch(() => undefined)])
    const pseudonyms = this.keyring.pseudonyms(String(subjectId))
    const res = await this.keyring.eraseSubject(pseudonyms)
    this.subjectKeys.delete(String(subjectId))
    const tombstone = {
      erasure: 'subject',
      pseudonyms,
      keyIds: res.keyIds,
      erasedAt: res.erasedAt,
      ...(by === undefined ? {} : { by }),
      ...(legalBasis === undefined ? {} : { legalBasis }),
    }
    const r = await publish(RecordType.TOMBSTONE, JSON.stringify(tombstone))
    return { seq: r.seq, pseudonyms, keyIds: res.keyIds, erasedAt: res.erasedAt, signed: false }
  }

  close(): void {
    this.keyPort.close()
    this.subjectKeys.clear()
    if (this.ownsKeyring) this.keyring.close()
  }
}

function textOption(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined
  if (typeof v !== 'string' || v.length > FIXED.tombstoneTextCharsMax)
    throw bad(name, `must be a string of at most ${FIXED.tombstoneTextCharsMax} characters`)
  return v
}

function refusal(message: string, path: string): AuditError {
  return new AuditError(ERROR_CODES.EVENT_INVALID, `${message} at ${path}`, { details: { path } })
}
