/**
 * A Storage (shared/storage.ts) over the simulated disk of sim-fs.ts. The
 * writer worker loads it through AuditSink.open({ storage: { module, config } })
 * (createStorage below); the runner also wraps a SimFs with it in-process to
 * run the real recovery code (workers/writer/resume.ts) on a crash state.
 *
 * Besides power-loss journaling it injects, all seeded and counted:
 *   faults      errno on the nth call of one operation or of any I/O call ('io'),
 *               once or persistent; pwrite may tear first (tearAt bytes)
 *   diskBytes   a full disk: writes past the limit are short, then ENOSPC
 *   byzantine   misread (the nth pread returns one wrong byte), misdirect (the nth
 *               pwrite lands elsewhere), lying sync (the nth fdatasync/fsync says
 *               ok and persists nothing)
 *   clock       replaces Date.now in the writer thread with a wall clock that
 *               jumps backward and forward (segment createdMs, side-file names)
 */

import type { Storage } from '../shared/storage.js'
import { JournalWriter } from './journal.js'
import { mulberry32 } from './prng.js'
import { errno, filesFromWire, SimFs, splitPath } from './sim-fs.js'

export type SimOp = keyof Storage | 'io'

export interface SimFault {
  op: SimOp
  nth: number
  code: string
  persistent?: boolean
  /** pwrite: put this many bytes of the request on the disk before failing. */
  tearAt?: number
}

export interface Byzantine {
  misreadNth?: number
  misdirectNth?: number
  /** Bytes the misdirected write is moved by (negative: earlier; clamped at 0). */
  misdirectBy?: number
  lieSyncNth?: number
  /** Every fdatasync/fsync from the nth on lies (a disk cache that ignores flushes). */
  lieSyncFrom?: number
  seed?: number
}

export interface SimConfig {
  journal?: SharedArrayBuffer
  initial?: Record<string, Record<string, Uint8Array>>
  faults?: SimFault[]
  diskBytes?: number
  byzantine?: Byzantine
  clock?: { seed: number; startMs: number }
}

export interface SimCounters {
  calls: Map<SimOp, number>
  /** Shared copy of the 'io' count, readable from another thread. */
  ioShared?: Int32Array
  /** Injected faults that fired, in order. */
  fired: string[]
}

