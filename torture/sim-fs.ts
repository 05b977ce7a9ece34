/**
 * A simulated file system with power-loss semantics (LazyFS / SQLite crash-test
 * style), the disk under the PowerLoss, IOErrorSweep, DiskFull, Byzantine and
 * CrashDuringRecovery scenarios.
 *
 *   ops ──► volatile view (what reads see, like the page cache)
 *      └──► per inode: durable bytes + pending data ops since the last fsync
 *           per directory: durable entries + pending create/rename/unlink since
 *           the last directory fsync
 *   crash(policy, rng) ──► the files a reboot would find:
 *     durable entries + a prefix of the pending directory ops (metadata is
 *     journaled in order), and per file its durable bytes + a random subset of
 *     its pending writes/truncates, optionally reordered, the last one torn at
 *     a random byte or at random 512-byte sectors.
 *
 * fsync/fdatasync make an inode's data and size durable, not its name; only a
 * directory fsync makes a create, rename or unlink durable. Every mutation is
 * reported to `onOp` so a run can be journaled and replayed to any point.
 */

import { type Rng, shuffle } from './prng.js'

export type Files = Map<string, Map<string, Buffer>>

export type Op =
  | { k: 'mkdir'; dir: string }
  | { k: 'create'; path: string; ino: number }
  | { k: 'write'; ino: number; pos: number; data: Buffer }
  | { k: 'trunc'; ino: number; len: number }
  | { k: 'sync'; ino: number }
  | { k: 'rename'; from: string; to: string }
  | { k: 'unlink'; path: string }
  | { k: 'syncDir'; dir: string }

type DataOp = { k: 'write'; pos: number; data: Buffer } | { k: 'trunc'; len: number }
type DirOp =
  { k: 'link'; name: string; ino: number } | { k: 'unlink'; name: string } | { k: 'rename'; from: string; to: string }

interface Inode {
  data: Buffer
  size: number
  durable: Buffer
  pending: DataOp[]
}

interface Dir {
  entries: Map<string, number>
  durable: Map<string, number>
  pending: DirOp[]
}

export interface CrashPolicy {
  /** Pending directory ops that survive: none, a random prefix, or all. */
  dirOps: 'none' | 'prefix' | 'all'
  /** Probability that each pending data op survives. */
  keep: number
  /** Apply the surviving data ops in random order. */
  reorder: boolean
  /** How the last surviving write is torn. */
  tear: 'none' | 'prefix' | 'sectors'
}

export const SECTOR_BYTES = 512

