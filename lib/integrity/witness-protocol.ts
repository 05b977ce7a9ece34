/**
 * The wire format of C2SP tlog-witness add-checkpoint, shared by the witness
 * server and its client.
 *
 * Request body: `old <size>\n`, zero or more consistency proof lines (one
 * base64 SHA-256 hash each, at most FIXED.witnessProofLinesMax), an empty line,
 * then the checkpoint note. 409 body: the witness's tree size and a newline,
 * Content-Type text/x.tlog.size. 200 body: one or more note signature lines.
 *
 * Contract: parse and format are strict inverses; anything else is
 * ERR_AUDIT_NOTE_MALFORMED with details.problem (the server answers 400).
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { ROOT_BYTES } from './checkpoint.js'
import { strictBase64 } from './note-keys.js'
import { parseNote, type NoteSignature } from './note.js'

export const ADD_CHECKPOINT_PATH = '/add-checkpoint'
export const TLOG_SIZE_CONTENT_TYPE = 'text/x.tlog.size'

export interface AddCheckpointRequest {
  /** The tree size of the checkpoint the witness holds for this log (0: none yet). */
  oldSize: number
  /** RFC 9162 consistency proof from oldSize to the new checkpoint's size (empty when oldSize is 0). */
  proof: readonly Buffer[]
  /** The new checkpoint, a signed note. */
  note: string
}

function malformed(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.NOTE_MALFORMED, `add-checkpoint: ${message}`, { details: { problem } })
}

const DECIMAL = /^(0|[1-9][0-9]*)$/

function decimal(s: string, what: string): number {
  const n = Number(s)
  if (!DECIMAL.test(s) || !Number.isSafeInteger(n))
    throw malformed(what, `${what} is not a decimal without leading zeros`)
  return n
}

export function formatAddCheckpoint(req: AddCheckpointRequest): string {
  if (!Number.isSafeInteger(req.oldSize) || req.oldSize < 0) throw malformed('old', 'old size is not an integer ≥ 0')
  if (req.proof.length > FIXED.witnessProofLinesMax)
    throw malformed('proof', `${req.proof.length} proof hashes (max ${FIXED.witnessProofLinesMax})`)
  if (req.proof.some((h) => h.length !== ROOT_BYTES))
    throw malformed('proof', `a proof hash is not ${ROOT_BYTES} bytes`)
  const proof = req.proof.map((h) => `${h.toString('base64')}\n`).join('')
  return `old ${req.oldSize}\n${proof}\n${req.note}`
}

export function parseAddCheckpoint(body: string): AddCheckpointRequest {
  const blank = body.indexOf('\n\n')
  if (blank < 0) throw malformed('shape', 'no empty line before the checkpoint')
  const [oldLine, ...proofLines] = body.slice(0, blank).split('\n') as [string, ...string[]]
  if (!oldLine.startsWith('old ')) throw malformed('old', 'the first line is not "old <size>"')
  const oldSize = decimal(oldLine.slice(4), 'old')
  if (proofLines.length > FIXED.witnessProofLinesMax)
    throw malformed('proof', `${proofLines.length} proof lines (max ${FIXED.witnessProofLinesMax})`)
  const proof = proofLines.map((l, i) => {
    const h = strictBase64(l)
    if (h === undefined || h.length !== ROOT_BYTES)
      throw malformed('proof', `proof line ${i + 1} is not canonical base64 of ${ROOT_BYTES} bytes`)
    return h
  })
  return { oldSize, proof, note: body.slice(blank + 2) }
}

/** The 409 body: the size the witness holds. */
export function formatSizeBody(size: number): string {
  return `${size}\n`
}

export function parseSizeBody(body: string): number {
  if (!body.endsWith('\n')) throw malformed('size', 'the size body does not end in a newline')
  return decimal(body.slice(0, -1), 'size')
}

/** The signature lines of a 200 answer, parsed (each must be a well-formed note signature line). */
export function parseCosignatureLines(lines: string): NoteSignature[] {
  if (lines.length === 0 || !lines.endsWith('\n')) throw malformed('cosignatures', 'no signature lines')
  // A one-line stand-in text lets the note parser check every line by its own rules.
  return parseNote(`x\n\n${lines}`).signatures
}
