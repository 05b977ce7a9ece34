// The witness protocol (C2SP tlog-witness add-checkpoint), in process over real
// HTTP on 127.0.0.1: every answer the spec defines, the compare-and-persist
// race, durability across a restart, and a persist failure that cosigns nothing.
// (test/cli/keygen-witness.test.ts runs the same server as a real CLI process.)
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { AuditError } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import {
  addCheckpoint,
  addSignatures,
  consistencyProof,
  ed25519Signer,
  formatAddCheckpoint,
  formatVerifierKey,
  leafHash,
  logOrigin,
  parseVerifierKey,
  readCheckpointUnverified,
  rootOf,
  signCheckpoint,
  stateFileOf,
  verifyCosignatures,
  Witness,
  type NoteSigner,
} from '../../lib/integrity/index.js'
import { mulberry32, seedFrom } from '../helpers/load.js'
import { tempDir } from '../helpers/dirs.js'

const SEED = seedFrom('WITNESS_SEED')
console.log('seed', SEED, '(replay: WITNESS_SEED=<seed>)')

const ORIGIN = logOrigin('audit.example/app', randomBytes(16).toString('hex'))
const logKey = ed25519Signer('audit.example/signing', randomBytes(32))
const witnessKey = ed25519Signer('witness.example/w1', randomBytes(32))
const witnessVerifier = parseVerifierKey(formatVerifierKey(witnessKey))

/** A log's leaves; `fork` changes leaf `fork` and everything is the same tree before it. */
function tree(n: number, fork = -1): Buffer[] {
  return Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`record ${i}${i === fork ? ' (rewritten)' : ''}`)))
}

function note(leaves: Buffer[], size: number, signer: NoteSigner = logKey, origin = ORIGIN): string {
  return signCheckpoint({ origin, size, root: rootOf(leaves.slice(0, size)), extensions: [] }, [signer])
}

const proof = (leaves: Buffer[], from: number, to: number): Buffer[] =>
  from === 0 ? [] : consistencyProof(from, to, (i) => leaves[i]!)

async function start(stateDir: string, now = () => 1_700_000_000): Promise<Witness> {
  return Witness.start({
    stateDir,
    key: witnessKey,
    logs: [{ origin: ORIGIN, verifiers: [parseVerifierKey(formatVerifierKey(logKey))] }],
    nowSeconds: now,
  })
}

async function post(w: Witness, body: string | Buffer): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

/** One raw HTTP exchange: what the server writes until it closes the connection. */
function rawRequest(url: string, head: string): Promise<string> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port), hostname, () => sock.write(head))
    let got = ''
    sock.on('data', (d) => (got += d))
    sock.on('close', () => resolve(got))
    sock.on('error', reject)
  })
}

async function witnessError(p: Promise<unknown>): Promise<AuditError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof AuditError, String(err))
    assert.is((err as AuditError).code, 'ERR_AUDIT_WITNESS_FAILED')
    return err as AuditError
  }
  throw new Error('the witness accepted what it must refuse')
}

test('first checkpoint accepted and cosigned; the state is on disk before the answer; extensions accepted', async () => {
  const dir = tempDir('witness')
  const w = await start(dir)
  try {
    const leaves = tree(40)
    const n10 = note(leaves, 10)
    const r = await addCheckpoint(w.url, { oldSize: 0, proof: [], note: n10 })
    assert.is(r.cosignatures.length, 1)
    const cos = verifyCosignatures(addSignatures(n10, r.cosignatures), [witnessVerifier])
    assert.equal(
      cos.map((c) => [c.name, c.time]),
      [['witness.example/w1', 1_700_000_000]],
    )
    assert.is(fs.readFileSync(stateFileOf(dir, ORIGIN), 'utf8'), n10)
    for (const [from, to] of [
      [10, 25],
      [25, 25],
      [25, 32],
      [32, 40],
    ] as const) {
      const n = note(leaves, to)
      const got = await addCheckpoint(w.url, { oldSize: from, proof: proof(leaves, from, to), note: n })
      verifyCosignatures(addSignatures(n, got.cosignatures), [witnessVerifier])
      assert.is(w.held(ORIGIN)?.size, to)
      assert.is(readCheckpointUnverified(fs.readFileSync(stateFileOf(dir, ORIGIN), 'utf8')).size, to)
    }
  } finally {
    await w.close()
  }
})

