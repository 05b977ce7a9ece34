/**
 * One read of a caller's event data, checked and written as JSON in the same
 * step (the value table is docs/events.md, "What is stored").
 *
 * Contract:
 * - Each value is read exactly once: Object.keys once per object (one ownKeys
 *   trap), then one [[Get]] per key (one getter call or one get trap), and
 *   what was read is what is checked and what is written. A getter that
 *   answers differently on a second call is never called twice, and nothing of
 *   the caller's is touched after the walk.
 * - Bounded while it runs: nesting (FIXED.eventDepthMax), keys per object
 *   (FIXED.eventKeysPerObjectMax) and characters (the event's eventBytesMax:
 *   UTF-8 never takes fewer bytes than a string has UTF-16 units), so a 1-GB
 *   string or a 4-billion-slot array is refused before any JSON of it is built.
 * - Every refusal is an AuditError made here (isRefusal tells it from what
 *   caller code throws; the encoder turns anything else into
 *   ERR_AUDIT_EVENT_INVALID at path()). Messages show caller data only through
 *   preview(), and paths are cut at FIXED.errorPathCharsMax.
 */

import { types } from 'node:util'
import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'

/** Errors made here: anything else thrown during a walk came from caller code. */
const REFUSALS = new WeakSet<object>()

export function isRefusal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && REFUSALS.has(err)
}

export function refusal(
  code: typeof ERROR_CODES.EVENT_INVALID | typeof ERROR_CODES.EVENT_TOO_LARGE,
  message: string,
  details: Record<string, string | number>,
): AuditError {
  const err = new AuditError(code, message, { details })
  REFUSALS.add(err)
  return err
}

/** Why a built-in kind is not stored: JSON would turn each into something else. */
function builtinRefusal(v: object): string | undefined {
  if (types.isMap(v) || types.isSet(v) || types.isWeakMap(v) || types.isWeakSet(v))
    return 'would be stored as {} (convert it to an object or an array)'
  if (types.isNativeError(v))
    return 'would be stored as {} (an Error belongs in `exception`; store its message as a string)'
  if (types.isRegExp(v)) return 'would be stored as {} (store its source as a string)'
  if (types.isArrayBufferView(v) || types.isAnyArrayBuffer(v)) return 'is binary (store it as a base64 or hex string)'
  if (types.isBoxedPrimitive(v)) return 'is a boxed primitive (store the primitive)'
  if (types.isPromise(v)) return 'is not data (await it first)'
  return undefined
}

/**
 * JSON of a property key, from a small per-thread cache: keys repeat from
 * event to event, and escaping each one was a third of the walk's work.
 * Bounded by FIXED.keyCacheEntries × FIXED.keyCacheCharsMax.
 */
const keyCache = new Map<string, string>()

function keyJson(k: string): string {
  const known = keyCache.get(k)
  if (known !== undefined) return known
  const json = JSON.stringify(k)
  if (k.length <= FIXED.keyCacheCharsMax) {
    if (keyCache.size >= FIXED.keyCacheEntries) keyCache.clear()
    keyCache.set(k, json)
  }
  return json
}

/** What JSON.stringify escapes in a string: a quote, a backslash, a control character, a surrogate (a pair too, to be safe). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * Whether a string's JSON is the string between quotes, and long enough to be
 * kept whole (FIXED.jsonQuoteCharsMin): JSON.stringify would build a new
 * string of the same size from small parts, and joining it to the rest of the
 * event would copy it once more (a 64-MiB value took ~0.3 s that way here; the
 * test for an escape takes ~0.04 s).
 */
function keptWhole(s: string): boolean {
  return s.length >= FIXED.jsonQuoteCharsMin && !NEEDS_ESCAPE.test(s)
}

function pathKey(k: string | number): string {
  if (typeof k === 'number') return `[${k}]`
  const safe = k.length > 32 ? `${k.slice(0, 32)}…` : k
  return `.${safe.replace(/[\u0000-\u001f\u007f]/g, '?')}`
}

