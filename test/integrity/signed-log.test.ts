// Tamper evidence end to end (issue: a rewritten log passed verify). A real sink
// signs checkpoints while events are emitted and exports the latest one outside
// the log; then an attacker with write access rewrites the log:
//   (1) through the public API, as the issue did (read every event, change one
//       amount / drop the last 50 / remove one / swap two, re-emit with the same
//       timestamps into a fresh log, put it in place);
//   (2) byte by byte with the project's own rewriter, keeping the log id and
//       every checkpoint record, one payload changed and every CRC and hash
//       re-made: the strongest forgery short of the signing key.
// Every forged log must fail `verify --checkpoint --public-key`; the untouched
// log and a faithful rewrite must pass. Proofs from `prove` verify offline and
// fail when a byte changes; consistency proofs too.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import {
  AuditError,
  AuditSink,
  ERROR_CODES,
  readLog,
  readRecords,
  verifySigned,
  verifyLog,
  checkProofBundle,
  loadVerifier,
  type AuditEvent,
  type LogRecord,
} from '../../lib/index.js'
import { WalRewriter } from '../../lib/repair/index.js'
import { RecordType } from '../../shared/format.js'
import { cli } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'

const SEED = seedFrom('SIGNED_SEED')
console.log(`signed-log seed=${SEED} (replay with SIGNED_SEED=${SEED})`)
const rnd = mulberry32(SEED)

const root = tempDir('signed-log')
const key = path.join(root, 'log.key')
assert.is(cli('keygen', '--output', key, '--name', 'bank.example/ledger').code, 0)
const pub = `${key}.pub`
const exportDir = path.join(root, 'elsewhere')
const honest = path.join(root, 'honest')
const EVENTS = 3000

function payment(i: number): AuditEvent {
  return {
    timestamp: new Date(1_790_000_000_000 + i * 1000),
    level: 'Information',
    messageTemplate: 'Paid {Amount} to {Account}',
    properties: { Amount: 100 + i, Account: `acct-${i % 97}` },
  }
}

// The honest log: checkpoints every 500 records or 20 ms, exported; a copy of
// the exported checkpoint is kept mid-run for the consistency test.
const sink = await AuditSink.open({
  dir: honest,
  signing: { keyFile: key },
  checkpoints: { everyRecords: 500, everyMs: 20, export: { dir: exportDir } },
})
let midCheckpoint: string | undefined
for (let i = 0; i < EVENTS; i += 100) {
  await Promise.all(Array.from({ length: 100 }, (_, k) => sink.emit(payment(i + k))))
  if (i === 1500) {
    // Wait (polling, not timing anything) until a checkpoint covering this much is exported.
    while ((sink.stats().checkpoints?.last?.covers ?? 0) < 1500) await new Promise((r) => setTimeout(r, 20))
    midCheckpoint = fs.readdirSync(exportDir).map((n) => fs.readFileSync(path.join(exportDir, n), 'utf8'))[0]
  }
}
await sink.close()
const stats = sink.stats().checkpoints!
const exported = path.join(exportDir, fs.readdirSync(exportDir)[0]!)
const midFile = path.join(root, 'mid.checkpoint')
fs.writeFileSync(midFile, midCheckpoint!)
const honestEvents: LogRecord[] = []
for await (const r of readLog(honest)) honestEvents.push(r)

function verifyCli(dir: string, ...extra: string[]): { code: number | null; report: any } {
  const r = cli('verify', dir, '-q', '--json', '--public-key', pub, ...extra)
  return { code: r.code, report: r.out.trim() === '' ? undefined : JSON.parse(r.out) }
}

