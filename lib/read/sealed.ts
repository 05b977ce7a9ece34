/**
 * Sealed events on the read side (docs/encryption.md, "Reading"): frames are
 * gathered, authenticated and opened, personal fields decrypted or masked.
 *
 *   record ─► clear JSON? decodeEvent, as before
 *           └ sealed (shared/sealed.ts) ─► no keyring: the clear part (level,
 *             template) with `encrypted: true` and no properties
 *           └ keyring: held until its frame's last record ─► openFrame (one
 *             GCM call: IV = epoch salt ‖ first seq, AAD = log id, key id and
 *             every (seq, length)) ─► clear ‖ plaintext ─► decodeEvent ─►
 *             '@personal' box: subject key present → its fields; erased →
 *             [erased]; without keyring → [encrypted]
 *
 * Records of other types that stand between a frame's events wait with them,
 * so entries still come out in seq order. Anything that does not add up (a
 * frame cut short, a record of another frame inside it, a tag that fails) is
 * ERR_AUDIT_DECRYPT_FAILED naming the seq; a key the keyring does not hold is
 * ERR_AUDIT_KEY_UNKNOWN. Nothing unauthenticated is ever returned.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { decodeEvent, LEVELS, type StoredEvent } from '../../shared/event.js'
import { isSealedPayload, PERSONAL_PROPERTY, readSealed, type SealedHead } from '../../shared/sealed.js'
import { parseTemplate } from './render.js'
import {
  type DataKey,
  decryptFields,
  ENCRYPTED_MARKER,
  ERASED_MARKER,
  frameIv,
  isEncryptedFields,
  Keyring,
  type KeyProvider,
  maskFields,
  openFrame,
  type SubjectKeyLookup,
} from '../crypto/index.js'


/** How a reader gets keys: a keyring file (with its provider for a KMS KEK), or a Keyring. */
export type ReadKeyring = string | Keyring

export interface ReadKeys {
  keyring?: ReadKeyring
  provider?: KeyProvider
}

/** A record on its way out: an event to decode, or an entry ready as it is. */
export interface Pending<E> {
  seq: number
  timeMs: number
  /**
   * Event payload, or undefined for a ready entry. push() reads it before it
   * returns (a sealed frame's member is copied there), so the caller may reuse
   * the buffer under it as soon as push() has returned.
   */
  payload: Buffer | undefined
  ready: E | undefined
  segment: string
  offset: number
}

function damaged(seq: number, segment: string, why: string): AuditError {
  return new AuditError(ERROR_CODES.DECRYPT_FAILED, `sealed event of seq ${seq} in ${segment} cannot be opened: ${why}`, {
    details: { seq, segment, problem: why },
  })
}

/** Load a keyring for reading (it is closed by close()). */
export async function openReadKeys(keys: ReadKeys | undefined): Promise<Keyring | undefined> {
  if (keys?.keyring === undefined) return undefined
  if (keys.keyring instanceof Keyring) return keys.keyring
  if (typeof keys.keyring !== 'string' || keys.keyring === '')
    throw new AuditError(ERROR_CODES.OPTION_INVALID, 'keyring: must be a keyring file path or a Keyring', {
      details: { option: 'keyring' },
    })
  return Keyring.load(keys.keyring, keys.provider === undefined ? {} : { provider: keys.provider })
}

/**
 * Turns the records of a log, in seq order, into entries in seq order,
 * opening frames when a keyring is given. `make(event, p)` builds the
 * caller's entry for a decoded event.
 */
export class Unsealer<E> {
  private readonly held: { p: Pending<E>; head: SealedHead | undefined; event?: StoredEvent }[] = []
  private frame: { firstSeq: number; keyId: string; count: number; seen: number } | undefined
  private readonly dataKeys = new Map<string, DataKey>()
  private readonly subjects = new Map<string, SubjectKeyLookup>()
  /** The log id (hex of the segment header's) every ciphertext of the segment being read is bound to. */
  private logIdHex = ''

  constructor(
    private readonly keyring: Keyring | undefined,
    private readonly make: (event: StoredEvent, p: Pending<E>) => E,
  ) {}

  /** Feed one record; returns the entries that are complete now, in order. */
  push(p: Pending<E>, logIdHex: string): E[] | Promise<E[]> {
    this.logIdHex = logIdHex
    if (p.payload === undefined) {
      if (this.frame === undefined) return [p.ready!]
      this.held.push({ p, head: undefined })
      return []
    }
    const head = readSealed(p.payload)
    if (head === undefined) {
      if (isSealedPayload(p.payload)) throw damaged(p.seq, p.segment, 'its sealed-event head is malformed')
      const event = decodeEvent(p.payload, p.timeMs, p.seq)
      // The common case (a clear event, nothing personal) stays synchronous.
      if (!isEncryptedFields(event.properties[PERSONAL_PROPERTY]) && this.frame === undefined) return [this.make(event, p)]
      return this.hold(p, event)
    }
    if (this.keyring === undefined) {
      const event = clearView(head, p)
      if (this.frame === undefined) return [this.make(event, p)]
      this.held.push({ p, head: undefined, event })
      return []
    }
    // Held until the frame is whole: a copy, so the caller may reuse its read buffer.
    const copy = Buffer.from(p.payload)
    return this.pushSealed({ ...p, payload: copy }, readSealed(copy)!)
  }

