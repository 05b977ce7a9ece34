/**
 * The op journal of a simulated disk, in a SharedArrayBuffer: the writer
 * worker's SimFs appends every mutation; the runner (another thread) reads the
 * op count at the instant each emit resolves, and decodes the whole journal
 * after the run to rebuild the disk at any point. No messages: the writer's
 * own message protocol stays untouched.
 *
 * Layout: Int32 [0] op count (stored after the op is fully written),
 * [1] bytes used, [2] overflow flag, [3] I/O calls served; records from byte 16:
 * u8 kind, then fields (u32 inode, f64 position/length, u16-length UTF-8 strings,
 * u32-length data).
 */

import type { Op } from './sim-fs.js'

const HDR = 16
const KIND = { mkdir: 1, create: 2, write: 3, trunc: 4, sync: 5, rename: 6, unlink: 7, syncDir: 8 } as const
const NAMES = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k])) as Record<number, Op['k']>

export class JournalWriter {
  private readonly i32: Int32Array
  private readonly u8: Uint8Array
  private readonly dv: DataView
  private pos: number

  constructor(sab: SharedArrayBuffer) {
    this.i32 = new Int32Array(sab, 0, 4)
    this.u8 = new Uint8Array(sab)
    this.dv = new DataView(sab)
    this.pos = HDR + Atomics.load(this.i32, 1)
  }

  private str(s: string): void {
    const b = Buffer.from(s)
    this.dv.setUint16(this.pos, b.length, true)
    this.u8.set(b, this.pos + 2)
    this.pos += 2 + b.length
  }

  append(op: Op): void {
    const need =
      64 +
      (op.k === 'write' ? op.data.length : 0) +
      ('path' in op ? op.path.length * 3 : 0) +
      ('from' in op ? (op.from.length + op.to.length) * 3 : 0) +
      ('dir' in op ? op.dir.length * 3 : 0)
    if (this.pos + need > this.u8.length) {
      Atomics.store(this.i32, 2, 1)
      throw new Error('torture journal overflow: give the run a larger journal')
    }
    this.u8[this.pos++] = KIND[op.k]
    switch (op.k) {
      case 'mkdir':
      case 'syncDir':
        this.str(op.dir)
        break
      case 'create':
        this.str(op.path)
        this.dv.setUint32(this.pos, op.ino, true)
        this.pos += 4
        break
      case 'write':
        this.dv.setUint32(this.pos, op.ino, true)
        this.dv.setFloat64(this.pos + 4, op.pos, true)
        this.dv.setUint32(this.pos + 12, op.data.length, true)
        this.u8.set(op.data, this.pos + 16)
        this.pos += 16 + op.data.length
        break
      case 'trunc':
        this.dv.setUint32(this.pos, op.ino, true)
        this.dv.setFloat64(this.pos + 4, op.len, true)
        this.pos += 12
        break
      case 'sync':
        this.dv.setUint32(this.pos, op.ino, true)
        this.pos += 4
        break
      case 'rename':
        this.str(op.from)
        this.str(op.to)
        break
      case 'unlink':
        this.str(op.path)
        break
    }
    Atomics.store(this.i32, 1, this.pos - HDR)
    Atomics.add(this.i32, 0, 1)
  }
}

export function journalCount(sab: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(sab, 0, 4), 0)
}

/** I/O calls (of any kind, reads too) the storage served so far. */
export function journalIoCalls(sab: SharedArrayBuffer): number {
  return Atomics.load(new Int32Array(sab, 0, 4), 3)
}

export function resetJournal(sab: SharedArrayBuffer): void {
  const i = new Int32Array(sab, 0, 4)
  Atomics.store(i, 3, 0)
  Atomics.store(i, 0, 0)
  Atomics.store(i, 1, 0)
  Atomics.store(i, 2, 0)
}

export function readJournal(sab: SharedArrayBuffer): Op[] {
  const i32 = new Int32Array(sab, 0, 4)
  if (Atomics.load(i32, 2) !== 0) throw new Error('torture journal overflowed')
  const count = Atomics.load(i32, 0)
  const u8 = new Uint8Array(sab)
  const dv = new DataView(sab)
  let pos = HDR
  const str = (): string => {
    const n = dv.getUint16(pos, true)
    const s = Buffer.from(u8.subarray(pos + 2, pos + 2 + n)).toString()
    pos += 2 + n
    return s
  }
  const ops: Op[] = []
  for (let c = 0; c < count; c++) {
    const k = NAMES[u8[pos++]!]
    switch (k) {
      case 'mkdir':
        ops.push({ k, dir: str() })
        break
      case 'syncDir':
        ops.push({ k, dir: str() })
        break
      case 'create': {
        const path = str()
        ops.push({ k, path, ino: dv.getUint32(pos, true) })
        pos += 4
        break
      }
      case 'write': {
        const ino = dv.getUint32(pos, true)
        const at = dv.getFloat64(pos + 4, true)
        const n = dv.getUint32(pos + 12, true)
        ops.push({ k, ino, pos: at, data: Buffer.from(u8.subarray(pos + 16, pos + 16 + n)) })
        pos += 16 + n
        break
      }
      case 'trunc':
        ops.push({ k, ino: dv.getUint32(pos, true), len: dv.getFloat64(pos + 4, true) })
        pos += 12
        break
      case 'sync':
        ops.push({ k, ino: dv.getUint32(pos, true) })
        pos += 4
        break
      case 'rename': {
        const from = str()
        ops.push({ k, from, to: str() })
        break
      }
      case 'unlink':
        ops.push({ k, path: str() })
        break
      default:
        throw new Error(`torture journal: unknown op kind at byte ${pos - 1}`)
    }
  }
  return ops
}