test('the honest log: checkpoints were signed during the run and at close; it verifies against the exported one', () => {
  assert.ok(stats.written >= 3, `checkpoints written: ${stats.written}`)
  assert.is(stats.failed, 0)
  assert.is(honestEvents.length, EVENTS)
  const { code, report } = verifyCli(honest, '--checkpoint', exported)
  assert.is(code, 0)
  assert.is(report.signed.ok, true)
  assert.is(report.signed.inLog.good, report.signed.inLog.count)
  assert.is(report.signed.checkpoint.problem, undefined)
  // The close checkpoint covers every event (and any checkpoint record after it): the signed history reaches them.
  assert.ok(
    report.signed.signedThroughSeq >= honestEvents[honestEvents.length - 1]!.seq,
    String(report.signed.signedThroughSeq),
  )
  assert.ok(report.signed.signedThroughSeq < report.lastSeq, 'the close checkpoint cannot cover itself or the seal')
  // The exported note is a C2SP checkpoint of this log's origin.
  const note = fs.readFileSync(exported, 'utf8').split('\n')
  assert.match(note[0]!, /^bank\.example\/ledger\/[0-9a-f]{32}$/)
  assert.is(fs.statSync(exported).mode & 0o777, 0o600)
})

/** Attack (1): a fresh log written through the public API from the honest log's events, mutated. */
async function forgeByApi(name: string, mutate: (events: LogRecord[]) => LogRecord[]): Promise<string> {
  const dir = path.join(root, `forged-${name}`)
  const s = await AuditSink.open({ dir })
  // One thread's emits take seqs in call order: the forged log has exactly this order.
  await Promise.all(
    mutate(honestEvents.slice()).map((r) =>
      s.emit({
        timestamp: r.timestamp,
        level: r.event.level,
        messageTemplate: r.event.messageTemplate,
        properties: r.event.properties,
      } as AuditEvent),
    ),
  )
  await s.close()
  return dir
}

const pick = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo))

test('attack through the public API: change, truncate, remove, swap: every forged log fails verify --checkpoint', async () => {
  const k = pick(10, EVENTS - 60)
  const attacks: [string, (ev: LogRecord[]) => LogRecord[]][] = [
    [
      'change',
      (ev) => {
        const e = ev[k]!
        ev[k] = { ...e, event: { ...e.event, properties: { ...e.event.properties, Amount: 1_000_000 } } }
        return ev
      },
    ],
    ['truncate', (ev) => ev.slice(0, ev.length - 50)],
    ['remove', (ev) => (ev.splice(k, 1), ev)],
    ['swap', (ev) => (([ev[k], ev[k + 1]] = [ev[k + 1]!, ev[k]!]), ev)],
  ]
  for (const [name, mutate] of attacks) {
    const dir = await forgeByApi(name, mutate)
    // The forged log is a perfectly valid log on its own: plain verify says ok.
    assert.is((await verifyLog(dir)).ok, true, `${name}: plain verify`)
    const { code, report } = verifyCli(dir, '--checkpoint', exported)
    assert.is(code, 1, `${name} (event index ${k}): verify --checkpoint must fail`)
    assert.is(report.signed.ok, false, name)
    assert.ok(
      ['root', 'shorter'].includes(report.signed.checkpoint.problem),
      `${name}: ${report.signed.checkpoint.problem}`,
    )
    assert.ok(report.signed.parted !== undefined, `${name}: no parting reported`)
    console.log(
      `${name} at event index ${k}: ${report.signed.checkpoint.problem}, parted ${JSON.stringify(report.signed.parted)}`,
    )
  }
})

/** Attack (2): the same log id, every record kept but one, CRCs and hashes re-made. */
async function forgeByRewrite(
  name: string,
  change: (seq: number, payload: Buffer) => Buffer | undefined,
): Promise<string> {
  const dir = path.join(root, `rewritten-${name}`)
  fs.mkdirSync(dir)
  const first = fs.readdirSync(honest).filter((n) => n.endsWith('.wal'))[0]!
  const logId = fs.readFileSync(path.join(honest, first)).subarray(72, 88)
  const w = new WalRewriter(dir, { logId })
  for await (const r of readRecords(honest)) {
    if (r.type === RecordType.SEAL) continue
    const payload = change(r.seq, Buffer.from(r.payload)) ?? Buffer.from(r.payload)
    await w.append({ type: r.type, timeMs: r.timeMs, payload })
  }
  await w.finish()
  return dir
}

