// Hostile events for the encoder's tests, each with what docs/events.md says
// must become of it: stored exactly as `body` (the JSON readLog gives back),
// or refused with one of `codes`. A generator, not an encoder: the expectation
// is built from the table's rows, never by running the code under test.
//
// Every getter and Proxy trap a case plants counts its calls in the case's
// Reads, so a test can check that the encoder read each value at most once.
import { constants } from 'node:buffer'
import { mix, mulberry32, type Rng } from '../../torture/prng.js'

export const INVALID = 'ERR_AUDIT_EVENT_INVALID'
export const TOO_LARGE = 'ERR_AUDIT_EVENT_TOO_LARGE'
/** docs/events.md: nesting deeper than this (the properties object is depth 1) is refused. */
export const DEPTH_MAX = 64
/** docs/events.md: |timestamp| ≤ this many ms (the Date range). */
export const TIME_MS_MAX = 8.64e15
/** docs/events.md: an object with more own enumerable keys than this is refused as too large. */
export const KEYS_MAX = 100_000
const LEVELS = ['Verbose', 'Debug', 'Information', 'Warning', 'Error', 'Fatal']

/** Calls of each planted getter or trap, by name. */
export class Reads {
  private readonly n = new Map<string, number>()
  readonly twice: string[] = []
  total = 0
  hit(id: string): number {
    const k = this.n.get(id) ?? 0
    this.n.set(id, k + 1)
    this.total++
    if (k === 1) this.twice.push(id)
    return k
  }
}

/** A generated value and what must become of it (bytes: UTF-8 of its JSON, or of its storable parts). */
export type Val =
  | { ok: true; v: unknown; stored: unknown; bytes: number; rows: string[]; absent?: true }
  | { ok: false; v: unknown; codes: Set<string>; bytes: number; rows: string[] }

export interface Case {
  index: number
  ev: unknown
  reads: Reads
  rows: string[]
  /** ok: the stored body as JSON text, and the timestamp (undefined: "now"). */
  expect: { ok: true; body: string; timeMs: number | undefined } | { ok: false; codes: Set<string> }
}

interface Ctx {
  rng: Rng
  reads: Reads
  /** Depth of the container that will hold the value (properties = 1). */
  depth: number
  inArray: boolean
  budget: number
  ids: { n: number }
}

const byteLen = (s: string): number => Buffer.byteLength(s)
const json = (v: unknown): string => JSON.stringify(v) ?? ''
const int = (rng: Rng, n: number): number => Math.floor(rng() * n)
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)]!
const ok = (v: unknown, stored: unknown, row: string): Val => ({
  ok: true,
  v,
  stored,
  bytes: byteLen(json(stored)),
  rows: [row],
})
const no = (v: unknown, row: string, code = INVALID, bytes = 0): Val => ({
  ok: false,
  v,
  codes: new Set([code]),
  bytes,
  rows: [row],
})

/** What a getter returns after its first call: each would change the record if it were read again. */
const MUTANTS: unknown[] = ['"', NaN, () => 1, 42, undefined, { changed: true }, 'changed', 10n]
const mutant = (k: number): unknown => MUTANTS[k % MUTANTS.length]

const CHARS = ['a', 'Z', ' ', '"', '\\', '\n', '\u0000', '\u001f', 'é', '€', '😀', '\ud800', '\udfff', '{', '}', '<']
function text(rng: Rng, maxLen: number): string {
  let s = ''
  for (let i = int(rng, maxLen + 1); i > 0; i--) s += pick(rng, CHARS)
  return s
}
const KEYS = ['a', 'b', 'UserId', '', '0', '10', '__proto__', 'constructor', 'toString', 'k"q', 'ключ', '😀', '\ud800']
const key = (rng: Rng): string => (rng() < 0.6 ? pick(rng, KEYS) : `k${text(rng, 6)}`)
const NUMBERS = [0, 1, -1, 1.5, -2.25, 1e300, -1e-300, 5e-324, Number.MAX_SAFE_INTEGER, 2 ** 53 + 2, 1e21, 0.1]
const timeMs = (rng: Rng): number => Math.round((rng() * 2 - 1) * (rng() < 0.5 ? 4e12 : TIME_MS_MAX))

