/**
 * Checking an offline proof bundle with no access to the log: the engine of
 * `mtlog-audit verify-proof`.
 *
 * Contract: checkProofBundle returns a report only when every check holds, in
 * this order: the bundle parses (proof-bundle.ts); its checkpoint note has a
 * valid signature of a trusted log key and none that fails
 * (ERR_AUDIT_SIGNATURE_INVALID) and its body is a checkpoint
 * (ERR_AUDIT_NOTE_MALFORMED); the bundle's origin, if it names one, is the
 * checkpoint's; the leaf index is inside the tree; the RFC 9162 inclusion proof
 * leads from leafHash(leaf bytes) to the checkpoint's root; and every witness
 * key given has a valid cosignature on the checkpoint. The last three fail as
 * ERR_AUDIT_PROOF_INVALID with details.problem `origin`, `index`, `inclusion`.
 *
 * Last, the bundle's seq must be the seq the leaf bytes record (shared/format.ts
 * leaf encoding): the seq travels in the bundle's unauthenticated extra data,
 * the leaf is authenticated by the proof, so a bundle whose seq was edited
 * fails as ERR_AUDIT_PROOF_INVALID with problem `seq`. ProofCheck.leaf is the
 * decoded leaf: the record's type, seq range, time and payload as stored.
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { parseLeaf, type Leaf } from '../../shared/format.js'
import { openCheckpoint, verifyCosignatures, type Checkpoint, type Cosignature } from './checkpoint.js'
import { leafHash, verifyInclusion } from './merkle.js'
import type { NoteVerifier } from './note-keys.js'
import { parseProofBundle, type ProofBundle } from './proof-bundle.js'

export interface ProofCheck {
  bundle: ProofBundle
  checkpoint: Checkpoint
  /** Names of the trusted log keys whose signatures verified. */
  signedBy: string[]
  cosignatures: Cosignature[]
  /** The proven record as stored: type, seq range, time, payload (ciphertext stays ciphertext). */
  leaf: Leaf
}

function invalid(problem: string, message: string): AuditError {
  return new AuditError(ERROR_CODES.PROOF_INVALID, `proof bundle: ${message}`, { details: { problem } })
}

/** Check a proof bundle against the log's keys (and, if given, required witnesses). */
export function checkProofBundle(
  text: string | Uint8Array,
  keys: { log: readonly NoteVerifier[]; witnesses?: readonly NoteVerifier[] },
): ProofCheck {
  const bundle = parseProofBundle(text)
  const { checkpoint, note } = openCheckpoint(bundle.checkpoint, keys.log)
  if (bundle.logOrigin !== undefined && bundle.logOrigin !== checkpoint.origin)
    throw invalid('origin', "the bundle's log origin is not its checkpoint's")
  if (!(bundle.index < checkpoint.size))
    throw invalid('index', `leaf index ${bundle.index} is outside the checkpoint's tree of size ${checkpoint.size}`)
  if (!verifyInclusion(bundle.index, checkpoint.size, leafHash(bundle.leaf), bundle.proof, checkpoint.root))
    throw invalid('inclusion', `the inclusion proof of leaf ${bundle.index} does not lead to the checkpoint's root`)
  const cosignatures = verifyCosignatures(bundle.checkpoint, keys.witnesses ?? [])
  const leaf = parseLeaf(bundle.leaf)
  if (leaf === undefined || leaf.seq !== bundle.seq)
    throw invalid(
      'seq',
      `the bundle names seq ${bundle.seq}, its proven leaf records ${leaf === undefined ? 'no seq' : `seq ${leaf.seq}`}`,
    )
  return { bundle, checkpoint, signedBy: note.verified.map((s) => s.name), cosignatures, leaf }
}
