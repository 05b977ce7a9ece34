/**
 * EncryptedLog: an encrypted sink with personal data under real SIGKILLs
 * during key rotation and erasure, and the damage only the AEAD can see
 * (docs/encryption.md). Each iteration runs one case, picked by its seed:
 *
 *   crash     lives of torture/crypt-child.ts (emits, rotateKey, eraseSubject)
 *             SIGKILLed at a seeded instant; after each: verify without a key,
 *             then with the keyring every acked event at its seq with its
 *             content, [erased] only for a subject whose erasure began and
 *             always before an acked erasure; every acked key change and
 *             tombstone present; a tombstone only names keys already erased in
 *             the keyring (never a record under a key, or a tombstone for an
 *             erasure, that was not durable in the keyring first)
 *   swap      two ciphertexts of equal length swapped, CRCs and hashes fixed
 *             up: verify passes, readLog with the keyring must fail with
 *             ERR_AUDIT_DECRYPT_FAILED at or before both seqs
 *   wrong-key the log read with another log's keyring: ERR_AUDIT_KEY_UNKNOWN;
 *             a segment given another log id: ERR_AUDIT_DECRYPT_FAILED
 */

import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as lib from '../../lib/index.js'
import { decodeSegmentHeader } from '../../shared/format.js'
import { readSealed } from '../../shared/sealed.js'
import { rawRecords, reseal, setLogId } from '../raw-records.js'
import { childEvent, type CryptChildConfig } from '../crypt-child.js'
import { int, pick, type Rng } from '../prng.js'
import { emptyResult, type IterCtx, type IterResult, note, type Scenario } from './common.js'

const CHILD = fileURLToPath(new URL('../crypt-child.js', import.meta.url))
const SUBJECTS = 5

export interface CryptLife {
  cfg: CryptChildConfig
  acks: Map<number, number>
  keyChanges: { seq: number; keyId: string }[]
  eraseStarted: string[]
  erased: { seq: number; subject: string }[]
  errors: string[]
  done: boolean
}

