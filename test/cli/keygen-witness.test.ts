// `mtlog-audit keygen` and `mtlog-audit witness serve` as a user runs them:
// real child processes, real files and modes, a real witness on 127.0.0.1
// spoken to over HTTP, stopped with SIGTERM and started again on its state.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  addCheckpoint,
  addSignatures,
  consistencyProof,
  formatAddCheckpoint,
  leafHash,
  loadSigner,
  loadVerifier,
  logOrigin,
  parseVerifierKey,
  rootOf,
  signCheckpoint,
  verifyCosignatures,
  type NoteSigner,
} from '../../lib/integrity/index.js'
import { CLI, cli } from '../helpers/cli-run.js'
import { serve, type Running } from '../helpers/witness-process.js'
import { tempDir } from '../helpers/dirs.js'

const modeOf = (f: string): number => fs.statSync(f).mode & 0o777

test('keygen writes FILE 0600 and FILE.pub 0644; the .pub parses as a verifier key of the same key', async () => {
  const dir = tempDir('cli-keygen')
  const file = path.join(dir, 'signing.key')
  const r = cli('keygen', '--output', file, '--name', 'audit.example/signing')
  assert.is(r.code, 0, r.err)
  assert.is(modeOf(file), 0o600)
  assert.is(modeOf(`${file}.pub`), 0o644)
  const pub = fs.readFileSync(`${file}.pub`, 'utf8')
  assert.match(pub, /^audit\.example\/signing\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n$/)
  const v = loadVerifier(`${file}.pub`)
  assert.is(v.name, 'audit.example/signing')
  assert.ok((await loadSigner(file)).publicKey.equals(v.publicKey))
  assert.ok(r.out.includes(pub.trim()), r.out)
  const secret = fs.readFileSync(file, 'utf8').trim().split('+').slice(4).join('+')
  assert.not.ok(r.out.includes(secret.slice(0, 12)) || r.err.includes(secret.slice(0, 12)))
})

test('keygen refuses to overwrite (exit 2, ERR_AUDIT_OUTPUT_EXISTS) and refuses a bad name (exit 2)', () => {
  const dir = tempDir('cli-keygen-2')
  const file = path.join(dir, 'k')
  assert.is(cli('keygen', '--output', file).code, 0)
  const before = fs.readFileSync(file)
  const again = cli('keygen', '--output', file)
  assert.is(again.code, 2)
  assert.match(again.err, /ERR_AUDIT_OUTPUT_EXISTS/)
  assert.ok(fs.readFileSync(file).equals(before))
  const bad = cli('keygen', '--output', path.join(dir, 'n'), '--name', 'two words')
  assert.is(bad.code, 2)
  assert.match(bad.err, /ERR_AUDIT_OPTION_INVALID/)
  assert.not.ok(fs.existsSync(path.join(dir, 'n')))
  assert.is(cli('keygen').code, 2) // --output is required
  const json = cli('keygen', '--output', path.join(dir, 'j'), '--json')
  assert.is(json.code, 0, json.err)
  const k = JSON.parse(json.out)
  assert.is(k.name, 'mtlog-audit')
  assert.is(k.verifierKey, fs.readFileSync(path.join(dir, 'j.pub'), 'utf8').trim())
})

test('keygen under umask 000 still writes 0600 and 0644', () => {
  const dir = tempDir('cli-keygen-umask')
  const file = path.join(dir, 'k')
  const r = spawnSync('sh', ['-c', 'umask 000 && exec "$@"', 'sh', process.execPath, CLI, 'keygen', '--output', file], {
    encoding: 'utf8',
  })
  assert.is(r.status, 0, r.stderr)
  assert.is(modeOf(file), 0o600)
  assert.is(modeOf(`${file}.pub`), 0o644)
})

// ── the witness, a real process ─────────────────────────────────────────────

/** The first stdout line with this prefix, waiting for it if it has not come yet (lines may come after "listening"). */
function lineStarting(w: Running, prefix: string): Promise<string> {
  return new Promise((resolve) => {
    const look = (): boolean => {
      const l = w.stdout.find((x) => x.startsWith(prefix))
      if (l !== undefined) resolve(l)
      return l !== undefined
    }
    if (look()) return
    const onData = (): void => {
      // the serve() reader pushes lines on the same event; look after it has run
      setImmediate(() => {
        if (look()) w.child.stdout!.off('data', onData)
      })
    }
    w.child.stdout!.on('data', onData)
  })
}

async function stop(w: Running): Promise<number | null> {
  w.child.kill('SIGTERM')
  return w.exited
}

async function post(url: string, body: string): Promise<{ status: number; type: string; body: string }> {
  const res = await fetch(`${url}/add-checkpoint`, { method: 'POST', body })
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() }
}

const leavesOf = (n: number, fork = -1): Buffer[] =>
  Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`event ${i}${i === fork ? ' (forged)' : ''}`)))

