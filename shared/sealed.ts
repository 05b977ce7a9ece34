/**
 * The sealed-event payload (docs/wal-format.md section 0, "Sealed events"):
 * how an event record (type 1) of an encrypted log stores its clear part, its
 * ciphertext and its frame's place. The writer builds it (workers/writer/crypt.ts),
 * readers take it apart (lib/read/sealed.ts). Like shared/format.ts, the only
 * code that knows these byte offsets.
 *
 *   0  u8   layout     1 (a clear event's payload is JSON and starts with '{')
 *   1  u8   flags      bit 0 TAG: the first record of its frame; the tag follows the head
 *   2  u16  reserved   0
 *   4  u32  index      the record's position in its frame (0 = first)
 *   8  u32  count      records in the frame
 *  12  u32  clearBytes bytes of the clear JSON prefix
 *  16  8B   key id     the frame's data key: the 64 bits of its id `d-<16 hex>`
 *  24 [16B  tag]       GCM tag of the whole frame (TAG only)
 *   …  clearBytes      `{"level":"…","messageTemplate":"…"`, UTF-8, as the sink wrote it
 *   …  the rest        ciphertext of the rest of the event's JSON (`,"properties":…}` or `}`)
 *
 * A frame is the sealed events of one writer batch, in seq order (clear records
 * of other types may stand between them). Its IV is the data key's epoch salt
 * and the first record's seq; its AAD names the log id (hex of the segment
 * header's logId), the key id and every (seq, ciphertext length): lib/crypto/frame.ts.
 */

export const SEALED_LAYOUT = 1
export const SEALED_FLAG_TAG = 1
export const SEALED_HEAD_BYTES = 24
export const SEALED_TAG_BYTES = 16
/** The most a sealed event adds to the event's JSON: the head and the tag. */
export const SEALED_OVERHEAD_BYTES = SEALED_HEAD_BYTES + SEALED_TAG_BYTES
const KEY_ID_PREFIX = 'd-'

export interface SealedHead {
  /** The record carries the frame's tag: it is the frame's first record. */
  first: boolean
  index: number
  count: number
  clearBytes: number
  keyId: string
  /** The tag (first record only), a view. */
  tag: Buffer | undefined
  /** The clear JSON prefix, a view. */
  clear: Buffer
  /** The ciphertext, a view. */
  ciphertext: Buffer
}

/** Does this event payload hold a sealed event (not JSON)? */
export function isSealedPayload(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === SEALED_LAYOUT
}

/** Head bytes a sealed event takes before its clear part. */
export function sealedHeadBytes(first: boolean): number {
  return first ? SEALED_HEAD_BYTES + SEALED_TAG_BYTES : SEALED_HEAD_BYTES
}

/** The 8 bytes of a data key id, or undefined when it is not of the form d-<16 hex>. */
export function keyIdBytes(keyId: string): Buffer | undefined {
  if (!/^d-[0-9a-f]{16}$/.test(keyId)) return undefined
  return Buffer.from(keyId.slice(2), 'hex')
}

/** Write a sealed event's head at buf[off, off + sealedHeadBytes(first)). The tag is written later (writeTag). */
export function writeSealedHead(
  buf: Buffer,
  off: number,
  first: boolean,
  index: number,
  count: number,
  clearBytes: number,
  keyId8: Buffer,
): void {
  buf[off] = SEALED_LAYOUT
  buf[off + 1] = first ? SEALED_FLAG_TAG : 0
  buf.writeUInt16LE(0, off + 2)
  buf.writeUInt32LE(index, off + 4)
  buf.writeUInt32LE(count, off + 8)
  buf.writeUInt32LE(clearBytes, off + 12)
  keyId8.copy(buf, off + 16)
}

/** Take a sealed event's payload apart; undefined when its head is not a valid head. */
export function readSealed(payload: Buffer): SealedHead | undefined {
  if (payload.length < SEALED_HEAD_BYTES || payload[0] !== SEALED_LAYOUT) return undefined
  const flags = payload[1]!
  if ((flags & ~SEALED_FLAG_TAG) !== 0 || payload.readUInt16LE(2) !== 0) return undefined
  const first = (flags & SEALED_FLAG_TAG) !== 0
  const index = payload.readUInt32LE(4)
  const count = payload.readUInt32LE(8)
  const clearBytes = payload.readUInt32LE(12)
  const head = sealedHeadBytes(first)
  if (first !== (index === 0) || count < 1 || index >= count) return undefined
  if (head + clearBytes > payload.length) return undefined
  return {
    first,
    index,
    count,
    clearBytes,
    keyId: KEY_ID_PREFIX + payload.toString('hex', 16, 24),
    tag: first ? payload.subarray(SEALED_HEAD_BYTES, head) : undefined,
    clear: payload.subarray(head, head + clearBytes),
    ciphertext: payload.subarray(head + clearBytes),
  }
}

const Q = 0x22
const BACKSLASH = 0x5c
const LEVEL_KEY = Buffer.from('{"level":"')
const TEMPLATE_KEY = Buffer.from(',"messageTemplate":"')

/**
 * Bytes of the clear part of an event's JSON as the sink encodes it
 * (lib/sink/event.ts: level, then template, then properties and exception):
 * up to the end of the template string; with `template` false, up to the end
 * of the level. -1 when the JSON does not start that way. UTF-8 continuation
 * bytes are never '"' or '\\', so a byte scan finds the string's end.
 */
export function clearPrefixBytes(json: Uint8Array, withTemplate = true): number {
  if (!startsWith(json, 0, LEVEL_KEY)) return -1
  let i = LEVEL_KEY.length
  while (i < json.length && json[i] !== Q) i++ // levels are plain ASCII words
  if (i >= json.length) return -1
  i++
  if (!withTemplate) return i
  if (!startsWith(json, i, TEMPLATE_KEY)) return -1
  for (i += TEMPLATE_KEY.length; i < json.length; i++) {
    const c = json[i]
    if (c === BACKSLASH) i++
    else if (c === Q) return i + 1
  }
  return -1
}

function startsWith(b: Uint8Array, at: number, prefix: Buffer): boolean {
  if (at + prefix.length > b.length) return false
  for (let k = 0; k < prefix.length; k++) if (b[at + k] !== prefix[k]) return false
  return true
}

/** The property an event's encrypted personal fields are stored under (lib/sink/crypt.ts writes it, readers open it). */
export const PERSONAL_PROPERTY = '@personal'

/** The payload of a key change record (type 3): which data key the sealed events after it use, and why. */
export function keyChangePayload(keyId: string, reason: 'open' | 'rotate'): Buffer {
  return Buffer.from(JSON.stringify({ keyId, reason }))
}