/** One life of the child, SIGKILLed killAfterMs after its open returned (if it is still running). */
export function runCryptLife(cfg: CryptChildConfig, killAfterMs: number): Promise<CryptLife> {
  const life: CryptLife = { cfg, acks: new Map(), keyChanges: [], eraseStarted: [], erased: [], errors: [], done: false }
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

/** Everything the lives so far promise about dir; returns the broken promises (empty: all kept). */
export async function checkCryptLives(dir: string, keyring: string, lives: readonly CryptLife[]): Promise<string[]> {
  const bad: string[] = []
  const v = await lib.verifyLog(dir)
  if (v.firstBad !== undefined) return [`verify: ${JSON.stringify(v.firstBad)}`]
  const entries = new Map<number, lib.LogEntry>()
  try {
    for await (const e of lib.readLog(dir, { keyring, records: true })) entries.set(e.seq, e)
  } catch (err) {
    return [`readLog with the keyring: ${(err as Error).message}`]
  }
  const erasedSubjects = new Set(lives.flatMap((x) => x.eraseStarted))
  const mustBeErased = (l: number, n: number, subject: string): boolean =>
    lives.some((x, k) => x.erased.some((e) => e.subject === subject) && (k > l || (k === l && n < x.cfg.eraseAt)))
  lives.forEach((life, l) => {
    for (const [seq, n] of life.acks) {
      const e = entries.get(seq)
      if (e?.kind !== 'event') {
        bad.push(`life ${l}: acked seq ${seq} is not an event`)
        continue
      }
      const want = childEvent(life.cfg.life, n, SUBJECTS).properties
      const got = e.event.properties
      if (got.N !== n || got.Life !== life.cfg.life || got.Note !== want.Note) bad.push(`seq ${seq}: content differs`)
      if (got.PatientName === '[erased]') {
        if (!erasedSubjects.has(want.PatientId) || got.PatientId !== '[erased]')
          bad.push(`seq ${seq}: [erased] but ${want.PatientId} was never erased`)
      } else if (got.PatientName !== want.PatientName || got.PatientId !== want.PatientId)
        bad.push(`seq ${seq}: personal fields differ`)
      if (mustBeErased(l, n, want.PatientId) && got.PatientName !== '[erased]')
        bad.push(`seq ${seq}: emitted before an acked erasure of ${want.PatientId}, still readable`)
    }
    for (const k of life.keyChanges) {
      const e = entries.get(k.seq)
      if (e?.kind !== 'key-change' || e.detail.keyId !== k.keyId) bad.push(`acked key change at ${k.seq} missing`)
    }
    for (const x of life.erased)
      if (entries.get(x.seq)?.kind !== 'tombstone') bad.push(`acked tombstone at ${x.seq} missing`)
  })
  const ring = await lib.Keyring.load(keyring)
  try {
    for (const e of entries.values()) {
      if (e.kind !== 'tombstone') continue
      for (const id of e.detail.keyIds as string[])
        if ((await ring.subjectKeyById(id)).status !== 'erased') bad.push(`tombstone ${e.seq} names ${id}, not erased`)
    }
  } finally {
    ring.close()
  }
  return bad
}

async function newKeyring(dir: string, name = 'keyring.json'): Promise<string> {
  const file = path.join(dir, name)
  ;(await lib.Keyring.create(file)).close()
  return file
}

async function crashCase(ctx: IterCtx, r: IterResult): Promise<void> {
  const keyring = await newKeyring(ctx.workDir)
  const dir = path.join(ctx.workDir, 'log')
  const lives: CryptLife[] = []
  const n = ctx.quick ? 2 : int(ctx.rng, 2, 5)
  for (let l = 0; l < n; l++) {
    const cfg: CryptChildConfig = {
      dir,
      keyring,
      life: l,
      events: 2000,
      inflight: int(ctx.rng, 16, 256),
      rotateEvery: int(ctx.rng, 50, 300),
      eraseAt: int(ctx.rng, 10, 200),
      subjects: SUBJECTS,
    }
    const life = await runCryptLife(cfg, int(ctx.rng, 100, 1500))
    lives.push(life)
    if (!life.done) r.kills++
    r.acked += life.acks.size
    note(r, 'acked rotations', life.keyChanges.length)
    note(r, 'acked erasures', life.erased.length)
    note(r, 'erasures begun', life.eraseStarted.length)
    if (life.errors.length > 0) r.failures.push({ message: `life ${l}: ${life.errors.join('; ')}` })
    const bad = await checkCryptLives(dir, keyring, lives)
    r.crashStates++
    r.recovered += life.acks.size
    if (bad.length > 0) {
      r.failures.push({ message: `after life ${l}: ${bad.length} broken: ${bad.slice(0, 3).join('; ')}` })
      return
    }
  }
}

async function closedLog(ctx: IterCtx, label: string): Promise<{ dir: string; keyring: string; segment: string }> {
  const base = path.join(ctx.workDir, label)
  fs.mkdirSync(base, { recursive: true })
  const keyring = await newKeyring(base)
  const dir = path.join(base, 'log')
  const sink = await lib.AuditSink.open({ dir, encryption: { keyring } })
  const ev = (i: number): lib.AuditEvent => ({
    level: 'Information',
    messageTemplate: 'Read {Doc}',
    properties: { Doc: `doc-${String(i).padStart(5, '0')}`, Secret: `secret-${String(i).padStart(5, '0')}` },
  })
  for (let i = 0; i < 10; i++) await sink.emit(ev(i))
  await Promise.all(Array.from({ length: int(ctx.rng, 2, 40) }, (_, i) => sink.emit(ev(100 + i))))
  await sink.close()
  const segment = fs.readdirSync(dir).filter((n) => n.endsWith('.wal')).sort().map((n) => path.join(dir, n))[0]!
  return { dir, keyring, segment }
}

async function expectCode(what: string, p: Promise<unknown>, code: string): Promise<string | undefined> {
  try {
    await p
    return `${what}: no error, expected ${code}`
  } catch (err) {
    const got = (err as { code?: string }).code
    return got === code ? undefined : `${what}: ${got} (${(err as Error).message}), expected ${code}`
  }
}

const readAll = async (dir: string, keyring: string): Promise<void> => {
  for await (const _ of lib.readLog(dir, { keyring })) void _
}

async function swapCase(ctx: IterCtx, r: IterResult): Promise<void> {
  const { dir, keyring, segment } = await closedLog(ctx, 'swap')
  const buf = fs.readFileSync(segment)
  const sealed = rawRecords(buf)
    .map((x) => ({ x, s: x.type === 1 ? readSealed(x.payload) : undefined }))
    .filter((y) => y.s !== undefined)
  const a = pick(ctx.rng, sealed)
  const others = sealed.filter((y) => y !== a && y.s!.ciphertext.length === a.s!.ciphertext.length)
  if (others.length === 0) return void note(r, 'swap skipped (no equal length)')
  const b = pick(ctx.rng, others)
  const keep = Buffer.from(a.s!.ciphertext)
  b.s!.ciphertext.copy(a.s!.ciphertext)
  keep.copy(b.s!.ciphertext)
  reseal(buf)
  fs.writeFileSync(segment, buf)
  r.crashStates++
  const v = await lib.verifyLog(dir)
  if (!v.ok) r.failures.push({ message: `swap: the framing was fixed up, verify should pass: ${JSON.stringify(v.firstBad)}` })
  try {
    await readAll(dir, keyring)
    r.failures.push({ message: `swapped ciphertexts of seqs ${a.x.seq} and ${b.x.seq} were read without an error` })
  } catch (err) {
    const e = err as { code?: string; details?: { seq?: number } }
    if (e.code !== 'ERR_AUDIT_DECRYPT_FAILED' || !((e.details?.seq ?? Infinity) <= Math.min(a.x.seq, b.x.seq)))
      r.failures.push({ message: `swap of ${a.x.seq} and ${b.x.seq}: ${e.code} at ${e.details?.seq}` })
  }
}

async function wrongKeyCase(ctx: IterCtx, r: IterResult): Promise<void> {
  const { dir, segment } = await closedLog(ctx, 'wrong')
  const other = await newKeyring(ctx.workDir, 'other.json')
  const own = path.join(path.dirname(dir), 'keyring.json')
  r.crashStates++
  const bad = [await expectCode('another keyring', readAll(dir, other), 'ERR_AUDIT_KEY_UNKNOWN')]
  const buf = fs.readFileSync(segment)
  const h = decodeSegmentHeader(buf)
  if (!('problem' in h)) {
    const logId = Buffer.from(h.logId)
    logId[int(ctx.rng, 0, logId.length - 1)]! ^= 1 << int(ctx.rng, 0, 7)
    setLogId(buf, logId)
    fs.writeFileSync(segment, buf)
    bad.push(await expectCode('another log id', readAll(dir, own), 'ERR_AUDIT_DECRYPT_FAILED'))
  }
  for (const b of bad) if (b !== undefined) r.failures.push({ message: b })
}

export const encryptedLog: Scenario = {
  name: 'EncryptedLog',
  description:
    'encrypted sink with personal data: SIGKILL during rotation and erasure (every ack readable, no tombstone before its erasure), swapped ciphertexts and wrong keys detected',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const c = pick(ctx.rng, ['crash', 'crash', 'swap', 'wrong-key'] as const)
    note(r, c)
    if (c === 'crash') await crashCase(ctx, r)
    else if (c === 'swap') await swapCase(ctx, r)
    else await wrongKeyCase(ctx, r)
    return r
  },
}