test('a faithful rewrite (new salts, new segment layout, same records) keeps every signature and proof valid', async () => {
  const dir = await forgeByRewrite('faithful', () => undefined)
  const { code, report } = verifyCli(dir, '--checkpoint', exported)
  assert.is(code, 0)
  assert.is(report.signed.inLog.good, stats.written)
})

test('attack by byte-level rewrite keeping every checkpoint record: caught, and the parting names a seq range holding the change', async () => {
  const target = honestEvents[pick(100, EVENTS - 100)]!.seq
  const dir = await forgeByRewrite('one-amount', (seq, p) =>
    seq === target ? Buffer.from(p.toString('utf8').replace(/"Amount":\d+/, '"Amount":1')) : undefined,
  )
  assert.is((await verifyLog(dir)).ok, true, 'CRCs and the chain were re-made: plain verify passes')
  // Without the exported checkpoint: the log's own signed checkpoints already catch it.
  const own = verifyCli(dir)
  assert.is(own.code, 1)
  const parted = own.report.signed.parted
  assert.ok(
    parted.fromSeq <= target && target <= parted.toSeq,
    `parted ${parted.fromSeq}..${parted.toSeq}, changed ${target}`,
  )
  console.log(
    `changed seq ${target}; verify names seqs ${parted.fromSeq}..${parted.toSeq} (${parted.toSeq - parted.fromSeq + 1})`,
  )
  assert.is(verifyCli(dir, '--checkpoint', exported).code, 1)
})

test('prove: the bundle verifies offline with the public key alone, names the event, and fails when any byte changes', async () => {
  const seq = honestEvents[pick(0, EVENTS)]!.seq
  const bundle = path.join(root, `b-${seq}.proof`)
  assert.is(cli('prove', honest, '--seq', String(seq), '--output', bundle).code, 0)
  const ok = cli('verify-proof', bundle, '--public-key', pub, '--json')
  assert.is(ok.code, 0, ok.err)
  assert.is(JSON.parse(ok.out).seq, seq)
  const bytes = fs.readFileSync(bundle)
  const keys = { log: [loadVerifier(pub)] }
  assert.is(checkProofBundle(bytes, keys).leaf.seq, seq)
  // Every byte, one random bit each: the bundle's seq included, nothing changes unnoticed.
  for (let at = 0; at < bytes.length; at++) {
    const m = Buffer.from(bytes)
    m[at] = m[at]! ^ (1 << pick(0, 8))
    assert.throws(
      () => checkProofBundle(m, keys),
      (e: unknown) => e instanceof AuditError,
      `byte ${at} changed, still verifies`,
    )
    if (at === 40) {
      const f = path.join(root, `b-${seq}-flipped.proof`)
      fs.writeFileSync(f, m)
      assert.is(cli('verify-proof', f, '--public-key', pub).code, 1)
    }
  }
  // A seq no checkpoint covers: the close checkpoint's own record and the seal come after the last one.
  const last = cli('prove', honest, '--seq', String(honestEvents[EVENTS - 1]!.seq + 2), '--output', bundle)
  assert.is(last.code, 3)
  assert.match(last.err, /ERR_AUDIT_NO_CHECKPOINT/)
})