let rope: string | undefined
/** A string of the largest length V8 allows, made of 8 shared halves (64 MiB of memory, not 512). */
export function hugeRope(): string {
  if (rope === undefined) {
    const base = 'x'.repeat(Math.floor(constants.MAX_STRING_LENGTH / 8))
    const two = base + base
    const four = two + two
    rope = four + four
  }
  return rope
}

class Point {
  x = 1
}
class Stamp {}
class SubArray extends Array {}
class SubDate extends Date {}

/** Values every row of docs/events.md refuses as not plain data. */
const REFUSED: Record<string, () => unknown> = {
  function: () => () => 1,
  symbol: () => Symbol('s'),
  bigint: () => 10n,
  nan: () => NaN,
  infinity: () => Infinity,
  '-infinity': () => -Infinity,
  'invalid-date': () => new Date(NaN),
  map: () => new Map([[1, 2]]),
  set: () => new Set([1]),
  weakmap: () => new WeakMap(),
  weakset: () => new WeakSet(),
  promise: () => Promise.resolve(1),
  regexp: () => /a+/g,
  error: () => new Error('inside'),
  typeerror: () => new TypeError('inside'),
  uint8array: () => new Uint8Array([1, 2]),
  float64array: () => new Float64Array([1.5]),
  bigint64array: () => new BigInt64Array([1n]),
  arraybuffer: () => new ArrayBuffer(4),
  sharedarraybuffer: () => new SharedArrayBuffer(4),
  dataview: () => new DataView(new ArrayBuffer(4)),
  buffer: () => Buffer.from('ab'),
  'boxed-string': () => new String('s'),
  'boxed-number': () => new Number(1),
  'class-instance': () => new Point(),
  'array-proto-object': () => Object.create(Array.prototype),
  'array-subclass': () => SubArray.from([1, 2]),
  weakref: () => new WeakRef({}),
  'tojson-throws': () =>
    Object.assign(new Stamp(), {
      toJSON() {
        throw new Error('no')
      },
    }),
}

/** Rows of the value table a property value is drawn from (containers recurse). */
export const VALUE_ROWS = [
  'string',
  'number',
  '-0',
  'boolean',
  'null',
  'date',
  'date-subclass',
  'undefined',
  'object',
  'null-proto',
  'array',
  'tojson',
  'deep',
  'cycle',
  'dag',
  'huge-string',
  'long-array',
  'sparse-array',
  ...Object.keys(REFUSED),
] as const

function gen(c: Ctx, force?: string): Val {
  const { rng } = c
  const leaf = c.depth >= 4 || rng() < 0.55
  const row =
    force ??
    (leaf
      ? rng() < 0.9
        ? pick(rng, ['string', 'string', 'number', 'number', '-0', 'boolean', 'null', 'date', 'undefined'])
        : pick(rng, VALUE_ROWS)
      : pick(rng, ['object', 'object', 'array', 'null-proto', 'tojson', 'dag']))
  switch (row) {
    case 'string': {
      const s = text(rng, 24)
      return ok(s, s, row)
    }
    case 'number': {
      const n = rng() < 0.7 ? pick(rng, NUMBERS) : (rng() - 0.5) * 10 ** int(rng, 30)
      return ok(n, n, row)
    }
    case '-0':
      return ok(-0, 0, row)
    case 'boolean': {
      const b = rng() < 0.5
      return ok(b, b, row)
    }
    case 'null':
      return ok(null, null, row)
    case 'date':
    case 'date-subclass': {
      const d = row === 'date' ? new Date(timeMs(rng)) : new SubDate(timeMs(rng))
      return ok(d, d.toISOString(), row)
    }
    case 'undefined':
      return c.inArray
        ? no(undefined, 'undefined-in-array')
        : { ok: true, v: undefined, stored: undefined, bytes: 0, rows: [row], absent: true }
    case 'object':
    case 'null-proto':
      return plainObject(c, row === 'null-proto')
    case 'array':
      return array(c)
    case 'tojson':
      return withToJSON(c)
    case 'deep':
      return deep(c)
    case 'cycle': {
      const o: Record<string, unknown> = { a: 1 }
      o.self = rng() < 0.5 ? o : [o]
      return no(o, row)
    }
    case 'dag': {
      const shared = { s: text(rng, 5), n: 1 }
      return ok({ x: shared, y: [shared] }, { x: shared, y: [shared] }, row)
    }
    case 'huge-string': {
      const s = 'x'.repeat(c.budget + 1 + int(rng, 100))
      return no(s, row, TOO_LARGE, s.length)
    }
    case 'long-array':
      return no(new Array(c.budget).fill(0), row, TOO_LARGE, c.budget * 2)
    case 'sparse-array':
      return no(new Array(2 ** 32 - 1), row, TOO_LARGE, 2 ** 32)
    case 'rope':
      return no(hugeRope(), row, TOO_LARGE, constants.MAX_STRING_LENGTH)
    case 'many-keys': {
      const o: Record<string, number> = {}
      for (let i = 0; i <= KEYS_MAX; i++) o[`k${i}`] = i
      return no(o, row, TOO_LARGE, KEYS_MAX * 8)
    }
    default:
      return no(REFUSED[row]!(), row)
  }
}

