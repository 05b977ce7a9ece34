// What the crypto tests share: the key bytes they made (so a last test can check
// that no error message, detail or cause carries them), error capture by code,
// and every key of a local keyring file unwrapped through the public provider.
import fs from 'node:fs'
import type { KeyObject } from 'node:crypto'
import * as assert from 'uvu/assert'
import { type KeyPurpose, LocalKeyProvider } from '../../lib/crypto/index.js'

const secrets = new Set<string>()
const messages: string[] = []

/** Remember key bytes (and wrapped blobs): hex, base64 and base64url of them must never appear in an error. */
export function rememberSecret(key: Buffer | KeyObject): Buffer {
  const b = Buffer.isBuffer(key) ? Buffer.from(key) : key.export()
  for (const s of [b.toString('hex'), b.toString('base64'), b.toString('base64url')]) secrets.add(s)
  // A prefix is enough to leak: also the first 16 characters of each form.
  for (const s of [b.toString('hex'), b.toString('base64')]) secrets.add(s.slice(0, 16))
  return b
}

function textOf(err: unknown, depth = 0): string {
  if (!(err instanceof Error) || depth > 4) return String(err)
  const e = err as Error & { details?: unknown }
  return `${e.message}\n${e.stack ?? ''}\n${JSON.stringify(e.details ?? null)}\n${e.cause === undefined ? '' : textOf(e.cause, depth + 1)}`
}

export function rememberText(s: string): void {
  messages.push(s)
}

/** Run fn, expect an error with this code, remember its text; returns it. */
export async function expectCode(
  fn: () => unknown,
  code: string,
  label = '',
): Promise<Error & { code: string; details?: Record<string, unknown> }> {
  let caught: unknown
  try {
    await fn()
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof Error, `${label}: expected ${code}, nothing was thrown`)
  messages.push(textOf(caught))
  const e = caught as Error & { code: string; details?: Record<string, unknown> }
  assert.is(e.code, code, `${label}: ${e.message}`)
  return e
}

/** Every remembered message checked against every remembered secret. */
export function assertNoSecretsInMessages(): { messages: number; secrets: number } {
  const leaks: string[] = []
  for (const m of messages) for (const s of secrets) if (s.length >= 16 && m.includes(s)) leaks.push(m.slice(0, 80))
  assert.equal(leaks, [], 'an error message carries key bytes')
  return { messages: messages.length, secrets: secrets.size }
}

interface FileEntry {
  id: string
  purpose: KeyPurpose
  wrapped: string
}

/** Every live key of a local keyring file, unwrapped with LocalKeyProvider (public API); all remembered. */
export async function unwrapAll(file: string): Promise<Map<string, Buffer>> {
  const doc = JSON.parse(fs.readFileSync(file, 'utf8')) as { kek: string; keys: FileEntry[] }
  const kek = Buffer.from(doc.kek, 'base64')
  rememberSecret(kek)
  const p = new LocalKeyProvider(kek)
  const out = new Map<string, Buffer>()
  for (const k of doc.keys) {
    rememberSecret(Buffer.from(k.wrapped, 'base64'))
    out.set(k.id, rememberSecret(await p.unwrap(Buffer.from(k.wrapped, 'base64'), { keyId: k.id, purpose: k.purpose })))
  }
  return out
}