export class Snapshot {
  /** The JSON written since the last part (all of it, usually): the encoder starts it with the event's other fields. */
  out = ''
  /**
   * The JSON before `out`, in order, when a long string value was kept whole
   * (keptWhole): the text before it with its opening quote, then the string
   * itself, never copied. undefined until one is.
   */
  private parts: string[] | undefined
  /** Characters in parts. */
  private partsChars = 0
  /** The top-level field being read: the start of every path. */
  field = 'event'
  /** Keys from the field down to the value being read; made into text only for an error. */
  private readonly keys: (string | number)[] = []
  /** Objects being walked (ancestors): met again is a cycle. */
  private readonly stack: object[] = []
  /** Containers (arrays, plain objects) being walked. */
  private depth = 0

  constructor(readonly charsMax: number) {}

  /** Where the walk is, e.g. "properties.a[0].b", at most FIXED.errorPathCharsMax characters. */
  path(): string {
    let p = this.field
    for (const k of this.keys) {
      p += pathKey(k)
      if (p.length > FIXED.errorPathCharsMax) return `${p.slice(0, FIXED.errorPathCharsMax)}…`
    }
    return p
  }

  /** Refused as too large, with a lower bound of the event's bytes. */
  tooLarge(bytesAtLeast: number): AuditError {
    const path = this.path()
    return refusal(
      ERROR_CODES.EVENT_TOO_LARGE,
      `event is at least ${bytesAtLeast} bytes serialized (at ${path}); eventBytesMax is ${this.charsMax}`,
      { bytes: bytesAtLeast, eventBytesMax: this.charsMax, path },
    )
  }

  invalid(message: string): AuditError {
    const path = this.path()
    return refusal(ERROR_CODES.EVENT_INVALID, `${message} at ${path}`, { path })
  }

  /** Refuse now if `chars` more characters cannot fit. */
  room(chars: number): void {
    const have = this.partsChars + this.out.length
    if (have + chars > this.charsMax) throw this.tooLarge(have + chars)
  }

  /** The JSON written: one string, or its parts in order when a long string value was kept whole. */
  json(): string | string[] {
    return this.parts === undefined ? this.out : [...this.parts, this.out]
  }

  /** Write string s's JSON, as JSON.stringify writes it (room for it was checked). */
  private put(s: string): void {
    if (!keptWhole(s)) {
      this.out += JSON.stringify(s)
      return
    }
    const head = `${this.out}"`
    ;(this.parts ??= []).push(head, s)
    this.partsChars += head.length + s.length
    this.out = '"'
  }

  /** The root: a plain object (never an array, a class instance or something with toJSON). */
  properties(v: unknown): void {
    const proto: unknown = typeof v === 'object' && v !== null ? Object.getPrototypeOf(v) : undefined
    if ((proto !== Object.prototype && proto !== null) || Array.isArray(v))
      throw this.invalid(`properties must be a plain object (got ${preview(v)})`)
    this.container(v as object, false)
  }

  /** A string, checked against the room left before it is escaped. */
  string(s: string): void {
    this.room(s.length + 2)
    this.put(s)
    this.room(0)
  }

  private value(v: unknown, fromToJSON: boolean): void {
    switch (typeof v) {
      case 'string':
        return this.string(v)
      case 'number':
        if (!Number.isFinite(v)) throw this.invalid(`${v} cannot be stored as JSON`)
        this.out += String(v) // JSON's own form of a finite number (-0 is written 0)
        return this.room(0)
      case 'boolean':
        this.out += v ? 'true' : 'false'
        return this.room(0)
      case 'object':
        if (v !== null) return this.object(v, fromToJSON)
        this.out += 'null'
        return this.room(0)
      case 'undefined':
        throw this.invalid(fromToJSON ? 'toJSON returned undefined' : 'undefined (or a hole) in an array is not data')
      case 'bigint':
        throw this.invalid('a BigInt cannot be stored as JSON (convert it to a string)')
      case 'function':
        throw this.invalid('a function is not data')
      case 'symbol':
        throw this.invalid('a symbol is not data')
    }
  }