/** Combine children: all stored, or refused with every child's codes. */
function combine(children: Val[], v: unknown, stored: unknown, frame: number, row: string): Val {
  const rows = [row, ...children.flatMap((ch) => ch.rows)]
  const bad = children.filter((ch) => !ch.ok)
  if (bad.length === 0) return { ok: true, v, stored, bytes: byteLen(json(stored)), rows }
  const codes = new Set(bad.flatMap((b) => [...(b as { codes: Set<string> }).codes]))
  const bytes = children.reduce((n, ch) => n + ch.bytes + 2, frame)
  return { ok: false, v, codes, bytes, rows }
}

function child(c: Ctx, inArray: boolean): Val {
  return gen({ ...c, depth: c.depth + 1, inArray })
}

function plainObject(c: Ctx, nullProto: boolean): Val {
  const { rng, reads } = c
  const o: Record<string, unknown> = nullProto ? Object.create(null) : {}
  const stored: Record<string, unknown> = Object.create(null)
  const used = new Set<string>()
  const kids: Val[] = []
  const rows: string[] = []
  for (let n = int(rng, 6); n > 0; n--) {
    const k = key(rng)
    if (used.has(k)) continue
    used.add(k)
    const ch = child(c, false)
    const mode = rng()
    const id = `o${c.ids.n++}.${k}`
    if (mode < 0.7) {
      Object.defineProperty(o, k, { value: ch.v, enumerable: true, writable: true, configurable: true })
    } else if (mode < 0.9) {
      rows.push('getter')
      Object.defineProperty(o, k, {
        get: () => {
          const i = reads.hit(id)
          return i === 0 ? ch.v : mutant(i)
        },
        enumerable: true,
        configurable: true,
      })
    } else if (mode < 0.93) {
      rows.push('getter-throws')
      Object.defineProperty(o, k, {
        get: () => {
          reads.hit(id)
          throw new Error(`getter ${id} throws`)
        },
        enumerable: true,
      })
      kids.push(no(undefined, 'getter-throws'))
      continue
    } else if (mode < 0.97) {
      rows.push('non-enumerable')
      Object.defineProperty(o, k, { value: ch.v, enumerable: false })
      continue
    } else {
      rows.push('symbol-key')
      ;(o as Record<symbol, unknown>)[Symbol(k)] = ch.v
      continue
    }
    kids.push({ ...ch, bytes: ch.bytes + byteLen(json(k)) })
    if (ch.ok && ch.absent !== true) stored[k] = ch.stored
  }
  const val = combine(kids, o, stored, 2, nullProto ? 'null-proto' : 'object')
  val.rows.push(...rows)
  return maybeProxy(c, val)
}

