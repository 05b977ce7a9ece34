/**
 * Checkpoints (c2sp.org/tlog-checkpoint) and their cosignatures
 * (c2sp.org/tlog-cosignature, cosignature/v1).
 *
 * A checkpoint body is three or more non-empty lines: the origin, the tree size
 * (ASCII decimal, no leading zero unless it is 0), the base64 RFC 9162 root hash
 * (32 bytes), then optional extension lines. mtlog-audit's origin is
 * `<name>/<logId>`: the log's random 128-bit id (32 lowercase hex) keeps two
 * logs under one key and one name from ever sharing a tree at a witness.
 *
 * Contract: parseCheckpoint is strict (ERR_AUDIT_NOTE_MALFORMED with
 * details.problem) and bounded (FIXED.checkpointExtensionLinesMax, tree size
 * ≤ 2^53 - 1); formatCheckpoint refuses what parseCheckpoint would refuse, so
 * what we sign always parses. openCheckpoint = openNote + parseCheckpoint.
 * A cosignature is a note signature of type 0x04 over the same body; its time
 * is part of what is signed.
 */

import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import {
  asCosignatureVerifier,
  cosignatureTime,
  cosigner,
  isValidKeyName,
  keyIdHex,
  strictBase64,
  type NoteSigner,
  type NoteVerifier,
} from './note-keys.js'
import { openNote, parseNote, signNote, type NoteSignature, type OpenedNote } from './note.js'

/** Bytes of an RFC 9162 SHA-256 root hash. */
export const ROOT_BYTES = 32

export interface Checkpoint {
  origin: string
  size: number
  root: Buffer
  /** Opaque extension lines (C2SP: not recommended; kept for others' checkpoints). */
  extensions: string[]
}

function malformed(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.NOTE_MALFORMED, `checkpoint: ${message}`, { details: { problem } })
}

const LOG_ID = /^[0-9a-f]{32}$/

/** The origin line of one log: `<name>/<logId>` (logId: 32 lowercase hex digits, made at the log's first open). */
export function logOrigin(name: string, logId: string): string {
  if (!LOG_ID.test(logId)) throw malformed('log-id', `log id ${preview(logId)} is not 32 lowercase hex digits`)
  const origin = `${name}/${logId}`
  if (!isValidKeyName(origin)) throw malformed('origin', `origin ${preview(origin)} has a space or '+' or is too long`)
  return origin
}

function parseSize(line: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(line))
    throw malformed('size', `tree size ${preview(line)} is not a decimal without leading zeros`)
  const n = Number(line)
  if (!Number.isSafeInteger(n)) throw malformed('size', `tree size ${preview(line)} is above 2^53 - 1`)
  return n
}

function parseRoot(line: string): Buffer {
  const root = strictBase64(line)
  if (root === undefined || root.length !== ROOT_BYTES)
    throw malformed('root', `root hash ${preview(line)} is not canonical base64 of ${ROOT_BYTES} bytes`)
  return root
}

/** Parse a checkpoint body (the text of the note, final newline included). */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw malformed('newline', 'the body does not end in a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw malformed('lines', `${lines.length} line(s), a checkpoint has at least 3`)
  if (lines.length - 3 > FIXED.checkpointExtensionLinesMax)
    throw malformed('extensions', `${lines.length - 3} extension lines (max ${FIXED.checkpointExtensionLinesMax})`)
  const empty = lines.findIndex((l) => l.length === 0)
  if (empty >= 0) throw malformed('empty-line', `line ${empty + 1} is empty`)
  if (/[\x00-\x1f]/.test(text.slice(0, -1).replaceAll('\n', '')))
    throw malformed('control', 'a control character in the body')
  const [origin, size, root, ...extensions] = lines as [string, string, string, ...string[]]
  return { origin, size: parseSize(size), root: parseRoot(root), extensions }
}

/** The body text of a checkpoint; refused when parseCheckpoint would refuse it. */
export function formatCheckpoint(c: Checkpoint): string {
  if (!Number.isSafeInteger(c.size) || c.size < 0) throw malformed('size', `tree size ${c.size} is not an integer ≥ 0`)
  if (c.root.length !== ROOT_BYTES)
    throw malformed('root', `the root hash has ${c.root.length} bytes, not ${ROOT_BYTES}`)
  if (c.origin.includes('\n')) throw malformed('origin', 'the origin has a newline')
  const text = [c.origin, String(c.size), c.root.toString('base64'), ...c.extensions].join('\n') + '\n'
  parseCheckpoint(text)
  return text
}

/** A signed checkpoint note (signed by every signer: two while a key rotates). */
export function signCheckpoint(c: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(c), signers)
}

export interface OpenedCheckpoint {
  checkpoint: Checkpoint
  note: OpenedNote
}

/** Verify a checkpoint note against the log's trusted keys, then parse its body. */
export function openCheckpoint(note: string | Buffer, verifiers: readonly NoteVerifier[]): OpenedCheckpoint {
  const opened = openNote(note, verifiers)
  return { checkpoint: parseCheckpoint(opened.text), note: opened }
}

/** Parse a checkpoint note's body WITHOUT verifying it (for a witness's own stored state). */
export function readCheckpointUnverified(note: string | Buffer): Checkpoint {
  return parseCheckpoint(parseNote(note).text)
}

export interface Cosignature extends NoteSignature {
  /** Seconds since the epoch at which the witness cosigned. */
  time: number
}

/** A witness's cosignature over a checkpoint body (a note signature line of type 0x04). */
export function cosignCheckpoint(
  text: string,
  witness: NoteSigner,
  nowSeconds: () => number = () => Date.now() / 1000,
): Cosignature {
  parseCheckpoint(text)
  const c = cosigner(witness, nowSeconds)
  const signature = c.sign(Buffer.from(text))
  return { name: c.name, keyId: c.keyId, signature, time: cosignatureTime(signature) }
}

/**
 * The cosignatures on a checkpoint note that verify under the given witness
 * keys (0x01 keys from keygen are taken as the same key's 0x04 cosigner).
 * Throws ERR_AUDIT_SIGNATURE_INVALID when a witness key's cosignature is
 * missing or fails: every key given is a requirement.
 */
export function verifyCosignatures(note: string | Buffer, witnesses: readonly NoteVerifier[]): Cosignature[] {
  const out: Cosignature[] = []
  for (const w of witnesses.map(asCosignatureVerifier)) {
    let opened: OpenedNote
    try {
      opened = openNote(note, [w])
    } catch (err) {
      if (!(err instanceof AuditError) || err.code !== ERROR_CODES.SIGNATURE_INVALID) throw err
      throw new AuditError(
        ERROR_CODES.SIGNATURE_INVALID,
        `checkpoint: no valid cosignature of witness ${preview(w.name)} (${keyIdHex(w.keyId)})`,
        { cause: err, details: { witness: w.name.slice(0, 64), keyId: keyIdHex(w.keyId) } },
      )
    }
    const sig = opened.verified[0]!
    out.push({ name: sig.name, keyId: sig.keyId, signature: sig.signature, time: cosignatureTime(sig.signature) })
  }
  return out
}
