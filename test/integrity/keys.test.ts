// Key files: modes whatever the umask (a real child process with umask 000),
// no overwrite, refusal of group/other-readable private keys, malformed files,
// and no key material in any error or log line.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { inspect } from 'node:util'
import { AuditError } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { generateSigningKey, loadSigner, loadVerifier, loadVerifiers, writeKeyPair } from '../../lib/integrity/keys.js'
import { formatVerifierKey } from '../../lib/integrity/note-keys.js'
import { openNote, signNote } from '../../lib/integrity/note.js'
import { nodeAsync } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const KEYS_JS = new URL('../../lib/integrity/keys.js', import.meta.url).href

async function rejects(p: Promise<unknown>): Promise<AuditError> {
  try {
    await p
  } catch (err) {
    assert.ok(err instanceof AuditError, String(err))
    return err as AuditError
  }
  throw new Error('resolved, expected a rejection')
}

function throws(fn: () => unknown): AuditError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof AuditError, String(err))
    return err as AuditError
  }
  throw new Error('returned, expected a throw')
}

const modeOf = (f: string): number => fs.statSync(f).mode & 0o777

/** The base64 key part of a signer key file: a secret no message may quote. */
const secretOf = (file: string): string => fs.readFileSync(file, 'utf8').trim().split('+').slice(4).join('+')

function assertNoSecret(text: string, secret: string): void {
  for (let i = 0; i + 8 <= secret.length; i++) assert.not.ok(text.includes(secret.slice(i, i + 8)), text)
}

test('writeKeyPair: FILE 0600 with the signer key, FILE.pub 0644 with the verifier key; they belong together', async () => {
  const dir = tempDir('keys')
  const file = path.join(dir, 'signing.key')
  const k = await writeKeyPair(file, 'audit.example/signing')
  assert.is(modeOf(file), 0o600)
  assert.is(modeOf(`${file}.pub`), 0o644)
  assert.match(
    fs.readFileSync(file, 'utf8'),
    /^PRIVATE\+KEY\+audit\.example\/signing\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n$/,
  )
  assert.is(fs.readFileSync(`${file}.pub`, 'utf8'), `${k.verifierKey}\n`)
  assert.match(k.verifierKey, /^audit\.example\/signing\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/)
  const signer = await loadSigner(file)
  const verifier = loadVerifier(`${file}.pub`)
  assert.is(formatVerifierKey(signer), k.verifierKey)
  assert.is(openNote(signNote('hello\n', [signer]), [verifier]).verified.length, 1)
  assertNoSecret(JSON.stringify(k) + inspect(k), secretOf(file))
})

for (const umask of [0o000, 0o077, 0o022]) {
  test(`modes are 0600 and 0644 under umask ${umask.toString(8).padStart(3, '0')} (a child process)`, async () => {
    const dir = tempDir('keys-umask')
    const file = path.join(dir, 'k')
    const script = `process.umask(${umask}); const { writeKeyPair } = await import(${JSON.stringify(KEYS_JS)}); await writeKeyPair(${JSON.stringify(file)}, 'u')`
    const r = await nodeAsync(['--input-type=module', '-e', script])
    assert.is(r.code, 0, r.err)
    assert.is(modeOf(file), 0o600)
    assert.is(modeOf(`${file}.pub`), 0o644)
    await loadSigner(file)
  })
}

test('writeKeyPair never overwrites FILE or FILE.pub (ERR_AUDIT_OUTPUT_EXISTS), and leaves no half pair', async () => {
  const dir = tempDir('keys-exists')
  const file = path.join(dir, 'k')
  await writeKeyPair(file, 'a')
  const before = [fs.readFileSync(file), fs.readFileSync(`${file}.pub`)]
  const e = await rejects(writeKeyPair(file, 'a'))
  assert.is(e.code, 'ERR_AUDIT_OUTPUT_EXISTS')
  assert.ok(fs.readFileSync(file).equals(before[0]!))
  assert.ok(fs.readFileSync(`${file}.pub`).equals(before[1]!))
  // Only FILE.pub exists: refused, and FILE is not left behind.
  const lone = path.join(dir, 'lone')
  fs.writeFileSync(`${lone}.pub`, 'something else\n')
  assert.is((await rejects(writeKeyPair(lone, 'a'))).code, 'ERR_AUDIT_OUTPUT_EXISTS')
  assert.not.ok(fs.existsSync(lone))
  assert.is(fs.readFileSync(`${lone}.pub`, 'utf8'), 'something else\n')
  // A bad name is an option error before any file is made.
  assert.is((await rejects(writeKeyPair(path.join(dir, 'n'), 'has space'))).code, 'ERR_AUDIT_OPTION_INVALID')
  assert.not.ok(fs.existsSync(path.join(dir, 'n')))
})