function array(c: Ctx): Val {
  const { rng, reads } = c
  const a: unknown[] = []
  const stored: unknown[] = []
  const kids: Val[] = []
  const n = int(rng, 6)
  for (let i = 0; i < n; i++) {
    const ch = child(c, true)
    kids.push(ch)
    if (ch.ok) stored.push(ch.stored)
    if (rng() < 0.85) a.push(ch.v)
    else {
      const id = `a${c.ids.n++}[${i}]`
      Object.defineProperty(a, i, {
        get: () => {
          const k = reads.hit(id)
          return k === 0 ? ch.v : mutant(k)
        },
        enumerable: true,
        configurable: true,
      })
    }
  }
  const val = combine(kids, a, stored, 2, 'array')
  const odd = rng()
  if (odd < 0.04) {
    a.length = n + 1 // a hole at the end
    return { ...no(a, 'array-hole', INVALID, val.bytes), rows: [...val.rows, 'array-hole'] }
  }
  if (odd < 0.07) {
    ;(a as unknown as Record<string, unknown>).extra = 1
    return { ...no(a, 'array-extra-key', INVALID, val.bytes), rows: [...val.rows, 'array-extra-key'] }
  }
  return maybeProxy(c, val)
}

/** A class instance whose toJSON (a getter, to count reads) gives another value. */
function withToJSON(c: Ctx): Val {
  const { reads } = c
  const inner = gen({ ...c, inArray: false })
  const id = `t${c.ids.n++}`
  const inst = new Stamp()
  Object.defineProperty(inst, 'toJSON', {
    get: () => {
      reads.hit(`${id}.toJSON`)
      return () => {
        const k = reads.hit(`${id}()`)
        return k === 0 ? inner.v : mutant(k)
      }
    },
  })
  const rows = ['tojson', ...inner.rows]
  // The result is stored as any value, but its own toJSON is not called again.
  if (inner.rows[0] === 'tojson') return { ...no(inst, 'tojson'), rows }
  if (inner.ok && inner.absent === true) return { ...no(inst, 'tojson-undefined'), rows: [...rows, 'tojson-undefined'] }
  return { ...inner, v: inst, rows }
}

function deep(c: Ctx): Val {
  const levels = 50 + int(c.rng, 20)
  let v: unknown = 1
  for (let i = 0; i < levels; i++) v = c.rng() < 0.5 ? [v] : { d: v }
  // The outermost of `levels` containers sits at depth c.depth + 1, the innermost at c.depth + levels.
  return c.depth + levels > DEPTH_MAX ? no(v, 'deep', INVALID, levels * 6) : ok(v, v, 'deep')
}

function maybeProxy(c: Ctx, val: Val): Val {
  const { rng, reads } = c
  const r = rng()
  if (r >= 0.12) return val
  const target = val.v as object
  const id = `p${c.ids.n++}`
  if (r < 0.07) {
    const proxy = new Proxy(target, {
      get: (t, k, recv) => {
        if (typeof k !== 'string') return Reflect.get(t, k, recv)
        const i = reads.hit(`${id}.get.${k}`)
        return i === 0 ? Reflect.get(t, k, recv) : mutant(i)
      },
      ownKeys: (t) => {
        const i = reads.hit(`${id}.ownKeys`)
        return i === 0 ? Reflect.ownKeys(t) : ['changed']
      },
    })
    return { ...val, v: proxy, rows: [...val.rows, 'proxy'] }
  }
  if (r < 0.09) {
    const proxy = new Proxy(target, {
      ownKeys: () => {
        reads.hit(`${id}.ownKeys`)
        throw new Error('ownKeys trap throws')
      },
    })
    return { ...no(proxy, 'proxy-ownkeys-throws', INVALID, val.bytes), rows: [...val.rows, 'proxy-ownkeys-throws'] }
  }
  if (r < 0.105) {
    const proxy = new Proxy(target, {
      getPrototypeOf: () => {
        throw new Error('getPrototypeOf trap throws')
      },
    })
    return { ...no(proxy, 'proxy-proto-throws', INVALID, val.bytes), rows: [...val.rows, 'proxy-proto-throws'] }
  }
  const { proxy, revoke } = Proxy.revocable(target, {})
  revoke()
  return { ...no(proxy, 'proxy-revoked', INVALID, val.bytes), rows: [...val.rows, 'proxy-revoked'] }
}

/** Top-level variations: each names what the event carries and what must happen. */
type Top = { v: unknown; ok: true; stored: unknown; row: string } | { v: unknown; ok: false; code: string; row: string }

