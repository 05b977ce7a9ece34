// Frames: one AES-256-GCM call per writer batch. Round trips for 1..4096 records,
// every kind of single-bit damage (ciphertext, tag, IV, seq, log id, key id) fails
// with the frame's first seq, ciphertexts moved between records, frames or logs
// fail, the unauthenticated slice equals openFrame for every record, the IV and
// AAD are built as docs/encryption.md says (rebuilt here by hand), and no (key, IV)
// repeats across epochs. Seeded: replay with FRAME_SEED=<seed>.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import path from 'node:path'
import { createCipheriv } from 'node:crypto'
import {
  decryptSliceUnauthenticated,
  EpochSealer,
  frameIv,
  Keyring,
  openFrame,
  sealFrame,
  type SealedFrame,
} from '../../lib/crypto/index.js'
import { tempDir } from '../helpers/dirs.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { assertNoSecretsInMessages, expectCode, rememberSecret } from './secrets.js'

const SEED = seedFrom('FRAME_SEED')
console.log(`frame seed=${SEED} (replay with FRAME_SEED=${SEED})`)
const rnd = mulberry32(SEED)
const int = (n: number): number => Math.floor(rnd() * n)
const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(256)))

const KEY = rememberSecret(bytes(32))
const OTHER_KEY = rememberSecret(bytes(32))
const SALT = bytes(4)
const LOG = 'log-7f3a'
const KID = 'd-00112233445566aa'

interface Frame {
  seqs: number[]
  plain: Buffer[]
  sealed: SealedFrame
}

/** A frame of n records, sizes 0..600 bytes (mostly ~256), seqs contiguous from `first` or with gaps. */
function makeFrame(n: number, first = 1 + int(1e9), key = KEY): Frame {
  const seqs: number[] = []
  let s = first
  for (let i = 0; i < n; i++) {
    seqs.push(s)
    s += rnd() < 0.9 ? 1 : 1 + int(5) // a gap record's range may sit between two events
  }
  const plain = seqs.map(() => bytes(rnd() < 0.05 ? 0 : rnd() < 0.8 ? 200 + int(112) : int(601)))
  const sealed = sealFrame(key, {
    logId: LOG,
    keyId: KID,
    epochSalt: SALT,
    items: seqs.map((seq, i) => ({ seq, plaintext: plain[i]! })),
  })
  return { seqs, plain, sealed }
}

function open(
  f: Frame,
  over: Partial<{
    key: Buffer
    logId: string
    keyId: string
    iv: Buffer
    tag: Buffer
    seqs: number[]
    cts: Buffer[]
  }> = {},
): Buffer[] {
  const seqs = over.seqs ?? f.seqs
  const cts = over.cts ?? f.sealed.ciphertexts
  return openFrame(over.key ?? KEY, {
    logId: over.logId ?? LOG,
    keyId: over.keyId ?? KID,
    iv: over.iv ?? f.sealed.iv,
    tag: over.tag ?? f.sealed.tag,
    items: seqs.map((seq, i) => ({ seq, ciphertext: cts[i]! })),
  })
}

async function refused(f: Frame, over: Parameters<typeof open>[1], label: string): Promise<void> {
  const e = await expectCode(() => open(f, over), 'ERR_AUDIT_DECRYPT_FAILED', label)
  assert.is(e.details?.seq, (over?.seqs ?? f.seqs)[0], `${label}: names the frame's first seq`)
}

function flipBit(b: Buffer, bit: number): Buffer {
  const c = Buffer.from(b)
  c[bit >> 3]! ^= 1 << (bit & 7)
  return c
}

