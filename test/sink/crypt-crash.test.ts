// Real crashes of an encrypted sink (docs/encryption.md, "Crashes"): a child
// process (torture/crypt-child.ts) emits with personal data, rotates the data
// key and erases a subject while the parent SIGKILLs it at a seeded instant;
// the next child reopens the same directory and keyring. After every life
// (torture/scenarios/crypt.ts checkCryptLives): verify passes without a key;
// with the keyring every acknowledged event is there at its seq with its
// content (its personal field [erased] only when its subject's erasure was
// started, and always when an acknowledged erasure followed it); every
// acknowledged key change and tombstone is in the log; a tombstone never names
// a key still in the keyring (an erasure is durable in the keyring before its
// tombstone is written).
//
// Replay with CRYPT_CRASH_SEED=<seed>; CRYPT_CRASH_LIVES sets the lives (default 6).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import path from 'node:path'
import { AuditSink, Keyring, verifyLog } from '../../lib/index.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import type { CryptChildConfig } from '../../torture/crypt-child.js'
import { checkCryptLives, type CryptLife, runCryptLife } from '../../torture/scenarios/crypt.js'

const LIVES = Number(process.env.CRYPT_CRASH_LIVES ?? 6)
const seed = seedFrom('CRYPT_CRASH_SEED')
console.log(`crypt-crash seed=${seed} lives=${LIVES} (replay with CRYPT_CRASH_SEED=${seed})`)
const rnd = mulberry32(seed)

test('SIGKILL during emits, rotation and erasure: every ack readable, no tombstone without its erasure', async () => {
  const base = tempDir('crypt-crash')
  const keyring = path.join(base, 'keyring.json')
  ;(await Keyring.create(keyring)).close()
  const dir = path.join(base, 'log')
  const lives: CryptLife[] = []
  for (let l = 0; l < LIVES; l++) {
    const cfg: CryptChildConfig = {
      dir,
      keyring,
      life: l,
      events: 3000,
      inflight: 256,
      rotateEvery: 100 + Math.floor(rnd() * 200),
      eraseAt: 20 + Math.floor(rnd() * 300),
      subjects: 5,
    }
    const life = await runCryptLife(cfg, 100 + Math.floor(rnd() * 2400))
    assert.equal(life.errors, [], `life ${l}: ${life.errors.join('; ')}`)
    lives.push(life)
    assert.equal(await checkCryptLives(dir, keyring, lives), [], `after life ${l}`)
  }
  // One more clean open and close: recovery of the last crash, then everything again.
  const sink = await AuditSink.open({ dir, encryption: { keyring } })
  await sink.close()
  assert.ok((await verifyLog(dir)).ok)
  assert.equal(await checkCryptLives(dir, keyring, lives), [])
  const kills = lives.filter((x) => !x.done).length
  const acked = lives.reduce((s, x) => s + x.acks.size, 0)
  const rotations = lives.reduce((s, x) => s + x.keyChanges.length, 0)
  const erasures = lives.reduce((s, x) => s + x.erased.length, 0)
  const started = lives.reduce((s, x) => s + x.eraseStarted.length, 0)
  console.log(`crypt-crash: ${kills} kills, ${acked} acked events, ${rotations} acked rotations, ${erasures} of ${started} erasures acked`)
  assert.ok(acked > 0)
})

test.run()