function getter(c: Ctx, owner: Record<string, unknown>, k: string, first: unknown): void {
  const id = `event.${k}`
  Object.defineProperty(owner, k, {
    get: () => {
      const i = c.reads.hit(id)
      return i === 0 ? first : i === 1 ? '"' : mutant(i)
    },
    enumerable: true,
    configurable: true,
  })
}

let tenMiB: string | undefined
const TEN_MIB = (): string => (tenMiB ??= 'I'.repeat(10 * 2 ** 20))

function level(c: Ctx, force?: string): Top {
  const lv = pick(c.rng, LEVELS)
  const row =
    force ?? (c.rng() < 0.9 ? 'level' : pick(c.rng, ['level-bad', 'level-huge', 'level-number', 'level-getter']))
  if (row === 'level' || row === 'level-getter') return { v: lv, ok: true, stored: lv, row }
  if (row === 'level-bad') return { v: 'Info', ok: false, code: INVALID, row }
  if (row === 'level-huge') return { v: TEN_MIB(), ok: false, code: INVALID, row }
  return { v: 3, ok: false, code: INVALID, row }
}

function template(c: Ctx, force?: string): Top {
  const t = `${text(c.rng, 30)} {UserId}`
  const row =
    force ?? (c.rng() < 0.92 ? 'template' : pick(c.rng, ['template-number', 'template-huge', 'template-getter']))
  if (row === 'template' || row === 'template-getter') return { v: t, ok: true, stored: t, row }
  if (row === 'template-huge') return { v: 'T'.repeat(c.budget + 5), ok: false, code: TOO_LARGE, row }
  return { v: 42, ok: false, code: INVALID, row }
}

export const TIME_ROWS = [
  'ts-int',
  'ts-date',
  'ts-iso',
  'ts-absent',
  'ts-max',
  'ts-min',
  'ts-1e20',
  'ts-1e16',
  'ts-2^62',
  'ts-2^53+2',
  'ts-below-min',
  'ts-float',
  'ts-nan',
  'ts-invalid-date',
  'ts-bad-string',
  'ts-huge-string',
  'ts-object',
  'ts-getter',
] as const

function timestamp(c: Ctx, force?: string): Top {
  const ms = timeMs(c.rng)
  const row = force ?? (c.rng() < 0.75 ? pick(c.rng, TIME_ROWS.slice(0, 4)) : pick(c.rng, TIME_ROWS))
  const bad = (v: unknown): Top => ({ v, ok: false, code: INVALID, row })
  switch (row) {
    case 'ts-int':
    case 'ts-getter':
      return { v: ms, ok: true, stored: ms, row }
    case 'ts-date':
      return { v: new Date(ms), ok: true, stored: ms, row }
    case 'ts-iso':
      return { v: new Date(ms).toISOString(), ok: true, stored: ms, row }
    case 'ts-absent':
      return { v: undefined, ok: true, stored: undefined, row }
    case 'ts-max':
      return { v: TIME_MS_MAX, ok: true, stored: TIME_MS_MAX, row }
    case 'ts-min':
      return { v: -TIME_MS_MAX, ok: true, stored: -TIME_MS_MAX, row }
    case 'ts-1e20':
      return bad(1e20)
    case 'ts-1e16':
      return bad(1e16)
    case 'ts-2^62':
      return bad(2 ** 62)
    case 'ts-2^53+2':
      return bad(2 ** 53 + 2)
    case 'ts-below-min':
      return bad(-TIME_MS_MAX - 1)
    case 'ts-float':
      return bad(Math.round(ms / 1e4) + 0.5) // small enough that the half survives in a double
    case 'ts-nan':
      return bad(NaN)
    case 'ts-invalid-date':
      return bad(new Date(NaN))
    case 'ts-bad-string':
      return bad('yesterday-ish')
    case 'ts-huge-string':
      return bad('2024-01-01T00:00:00Z' + ' '.repeat(10 * 2 ** 20))
    default:
      return bad({ ms })
  }
}

export const EXCEPTION_ROWS = [
  'exc-absent',
  'exc-string',
  'exc-error',
  'exc-stack-getter',
  'exc-stack-throws',
  'exc-stack-object',
  'exc-bad-message',
  'exc-number',
  'exc-object',
  'exc-huge',
] as const