test('loadSigner refuses a private key readable or writable by group or others (ERR_AUDIT_KEY_FILE_MODE)', async () => {
  const dir = tempDir('keys-mode')
  const file = path.join(dir, 'k')
  await writeKeyPair(file, 'a')
  const secret = secretOf(file)
  for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o660]) {
    fs.chmodSync(file, mode)
    const e = await rejects(loadSigner(file))
    assert.is(e.code, 'ERR_AUDIT_KEY_FILE_MODE', mode.toString(8))
    assert.is(e.details?.mode, `0${mode.toString(8)}`)
    assertNoSecret(`${e.message} ${JSON.stringify(e.details)}`, secret)
  }
  for (const mode of [0o600, 0o400]) {
    fs.chmodSync(file, mode)
    await loadSigner(file)
  }
  assert.is((await rejects(loadSigner(dir))).code, 'ERR_AUDIT_KEY_FILE_MODE') // a directory
  // A FIFO in the key's place is refused, not waited on (no writer ever comes).
  const fifo = path.join(dir, 'fifo')
  assert.is(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0)
  assert.is((await rejects(loadSigner(fifo))).code, 'ERR_AUDIT_KEY_FILE_MODE')
  assert.is((await rejects(loadSigner(path.join(dir, 'missing')))).code, 'ERR_AUDIT_IO')
})

test('loadSigner refuses malformed content (ERR_AUDIT_KEY_INVALID) without quoting it', async () => {
  const dir = tempDir('keys-bad')
  const good = path.join(dir, 'good')
  await writeKeyPair(good, 'a.example/k')
  const text = fs.readFileSync(good, 'utf8')
  const secret = secretOf(good)
  const bad: Record<string, string> = {
    flipped: text.replace(secret, `${secret.slice(0, 10)}${secret[10] === 'A' ? 'B' : 'A'}${secret.slice(11)}`),
    truncated: text.slice(0, -10),
    twoLines: `${text}${text}`,
    publicKey: fs.readFileSync(`${good}.pub`, 'utf8'),
    crlf: text.replace('\n', '\r\n'),
    empty: '',
  }
  for (const [name, content] of Object.entries(bad)) {
    const f = path.join(dir, name)
    fs.writeFileSync(f, content, { mode: 0o600 })
    const e = await rejects(loadSigner(f))
    assert.is(e.code, 'ERR_AUDIT_KEY_INVALID', name)
    assert.ok(e.message.includes(f), e.message)
    assertNoSecret(`${e.message} ${JSON.stringify(e.details)}`, secret)
  }
  const big = path.join(dir, 'big')
  fs.writeFileSync(big, 'x'.repeat(FIXED.keyFileBytesMax + 1), { mode: 0o600 })
  assert.is((await rejects(loadSigner(big))).details?.problem, 'size')
})

test('loadVerifier: a .pub file or the key text itself; a private key file is refused with a hint', async () => {
  const dir = tempDir('keys-pub')
  const file = path.join(dir, 'k')
  const k = await writeKeyPair(file, 'a.example/k')
  assert.is(loadVerifier(`${file}.pub`).name, 'a.example/k')
  assert.is(formatVerifierKey(loadVerifier(k.verifierKey)), k.verifierKey)
  const e = throws(() => loadVerifier(file))
  assert.is(e.code, 'ERR_AUDIT_KEY_INVALID')
  assert.is(e.details?.problem, 'private')
  assertNoSecret(e.message, secretOf(file))
  assert.is(throws(() => loadVerifier(path.join(dir, 'missing'))).code, 'ERR_AUDIT_IO')
})

test('loadVerifiers: one key per line (a rotation: old and new); loadVerifier wants exactly one', async () => {
  const dir = tempDir('keys-rot')
  const a = await writeKeyPair(path.join(dir, 'old'), 'a.example/k')
  const b = await writeKeyPair(path.join(dir, 'new'), 'a.example/k')
  const both = path.join(dir, 'both.pub')
  fs.writeFileSync(both, `${a.verifierKey}\n\n${b.verifierKey}\n`)
  const vs = loadVerifiers(both)
  assert.equal(
    vs.map((v) => formatVerifierKey(v)),
    [a.verifierKey, b.verifierKey],
  )
  assert.is(throws(() => loadVerifier(both)).details?.problem, 'count')
  const note = signNote('rotated\n', [await loadSigner(path.join(dir, 'new'))])
  assert.is(openNote(note, vs).verified.length, 1)
})

test('generateSigningKey: the private text only through privateKeyText(), never when logged', () => {
  const k = generateSigningKey('a.example/k')
  const secret = k.privateKeyText().split('+').slice(4).join('+')
  assertNoSecret(JSON.stringify(k) + inspect(k, { showHidden: true, depth: 10 }) + String(k), secret)
  assert.is(throws(() => generateSigningKey('')).code, 'ERR_AUDIT_OPTION_INVALID')
})

test.run()