/** Wrap a SimFs as a Storage. */
export function simStorage(
  fs: SimFs,
  cfg: Omit<SimConfig, 'journal' | 'initial'> = {},
  counters: SimCounters = { calls: new Map(), fired: [] },
): Storage {
  const fds = new Map<number, { ino: number; path: string }>()
  let nextFd = 100
  const faults = cfg.faults ?? []
  const byz = cfg.byzantine ?? {}
  const rng = mulberry32(byz.seed ?? 1)
  const count = (op: SimOp): number => {
    const n = (counters.calls.get(op) ?? 0) + 1
    counters.calls.set(op, n)
    return n
  }
  function check(op: keyof Storage, path: string): SimFault | undefined {
    const n = count(op)
    const io = count('io')
    if (counters.ioShared !== undefined) Atomics.store(counters.ioShared, 0, io)
    for (const f of faults) {
      const k = f.op === 'io' ? io : f.op === op ? n : -1
      if (k < 0) continue
      if (k === f.nth || (f.persistent === true && k > f.nth)) {
        counters.fired.push(`${op}#${n} (io #${io}) ${f.code} ${path}`)
        return f
      }
    }
    return undefined
  }
  const guard = <T>(op: keyof Storage, path: string, run: () => T): T => {
    const f = check(op, path)
    if (f !== undefined) throw errno(f.code, `injected fault, ${op} '${path}'`)
    return run()
  }
  const fdOf = (fd: number): { ino: number; path: string } => {
    const e = fds.get(fd)
    if (e === undefined) throw errno('EBADF', `bad descriptor ${fd}`)
    return e
  }
  const pathOf = (fd: number): string => fds.get(fd)?.path ?? ''
  let syncs = 0
  const sync = (op: 'fdatasync' | 'fsync', fd: number): void =>
    guard(op, pathOf(fd), () => {
      syncs++
      if (byz.lieSyncNth === syncs || (byz.lieSyncFrom !== undefined && syncs >= byz.lieSyncFrom)) {
        counters.fired.push(`${op} #${syncs} lied: reported success, persisted nothing (${pathOf(fd)})`)
        return
      }
      fs.sync(fdOf(fd).ino)
    })
  let reads = 0
  let writes = 0
  return {
    readdir: (dir) => guard('readdir', dir, () => fs.readdir(dir)),
    mkdirp: (dir) =>
      guard('mkdirp', dir, () => {
        // Parents are implied: the simulated disk only models the WAL directories.
        fs.mkdir(dir)
      }),
    open: (path, flags) =>
      guard('open', path, () => {
        let ino = fs.lookup(path)
        if (flags === 'wx') {
          if (ino !== undefined) throw errno('EEXIST', `file exists '${path}'`)
          if (!fs.hasDir(splitPath(path)[0])) throw errno('ENOENT', `no such directory for '${path}'`)
          ino = fs.create(path)
        } else if (ino === undefined) throw errno('ENOENT', `no such file '${path}'`)
        const fd = nextFd++
        fds.set(fd, { ino, path })
        return fd
      }),
    close: (fd) => {
      fdOf(fd)
      fds.delete(fd)
    },
    size: (fd) => guard('size', pathOf(fd), () => fs.size(fdOf(fd).ino)),
    pread: (fd, buf, off, len, pos) =>
      guard('pread', pathOf(fd), () => {
        const n = fs.read(fdOf(fd).ino, buf, off, len, pos)
        reads++
        if (byz.misreadNth === reads && n > 0) {
          const at = off + Math.floor(rng() * n)
          buf[at] = buf[at]! ^ (1 << Math.floor(rng() * 8))
          counters.fired.push(`pread #${reads} returned a wrong byte at file offset ${pos + at - off} (${pathOf(fd)})`)
        }
        return n
      }),
    pwrite: (fd, buf, off, len, pos) => {
      const e = fdOf(fd)
      const f = check('pwrite', e.path)
      const data = Buffer.from(buf.buffer, buf.byteOffset + off, len)
      if (f !== undefined) {
        if (f.tearAt !== undefined && f.tearAt > 0)
          fs.write(e.ino, pos, Buffer.from(data.subarray(0, Math.min(f.tearAt, len))))
        throw errno(f.code, `injected fault, pwrite '${e.path}'`)
      }
      let n = len
      if (cfg.diskBytes !== undefined) {
        const grows = Math.max(0, pos + len - fs.size(e.ino))
        const free = cfg.diskBytes - fs.usedBytes()
        if (grows > free) {
          n = Math.max(0, len - (grows - Math.max(free, 0)))
          if (n === 0) {
            counters.fired.push(`pwrite ENOSPC at ${pos} (${e.path}), disk ${cfg.diskBytes} bytes full`)
            throw errno('ENOSPC', `no space left on device, pwrite '${e.path}'`)
          }
        }
      }
      writes++
      let at = pos
      if (byz.misdirectNth === writes) {
        at = Math.max(0, pos + (byz.misdirectBy ?? -512))
        counters.fired.push(`pwrite #${writes} of ${len} bytes misdirected from ${pos} to ${at} (${e.path})`)
      }
      fs.write(e.ino, at, Buffer.from(data.subarray(0, n)))
      return n
    },
    fdatasync: (fd) => sync('fdatasync', fd),
    // The optional async form: the data persists when the promise settles (on a later turn), as with libuv's pool.
    fdatasyncAsync: (fd) =>
      new Promise<void>((resolve, reject) =>
        setImmediate(() => {
          try {
            sync('fdatasync', fd)
            resolve()
          } catch (err) {
            reject(err)
          }
        }),
      ),
    fsync: (fd) => sync('fsync', fd),
    fsyncDir: (dir) => guard('fsyncDir', dir, () => fs.syncDir(dir)),
    truncate: (fd, len) => guard('truncate', pathOf(fd), () => fs.truncate(fdOf(fd).ino, len)),
    rename: (from, to) => guard('rename', from, () => fs.rename(from, to)),
    unlink: (path) => guard('unlink', path, () => fs.unlink(path)),
    readSmall: (path) =>
      guard('readSmall', path, () => {
        const ino = fs.lookup(path)
        if (ino === undefined) return undefined
        const b = Buffer.alloc(fs.size(ino))
        fs.read(ino, b, 0, b.length, 0)
        return b
      }),
  }
}

/** Replace Date.now in this thread with a seeded clock that jumps back and forward. */
export function installJumpyClock(seed: number, startMs: number): void {
  const rng = mulberry32(seed)
  let t = startMs
  Date.now = () => {
    const r = rng()
    if (r < 0.2)
      t -= Math.floor(rng() * 3_600_000) // back up to an hour
    else if (r < 0.3)
      t += Math.floor(rng() * 86_400_000) // forward up to a day
    else if (r < 0.5) {
      /* stuck */
    } else t += Math.floor(rng() * 5)
    return t
  }
}

/** Entry point for the writer worker (shared/storage.ts loadStorage). */
export function createStorage(config: SimConfig = {}): Storage {
  const fs = SimFs.from(filesFromWire(config.initial))
  if (config.journal !== undefined) {
    const j = new JournalWriter(config.journal)
    fs.onOp = (op) => j.append(op)
  }
  if (config.clock !== undefined) installJumpyClock(config.clock.seed, config.clock.startMs)
  const counters: SimCounters = {
    calls: new Map(),
    fired: [],
    ioShared: config.journal ? new Int32Array(config.journal, 12, 1) : undefined,
  }
  return simStorage(fs, config, counters)
}