function exception(c: Ctx, force?: string): Top {
  const row =
    force ??
    (c.rng() < 0.6
      ? 'exc-absent'
      : c.rng() < 0.5
        ? pick(c.rng, ['exc-string', 'exc-error'])
        : pick(c.rng, EXCEPTION_ROWS))
  const msg = text(c.rng, 20)
  switch (row) {
    case 'exc-absent':
      return { v: undefined, ok: true, stored: undefined, row }
    case 'exc-string':
      return { v: `Error: ${msg}`, ok: true, stored: `Error: ${msg}`, row }
    case 'exc-error': {
      const e = new RangeError(msg)
      return { v: e, ok: true, stored: e.stack, row }
    }
    case 'exc-stack-getter': {
      const e = new Error(msg)
      const first = `Error: ${msg}\n    at first (read.js:1:1)`
      getter(c, e as unknown as Record<string, unknown>, 'stack', first)
      return { v: e, ok: true, stored: first, row }
    }
    case 'exc-stack-throws': {
      const e = new TypeError(msg)
      Object.defineProperty(e, 'stack', {
        get: () => {
          c.reads.hit('exception.stack')
          throw new Error('stack getter throws')
        },
      })
      return { v: e, ok: true, stored: `TypeError: ${msg}`, row }
    }
    case 'exc-stack-object': {
      const e = new Error(msg)
      Object.defineProperty(e, 'stack', { value: { not: 'a string' } })
      return { v: e, ok: true, stored: `Error: ${msg}`, row }
    }
    case 'exc-bad-message': {
      const e = new Error(msg)
      Object.defineProperty(e, 'stack', { value: 7 })
      Object.defineProperty(e, 'message', { value: { not: 'a string' } })
      return { v: e, ok: false, code: INVALID, row }
    }
    case 'exc-huge':
      return { v: 'E'.repeat(c.budget + 1), ok: false, code: TOO_LARGE, row }
    case 'exc-number':
      return { v: 500, ok: false, code: INVALID, row }
    default:
      return { v: { message: msg }, ok: false, code: INVALID, row }
  }
}

export const PROPS_ROWS = [
  'props',
  'props-absent',
  'props-array',
  'props-null',
  'props-map',
  'props-date',
  'props-class',
  'props-string',
] as const

function properties(c: Ctx, force?: string, forceValue?: string): { top: Top; val?: Val } {
  const row = forceValue !== undefined ? 'props' : (force ?? (c.rng() < 0.9 ? 'props' : pick(c.rng, PROPS_ROWS)))
  const bad = (v: unknown): { top: Top } => ({ top: { v, ok: false, code: INVALID, row } })
  switch (row) {
    case 'props': {
      const root = plainObject({ ...c, depth: 0 }, c.rng() < 0.1)
      if (forceValue === undefined) return { top: { v: root.v, ok: true, stored: undefined, row }, val: root }
      // An anchor case: one value of the forced row beside whatever the root holds.
      const ch = gen({ ...c, depth: 1, inArray: false }, forceValue)
      const o = { forced: ch.v }
      const stored = ch.ok && ch.absent !== true ? { forced: ch.stored } : {}
      return { top: { v: o, ok: true, stored: undefined, row }, val: combine([ch], o, stored, 12, 'object') }
    }
    case 'props-absent':
      return { top: { v: undefined, ok: true, stored: undefined, row } }
    case 'props-array':
      return bad([1, 2])
    case 'props-null':
      return bad(null)
    case 'props-map':
      return bad(new Map())
    case 'props-date':
      return bad(new Date(0))
    case 'props-class':
      return bad(new Point())
    default:
      return bad('UserId=u-1')
  }
}

export const EVENT_ROWS = [
  'event-plain',
  'event-proxy',
  'event-class',
  'event-proxy-throws',
  'event-null',
  'event-number',
] as const

