/**
 * Micro benchmarks of the per-event work, with tinybench (a dev dependency of
 * bench/; without it this suite is skipped and the report says so). Each of
 * ours sits beside a trivial baseline of the same size, so a change in the
 * machine shows in both.
 *
 *   ours                                      baseline beside it
 *   crc32c (shared/crc32c.ts, slicing-by-8)   zlib.crc32 (native CRC-32, another polynomial)
 *   SHA-256 hash link (one-shot hash())       createHash().update().digest()
 *   sealRecord 64 / 256 / 1024 B              Buffer.copy of the same record
 *   checkRecord 64 / 256 / 1024 B             —
 *   encodeEvent (validate + JSON + length)    JSON.stringify + Buffer.byteLength
 *   decodeEvent                               JSON.parse of the same bytes
 *   ring reserve+publish+take+release, 1 thread
 *   ring publish → consume across threads: 1 and 3 producer threads (bench/ring-mp.ts, not tinybench)
 *
 * Each task body does OPS operations so the timer's resolution does not
 * dominate; ns/op divides by them. The whole suite runs `repeat` times; the
 * report shows the median and min–max of ops/s over the repeats.
 */

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import zlib from 'node:zlib'
import { eventMaker } from './engine/events.js'
import { spread, type Spread } from './engine/latency.js'
import { decodeEvent } from '../shared/event.js'
import { encodeEvent, jsonText } from '../lib/sink/index.js'
import { crc32c } from '../shared/crc32c.js'
import {
  checkRecord,
  GENESIS_HASH,
  RECORD_HEADER_BYTES,
  RecordFlag,
  RecordType,
  sealRecord,
  sha256,
} from '../shared/format.js'
import { Ring } from '../shared/ring/ring.js'
import { runRingMp } from './ring-mp.js'

const OPS = 100

export interface MicroResult {
  id: string
  title: string
  /** The id of the task this one is the baseline for. */
  baselineOf?: string
  opsPerSec: Spread
  nsPerOp: Spread
  /** tinybench's relative margin of error of the mean, % (median over repeats). */
  rmePct: number
}

export interface MicroReport {
  results: MicroResult[]
  notes: string[]
  tinybench?: string
}

interface TinyStats {
  mean: number
  rme: number
}
interface TinyTask {
  name: string
  result: { state: string; latency?: TinyStats; period?: number; error?: Error }
}
interface TinyBench {
  add(name: string, fn: () => void): TinyBench
  run(): Promise<unknown>
  tasks: TinyTask[]
}
type TinyBenchClass = new (o: { time: number; warmupTime: number; iterations?: number }) => TinyBench

async function loadTinybench(modulesDir: string): Promise<{ Bench: TinyBenchClass; version: string } | string> {
  const dir = path.join(modulesDir, 'tinybench')
  if (!fs.existsSync(path.join(dir, 'package.json')))
    return `micro benchmarks not run: tinybench is not installed in ${modulesDir} (npm install --prefix bench)`
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version: string
    exports?: { '.'?: { default?: string; import?: string } }
    main?: string
  }
  const entry = pkg.exports?.['.']?.import ?? pkg.exports?.['.']?.default ?? pkg.main ?? 'index.js'
  const mod = (await import(pathToFileURL(path.join(dir, entry)).href)) as { Bench: TinyBenchClass }
  return { Bench: mod.Bench, version: pkg.version }
}

interface Task {
  id: string
  title: string
  baselineOf?: string
  fn: () => void
}

