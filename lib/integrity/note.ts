/**
 * C2SP signed notes (c2sp.org/signed-note): a UTF-8 text ending in a newline,
 * a blank line, then one or more lines `— <key name> base64(keyid || sig)`.
 *
 * Contract:
 * - Parsing is strict and bounded: the whole note ≤ FIXED.noteBytesMax, valid
 *   UTF-8, no control character but newline, the text non-empty and separated
 *   from the signatures by the LAST blank line, every signature line an em
 *   dash (U+2014), a space, a valid key name, a space, canonical base64 of at
 *   least 5 bytes, at most FIXED.noteSignaturesMax lines. A violation is
 *   ERR_AUDIT_NOTE_MALFORMED with details.problem.
 * - openNote verifies every signature whose (name, key id) is a trusted
 *   verifier's; signatures of unknown keys are ignored (key rotation and
 *   cosigning depend on it). A trusted key's signature that fails refuses the
 *   whole note, and a note with no verified trusted signature is refused:
 *   both ERR_AUDIT_SIGNATURE_INVALID.
 * - signNote refuses text it could not open again (ERR_AUDIT_NOTE_MALFORMED).
 */

import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { isValidKeyName, keyIdHex, strictBase64, type NoteSigner, type NoteVerifier } from './note-keys.js'

/** One signature line, parsed, not verified. */
export interface NoteSignature {
  name: string
  keyId: number
  /** The signature bytes after the 4-byte key id. */
  signature: Buffer
}

export interface ParsedNote {
  /** The signed text, final newline included. */
  text: string
  signatures: NoteSignature[]
}

export interface OpenedNote extends ParsedNote {
  /** Signatures that verified, each with the verifier that checked it, in note order. */
  verified: (NoteSignature & { verifier: NoteVerifier })[]
  /** Signatures of keys not among the verifiers: ignored, kept for the caller. */
  unknown: NoteSignature[]
}

const SIG_PREFIX = '\u2014 ' // em dash, space
const KEY_ID_BYTES = 4
const UTF8 = new TextDecoder('utf-8', { fatal: true })

function malformed(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.NOTE_MALFORMED, `signed note: ${message}`, { details: { problem } })
}

/** Bytes → string only when the bytes are valid UTF-8; a string only when it is well formed. */
function asText(note: string | Buffer): string {
  if (typeof note === 'string') {
    if (!note.isWellFormed()) throw malformed('utf8', 'not valid UTF-8 (a lone surrogate)')
    return note
  }
  try {
    return UTF8.decode(note)
  } catch {
    throw malformed('utf8', 'not valid UTF-8')
  }
}

/** The rules a note text obeys, whether it is about to be signed or was just read. */
function checkText(text: string): void {
  if (text.length === 0) throw malformed('empty', 'the text is empty')
  if (!text.endsWith('\n')) throw malformed('newline', 'the text does not end in a newline')
  const ctl = /[\x00-\x09\x0b-\x1f]/.exec(text)
  if (ctl) throw malformed('control', `control character 0x${ctl[0].charCodeAt(0).toString(16)} at ${ctl.index}`)
}

function parseSignatureLine(line: string, n: number): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) throw malformed('signature-line', `signature line ${n} does not start with "— "`)
  const rest = line.slice(SIG_PREFIX.length)
  const space = rest.indexOf(' ')
  if (space < 0) throw malformed('signature-line', `signature line ${n} has no signature after the key name`)
  const name = rest.slice(0, space)
  if (!isValidKeyName(name)) throw malformed('key-name', `signature line ${n}: bad key name ${preview(name)}`)
  const bytes = strictBase64(rest.slice(space + 1))
  if (bytes === undefined || bytes.length <= KEY_ID_BYTES)
    throw malformed('signature-base64', `signature line ${n}: not canonical base64 of a key id and a signature`)
  return { name, keyId: bytes.readUInt32BE(0), signature: bytes.subarray(KEY_ID_BYTES) }
}