test('409: a stale old size gets the held size as text/x.tlog.size; equal sizes with another root too', async () => {
  const w = await start(tempDir('witness-409'))
  try {
    const leaves = tree(30)
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 20) })
    const stale = await post(
      w,
      formatAddCheckpoint({ oldSize: 10, proof: proof(leaves, 10, 30), note: note(leaves, 30) }),
    )
    assert.equal(stale, { status: 409, type: 'text/x.tlog.size', body: '20\n' })
    const e = await witnessError(addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 30) }))
    assert.equal([e.details?.status, e.details?.size], [409, 20])
    const forkedSame = await post(w, formatAddCheckpoint({ oldSize: 20, proof: [], note: note(tree(30, 3), 20) }))
    assert.equal(forkedSame, { status: 409, type: 'text/x.tlog.size', body: '20\n' })
    assert.is(w.held(ORIGIN)?.size, 20)
  } finally {
    await w.close()
  }
})

test('422: an inconsistent tree (history rewritten below the held size) is refused; nothing changes', async () => {
  const dir = tempDir('witness-422')
  const w = await start(dir)
  try {
    const leaves = tree(30)
    const n20 = note(leaves, 20)
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: n20 })
    const forked = tree(30, 7)
    // The forger's own honest proof for its own tree: it does not lead from the held root.
    const r = await post(w, formatAddCheckpoint({ oldSize: 20, proof: proof(forked, 20, 30), note: note(forked, 30) }))
    assert.is(r.status, 422)
    // The honest proof with the forged checkpoint fails too.
    const r2 = await post(w, formatAddCheckpoint({ oldSize: 20, proof: proof(leaves, 20, 30), note: note(forked, 30) }))
    assert.is(r2.status, 422)
    assert.is(
      (await witnessError(addCheckpoint(w.url, { oldSize: 20, proof: proof(forked, 20, 30), note: note(forked, 30) })))
        .details?.status,
      422,
    )
    assert.is(w.held(ORIGIN)?.size, 20)
    assert.is(fs.readFileSync(stateFileOf(dir, ORIGIN), 'utf8'), n20)
  } finally {
    await w.close()
  }
})

test('403 on a signature by another key; 404 on an unknown origin; nothing held', async () => {
  const w = await start(tempDir('witness-403'))
  try {
    const leaves = tree(5)
    const impostor = ed25519Signer('audit.example/signing', randomBytes(32))
    const r = await post(w, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(leaves, 5, impostor) }))
    assert.is(r.status, 403)
    const forged = note(leaves, 5).replace('\n5\n', '\n4\n')
    assert.is((await post(w, formatAddCheckpoint({ oldSize: 0, proof: [], note: forged }))).status, 403)
    const other = logOrigin('audit.example/app', 'f'.repeat(32))
    assert.is(
      (await post(w, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(leaves, 5, logKey, other) }))).status,
      404,
    )
    assert.is(w.held(ORIGIN), undefined)
  } finally {
    await w.close()
  }
})

test('400 on malformed requests; 405, 404 and 413 at the HTTP level', async () => {
  const w = await start(tempDir('witness-400'))
  try {
    const leaves = tree(12)
    const n8 = note(leaves, 8)
    const bad = [
      'old 0\n', // no empty line, no checkpoint
      `old 00\n\n${n8}`,
      `old -1\n\n${n8}`,
      `old 0\nnot base64!\n\n${n8}`,
      `old 0\n${Buffer.alloc(31).toString('base64')}\n\n${n8}`,
      `olde 0\n\n${n8}`,
      `old 0\n\n${n8.replace('\n\n', '\n')}`, // the note has no signatures
      `old 0\n\nnot\na\ncheckpoint\n\n— x AAAAAAAA\n`,
      `old 9\n\n${n8}`, // old above the checkpoint's size
      `old 0\n${leaves[0]!.toString('base64')}\n\n${n8}`, // a proof from 0
      `old 0\n${`${leaves[0]!.toString('base64')}\n`.repeat(FIXED.witnessProofLinesMax + 1)}\n${n8}`,
    ]
    for (const body of bad) assert.is((await post(w, body)).status, 400, body.slice(0, 40))
    assert.is((await post(w, Buffer.from([0x6f, 0x6c, 0x64, 0x20, 0xff, 0x0a, 0x0a]))).status, 400)
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: n8 })
    const sameWithProof = formatAddCheckpoint({ oldSize: 8, proof: [leaves[0]!], note: n8 })
    assert.is((await post(w, sameWithProof)).status, 400)
    assert.is((await fetch(`${w.url}/add-checkpoint`)).status, 405)
    assert.is((await fetch(`${w.url}/other`, { method: 'POST', body: 'x' })).status, 404)
    // A declared body above the bound is refused before any of it is read.
    const answer = await rawRequest(
      w.url,
      `POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: ${FIXED.witnessBodyBytesMax + 1}\r\n\r\n`,
    )
    assert.match(answer, /^HTTP\/1\.1 413 /)
    assert.is(w.held(ORIGIN)?.size, 8)
  } finally {
    await w.close()
  }
})