/** Rows that anchor cases force, one per case, before the random mixes begin. */
export const ANCHORS: {
  part: 'value' | 'level' | 'template' | 'timestamp' | 'exception' | 'properties' | 'event'
  row: string
}[] = [
  ...[...VALUE_ROWS, 'rope', 'many-keys'].map((row) => ({ part: 'value' as const, row })),
  ...['level-bad', 'level-huge', 'level-number', 'level-getter'].map((row) => ({ part: 'level' as const, row })),
  ...['template-number', 'template-huge', 'template-getter'].map((row) => ({ part: 'template' as const, row })),
  ...TIME_ROWS.map((row) => ({ part: 'timestamp' as const, row })),
  ...EXCEPTION_ROWS.map((row) => ({ part: 'exception' as const, row })),
  ...PROPS_ROWS.map((row) => ({ part: 'properties' as const, row })),
  ...EVENT_ROWS.map((row) => ({ part: 'event' as const, row })),
]

/** Case `index` of the run seeded `seed`: the same pair always gives the same case. */
export function makeCase(seed: number, index: number, budget: number): Case {
  const rng = mulberry32(mix(seed, index))
  const reads = new Reads()
  const c: Ctx = { rng, reads, depth: 0, inArray: false, budget, ids: { n: 0 } }
  const anchor = index < ANCHORS.length ? ANCHORS[index]! : undefined
  const f = (part: string): string | undefined => (anchor?.part === part ? anchor.row : undefined)
  const lv = level(c, f('level'))
  const tp = template(c, f('template'))
  const ts = timestamp(c, f('timestamp'))
  const pr = properties(c, f('properties'), f('value'))
  const ex = exception(c, f('exception'))
  const evRow = f('event') ?? (rng() < 0.9 ? 'event-plain' : pick(rng, EVENT_ROWS))

  const fields: Record<string, unknown> = {}
  const put = (k: string, t: Top): void => {
    if (t.v === undefined) return
    if (t.row.endsWith('-getter') && k !== 'exception') getter(c, fields, k, t.v)
    else fields[k] = t.v
  }
  put('level', lv)
  put('messageTemplate', tp)
  put('timestamp', ts)
  put('properties', pr.top)
  put('exception', ex)

  const rows = [lv.row, tp.row, ts.row, pr.top.row, ex.row, evRow, ...(pr.val?.rows ?? [])]
  const codes = new Set<string>()
  for (const t of [lv, tp, ts, pr.top, ex]) if (!t.ok) codes.add(t.code)
  if (pr.val !== undefined && !pr.val.ok) for (const code of pr.val.codes) codes.add(code)

  let ev: unknown = fields
  if (evRow === 'event-proxy') {
    ev = new Proxy(fields, {
      get: (t, k, r) => {
        if (typeof k === 'string') reads.hit(`event.get.${k}`)
        return Reflect.get(t, k, r)
      },
    })
  } else if (evRow === 'event-class') {
    // The five fields as getters on a prototype: read once each, like own ones.
    const proto = {}
    for (const k of Object.keys(fields)) Object.defineProperty(proto, k, Object.getOwnPropertyDescriptor(fields, k)!)
    ev = Object.create(proto)
  } else if (evRow === 'event-proxy-throws') {
    ev = new Proxy(fields, {
      get: () => {
        throw new Error('get trap throws')
      },
    })
    codes.add(INVALID)
  } else if (evRow === 'event-null' || evRow === 'event-number') {
    ev = evRow === 'event-null' ? null : 7
    codes.add(INVALID)
  }

  const body: Record<string, unknown> = {
    level: lv.ok ? lv.stored : 'Information',
    messageTemplate: tp.ok ? tp.stored : '',
  }
  const props = pr.val?.ok === true ? pr.val.stored : pr.val === undefined ? undefined : {}
  if (props !== undefined) body.properties = props
  if (ex.ok && ex.stored !== undefined) body.exception = ex.stored
  const bytes = byteLen(json(body)) + (pr.val !== undefined && !pr.val.ok ? pr.val.bytes : 0)
  if (bytes > budget) codes.add(TOO_LARGE)
  if (codes.size > 0) return { index, ev, reads, rows, expect: { ok: false, codes } }
  // What readLog gives back: properties {} when none were given.
  const back = {
    level: body.level,
    messageTemplate: body.messageTemplate,
    properties: props ?? {},
    exception: body.exception,
  }
  return {
    index,
    ev,
    reads,
    rows,
    expect: { ok: true, body: json(back), timeMs: ts.ok ? (ts.stored as number | undefined) : undefined },
  }
}
