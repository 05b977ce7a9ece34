/**
 * Consistency proofs as text, and their offline check: the engine of
 * `mtlog-audit consistency --proof` (docs/integrity.md, "Consistency").
 *
 *   mtlog-audit/consistency@v1
 *   old <tree size of the older checkpoint>
 *   new <tree size of the newer checkpoint>
 *   <one base64 SHA-256 hash per line: the RFC 9162 §2.1.4.1 proof>
 *
 * Contract: parseConsistencyProof is strict (ERR_AUDIT_PROOF_INVALID with
 * details.problem); checkConsistency opens both checkpoints with the trusted
 * keys (ERR_AUDIT_SIGNATURE_INVALID), requires one origin and the sizes the
 * proof names, and verifies the proof (RFC 9162 §2.1.4.2) from the older root
 * to the newer one, or throws ERR_AUDIT_PROOF_INVALID.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { openCheckpoint, type Checkpoint } from './checkpoint.js'
import { HASH_BYTES, verifyConsistency } from './merkle.js'
import type { NoteVerifier } from './note-keys.js'
import { strictBase64 } from './note-keys.js'

export const CONSISTENCY_HEADER = 'mtlog-audit/consistency@v1'

export interface ConsistencyProof {
  oldSize: number
  newSize: number
  proof: Buffer[]
}

function invalid(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.PROOF_INVALID, `consistency proof: ${message}`, { details: { problem } })
}

export function formatConsistencyProof(p: ConsistencyProof): string {
  return [
    CONSISTENCY_HEADER,
    `old ${p.oldSize}`,
    `new ${p.newSize}`,
    ...p.proof.map((h) => h.toString('base64')),
    '',
  ].join('\n')
}

const SIZE = /^(0|[1-9][0-9]{0,15})$/

export function parseConsistencyProof(text: string | Uint8Array): ConsistencyProof {
  const s = typeof text === 'string' ? text : Buffer.from(text).toString('utf8')
  if (s.length > FIXED.proofBundleBytesMax) throw invalid('size', 'too large')
  const lines = s.split('\n')
  if (lines.pop() !== '') throw invalid('newline', 'must end with a newline')
  if (lines[0] !== CONSISTENCY_HEADER) throw invalid('header', `the first line must be ${CONSISTENCY_HEADER}`)
  const old = /^old (.*)$/.exec(lines[1] ?? '')?.[1]
  const neu = /^new (.*)$/.exec(lines[2] ?? '')?.[1]
  if (old === undefined || neu === undefined || !SIZE.test(old) || !SIZE.test(neu))
    throw invalid('sizes', 'lines 2 and 3 must be "old N" and "new N" (decimal)')
  const hashes = lines.slice(3)
  if (hashes.length > FIXED.proofHashesMax) throw invalid('hashes', 'too many hashes')
  const proof = hashes.map((h, i) => {
    const b = strictBase64(h)
    if (b === undefined || b.length !== HASH_BYTES) throw invalid('hash', `line ${i + 4} is not a base64 SHA-256 hash`)
    return b
  })
  return { oldSize: Number(old), newSize: Number(neu), proof }
}

/** Check that `to` extends `from` with the proof; returns both checkpoints. */
export function checkConsistency(
  proofText: string | Uint8Array,
  from: string | Buffer,
  to: string | Buffer,
  keys: readonly NoteVerifier[],
): { from: Checkpoint; to: Checkpoint } {
  const p = parseConsistencyProof(proofText)
  const a = openCheckpoint(from, keys).checkpoint
  const b = openCheckpoint(to, keys).checkpoint
  if (a.origin !== b.origin) throw invalid('origin', 'the two checkpoints are of different logs')
  if (a.size !== p.oldSize || b.size !== p.newSize)
    throw invalid(
      'sizes',
      `the proof is for sizes ${p.oldSize} → ${p.newSize}, the checkpoints sign ${a.size} → ${b.size}`,
    )
  if (!verifyConsistency(a.size, b.size, a.root, b.root, p.proof))
    throw invalid('consistency', `the tree of size ${b.size} does not extend the tree of size ${a.size}`)
  return { from: a, to: b }
}
