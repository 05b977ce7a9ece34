// `mtlog-audit keys init|rotate|list --keyring FILE` as a child process: modes
// under umask 000, never overwriting, exit codes per docs/cli.md, and no key
// bytes in any output.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { Keyring } from '../../lib/crypto/index.js'
import { CLI, cli, type CliResult } from '../helpers/cli-run.js'
import { tempDir } from '../helpers/dirs.js'

const base = tempDir('cli-keys')
const KEYRING = path.join(base, 'keyring.json')
const outputs: string[] = []

function keysCli(...args: string[]): CliResult {
  const r = cli('keys', ...args)
  outputs.push(r.out, r.err)
  return r
}

/** The CLI under umask 000, through sh; the shell first makes `probe` the ordinary way (0666 under umask 000). */
function underUmask0(probe: string, ...args: string[]): CliResult {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const r = spawnSync('/bin/sh', ['-c', `umask 000 && : > '${probe}' && exec ${quoted}`], { encoding: 'utf8' })
  outputs.push(r.stdout, r.stderr)
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** Every secret string the keyring file holds: the KEK and each wrapped key (base64 and hex). */
function secretsOf(file: string): string[] {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { kek: string; keys: { wrapped: string }[] }
  return [doc.kek, ...doc.keys.map((k) => k.wrapped)].flatMap((b64) => [
    b64,
    Buffer.from(b64, 'base64').toString('hex'),
  ])
}

test('keys init under umask 000: exit 0, a 0600 file with a data and a lookup key, ids printed', () => {
  const probe = path.join(base, 'probe')
  const r = underUmask0(probe, 'keys', 'init', '--keyring', KEYRING)
  assert.is(r.code, 0, r.err)
  assert.is(fs.statSync(probe).mode & 0o777, 0o666, 'the CLI really ran under umask 000')
  assert.is(fs.statSync(KEYRING).mode & 0o777, 0o600)
  assert.match(r.out, /created keyring .*keyring\.json \(provider local, mode 0600\)/)
  assert.match(r.out, /d-[0-9a-f]{16} +data +created \S+ +current/)
  assert.match(r.out, /l-[0-9a-f]{16} +lookup +created \S+ +current/)
})

test('keys init over an existing file: exit 2, ERR_AUDIT_OUTPUT_EXISTS, the file unchanged', () => {
  const before = fs.readFileSync(KEYRING)
  const r = keysCli('init', '--keyring', KEYRING)
  assert.is(r.code, 2)
  assert.match(r.err, /ERR_AUDIT_OUTPUT_EXISTS/)
  assert.equal(fs.readFileSync(KEYRING), before)
})

test('keys rotate prints the new key id; list shows it current and the old one retired; --json too', async () => {
  const before = (await Keyring.load(KEYRING)).currentDataKey().id
  const r = keysCli('rotate', '--keyring', KEYRING)
  assert.is(r.code, 0, r.err)
  assert.match(r.out, /^d-[0-9a-f]{16}\n$/)
  const id = r.out.trim()
  assert.is.not(id, before)
  assert.is((await Keyring.load(KEYRING)).currentDataKey().id, id)
  const list = keysCli('list', '--keyring', KEYRING)
  assert.is(list.code, 0, list.err)
  assert.match(list.out, new RegExp(`${id} +data +created \\S+ +current`))
  assert.match(list.out, new RegExp(`${before} +data +created \\S+ +retired \\S+`))
  assert.match(list.out, /subject keys: 0 live, 0 erased/)
  const json = keysCli('list', '--keyring', KEYRING, '--json')
  assert.is(json.code, 0, json.err)
  const parsed = JSON.parse(json.out) as { provider: string; keys: { id: string; current: boolean }[] }
  assert.is(parsed.provider, 'local')
  assert.equal(
    parsed.keys
      .filter((k) => k.current)
      .map((k) => k.id.slice(0, 1))
      .sort(),
    ['d', 'l'],
  )
  assert.ok(parsed.keys.some((k) => k.id === id && k.current))
  const rj = keysCli('rotate', '--keyring', KEYRING, '--json')
  assert.is(rj.code, 0)
  assert.is((JSON.parse(rj.out) as { current: boolean }).current, true)
  assert.is(fs.statSync(KEYRING).mode & 0o777, 0o600, 'still 0600 after rotation')
})

test('subject keys are counted in list, listed with --json', async () => {
  const ring = await Keyring.load(KEYRING)
  await ring.subjectKey(ring.pseudonym('p-17'), { create: true })
  await ring.subjectKey(ring.pseudonym('p-18'), { create: true })
  await ring.eraseSubject(ring.pseudonym('p-18'))
  const list = keysCli('list', '--keyring', KEYRING)
  assert.match(list.out, /subject keys: 1 live, 1 erased/)
  const json = JSON.parse(keysCli('list', '--keyring', KEYRING, '--json').out) as {
    keys: { purpose: string; subject?: string }[]
    erased: unknown[]
  }
  assert.is(json.keys.filter((k) => k.purpose === 'subject').length, 1)
  assert.is(json.erased.length, 1)
})

test('a keyring with group/other bits: exit 3, ERR_AUDIT_KEY_FILE_MODE, for rotate and list, file unchanged', () => {
  const before = fs.readFileSync(KEYRING)
  fs.chmodSync(KEYRING, 0o644)
  for (const cmd of ['rotate', 'list']) {
    const r = keysCli(cmd, '--keyring', KEYRING)
    assert.is(r.code, 3, `${cmd}: ${r.err}`)
    assert.match(r.err, /ERR_AUDIT_KEY_FILE_MODE: .*mode 0644/)
  }
  fs.chmodSync(KEYRING, 0o600)
  assert.equal(fs.readFileSync(KEYRING), before)
})

test('an invalid, a missing, or no keyring: exit 3 with its code, or exit 2 for a usage error', () => {
  const bad = path.join(base, 'bad.json')
  fs.writeFileSync(bad, '{"type":"mtlog-audit-keyring","version":1}', { mode: 0o600 })
  let r = keysCli('list', '--keyring', bad)
  assert.is(r.code, 3)
  assert.match(r.err, /ERR_AUDIT_KEYRING_INVALID/)
  r = keysCli('rotate', '--keyring', path.join(base, 'nope.json'))
  assert.is(r.code, 3)
  assert.match(r.err, /ERR_AUDIT_IO/)
  assert.not.ok(fs.existsSync(path.join(base, 'nope.json')), 'rotate does not create a keyring')
  r = keysCli('list')
  assert.is(r.code, 2)
  assert.match(r.err, /--keyring/)
  r = keysCli('frobnicate', '--keyring', KEYRING)
  assert.is(r.code, 2)
})

test('no output of any run (stdout or stderr) holds the KEK or a wrapped key, in base64 or hex', () => {
  const secrets = secretsOf(KEYRING)
  assert.ok(secrets.length >= 8)
  for (const out of outputs) for (const s of secrets) assert.not.ok(out.includes(s), 'key material in CLI output')
  assert.ok(outputs.length > 20)
})

test.run()