test('the empty tree: size 0 with the empty root is cosigned, with another root it is a 409; then any tree', async () => {
  const w = await start(tempDir('witness-empty'))
  try {
    const wrong = signCheckpoint({ origin: ORIGIN, size: 0, root: leafHash(Buffer.from('x')), extensions: [] }, [
      logKey,
    ])
    assert.equal(await post(w, formatAddCheckpoint({ oldSize: 0, proof: [], note: wrong })), {
      status: 409,
      type: 'text/x.tlog.size',
      body: '0\n',
    })
    const empty = note([], 0)
    const r = await addCheckpoint(w.url, { oldSize: 0, proof: [], note: empty })
    verifyCosignatures(addSignatures(empty, r.cosignatures), [witnessVerifier])
    assert.is(w.held(ORIGIN)?.size, 0)
    const leaves = tree(3)
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 3) })
    assert.is(w.held(ORIGIN)?.size, 3)
  } finally {
    await w.close()
  }
})

test('racing requests from one size: exactly one wins, the held size never goes back (seeded)', async () => {
  const r = mulberry32(SEED)
  const w = await start(tempDir('witness-race'))
  try {
    const leaves = tree(400)
    let held = 1
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, held) })
    for (let round = 0; round < 20; round++) {
      const sizes = Array.from({ length: 4 }, () => held + 1 + Math.floor(r() * 15))
      const answers = await Promise.all(
        sizes.map((to) =>
          post(w, formatAddCheckpoint({ oldSize: held, proof: proof(leaves, held, to), note: note(leaves, to) })),
        ),
      )
      const won = answers.flatMap((a, i) => (a.status === 200 ? [sizes[i]!] : []))
      assert.ok(won.length >= 1, `round ${round}: nobody won`)
      // Two winners are possible only with the same size (the second is a re-cosign of the same tree).
      assert.ok(
        won.every((s) => s === won[0]),
        `round ${round}: ${won}`,
      )
      for (const [i, a] of answers.entries())
        if (a.status !== 200) assert.equal([a.status, a.body], [409, `${won[0]}\n`], `round ${round} request ${i}`)
      assert.is(w.held(ORIGIN)?.size, won[0])
      held = won[0]!
    }
  } finally {
    await w.close()
  }
})

test('the held checkpoint survives a restart; a stale old size after it still gets 409', async () => {
  const dir = tempDir('witness-restart')
  const leaves = tree(50)
  let w = await start(dir)
  await addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 33) })
  await w.close()
  w = await start(dir)
  try {
    assert.is(w.held(ORIGIN)?.size, 33)
    assert.is(
      (await witnessError(addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 50) }))).details?.size,
      33,
    )
    await addCheckpoint(w.url, { oldSize: 33, proof: proof(leaves, 33, 50), note: note(leaves, 50) })
  } finally {
    await w.close()
  }
  // A stray temp file of a crash during a persist is cleared at start and changes nothing.
  fs.writeFileSync(`${stateFileOf(dir, ORIGIN)}.tmp-0123456789ab`, 'half written')
  w = await start(dir)
  try {
    assert.is(w.held(ORIGIN)?.size, 50)
    assert.not.ok(fs.readdirSync(dir).some((n) => n.includes('.tmp-')))
  } finally {
    await w.close()
  }
})

test('a failed persist answers 500, cosigns nothing and changes nothing', async () => {
  const dir = tempDir('witness-500')
  const w = await start(dir)
  try {
    const leaves = tree(10)
    // The state file's name is a non-empty directory: rename onto it fails for real.
    const file = stateFileOf(dir, ORIGIN)
    fs.mkdirSync(file)
    fs.writeFileSync(path.join(file, 'x'), 'x')
    const r = await post(w, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(leaves, 10) }))
    assert.is(r.status, 500)
    assert.not.match(r.body, /—/)
    assert.is(w.held(ORIGIN), undefined)
    fs.rmSync(file, { recursive: true })
    await addCheckpoint(w.url, { oldSize: 0, proof: [], note: note(leaves, 10) })
    assert.is(w.held(ORIGIN)?.size, 10)
  } finally {
    await w.close()
  }
})

test('a witness with no answer: the client reports status 0', async () => {
  const w = await start(tempDir('witness-gone'))
  const url = w.url
  await w.close()
  const e = await witnessError(addCheckpoint(url, { oldSize: 0, proof: [], note: note(tree(1), 1) }))
  assert.is(e.details?.status, 0)
})

test.run()