test('witness serve: cosigns, extends, 409/422/403 as the spec says, and keeps its state across a restart', async () => {
  const dir = tempDir('cli-witness')
  for (const k of ['log', 'witness', 'impostor'])
    assert.is(cli('keygen', '--output', path.join(dir, `${k}.key`), '--name', `${k}.example/k`).code, 0)
  const logKey: NoteSigner = await loadSigner(path.join(dir, 'log.key'))
  const impostor = await loadSigner(path.join(dir, 'impostor.key'))
  const origin = logOrigin('log.example/app', randomBytes(16).toString('hex'))
  const state = path.join(dir, 'state')
  const args = [
    '--state',
    state,
    '--listen',
    '127.0.0.1:0',
    '--key',
    path.join(dir, 'witness.key'),
    '--log',
    `${origin}=${path.join(dir, 'log.key.pub')}`,
  ]
  const leaves = leavesOf(60)
  const note = (size: number, ls = leaves, signer = logKey): string =>
    signCheckpoint({ origin, size, root: rootOf(ls.slice(0, size)), extensions: [] }, [signer])
  const proof = (from: number, to: number, ls = leaves): Buffer[] => consistencyProof(from, to, (i) => ls[i]!)
  const witnessPub = loadVerifier(path.join(dir, 'witness.key.pub'))

  let w = await serve(args)
  try {
    // The printed cosigner key is the .pub's key as a cosignature (type 0x04) key.
    const printed = (await lineStarting(w, 'cosigner key ')).slice('cosigner key '.length)
    const cosignerKey = parseVerifierKey(printed)
    assert.is(cosignerKey.type, 0x04)
    assert.ok(cosignerKey.publicKey.equals(witnessPub.publicKey))

    const n20 = note(20)
    const first = await addCheckpoint(w.url, { oldSize: 0, proof: [], note: n20 })
    const cos = verifyCosignatures(addSignatures(n20, first.cosignatures), [witnessPub])
    assert.is(cos[0]!.name, 'witness.example/k')
    verifyCosignatures(addSignatures(n20, first.cosignatures), [cosignerKey])

    const n35 = note(35)
    const ext = await addCheckpoint(w.url, { oldSize: 20, proof: proof(20, 35), note: n35 })
    verifyCosignatures(addSignatures(n35, ext.cosignatures), [witnessPub])

    const stale = await post(w.url, formatAddCheckpoint({ oldSize: 20, proof: proof(20, 40), note: note(40) }))
    assert.equal(stale, { status: 409, type: 'text/x.tlog.size', body: '35\n' })

    const forged = leavesOf(60, 3)
    const fork = await post(
      w.url,
      formatAddCheckpoint({ oldSize: 35, proof: proof(35, 50, forged), note: note(50, forged) }),
    )
    assert.is(fork.status, 422)

    const bad = await post(
      w.url,
      formatAddCheckpoint({ oldSize: 35, proof: proof(35, 50), note: note(50, leaves, impostor) }),
    )
    assert.is(bad.status, 403)
  } finally {
    assert.is(await stop(w), 0)
  }

  w = await serve(args)
  try {
    const stale = await post(w.url, formatAddCheckpoint({ oldSize: 20, proof: proof(20, 50), note: note(50) }))
    assert.equal(stale, { status: 409, type: 'text/x.tlog.size', body: '35\n' })
    const n50 = note(50)
    const r = await addCheckpoint(w.url, { oldSize: 35, proof: proof(35, 50), note: n50 })
    verifyCosignatures(addSignatures(n50, r.cosignatures), [witnessPub])
  } finally {
    assert.is(await stop(w), 0)
  }
})

test('witness serve: a 200 means the state is on disk: SIGKILL right after the answer loses nothing', async () => {
  const dir = tempDir('cli-witness-kill')
  for (const k of ['log', 'witness']) assert.is(cli('keygen', '--output', path.join(dir, `${k}.key`)).code, 0)
  const logKey = await loadSigner(path.join(dir, 'log.key'))
  const origin = logOrigin('log.example/app', randomBytes(16).toString('hex'))
  const args = ['--state', path.join(dir, 'state'), '--listen', '127.0.0.1:0', '--key', path.join(dir, 'witness.key')]
  args.push('--log', `${origin}=${path.join(dir, 'log.key.pub')}`)
  const leaves = leavesOf(10)
  const note = (size: number): string =>
    signCheckpoint({ origin, size, root: rootOf(leaves.slice(0, size)), extensions: [] }, [logKey])
  let held = 0
  for (const size of [3, 6, 10]) {
    const w = await serve(args)
    const p = held === 0 ? [] : consistencyProof(held, size, (i) => leaves[i]!)
    const r = await post(w.url, formatAddCheckpoint({ oldSize: held, proof: p, note: note(size) }))
    w.child.kill('SIGKILL')
    await w.exited
    assert.is(r.status, 200, r.body)
    held = size
  }
  const w = await serve(args)
  try {
    assert.equal(await post(w.url, formatAddCheckpoint({ oldSize: 0, proof: [], note: note(10) })), {
      status: 409,
      type: 'text/x.tlog.size',
      body: '10\n',
    })
  } finally {
    assert.is(await stop(w), 0)
  }
})

test('witness serve refuses a group-readable key (exit 3) and a bad --listen or --log (exit 2)', async () => {
  const dir = tempDir('cli-witness-bad')
  const key = path.join(dir, 'w.key')
  assert.is(cli('keygen', '--output', key).code, 0)
  fs.chmodSync(key, 0o640)
  const e = (await serve(['--state', path.join(dir, 's'), '--listen', '127.0.0.1:0', '--key', key]).catch(
    (err: unknown) => err,
  )) as { exitCode: number; stderr: string }
  assert.is(e.exitCode, 3)
  assert.match(e.stderr, /ERR_AUDIT_KEY_FILE_MODE/)
  fs.chmodSync(key, 0o600)
  assert.is(cli('witness', 'serve', '--state', dir, '--listen', 'nowhere', '--key', key).code, 2)
  assert.is(
    cli('witness', 'serve', '--state', dir, '--listen', '127.0.0.1:0', '--key', key, '--log', 'no-equals').code,
    2,
  )
})

test.run()