test('round trip for frames of 1..4096 records (every size class, empty records included)', () => {
  const sizes = [1, 2, 3, 15, 16, 17, 255, 256, 1000, 4096, ...Array.from({ length: 6 }, () => 1 + int(4096))]
  for (const n of sizes) {
    const f = makeFrame(n)
    assert.is(f.sealed.ciphertexts.length, n)
    f.sealed.ciphertexts.forEach((c, i) => assert.is(c.length, f.plain[i]!.length))
    // (A frame whose records are all empty has no ciphertext bytes to differ: seed 1571544226 made one.)
    assert.ok(
      f.plain.every((p) => p.length === 0) || f.sealed.ciphertexts.some((c, i) => c.length > 0 && !c.equals(f.plain[i]!)),
      'ciphertext is not the plaintext',
    )
    const got = open(f)
    assert.equal(got.length, n)
    for (let i = 0; i < n; i++) assert.ok(got[i]!.equals(f.plain[i]!), `n=${n} record ${i}`)
  }
})

test('IV = epoch salt ‖ first seq (u64 BE); the AAD layout of docs/encryption.md gives the same tag when rebuilt by hand', () => {
  const f = makeFrame(5, 0x1_2345_6789)
  const iv = Buffer.concat([SALT, Buffer.from([0, 0, 0, 0x01, 0x23, 0x45, 0x67, 0x89])])
  assert.equal(frameIv(SALT, 0x1_2345_6789), iv)
  assert.equal(f.sealed.iv, iv)
  // AAD by hand: u32 len + "mtlog-audit/frame/v1", u32 len + log id, u32 len + key id, u64 count, per record u64 seq + u32 len.
  const lp = (s: string): Buffer => {
    const b = Buffer.from(s)
    const l = Buffer.alloc(4)
    l.writeUInt32BE(b.length)
    return Buffer.concat([l, b])
  }
  const u64 = (n: number): Buffer => {
    const b = Buffer.alloc(8)
    b.writeBigUInt64BE(BigInt(n))
    return b
  }
  const per = f.seqs.map((s, i) => {
    const l = Buffer.alloc(4)
    l.writeUInt32BE(f.plain[i]!.length)
    return Buffer.concat([u64(s), l])
  })
  const aad = Buffer.concat([lp('mtlog-audit/frame/v1'), lp(LOG), lp(KID), u64(5), ...per])
  const c = createCipheriv('aes-256-gcm', KEY, iv).setAAD(aad)
  const ct = Buffer.concat([c.update(Buffer.concat(f.plain)), c.final()])
  assert.ok(ct.equals(Buffer.concat(f.sealed.ciphertexts)))
  assert.ok(c.getAuthTag().equals(f.sealed.tag))
})

test('any single bit flipped in a ciphertext, the tag or the IV fails with the first seq', async () => {
  const f = makeFrame(16)
  const cts = f.sealed.ciphertexts
  const nonEmpty = cts.map((c, i) => [c, i] as const).filter(([c]) => c.length > 0)
  for (let k = 0; k < 300; k++) {
    const [c, i] = nonEmpty[int(nonEmpty.length)]!
    const changed = [...cts]
    changed[i] = flipBit(c, int(c.length * 8))
    await refused(f, { cts: changed }, `ciphertext ${i}`)
  }
  for (let bit = 0; bit < 128; bit++) await refused(f, { tag: flipBit(f.sealed.tag, bit) }, `tag bit ${bit}`)
  for (let bit = 0; bit < 96; bit++) await refused(f, { iv: flipBit(f.sealed.iv, bit) }, `iv bit ${bit}`)
  assert.equal(open(f).length, 16, 'the undamaged frame still opens')
})

test('any single bit flipped in a seq, the log id or the key id fails with the first seq', async () => {
  const f = makeFrame(8, 1000)
  for (let i = 0; i < f.seqs.length; i++)
    for (let bit = 0; bit < 53; bit++) {
      const seqs = [...f.seqs]
      const v = seqs[i]!
      const b = 2 ** bit
      seqs[i] = Math.floor(v / b) % 2 === 1 ? v - b : v + b // flip bit `bit` of a 53-bit seq
      if (seqs[i] === 0) continue // seq 0 is not a seq: a caller error (ERR_AUDIT_OPTION_INVALID), tested below
      await refused(f, { seqs }, `seq ${i} bit ${bit}`)
    }
  for (const [what, value] of [
    ['logId', LOG],
    ['keyId', KID],
  ] as const)
    for (let i = 0; i < value.length; i++)
      for (let bit = 0; bit < 7; bit++) {
        const s = value.slice(0, i) + String.fromCharCode(value.charCodeAt(i) ^ (1 << bit)) + value.slice(i + 1)
        await refused(f, { [what]: s }, `${what} char ${i} bit ${bit}`)
      }
})

