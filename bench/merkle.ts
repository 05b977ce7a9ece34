/**
 * The Merkle tree's costs, per operation (not a test; no dependencies):
 *
 *   leafHash per call at 32 B … 4 KiB        beside node:crypto hash() of the same 0x00 ‖ data
 *   nodeHash per call                         beside node:crypto hash() of 65 bytes
 *   CompactRange.append per leaf              amortized over a tree grown from empty
 *   CompactRange.root()                       at a size with 20 set bits (19 node hashes)
 *   inclusionProof / verifyInclusion          in a tree of 2^16 leaves
 *   one hash() over a whole batch, per event  what "fewer calls" would cost (the floor)
 *
 *   npx tsc -p tsconfig.json && node dist/bench/merkle.js [--repeat N]
 *
 * Each row runs `repeat` rounds (default 15) of enough operations to take
 * ~40 ms of CPU, the rows of a group taking turns, and prints the best and
 * the median CPU ns per operation: the best is the machine's floor, the
 * median shows how noisy it was.
 */

import { createHash, hash as oneShot } from 'node:crypto'
import { CompactRange, inclusionProof, leafHash, nodeHash, rootOf, verifyInclusion } from '../lib/integrity/index.js'

const repeatArg = process.argv.indexOf('--repeat')
const REPEAT = repeatArg > 0 ? Number(process.argv[repeatArg + 1]) : 15
const ROUND_MS = 40

interface Row {
  name: string
  bestNs: number
  medianNs: number
}
type Body = (ops: number) => void

/**
 * CPU time (user + system, µs resolution) in ns, not wall time: on a shared
 * machine other processes stretch the wall clock, not this thread's CPU.
 */
function cpuNs(): number {
  const u = process.cpuUsage()
  return (u.user + u.system) * 1000
}

/** How many ops of body take ~ROUND_MS of CPU. */
function calibrate(body: Body): number {
  for (let ops = 1; ; ops *= 4) {
    const t = cpuNs()
    body(ops)
    const ms = (cpuNs() - t) / 1e6
    if (ms > ROUND_MS / 4) return Math.max(1, Math.round((ops * ROUND_MS) / ms))
  }
}

/**
 * ns per op of each body, best and median over REPEAT rounds. The bodies of a
 * group take turns within every round, so a noisy moment of a shared machine
 * hits each of them alike: compare the rows of a group with each other.
 */
function group(entries: [string, Body][], perOp = 1): Row[] {
  const ops = entries.map(([, body]) => calibrate(body))
  const samples = entries.map((): number[] => [])
  for (let r = 0; r < REPEAT; r++)
    entries.forEach(([, body], k) => {
      const t = cpuNs()
      body(ops[k]!)
      samples[k]!.push((cpuNs() - t) / ops[k]! / perOp)
    })
  return entries.map(([name], k) => {
    const sorted = samples[k]!.sort((a, b) => a - b)
    return { name, bestNs: sorted[0]!, medianNs: sorted[Math.floor(sorted.length / 2)]! }
  })
}

/** Keeps results alive so the JIT cannot drop the work. */
let sink = 0
const keep = (b: Uint8Array): void => {
  sink ^= b[0]!
}

function dataOf(bytes: number): Buffer {
  return Buffer.from(Array.from({ length: bytes }, (_, i) => (i * 131 + 7) & 0xff))
}

const rows: Row[] = []

for (const bytes of [32, 54, 55, 118, 119, 182, 300, 1024, 4096]) {
  const data = dataOf(bytes)
  const prefixed = Buffer.concat([Buffer.of(0), data])
  rows.push(
    ...group([
      [
        `leafHash ${bytes} B`,
        (ops) => {
          for (let i = 0; i < ops; i++) keep(leafHash(data))
        },
      ],
      [
        `  node:crypto hash() of 1 + ${bytes} B`,
        (ops) => {
          for (let i = 0; i < ops; i++) keep(oneShot('sha256', prefixed, 'buffer') as Buffer)
        },
      ],
      [
        `  createHash().update(0x00).update(data).digest()`,
        (ops) => {
          for (let i = 0; i < ops; i++) keep(createHash('sha256').update(prefixed.subarray(0, 1)).update(data).digest())
        },
      ],
    ]),
  )
}

const left = leafHash(dataOf(10))
const right = leafHash(dataOf(11))
const node65 = Buffer.concat([Buffer.of(1), left, right])
rows.push(
  ...group([
    [
      'nodeHash',
      (ops) => {
        let h = left
        for (let i = 0; i < ops; i++) h = nodeHash(h, right)
        keep(h)
      },
    ],
    [
      '  node:crypto hash() of 65 B',
      (ops) => {
        for (let i = 0; i < ops; i++) keep(oneShot('sha256', node65, 'buffer') as Buffer)
      },
    ],
  ]),
)

const LEAVES = 1 << 16
const leaves = Array.from({ length: LEAVES }, (_, i) => leafHash(Buffer.from(`leaf ${i}`)))
const wide = CompactRange.empty()
const WIDE_SIZE = (1 << 20) - 1 // 20 set bits: root() folds 20 hashes with 19 node hashes
for (let i = 0; i < WIDE_SIZE; i++) wide.append(leaves[i % LEAVES]!)
const root = rootOf(leaves)
const at = (i: number): Uint8Array => leaves[i]!
const proofs = Array.from({ length: 256 }, (_, i) => inclusionProof((i * 7919) % LEAVES, LEAVES, at))
rows.push(
  ...group([
    [
      'CompactRange.append per leaf (amortized)',
      (ops) => {
        const range = CompactRange.empty()
        for (let i = 0; i < ops; i++) range.append(leaves[i % LEAVES]!)
        keep(range.root())
      },
    ],
    [
      'CompactRange.root() at size 2^20 - 1 (19 node hashes)',
      (ops) => {
        for (let i = 0; i < ops; i++) keep(wide.root())
      },
    ],
    [
      'verifyInclusion in 2^16 leaves (16 node hashes)',
      (ops) => {
        for (let i = 0; i < ops; i++) {
          const k = i & 255
          const index = (k * 7919) % LEAVES
          if (!verifyInclusion(index, LEAVES, leaves[index]!, proofs[k]!, root)) throw new Error('bench: proof failed')
        }
      },
    ],
    [
      'inclusionProof in 2^16 leaves (65,535 node hashes)',
      (ops) => {
        for (let i = 0; i < ops; i++) keep(inclusionProof((i * 7919) % LEAVES, LEAVES, at)[0]!)
      },
    ],
  ]),
)

for (const [events, bytes] of [
  [16, 300],
  [4096, 300],
] as const) {
  const batch = dataOf(events * bytes)
  rows.push(
    ...group(
      [
        [
          `one hash() over ${events} × ${bytes} B, per event`,
          (ops) => {
            for (let i = 0; i < ops; i++) keep(oneShot('sha256', batch, 'buffer') as Buffer)
          },
        ],
      ],
      events,
    ),
  )
}

const width = Math.max(...rows.map((r) => r.name.length))
console.log(`node ${process.version}, ${REPEAT} rounds of ~${ROUND_MS} ms of CPU each; CPU ns per operation`)
console.log(`${'operation'.padEnd(width)}  ${'best ns/op'.padStart(10)}  ${'median'.padStart(8)}`)
for (const r of rows)
  console.log(`${r.name.padEnd(width)}  ${r.bestNs.toFixed(0).padStart(10)}  ${r.medianNs.toFixed(0).padStart(8)}`)
if (sink === 256) console.log('') // never: reading sink keeps it live