function tasks(): Task[] {
  const out: Task[] = []
  const b256 = Buffer.alloc(256, 0x61)
  const b312 = Buffer.alloc(312, 0x62)
  out.push({
    id: 'crc32c-256B',
    title: 'crc32c, 256 B (slicing-by-8, JS)',
    fn: () => {
      for (let i = 0; i < OPS; i++) crc32c(b256)
    },
  })
  if (typeof (zlib as { crc32?: unknown }).crc32 === 'function') {
    const z = (zlib as unknown as { crc32(b: Uint8Array): number }).crc32
    out.push({
      id: 'zlib-crc32-256B',
      title: 'baseline: zlib.crc32, 256 B (native CRC-32)',
      baselineOf: 'crc32c-256B',
      fn: () => {
        for (let i = 0; i < OPS; i++) z(b256)
      },
    })
  }
  out.push({
    id: 'sha256-312B',
    title: 'hash link: SHA-256 of 312 B (one-shot crypto.hash)',
    fn: () => {
      for (let i = 0; i < OPS; i++) sha256(b312)
    },
  })
  out.push({
    id: 'createHash-312B',
    title: 'baseline: createHash(sha256).update().digest(), 312 B',
    baselineOf: 'sha256-312B',
    fn: () => {
      for (let i = 0; i < OPS; i++) createHash('sha256').update(b312).digest()
    },
  })

  const saltSeed = crc32c(Buffer.from('benchsal'))
  for (const len of [64, 256, 1024]) {
    const buf = Buffer.alloc(RECORD_HEADER_BYTES + len, 0x63)
    const prev = Buffer.from(GENESIS_HASH)
    const seal = (): Buffer =>
      sealRecord(buf, 0, len, RecordType.EVENT, RecordFlag.COMMIT, 0, 1, 1_700_000_000_000, prev, saltSeed)
    seal()
    const check = (): boolean => {
      prev.fill(0) // GENESIS: checkRecord leaves the record's hash in prev
      return checkRecord(buf, 0, buf.length, saltSeed, 1, prev, 1 << 20).ok
    }
    if (!check()) throw new Error(`micro: a sealed ${len} B record does not check`)
    const copy = Buffer.alloc(buf.length)
    out.push({
      id: `seal-${len}B`,
      title: `sealRecord, ${len} B payload (header + SHA-256 link + CRC32C)`,
      fn: () => {
        for (let i = 0; i < OPS; i++) seal()
      },
    })
    if (len === 256)
      out.push({
        id: `copy-${len}B`,
        title: `baseline: Buffer.copy of the ${RECORD_HEADER_BYTES + len} B record`,
        baselineOf: `seal-${len}B`,
        fn: () => {
          for (let i = 0; i < OPS; i++) buf.copy(copy)
        },
      })
    out.push({
      id: `check-${len}B`,
      title: `checkRecord, ${len} B payload (CRC32C + SHA-256 + seq)`,
      fn: () => {
        for (let i = 0; i < OPS; i++) check()
      },
    })
  }

  const mk = eventMaker(256)
  const ev = mk(0, 12345)
  out.push({
    id: 'encode-256B',
    title: 'encodeEvent, 256 B (validate + JSON + UTF-8 length, as emit() does)',
    fn: () => {
      for (let i = 0; i < OPS; i++) encodeEvent(ev, 256 * 1024)
    },
  })
  out.push({
    id: 'stringify-256B',
    title: 'baseline: JSON.stringify + Buffer.byteLength, 256 B (no validation)',
    baselineOf: 'encode-256B',
    fn: () => {
      for (let i = 0; i < OPS; i++)
        Buffer.byteLength(
          JSON.stringify({ level: ev.level, messageTemplate: ev.messageTemplate, properties: ev.properties }),
        )
    },
  })
  const payload = Buffer.from(jsonText(encodeEvent(ev, 256 * 1024)))
  out.push({
    id: 'decode-256B',
    title: 'decodeEvent, 256 B (UTF-8 + JSON.parse + event)',
    fn: () => {
      for (let i = 0; i < OPS; i++) decodeEvent(payload, 1_700_000_000_000)
    },
  })
  out.push({
    id: 'parse-256B',
    title: 'baseline: JSON.parse(buffer.toString()), 256 B',
    baselineOf: 'decode-256B',
    fn: () => {
      for (let i = 0; i < OPS; i++) JSON.parse(payload.toString('utf8'))
    },
  })

  const ring = Ring.allocate(1 << 20)
  ring.initCursors(0)
  let readPos = 0
  const visit = (): boolean => true
  out.push({
    id: 'ring-1thread-256B',
    title: 'ring: reserve + publish 256 B, then take + release (one thread, batches of 100)',
    fn: () => {
      for (let i = 0; i < OPS; i++) {
        if (ring.reserve(256) < 0) throw new Error('micro: ring full')
        ring.publish(b256, 256, 0)
      }
      const pos = ring.take(readPos, visit)
      ring.release(readPos, pos)
      readPos = pos
    },
  })
  return out
}

export async function runMicro(
  o: { repeat: number; quick: boolean; modulesDir: string; only?: (id: string) => boolean },
  progress: (s: string) => void,
): Promise<MicroReport> {
  const tb = await loadTinybench(o.modulesDir)
  const notes: string[] = []
  const samples = new Map<string, { task: Task; ops: number[]; rme: number[] }>()
  const wanted = (id: string): boolean => o.only === undefined || o.only(id)
  if (typeof tb === 'string') notes.push(tb)
  else {
    const list = tasks().filter((t) => wanted(`micro-${t.id}`))
    for (let r = 0; r < o.repeat && list.length > 0; r++) {
      const bench = new tb.Bench({ time: o.quick ? 30 : 250, warmupTime: o.quick ? 5 : 50 })
      for (const t of list) bench.add(t.id, t.fn)
      await bench.run()
      for (const task of bench.tasks) {
        const t = list.find((x) => x.id === task.name)!
        const res = task.result
        if (res.state !== 'completed' || res.latency === undefined)
          throw new Error(`micro ${task.name}: ${res.state}${res.error ? `: ${res.error.message}` : ''}`)
        const s = samples.get(t.id) ?? { task: t, ops: [], rme: [] }
        s.ops.push((OPS * 1000) / res.latency.mean)
        s.rme.push(res.latency.rme)
        samples.set(t.id, s)
      }
      progress(`  micro run ${r + 1}/${o.repeat}: ${list.length} tasks`)
    }
  }
  const results: MicroResult[] = [...samples.values()].map(({ task, ops, rme }) => {
    const ps = spread(ops)
    return {
      id: `micro-${task.id}`,
      title: task.title,
      ...(task.baselineOf ? { baselineOf: `micro-${task.baselineOf}` } : {}),
      opsPerSec: ps,
      nsPerOp: { median: 1e9 / ps.median, min: 1e9 / ps.max, max: 1e9 / ps.min },
      rmePct: spread(rme).median,
    }
  })
  for (const producers of [1, 3]) {
    const id = `micro-ring-mp-${producers}p-256B`
    if (!wanted(id)) continue
    const ops: number[] = []
    for (let r = 0; r < o.repeat; r++) ops.push((await runRingMp(producers, o.quick ? 100 : 500)).recordsPerSec)
    const ps = spread(ops)
    results.push({
      id,
      title: `ring: ${producers} producer thread${producers > 1 ? 's' : ''} publish 256 B → main thread takes + releases`,
      opsPerSec: ps,
      nsPerOp: { median: 1e9 / ps.median, min: 1e9 / ps.max, max: 1e9 / ps.min },
      rmePct: NaN,
    })
    progress(`  micro ring ${producers} producer(s): ${Math.round(ps.median).toLocaleString('en-US')} records/s`)
  }
  return { results, notes, ...(typeof tb !== 'string' ? { tinybench: tb.version } : {}) }
}