test('a ciphertext moved between two records, between two frames, or to another log or key fails', async () => {
  // Two records of the same length swapped: the lengths in the AAD still match, the tag does not.
  const g = makeFrame(2, 9000)
  const p2 = [bytes(256), bytes(256)]
  const sg = sealFrame(KEY, {
    logId: LOG,
    keyId: KID,
    epochSalt: SALT,
    items: [
      { seq: 9000, plaintext: p2[0]! },
      { seq: 9001, plaintext: p2[1]! },
    ],
  })
  const pair: Frame = { seqs: [9000, 9001], plain: p2, sealed: sg }
  await refused(pair, { cts: [sg.ciphertexts[1]!, sg.ciphertexts[0]!] }, 'same-length swap')
  // Records with their seqs swapped too (a reordering): seqs no longer increase.
  await refused(pair, { seqs: [9001, 9000], cts: [sg.ciphertexts[1]!, sg.ciphertexts[0]!] }, 'reorder')
  // Between frames: frame B's record put into frame A at the same place, same length.
  const a = makeFrame(4, 100)
  const b: Frame = (() => {
    const plain = a.plain.map((p) => bytes(p.length))
    return {
      seqs: a.seqs,
      plain,
      sealed: sealFrame(KEY, {
        logId: LOG,
        keyId: KID,
        epochSalt: SALT,
        items: a.seqs.map((seq, i) => ({ seq, plaintext: plain[i]! })),
      }),
    }
  })()
  for (let i = 0; i < 4; i++) {
    const cts = [...a.sealed.ciphertexts]
    cts[i] = b.sealed.ciphertexts[i]!
    if (!cts[i]!.equals(a.sealed.ciphertexts[i]!)) await refused(a, { cts }, `frame B record ${i} in frame A`)
  }
  // A whole frame read as another log's, under another key id, or with another key.
  await refused(g, { logId: 'log-other' }, 'other log')
  await refused(g, { keyId: 'd-ffffffffffffffff' }, 'other key id')
  await refused(g, { key: OTHER_KEY }, 'other key')
  // A record dropped from the end, or one added: the count and lengths are in the AAD.
  await refused(a, { seqs: a.seqs.slice(0, 3), cts: a.sealed.ciphertexts.slice(0, 3) }, 'dropped last')
  await refused(a, { seqs: [...a.seqs, 1e6], cts: [...a.sealed.ciphertexts, Buffer.alloc(0)] }, 'empty record appended')
})

test('decryptSliceUnauthenticated gives the same bytes as openFrame for every record (any offset alignment)', () => {
  for (const n of [1, 7, 64, 500]) {
    const f = makeFrame(n)
    const opened = open(f)
    let off = 0
    for (let i = 0; i < n; i++) {
      const c = f.sealed.ciphertexts[i]!
      const slice = decryptSliceUnauthenticated(KEY, f.sealed.iv, off, c)
      assert.ok(slice.equals(opened[i]!), `n=${n} record ${i} at ${off}`)
      // Any sub-slice too (a salvager may hold part of a record).
      if (c.length > 2) {
        const from = int(c.length - 1)
        const to = from + 1 + int(c.length - from - 1)
        assert.ok(
          decryptSliceUnauthenticated(KEY, f.sealed.iv, off + from, c.subarray(from, to)).equals(
            opened[i]!.subarray(from, to),
          ),
        )
      }
      off += c.length
    }
  }
  // Unauthenticated means exactly that: a flipped ciphertext bit comes out as a flipped plaintext bit, silently.
  const f = makeFrame(1)
  const c = f.sealed.ciphertexts[0]!
  if (c.length > 0) {
    const bit = int(c.length * 8)
    assert.ok(decryptSliceUnauthenticated(KEY, f.sealed.iv, 0, flipBit(c, bit)).equals(flipBit(f.plain[0]!, bit)))
  }
})