  private object(v: object, fromToJSON: boolean): void {
    if (this.stack.includes(v)) throw this.invalid('circular reference')
    // Plain data is told by its prototype, the one check on the common path.
    const proto: unknown = Object.getPrototypeOf(v)
    const isArray = Array.isArray(v)
    if (isArray ? proto === Array.prototype : proto === Object.prototype || proto === null)
      return this.container(v, isArray)
    if (types.isDate(v)) {
      const ms = Date.prototype.getTime.call(v)
      if (Number.isNaN(ms)) throw this.invalid('an invalid Date cannot be stored')
      this.out += `"${Date.prototype.toISOString.call(v)}"`
      return this.room(0)
    }
    const why = builtinRefusal(v)
    if (why !== undefined) throw this.invalid(`${preview(v)} ${why}`)
    // A class instance: its toJSON, called once, decides; its result's own toJSON is not called.
    const toJSON: unknown = fromToJSON ? undefined : (v as { toJSON?: unknown }).toJSON
    if (typeof toJSON !== 'function')
      throw this.invalid(`${preview(v)} is not plain data (convert it, or give its class a toJSON method)`)
    const key = this.keys.length === 0 ? '' : String(this.keys[this.keys.length - 1])
    this.stack.push(v)
    this.value(toJSON.call(v, key), true)
    this.stack.pop()
  }

  private container(v: object, isArray: boolean): void {
    if (this.depth >= FIXED.eventDepthMax) throw this.invalid(`nesting deeper than ${FIXED.eventDepthMax}`)
    this.depth++
    this.stack.push(v)
    if (isArray) this.array(v as unknown[])
    else this.plain(v as Record<string, unknown>)
    this.stack.pop()
    this.depth--
  }

  private array(a: unknown[]): void {
    const len: unknown = a.length
    if (typeof len !== 'number' || !Number.isSafeInteger(len) || len < 0)
      throw this.invalid(`an array whose length is ${preview(len)}`)
    this.room(2 * len + 1) // "[" + len values + len − 1 commas + "]"
    const keys = Object.keys(a)
    if (keys.length !== len || (len > 0 && keys[len - 1] !== String(len - 1)))
      throw this.invalid('an array with holes or with keys that are not indexes would change as JSON')
    this.out += '['
    for (let i = 0; i < len; i++) {
      if (i > 0) this.out += ','
      this.keys.push(i)
      this.value(a[i], false)
      this.keys.pop()
    }
    this.out += ']'
  }

  private plain(o: Record<string, unknown>): void {
    const keys = Object.keys(o)
    if (keys.length > FIXED.eventKeysPerObjectMax) {
      const path = this.path()
      throw refusal(
        ERROR_CODES.EVENT_TOO_LARGE,
        `an object with ${keys.length} keys at ${path}; at most ${FIXED.eventKeysPerObjectMax} are stored per object`,
        { path, keys: keys.length, eventKeysPerObjectMax: FIXED.eventKeysPerObjectMax },
      )
    }
    this.out += '{'
    let first = true
    for (const k of keys) {
      this.keys.push(k)
      const child = o[k]
      // JSON's rule: a key whose value is undefined is absent.
      if (typeof child === 'string') {
        // The common case, inline: one room check for key and value together.
        this.room(k.length + child.length + 6)
        this.out += first ? `${keyJson(k)}:` : `,${keyJson(k)}:`
        this.put(child)
        first = false
      } else if (child !== undefined) {
        this.room(k.length + 4)
        this.out += first ? `${keyJson(k)}:` : `,${keyJson(k)}:`
        first = false
        this.value(child, false)
      }
      this.keys.pop()
    }
    this.out += '}'
    this.room(0)
  }
}