export function errno(code: string, what: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${what}`) as NodeJS.ErrnoException
  e.code = code
  return e
}

export function splitPath(p: string): [string, string] {
  const i = p.lastIndexOf('/')
  return [i <= 0 ? '/' : p.slice(0, i), p.slice(i + 1)]
}

function grow(ino: Inode, need: number): void {
  if (ino.data.length >= need) return
  const b = Buffer.alloc(Math.max(need, ino.data.length * 2, 4096))
  ino.data.copy(b, 0, 0, ino.size)
  ino.data = b
}

export class SimFs {
  private readonly dirs = new Map<string, Dir>()
  private readonly inodes = new Map<number, Inode>()
  private nextIno = 1
  onOp: ((op: Op) => void) | undefined

  /** A file system whose files are all durable. */
  static from(files: Files | undefined): SimFs {
    const fs = new SimFs()
    if (files === undefined) return fs
    for (const [dir, names] of files) {
      const d: Dir = { entries: new Map(), durable: new Map(), pending: [] }
      fs.dirs.set(dir, d)
      for (const [name, content] of names) {
        const ino = fs.nextIno++
        fs.inodes.set(ino, {
          data: Buffer.from(content),
          size: content.length,
          durable: Buffer.from(content),
          pending: [],
        })
        d.entries.set(name, ino)
        d.durable.set(name, ino)
      }
    }
    return fs
  }

  private dir(dir: string): Dir {
    const d = this.dirs.get(dir)
    if (d === undefined) throw errno('ENOENT', `no such directory ${dir}`)
    return d
  }

  hasDir(dir: string): boolean {
    return this.dirs.has(dir)
  }

  mkdir(dir: string): void {
    if (this.dirs.has(dir)) return
    // Directory creation is treated as durable (the WAL directory exists before the writer runs).
    this.dirs.set(dir, { entries: new Map(), durable: new Map(), pending: [] })
    this.onOp?.({ k: 'mkdir', dir })
  }

  readdir(dir: string): string[] {
    return [...this.dir(dir).entries.keys()]
  }

  lookup(path: string): number | undefined {
    const [dir, name] = splitPath(path)
    return this.dirs.get(dir)?.entries.get(name)
  }

  create(path: string, want?: number): number {
    const [dirName, name] = splitPath(path)
    const d = this.dir(dirName)
    if (d.entries.has(name)) throw errno('EEXIST', `file exists ${path}`)
    const ino = want ?? this.nextIno
    this.nextIno = Math.max(this.nextIno, ino + 1)
    this.inodes.set(ino, { data: Buffer.alloc(0), size: 0, durable: Buffer.alloc(0), pending: [] })
    d.entries.set(name, ino)
    d.pending.push({ k: 'link', name, ino })
    this.onOp?.({ k: 'create', path, ino })
    return ino
  }

  size(ino: number): number {
    return this.inode(ino).size
  }

  private inode(ino: number): Inode {
    const i = this.inodes.get(ino)
    if (i === undefined) throw errno('EBADF', `no inode ${ino}`)
    return i
  }

  read(ino: number, buf: Uint8Array, off: number, len: number, pos: number): number {
    const i = this.inode(ino)
    if (pos >= i.size) return 0
    const n = Math.min(len, i.size - pos)
    buf.set(i.data.subarray(pos, pos + n), off)
    return n
  }

  write(ino: number, pos: number, data: Buffer): void {
    const i = this.inode(ino)
    grow(i, pos + data.length)
    if (pos > i.size) i.data.fill(0, i.size, pos)
    data.copy(i.data, pos)
    i.size = Math.max(i.size, pos + data.length)
    i.pending.push({ k: 'write', pos, data })
    this.onOp?.({ k: 'write', ino, pos, data })
  }

  truncate(ino: number, len: number): void {
    const i = this.inode(ino)
    grow(i, len)
    if (len > i.size) i.data.fill(0, i.size, len)
    i.size = len
    i.pending.push({ k: 'trunc', len })
    this.onOp?.({ k: 'trunc', ino, len })
  }

  sync(ino: number): void {
    const i = this.inode(ino)
    i.durable = Buffer.from(i.data.subarray(0, i.size))
    i.pending = []
    this.onOp?.({ k: 'sync', ino })
  }

  rename(from: string, to: string): void {
    const [fd, fn] = splitPath(from)
    const [td, tn] = splitPath(to)
    if (fd !== td) throw errno('EXDEV', 'rename across directories is not simulated')
    const d = this.dir(fd)
    const ino = d.entries.get(fn)
    if (ino === undefined) throw errno('ENOENT', `no such file ${from}`)
    d.entries.delete(fn)
    d.entries.set(tn, ino)
    d.pending.push({ k: 'rename', from: fn, to: tn })
    this.onOp?.({ k: 'rename', from, to })
  }

  unlink(path: string): void {
    const [dirName, name] = splitPath(path)
    const d = this.dir(dirName)
    if (!d.entries.has(name)) throw errno('ENOENT', `no such file ${path}`)
    d.entries.delete(name)
    d.pending.push({ k: 'unlink', name })
    this.onOp?.({ k: 'unlink', path })
  }

  syncDir(dir: string): void {
    const d = this.dir(dir)
    d.durable = new Map(d.entries)
    d.pending = []
    this.onOp?.({ k: 'syncDir', dir })
  }

  /** Replay one journaled op (same effect as the call that produced it). */
  apply(op: Op): void {
    switch (op.k) {
      case 'mkdir':
        return this.mkdir(op.dir)
      case 'create':
        this.create(op.path, op.ino)
        return
      case 'write':
        return this.write(op.ino, op.pos, op.data)
      case 'trunc':
        return this.truncate(op.ino, op.len)
      case 'sync':
        return this.sync(op.ino)
      case 'rename':
        return this.rename(op.from, op.to)
      case 'unlink':
        return this.unlink(op.path)
      case 'syncDir':
        return this.syncDir(op.dir)
    }
  }

  /** Bytes held by all linked files (for a simulated full disk). */
  usedBytes(): number {
    let n = 0
    for (const i of this.inodes.values()) n += i.size
    return n
  }

  /** What every reader sees now (no crash). */
  volatileFiles(): Files {
    const out: Files = new Map()
    for (const [dir, d] of this.dirs) {
      const m = new Map<string, Buffer>()
      for (const [name, ino] of d.entries) {
        const i = this.inodes.get(ino)!
        m.set(name, Buffer.from(i.data.subarray(0, i.size)))
      }
      out.set(dir, m)
    }
    return out
  }

  /** True when nothing is pending anywhere: a crash now loses nothing. */
  quiescent(): boolean {
    for (const d of this.dirs.values()) if (d.pending.length > 0) return false
    for (const i of this.inodes.values()) if (i.pending.length > 0) return false
    return true
  }

  /** The files a reboot after a power loss right now would find. */
  crash(policy: CrashPolicy, rng: Rng): Files {
    const out: Files = new Map()
    const contents = new Map<number, Buffer>()
    for (const [dir, d] of this.dirs) {
      const entries = new Map(d.durable)
      const n =
        policy.dirOps === 'all'
          ? d.pending.length
          : policy.dirOps === 'none'
            ? 0
            : Math.floor(rng() * (d.pending.length + 1))
      for (let k = 0; k < n; k++) {
        const op = d.pending[k]!
        if (op.k === 'link') entries.set(op.name, op.ino)
        else if (op.k === 'unlink') entries.delete(op.name)
        else {
          const ino = entries.get(op.from)
          if (ino !== undefined) {
            entries.delete(op.from)
            entries.set(op.to, ino)
          }
        }
      }
      const m = new Map<string, Buffer>()
      for (const [name, ino] of entries) {
        let c = contents.get(ino)
        if (c === undefined) {
          c = this.crashInode(this.inodes.get(ino)!, policy, rng)
          contents.set(ino, c)
        }
        m.set(name, c)
      }
      out.set(dir, m)
    }
    return out
  }

  private crashInode(i: Inode, policy: CrashPolicy, rng: Rng): Buffer {
    if (i.pending.length === 0) return Buffer.from(i.durable)
    let kept = i.pending.filter(() => policy.keep >= 1 || rng() < policy.keep)
    if (policy.reorder && kept.length > 1) kept = shuffle(rng, [...kept])
    let buf = Buffer.alloc(Math.max(i.durable.length, 4096))
    i.durable.copy(buf)
    let size = i.durable.length
    const ensure = (need: number): void => {
      if (buf.length >= need) return
      const b = Buffer.alloc(Math.max(need, buf.length * 2))
      buf.copy(b, 0, 0, size)
      buf = b
    }
    let lastWrite = -1
    for (let k = kept.length - 1; k >= 0; k--)
      if (kept[k]!.k === 'write') {
        lastWrite = k
        break
      }
    for (let k = 0; k < kept.length; k++) {
      const op = kept[k]!
      if (op.k === 'trunc') {
        ensure(op.len)
        if (op.len > size) buf.fill(0, size, op.len)
        size = op.len
        continue
      }
      let data = op.data
      if (k === lastWrite && policy.tear === 'prefix') data = data.subarray(0, Math.floor(rng() * (data.length + 1)))
      ensure(op.pos + op.data.length)
      if (op.pos > size) buf.fill(0, size, op.pos)
      if (k === lastWrite && policy.tear === 'sectors') {
        // Sectors of the write persist independently; a lost one keeps what was there (zeros past the old end).
        const end = op.pos + data.length
        if (end > size) buf.fill(0, size, end)
        for (let s = op.pos - (op.pos % SECTOR_BYTES); s < end; s += SECTOR_BYTES) {
          if (rng() < 0.5) continue
          const a = Math.max(s, op.pos)
          const b = Math.min(s + SECTOR_BYTES, end)
          data.copy(buf, a, a - op.pos, b - op.pos)
        }
        size = Math.max(size, end)
        continue
      }
      data.copy(buf, op.pos)
      size = Math.max(size, op.pos + data.length)
    }
    return Buffer.from(buf.subarray(0, size))
  }
}

export function cloneFiles(f: Files): Files {
  const out: Files = new Map()
  for (const [d, m] of f) out.set(d, new Map([...m].map(([n, b]) => [n, Buffer.from(b)])))
  return out
}

/** Plain-object form for workerData (structured clone keeps Uint8Array). */
export function filesToWire(f: Files): Record<string, Record<string, Uint8Array>> {
  const o: Record<string, Record<string, Uint8Array>> = {}
  for (const [d, m] of f) {
    o[d] = {}
    for (const [n, b] of m) o[d]![n] = b
  }
  return o
}

export function filesFromWire(o: Record<string, Record<string, Uint8Array>> | undefined): Files {
  const f: Files = new Map()
  if (o === undefined) return f
  for (const d of Object.keys(o))
    f.set(d, new Map(Object.entries(o[d]!).map(([n, b]) => [n, Buffer.from(b.buffer, b.byteOffset, b.byteLength)])))
  return f
}

export const POLICIES: Record<string, CrashPolicy> = {
  /** A process crash (kill -9): every write the kernel accepted survives. */
  process: { dirOps: 'all', keep: 1, reorder: false, tear: 'none' },
  /** Power loss that drops everything unsynced. */
  dropAll: { dirOps: 'none', keep: 0, reorder: false, tear: 'none' },
}

/** A random power-loss policy (LazyFS-style: subsets, reordering, torn writes). */
export function randomPolicy(rng: Rng): CrashPolicy {
  const r = rng()
  if (r < 0.15) return POLICIES.dropAll!
  if (r < 0.25) return POLICIES.process!
  return {
    dirOps: rng() < 0.34 ? 'none' : rng() < 0.5 ? 'prefix' : 'all',
    keep: rng() < 0.3 ? 1 : rng(),
    reorder: rng() < 0.5,
    tear: rng() < 0.34 ? 'none' : rng() < 0.5 ? 'prefix' : 'sectors',
  }
}

export function describePolicy(p: CrashPolicy): string {
  return `dirOps=${p.dirOps} keep=${p.keep.toFixed(2)} reorder=${p.reorder} tear=${p.tear}`
}