test('bad shapes: coded errors, never a crash', async () => {
  const f = makeFrame(3, 10)
  await expectCode(() => open(f, { tag: f.sealed.tag.subarray(0, 12) }), 'ERR_AUDIT_DECRYPT_FAILED', 'short tag')
  await expectCode(() => open(f, { iv: f.sealed.iv.subarray(0, 8) }), 'ERR_AUDIT_DECRYPT_FAILED', 'short iv')
  await expectCode(() => open(f, { key: KEY.subarray(0, 16) }), 'ERR_AUDIT_OPTION_INVALID', 'AES-128 key')
  await expectCode(
    () => sealFrame(KEY, { logId: LOG, keyId: KID, epochSalt: SALT, items: [] }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(
    () => sealFrame(KEY, { logId: '', keyId: KID, epochSalt: SALT, items: [{ seq: 1, plaintext: Buffer.alloc(1) }] }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(
    () =>
      sealFrame(KEY, {
        logId: LOG,
        keyId: KID,
        epochSalt: Buffer.alloc(3),
        items: [{ seq: 1, plaintext: Buffer.alloc(1) }],
      }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(
    () =>
      sealFrame(KEY, {
        logId: LOG,
        keyId: KID,
        epochSalt: SALT,
        items: [
          { seq: 2, plaintext: Buffer.alloc(1) },
          { seq: 2, plaintext: Buffer.alloc(1) },
        ],
      }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(
    () => sealFrame(KEY, { logId: LOG, keyId: KID, epochSalt: SALT, items: [{ seq: 0, plaintext: Buffer.alloc(1) }] }),
    'ERR_AUDIT_OPTION_INVALID',
  )
  await expectCode(() => decryptSliceUnauthenticated(KEY, f.sealed.iv, -1, Buffer.alloc(1)), 'ERR_AUDIT_OPTION_INVALID')
})

test('nonces: an EpochSealer never reuses an IV; epochs of a keyring have new keys, so a seq reused after a crash never repeats a (key, IV)', async () => {
  const ring = await Keyring.create(path.join(tempDir('frame'), 'k.json'))
  const pairs = new Set<string>()
  const keys = new Set<string>()
  let frames = 0
  for (let epoch = 0; epoch < 4; epoch++) {
    const dk = await ring.openEpoch()
    const kx = rememberSecret(dk.key).toString('hex')
    assert.not.ok(keys.has(kx), 'a new key per epoch')
    keys.add(kx)
    const sealer = new EpochSealer(dk, LOG)
    // Every epoch "restarts" at seq 1: what a crash that lost unsynced seqs could make a careless writer do.
    let seq = 1
    for (let i = 0; i < 50; i++) {
      const n = 1 + int(8)
      const items = Array.from({ length: n }, (_, j) => ({ seq: seq + j, plaintext: bytes(32) }))
      const s = sealer.seal(items)
      assert.equal(s.iv, frameIv(dk.epochSalt, seq))
      const pair = `${kx}/${s.iv.toString('hex')}`
      assert.not.ok(pairs.has(pair), `(key, IV) repeated at epoch ${epoch} seq ${seq}`)
      pairs.add(pair)
      frames++
      seq += n
    }
    // Within the epoch, a frame that does not start after the last sealed seq is refused.
    await expectCode(() => sealer.seal([{ seq: seq - 1, plaintext: Buffer.alloc(4) }]), 'ERR_AUDIT_INVARIANT')
    await expectCode(() => sealer.seal([{ seq: 1, plaintext: Buffer.alloc(4) }]), 'ERR_AUDIT_INVARIANT')
    sealer.seal([{ seq, plaintext: Buffer.alloc(4) }])
  }
  assert.is(pairs.size, frames)
  assert.is(keys.size, 4)
})

test('no error message or detail of this file carries key bytes', () => {
  const { messages } = assertNoSecretsInMessages()
  console.log(`checked ${messages} messages`)
  assert.ok(messages > 500)
})

test.run()