/** Split a note into its text and signature lines; nothing is verified. */
export function parseNote(note: string | Buffer): ParsedNote {
  const bytes = typeof note === 'string' ? Buffer.byteLength(note) : note.length
  if (bytes > FIXED.noteBytesMax) throw malformed('too-large', `${bytes} bytes (noteBytesMax ${FIXED.noteBytesMax})`)
  const s = asText(note)
  checkText(s)
  const split = s.lastIndexOf('\n\n')
  if (split < 0) throw malformed('no-signatures', 'no blank line before the signatures')
  const text = s.slice(0, split + 1)
  if (text.length === 0) throw malformed('empty', 'the text is empty')
  const lines = s.slice(split + 2, -1).split('\n')
  if (lines.length > FIXED.noteSignaturesMax)
    throw malformed('too-many-signatures', `${lines.length} signatures (noteSignaturesMax ${FIXED.noteSignaturesMax})`)
  return { text, signatures: lines.map((l, i) => parseSignatureLine(l, i + 1)) }
}

export function signatureLine(sig: NoteSignature): string {
  const id = Buffer.alloc(KEY_ID_BYTES)
  id.writeUInt32BE(sig.keyId)
  return `${SIG_PREFIX}${sig.name} ${Buffer.concat([id, sig.signature]).toString('base64')}\n`
}

/** text + blank line + signature lines, refused when it would not parse back. */
export function formatNote(text: string, signatures: readonly NoteSignature[]): string {
  if (signatures.length === 0) throw malformed('no-signatures', 'a note needs at least one signature')
  const note = `${text}\n${signatures.map(signatureLine).join('')}`
  parseNote(note)
  return note
}

/** Sign text with every signer (two during a key rotation) and format the note. */
export function signNote(text: string, signers: readonly NoteSigner[]): string {
  checkText(asText(text))
  const bytes = Buffer.from(text)
  return formatNote(
    text,
    signers.map((s) => ({ name: s.name, keyId: s.keyId, signature: s.sign(bytes) })),
  )
}

/** Add signatures to a note already signed (a witness's cosignatures), keeping the ones it has. */
export function addSignatures(note: string, signatures: readonly NoteSignature[]): string {
  const parsed = parseNote(note)
  return formatNote(parsed.text, [...parsed.signatures, ...signatures])
}

function trusted(verifiers: readonly NoteVerifier[], sig: NoteSignature): NoteVerifier | undefined {
  const matches = verifiers.filter((v) => v.name === sig.name && v.keyId === sig.keyId)
  const first = matches[0]
  if (matches.some((v) => !v.publicKey.equals(first!.publicKey) || v.type !== first!.type))
    throw new AuditError(
      ERROR_CODES.KEY_INVALID,
      `two different trusted keys share the name ${preview(sig.name)} and key id ${keyIdHex(sig.keyId)}`,
      { details: { problem: 'ambiguous' } },
    )
  return first
}

/**
 * Verify a note against trusted verifiers: the text when at least one trusted
 * signature verifies and none fails.
 */
export function openNote(note: string | Buffer, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(note)
  const textBytes = Buffer.from(parsed.text)
  const opened: OpenedNote = { ...parsed, verified: [], unknown: [] }
  for (const sig of parsed.signatures) {
    const v = trusted(verifiers, sig)
    if (v === undefined) {
      opened.unknown.push(sig)
      continue
    }
    if (!v.verify(textBytes, sig.signature))
      throw new AuditError(
        ERROR_CODES.SIGNATURE_INVALID,
        `signed note: the signature of trusted key ${preview(v.name)} (${keyIdHex(v.keyId)}) does not verify`,
        { details: { name: v.name.slice(0, 64), keyId: keyIdHex(v.keyId), trusted: verifiers.length } },
      )
    opened.verified.push({ ...sig, verifier: v })
  }
  if (opened.verified.length === 0)
    throw new AuditError(
      ERROR_CODES.SIGNATURE_INVALID,
      `signed note: none of its ${parsed.signatures.length} signature(s) is by one of the ${verifiers.length} trusted key(s)`,
      { details: { trusted: verifiers.length, signatures: parsed.signatures.length } },
    )
  return opened
}