  private async hold(p: Pending<E>, decoded: StoredEvent): Promise<E[]> {
    const event = await this.personal(decoded, p)
    if (this.frame === undefined) return [this.make(event, p)]
    this.held.push({ p, head: undefined, event })
    return []
  }

  private async pushSealed(p: Pending<E>, head: SealedHead): Promise<E[]> {
    if (head.first) {
      if (this.frame !== undefined) throw damaged(this.frame.firstSeq, p.segment, `its frame ends early (seq ${p.seq} starts another)`)
      this.frame = { firstSeq: p.seq, keyId: head.keyId, count: head.count, seen: 0 }
    } else if (this.frame === undefined) {
      throw damaged(p.seq, p.segment, 'no frame start before it (its first record is missing)')
    }
    const f = this.frame
    if (head.keyId !== f.keyId || head.count !== f.count || head.index !== f.seen)
      throw damaged(p.seq, p.segment, `it does not continue the frame of seq ${f.firstSeq}`)
    f.seen++
    this.held.push({ p, head })
    if (f.seen < f.count) return []
    this.frame = undefined
    await this.open(f)
    const out: E[] = []
    for (const h of this.held.splice(0)) out.push(h.event === undefined ? h.p.ready! : this.make(h.event, h.p))
    return out
  }

  /** The end of a segment (a frame never spans two): a frame still open there was cut short. */
  end(segment: string): void {
    if (this.frame !== undefined) throw damaged(this.frame.firstSeq, segment, 'its frame is cut short at the end of the segment')
  }

  /** Decrypt the held frame's records and decode each event. */
  private async open(f: { firstSeq: number; keyId: string }): Promise<void> {
    const members = this.held.filter((h) => h.head !== undefined)
    const key = await this.dataKey(f.keyId)
    const plain = openFrame(key.key, {
      logId: this.logIdHex,
      keyId: f.keyId,
      iv: frameIv(key.epochSalt, f.firstSeq),
      items: members.map((h) => ({ seq: h.p.seq, ciphertext: h.head!.ciphertext })),
      tag: members[0]!.head!.tag!,
    })
    for (let i = 0; i < members.length; i++) {
      const h = members[i]!
      const json = Buffer.concat([h.head!.clear, plain[i]!])
      plain[i]!.fill(0)
      try {
        h.event = await this.personal(decodeEvent(json, h.p.timeMs, h.p.seq), h.p)
      } finally {
        json.fill(0)
      }
    }
  }

  private async dataKey(id: string): Promise<DataKey> {
    let k = this.dataKeys.get(id)
    if (k === undefined) {
      k = await this.keyring!.dataKey(id)
      this.dataKeys.set(id, k)
    }
    return k
  }

  /** Personal fields back in place: decrypted, [erased], or [encrypted] without a keyring. */
  private async personal(ev: StoredEvent, p: Pending<E>): Promise<StoredEvent> {
    const box = ev.properties[PERSONAL_PROPERTY]
    if (!isEncryptedFields(box)) return ev
    const props = { ...ev.properties }
    delete props[PERSONAL_PROPERTY]
    let fields: Record<string, unknown>
    if (this.keyring === undefined) fields = maskFields(box, ENCRYPTED_MARKER)
    else {
      let s = this.subjects.get(box.keyId)
      if (s === undefined) {
        s = await this.keyring.subjectKeyById(box.keyId)
        this.subjects.set(box.keyId, s)
      }
      if (s.status === 'erased') fields = maskFields(box, ERASED_MARKER)
      else if (s.status === 'unknown')
        throw new AuditError(
          ERROR_CODES.KEY_UNKNOWN,
          `subject key ${box.keyId.slice(0, 24)} of seq ${p.seq} is not in keyring ${this.keyring.file}`,
          { details: { seq: p.seq, keyId: box.keyId.slice(0, 24) } },
        )
      else fields = decryptFields(s.key.key, { logId: this.logIdHex, seq: 0, keyId: box.keyId }, box)
    }
    return { ...ev, properties: { ...fields, ...props } }
  }
}

/** What a reader without the keyring shows of a sealed event: the clear part only. */
export function clearView(head: SealedHead, p: { seq: number; timeMs: number }): StoredEvent {
  let body: Record<string, unknown> | undefined
  try {
    body = JSON.parse(head.clear.toString('utf8') + '}') as Record<string, unknown>
  } catch {
    body = undefined
  }
  const level = body?.level
  if (typeof level !== 'string' || !(LEVELS as readonly string[]).includes(level))
    throw new AuditError(ERROR_CODES.RECORD_UNREADABLE, `record (seq ${p.seq}) is not a readable sealed event: its clear part is not an event`, {
      details: { seq: p.seq, problem: 'shape' },
    })
  const template = typeof body!.messageTemplate === 'string' ? body!.messageTemplate : ENCRYPTED_MARKER
  // The properties the template names, each shown as [encrypted]: the rest cannot be known without the key.
  const properties: Record<string, unknown> = {}
  for (const t of parseTemplate(template)) if (t.kind === 'hole') properties[t.name] = ENCRYPTED_MARKER
  return {
    timestamp: new Date(p.timeMs),
    level: level as StoredEvent['level'],
    messageTemplate: template,
    properties,
    encrypted: true,
  }
}
