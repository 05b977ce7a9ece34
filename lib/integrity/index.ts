/**
 * lib/integrity/: tamper evidence. The face other rooms import: the RFC 9162
 * Merkle tree and proofs, C2SP signed notes, checkpoints and cosignatures,
 * signing key files, and the tlog-witness server and client.
 */

// The RFC 9162 tree, its proofs and verifiers, and offline proof bundles (c2sp.org/tlog-proof).
export {
  CompactRange,
  HASH_BYTES,
  consistencyProof,
  consistencyProofFromRange,
  consistencyProofRanges,
  emptyRoot,
  inclusionProof,
  leafHash,
  leafHashOf,
  leafHashInto,
  nodeHash,
  rootOf,
  subtreeRoot,
  verifyConsistency,
  verifyInclusion,
} from './merkle.js'
export { PROOF_BUNDLE_HEADER, encodeProofBundle, parseProofBundle, type ProofBundle } from './proof-bundle.js'

// Signed notes, checkpoints, keys, the witness (docs/integrity.md).
export {
  SIG_TYPE,
  asCosignatureVerifier,
  cosignatureTime,
  cosigner,
  ed25519Signer,
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  keyIdHex,
  keyIdOf,
  noteVerifier,
  parseSignerKey,
  parseVerifierKey,
  type NoteSigner,
  type NoteVerifier,
  type SigType,
} from './note-keys.js'
export {
  addSignatures,
  formatNote,
  openNote,
  parseNote,
  signNote,
  signatureLine,
  type NoteSignature,
  type OpenedNote,
  type ParsedNote,
} from './note.js'
export {
  ROOT_BYTES,
  cosignCheckpoint,
  formatCheckpoint,
  logOrigin,
  openCheckpoint,
  parseCheckpoint,
  readCheckpointUnverified,
  signCheckpoint,
  verifyCosignatures,
  type Checkpoint,
  type Cosignature,
  type OpenedCheckpoint,
} from './checkpoint.js'
export {
  GeneratedKey,
  PRIVATE_KEY_MODE,
  PUBLIC_KEY_MODE,
  generateSigningKey,
  loadSigner,
  loadVerifier,
  loadVerifiers,
  writeKeyPair,
  type WrittenKeyPair,
} from './keys.js'
export { Witness, stateFileOf, type WitnessAnswer, type WitnessLog, type WitnessOptions } from './witness.js'
export { addCheckpoint, type AddCheckpointResult } from './witness-client.js'
export { replaceFile } from './durable-file.js'
export {
  CONSISTENCY_HEADER,
  checkConsistency,
  formatConsistencyProof,
  parseConsistencyProof,
  type ConsistencyProof,
} from './consistency.js'
export { checkProofBundle, type ProofCheck } from './proof-check.js'
export { formatAddCheckpoint, parseAddCheckpoint, type AddCheckpointRequest } from './witness-protocol.js'
