// Real crashes of an encrypted sink (docs/encryption.md, "Crashes"): a child
// process (helpers/crypt-child.ts) emits with personal data, rotates the data
// key and erases a subject while the parent SIGKILLs it at a seeded instant;
// the next child reopens the same directory and keyring. After every life:
// verify passes without a key; with the keyring every acknowledged event is
// there at its seq with its content (its personal field [erased] only when
// its subject's erasure was started); every acknowledged key change is a key
// change record naming a key that is in the keyring; a tombstone never exists
// without its subject's keys gone from the keyring (an erasure is durable in
// the keyring before its tombstone), and an acknowledged erasure has both.
//
// Replay with CRYPT_CRASH_SEED=<seed>; CRYPT_CRASH_LIVES sets the lives (default 6).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { AuditSink, Keyring, readLog, verifyLog, type LogEntry, type LogRecord } from '../../lib/index.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { childEvent, type CryptChildConfig } from '../helpers/crypt-child.js'

const CHILD = fileURLToPath(new URL('../helpers/crypt-child.js', import.meta.url))
const LIVES = Number(process.env.CRYPT_CRASH_LIVES ?? 6)
const SUBJECTS = 5
const seed = seedFrom('CRYPT_CRASH_SEED')
console.log(`crypt-crash seed=${seed} lives=${LIVES} (replay with CRYPT_CRASH_SEED=${seed})`)
const rnd = mulberry32(seed)

interface Life {
  cfg: CryptChildConfig
  acks: Map<number, number>
  keyChanges: { seq: number; keyId: string }[]
  eraseStarted: string[]
  erased: { seq: number; subject: string }[]
  errors: string[]
  done: boolean
}

function runChild(cfg: CryptChildConfig, killAfterMs: number): Promise<Life> {
  const life: Life = { cfg, acks: new Map(), keyChanges: [], eraseStarted: [], erased: [], errors: [], done: false }
  const child = spawn(process.execPath, [CHILD, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'pipe'] })
  let buf = ''
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString()
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const [tag, a, b] = buf.slice(0, nl).split(' ')
      buf = buf.slice(nl + 1)
      if (tag === 'R') setTimeout(() => child.kill('SIGKILL'), killAfterMs)
      else if (tag === 'A') life.acks.set(Number(a), Number(b))
      else if (tag === 'K') life.keyChanges.push({ seq: Number(a), keyId: b! })
      else if (tag === 'x') life.eraseStarted.push(a!)
      else if (tag === 'X') life.erased.push({ seq: Number(a), subject: b! })
      else if (tag === 'E') life.errors.push(`${a} ${b}`)
      else if (tag === 'D') life.done = true
    }
  })
  return new Promise((resolve) =>
    child.on('exit', () => {
      if (stderr.trim() !== '' && !life.done) life.errors.push(...stderr.trim().split('\n').slice(0, 3))
      resolve(life)
    }),
  )
}

test('SIGKILL during emits, rotation and erasure: every ack readable, no tombstone without its erasure', async () => {
  const base = tempDir('crypt-crash')
  const keyring = path.join(base, 'keyring.json')
  ;(await Keyring.create(keyring)).close()
  const dir = path.join(base, 'log')
  const lives: Life[] = []
  for (let l = 0; l < LIVES; l++) {
    const cfg: CryptChildConfig = {
      dir,
      keyring,
      life: l,
      events: 3000,
      inflight: 256,
      rotateEvery: 100 + Math.floor(rnd() * 200),
      eraseAt: 20 + Math.floor(rnd() * 300),
      subjects: SUBJECTS,
    }
    const killAfterMs = 100 + Math.floor(rnd() * 2400)
    const life = await runChild(cfg, killAfterMs)
    assert.equal(life.errors, [], `life ${l}: ${life.errors.join('; ')}`)
    lives.push(life)

    const v = await verifyLog(dir)
    assert.ok(v.ok || v.tornTail !== undefined || v.zeroTail !== undefined || v.firstBad === undefined, JSON.stringify(v.firstBad))
    assert.is(v.firstBad, undefined, `life ${l}: ${JSON.stringify(v.firstBad)}`)
    await check(dir, keyring, lives)
  }
  // One more clean open and close: recovery of the last crash, then everything again.
  const sink = await AuditSink.open({ dir, encryption: { keyring } })
  await sink.close()
  assert.ok((await verifyLog(dir)).ok)
  await check(dir, keyring, lives)
  const kills = lives.filter((x) => !x.done).length
  const acked = lives.reduce((s, x) => s + x.acks.size, 0)
  const rotations = lives.reduce((s, x) => s + x.keyChanges.length, 0)
  const erasures = lives.reduce((s, x) => s + x.erased.length, 0)
  const started = lives.reduce((s, x) => s + x.eraseStarted.length, 0)
  console.log(
    `crypt-crash: ${kills} kills, ${acked} acked events, ${rotations} acked rotations, ${erasures} of ${started} erasures acked`,
  )
  assert.ok(acked > 0)
})

async function check(dir: string, keyring: string, lives: Life[]): Promise<void> {
  const entries = new Map<number, LogEntry>()
  for await (const e of readLog(dir, { keyring, records: true })) entries.set(e.seq, e)
  const ring = await Keyring.load(keyring)
  const erasedSubjects = new Set(lives.flatMap((x) => x.eraseStarted))
  // An acknowledged erasure covers every event of its subject emitted before it (this life's before the call, earlier lives').
  const mustBeErased = (l: number, n: number, subject: string): boolean =>
    lives.some((x, k) => x.erased.some((e) => e.subject === subject) && (k > l || (k === l && n < x.cfg.eraseAt)))
  lives.forEach((life, l) => {
    for (const [seq, n] of life.acks) {
      const e = entries.get(seq) as LogRecord | undefined
      assert.ok(e !== undefined && e.kind === 'event', `life ${l}: acked seq ${seq} is not an event`)
      const want = childEvent(l, n, SUBJECTS).properties
      const got = e.event.properties
      assert.is(got.N, n, `seq ${seq}`)
      assert.is(got.Life, l)
      assert.is(got.Note, want.Note)
      if (mustBeErased(l, n, want.PatientId)) assert.is(got.PatientName, '[erased]', `seq ${seq}: emitted before its acked erasure`)
      if (got.PatientName === '[erased]') {
        assert.ok(erasedSubjects.has(want.PatientId), `seq ${seq}: [erased] but ${want.PatientId} was never erased`)
        assert.is(got.PatientId, '[erased]')
      } else {
        assert.is(got.PatientName, want.PatientName, `seq ${seq}`)
        assert.is(got.PatientId, want.PatientId)
      }
    }
    for (const k of life.keyChanges) {
      const e = entries.get(k.seq)
      assert.ok(e?.kind === 'key-change', `acked key change at ${k.seq}`)
      assert.is((e as { detail: Record<string, unknown> }).detail.keyId, k.keyId)
    }
    for (const x of life.erased) assert.ok(entries.get(x.seq)?.kind === 'tombstone', `acked tombstone at ${x.seq}`)
  })
  // A tombstone names erased keys only: the erasure was durable in the keyring first.
  for (const e of entries.values()) {
    if (e.kind !== 'tombstone') continue
    for (const id of (e as { detail: Record<string, unknown> }).detail.keyIds as string[])
      assert.is((await ring.subjectKeyById(id)).status, 'erased', `tombstone ${e.seq} names ${id}`)
  }
  ring.close()
}

test.run()