test('checkpoint writes the latest signed note; consistency proves mid → latest and is checked with the keys alone', () => {
  const latest = path.join(root, 'latest.checkpoint')
  assert.is(cli('checkpoint', honest, '--output', latest).code, 0)
  assert.is(fs.readFileSync(latest, 'utf8'), fs.readFileSync(exported, 'utf8'))
  const proof = path.join(root, 'mid-latest.consistency')
  const made = cli('consistency', honest, '--from', midFile, '--to', latest, '--output', proof)
  assert.is(made.code, 0, made.err)
  const checked = cli('consistency', '--from', midFile, '--to', latest, '--proof', proof, '--public-key', pub)
  assert.is(checked.code, 0, checked.err)
  // The proof does not hold the other way round, nor with a changed hash.
  assert.is(cli('consistency', '--from', latest, '--to', midFile, '--proof', proof, '--public-key', pub).code, 1)
  const lines = fs.readFileSync(proof, 'utf8').split('\n')
  if (lines.length > 4) {
    lines[3] = Buffer.alloc(32, 7).toString('base64')
    fs.writeFileSync(proof, lines.join('\n'))
    assert.is(cli('consistency', '--from', midFile, '--to', latest, '--proof', proof, '--public-key', pub).code, 1)
  }
})

test('reopening a signed log resumes its tree: after a second session every checkpoint in the log still holds', async () => {
  const dir = path.join(root, 'two-sessions')
  fs.cpSync(honest, dir, { recursive: true })
  const s = await AuditSink.open({ dir, signing: { keyFile: key }, checkpoints: { everyRecords: 200, everyMs: 20 } })
  for (let i = 0; i < 5; i++)
    await Promise.all(Array.from({ length: 100 }, (_, k) => s.emit(payment(EVENTS + i * 100 + k))))
  await s.close()
  assert.ok(s.stats().checkpoints!.written >= 1)
  const report = await verifySigned(dir, { keys: [loadVerifier(pub)] })
  assert.is(report.ok, true)
  assert.is(report.inLog.good, report.inLog.count)
  assert.ok(report.inLog.count > stats.written)
})

test('options: checkpoints without signing, a key file not 0600, an export dir inside the log: coded refusals, nothing written', async () => {
  const refusal = async (opts: object): Promise<string> => {
    try {
      await (await AuditSink.open(opts as never)).close()
      return 'opened'
    } catch (err) {
      assert.ok(err instanceof AuditError, String(err))
      return (err as AuditError).code
    }
  }
  const dir = path.join(root, 'never')
  assert.is(await refusal({ dir, checkpoints: { everyMs: 100 } }), ERROR_CODES.OPTION_INVALID)
  const loose = path.join(root, 'loose.key')
  fs.copyFileSync(key, loose)
  fs.chmodSync(loose, 0o644)
  assert.is(await refusal({ dir, signing: { keyFile: loose } }), ERROR_CODES.KEY_FILE_MODE)
  assert.is(
    await refusal({ dir, signing: { keyFile: key }, checkpoints: { export: { dir: path.join(dir, 'ckpt') } } }),
    ERROR_CODES.OPTION_INVALID,
  )
  assert.is(
    await refusal({ dir, signing: { keyFile: key }, checkpoints: { everyRecords: 0 } }),
    ERROR_CODES.OPTION_INVALID,
  )
  assert.not.ok(fs.existsSync(dir), 'a refused open created the log directory')
})

test('a failing signer fails nothing in the durable path: emits resolve, stats() reports it with its code', async () => {
  const dir = path.join(root, 'signer-fails')
  const blocked = path.join(root, 'not-a-dir')
  fs.writeFileSync(blocked, 'a file where the export directory should be')
  const s = await AuditSink.open({
    dir,
    signing: { keyFile: key },
    checkpoints: { everyRecords: 50, everyMs: 10, export: { dir: path.join(blocked, 'sub') } },
  })
  for (let i = 0; i < 5; i++) await Promise.all(Array.from({ length: 100 }, (_, k) => s.emit(payment(i * 100 + k))))
  await s.close()
  const st = s.stats().checkpoints!
  assert.ok(st.failed >= 1, `failed ${st.failed}`)
  assert.is(st.written, 0)
  assert.ok(
    typeof st.lastError?.code === 'string' && st.lastError.code.startsWith('ERR_AUDIT_'),
    JSON.stringify(st.lastError),
  )
  let events = 0
  for await (const _ of readLog(dir)) events++
  assert.is(events, 500)
})

test.run()
