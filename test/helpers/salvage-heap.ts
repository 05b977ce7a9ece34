// salvageSegments in a process of its own, so its memory can be measured
// (test/read/salvage-memory.test.ts): walks every segment's items, reads each
// record's payload (as replay --salvage does), and prints one JSON line with
// the counts, the largest heapUsed growth seen (sampled at each yield and
// every 4,096 items, after a gc when --expose-gc is given) and maxRSS (KiB).
//   node [--expose-gc] salvage-heap.js <dir> [<mirror>] [--lib <dist>/lib/index.js]
// --lib runs another build's salvageSegments (a before/after measurement).
import path from 'node:path'
import { pathToFileURL } from 'node:url'

const args = process.argv.slice(2)
const libAt = args.indexOf('--lib')
const lib = libAt === -1 ? '../../lib/index.js' : pathToFileURL(path.resolve(args.splice(libAt, 2)[1]!)).href
const [dir, mirror] = args
if (dir === undefined) {
  console.error('usage: salvage-heap <dir> [<mirror>] [--lib <dist>/lib/index.js]')
  process.exit(2)
}
type Item = { kind: 'record'; rec: { seq: number } } | { kind: 'lost' }
const { salvageSegments, payloadOf } = (await import(lib)) as {
  salvageSegments: (d: string, m?: string) => AsyncGenerator<{ items: Iterable<Item>; skipped: unknown[] }>
  payloadOf: (rec: unknown) => Buffer
}
const gc = (globalThis as { gc?: () => void }).gc
const heap = (): number => {
  gc?.()
  return process.memoryUsage().heapUsed
}
const t0 = performance.now()
const base = heap()
let peak = 0
let records = 0
let lost = 0
let skipped = 0
let payloadBytes = 0
const sample = (): void => {
  peak = Math.max(peak, heap() - base)
}
for await (const seg of salvageSegments(dir, mirror)) {
  sample()
  skipped += seg.skipped.length
  for (const it of seg.items) {
    if (it.kind === 'lost') lost++
    else {
      records++
      payloadBytes += payloadOf(it.rec).length
      if (records % 4096 === 0) sample()
    }
  }
}
sample()
console.log(
  JSON.stringify({
    records,
    lost,
    skipped,
    payloadBytes,
    heapGrowthMax: peak,
    gc: gc !== undefined,
    maxRssKiB: process.resourceUsage().maxRSS,
    seconds: Number(((performance.now() - t0) / 1000).toFixed(2)),
  }),
)
