/**
 * What encryption costs per record, on this machine (docs/encryption.md,
 * "Measured"): node:crypto AES-256-GCM one call per record (the baseline the
 * frame design avoids) against lib/crypto's frames of 1, 16, 256 and 4096
 * records, both directions; personal-data fields (one GCM call per record);
 * a pseudonym (one HMAC-SHA256).
 *
 *   node dist/bench/crypto.js [--bytes 256] [--repeat 5] [--ms 300] [--json]
 *
 * Each case runs in a loop for at least --ms milliseconds, --repeat times; the
 * table shows the median and min–max of CPU ns per record (this process's user +
 * system time: on a shared machine wall time also counts waiting for a core) and
 * the median wall ns per record.
 * Records are random bytes of --bytes length (JSON-like text would cost the
 * same: AES-GCM does not look at the bytes).
 */

import { createCipheriv, randomBytes } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { decryptFields, encryptFields, Keyring, openFrame, sealFrame, type SealedFrame } from '../lib/crypto/index.js'

const { values: args } = parseArgs({
  options: {
    bytes: { type: 'string', default: '256' },
    repeat: { type: 'string', default: '5' },
    ms: { type: 'string', default: '300' },
    json: { type: 'boolean', default: false },
  },
})
const RECORD_BYTES = Number(args.bytes)
const REPEAT = Number(args.repeat)
const MIN_MS = Number(args.ms)
const FRAME_SIZES = [1, 16, 256, 4096]

interface Spread {
  median: number
  min: number
  max: number
}

interface Row {
  case: string
  records: number
  /** Wall-clock ns per record. */
  nsPerRecord: Spread
  /** CPU ns (user + system of this process) per record: less disturbed by other processes on a shared machine. */
  cpuNsPerRecord: Spread
}

function spread(xs: number[]): Spread {
  const s = [...xs].sort((a, b) => a - b)
  return { median: s[Math.floor(s.length / 2)]!, min: s[0]!, max: s[s.length - 1]! }
}

/** ns per record of `body` (which handles `records` records per call), median over REPEAT runs of ≥ MIN_MS each. */
function measure(name: string, records: number, body: () => void): Row {
  for (let i = 0; i < 3; i++) body() // warm-up: JIT, cipher tables
  const wall: number[] = []
  const cpu: number[] = []
  for (let r = 0; r < REPEAT; r++) {
    let calls = 0
    const cpu0 = process.cpuUsage()
    const start = process.hrtime.bigint()
    let elapsed = 0n
    do {
      body()
      calls++
      elapsed = process.hrtime.bigint() - start
    } while (elapsed < BigInt(MIN_MS) * 1_000_000n)
    const used = process.cpuUsage(cpu0)
    wall.push(Number(elapsed) / (calls * records))
    cpu.push(((used.user + used.system) * 1000) / (calls * records))
  }
  return { case: name, records, nsPerRecord: spread(wall), cpuNsPerRecord: spread(cpu) }
}

const key = randomBytes(32)
const salt = randomBytes(4)
const LOG = 'bench-log'
const KID = 'd-0123456789abcdef'
const records = (n: number): { seq: number; plaintext: Buffer }[] =>
  Array.from({ length: n }, (_, i) => ({ seq: 1 + i, plaintext: randomBytes(RECORD_BYTES) }))

/** The baseline: one createCipheriv + AAD + update + final per record, as a naive writer would. */
function perRecordGcm(items: { seq: number; plaintext: Buffer }[]): void {
  const aad = Buffer.alloc(32)
  for (const it of items) {
    const iv = Buffer.alloc(12)
    iv.writeUInt32BE(it.seq, 8)
    aad.writeUInt32BE(it.seq, 0)
    const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
    c.setAAD(aad)
    c.update(it.plaintext)
    c.final()
    c.getAuthTag()
  }
}

async function main(): Promise<void> {
  const rows: Row[] = []
  const base = records(256)
  rows.push(measure('per-record GCM (baseline)', base.length, () => perRecordGcm(base)))
  for (const n of FRAME_SIZES) {
    const items = records(n)
    rows.push(measure(`sealFrame ${n}`, n, () => sealFrame(key, { logId: LOG, keyId: KID, epochSalt: salt, items })))
  }
  for (const n of FRAME_SIZES) {
    const items = records(n)
    const s: SealedFrame = sealFrame(key, { logId: LOG, keyId: KID, epochSalt: salt, items })
    const input = {
      logId: LOG,
      keyId: KID,
      iv: s.iv,
      tag: s.tag,
      items: items.map((it, i) => ({ seq: it.seq, ciphertext: s.ciphertexts[i]! })),
    }
    rows.push(measure(`openFrame ${n}`, n, () => openFrame(key, input)))
  }
  const fields = { PatientName: 'Ada Lovelace', Email: 'ada@example.org', Ssn: '123-45-6789' }
  const ctx = { logId: LOG, seq: 17, keyId: 's-0123456789abcdef' }
  rows.push(measure('encryptFields (3 fields)', 1, () => encryptFields(key, ctx, fields)))
  const enc = encryptFields(key, ctx, fields)
  rows.push(measure('decryptFields (3 fields)', 1, () => decryptFields(key, ctx, enc)))
  const dir = await import('node:fs/promises').then((fs) => fs.mkdtemp(path.join(os.tmpdir(), 'bench-crypto-')))
  const ring = await Keyring.create(path.join(dir, 'keyring.json'))
  let i = 0
  rows.push(measure('pseudonym (HMAC-SHA256)', 1, () => ring.pseudonym(`patient-${i++}`)))
  ring.close()
  await import('node:fs/promises').then((fs) => fs.rm(dir, { recursive: true, force: true }))

  const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, node ${process.version}, ${os.platform()}`
  if (args.json) {
    console.log(JSON.stringify({ machine, recordBytes: RECORD_BYTES, repeat: REPEAT, minMs: MIN_MS, rows }, null, 2))
    return
  }
  const baseline = rows[0]!.cpuNsPerRecord.median
  console.log(`# lib/crypto per-record cost, ${RECORD_BYTES}-byte records\n`)
  console.log(`${machine}; load average ${os.loadavg()[0]!.toFixed(1)}; ${REPEAT} runs of ≥ ${MIN_MS} ms each\n`)
  console.log(
    '| case | records per call | CPU ns per record (median) | min–max | wall ns (median) | CPU vs per-record GCM |',
  )
  console.log('|---|---:|---:|---:|---:|---:|')
  for (const r of rows) {
    const c = r.cpuNsPerRecord
    console.log(
      `| ${r.case} | ${r.records} | ${c.median.toFixed(0)} | ${c.min.toFixed(0)}–${c.max.toFixed(0)} | ${r.nsPerRecord.median.toFixed(0)} | ${(c.median / baseline).toFixed(2)}× |`,
    )
  }
}

await main()
