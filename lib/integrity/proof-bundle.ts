/**
 * Offline proof bundles: one event's proof that anyone can check without the
 * log, in the c2sp.org/tlog-proof text form, with mtlog-audit's own data in the
 * spec's `extra` line:
 *
 *   c2sp.org/tlog-proof@v1
 *   extra <base64 of the extra data below>
 *   index <leaf index: ASCII decimal, no leading zero>
 *   <one base64 SHA-256 hash per line: the inclusion proof, the leaf's sibling first>
 *   <an empty line>
 *   <the checkpoint: a C2SP signed note, verbatim, ending in a newline>
 *
 * The extra data (binary, big-endian): the 27 ASCII bytes
 * "mtlog-audit/proof-extra@v1\n", u64 seq, u32 origin byte length (0: none) and
 * the UTF-8 log origin, u32 leaf byte length and the leaf bytes (the record's
 * content as stored, whose leafHash the proof places in the tree).
 *
 * Contract:
 * - parseProofBundle is strict and bounded: ≤ FIXED.proofBundleBytesMax bytes
 *   of valid UTF-8, every line as above, hashes canonical base64 of exactly 32
 *   bytes, at most FIXED.proofHashesMax of them, a leaf of at most
 *   FIXED.proofBundleLeafBytesMax bytes, a checkpoint of at most
 *   FIXED.noteBytesMax bytes with no control character but newline, a log
 *   origin (when given) equal to the checkpoint's first line. Finally the input
 *   must be exactly what encodeProofBundle writes for what was parsed, so two
 *   different texts never parse to the same bundle: any changed byte either
 *   fails to parse or changes a field. A violation is ERR_AUDIT_PROOF_INVALID
 *   with details.problem (and details.line when a line is at fault).
 * - encodeProofBundle refuses (same error) what parseProofBundle would refuse.
 * - Nothing here is trusted: the caller verifies the checkpoint's signature,
 *   the proof against its root with leafHash(leaf), and that seq is the seq the
 *   leaf itself records (the extra data is not authenticated; the leaf is, by
 *   the proof).
 */

import { AuditError, ERROR_CODES } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { HASH_BYTES } from './merkle.js'

export interface ProofBundle {
  /** The log's origin line, when the bundle names it: it must be the checkpoint's first line. */
  logOrigin?: string
  /** Zero-based leaf index in the tree. */
  index: number
  /** The record's seq (its first seq for a record that covers a range). */
  seq: number
  /** The leaf bytes: the record's content as stored. */
  leaf: Buffer
  /** The inclusion proof, the leaf's sibling first. */
  proof: Buffer[]
  /** The signed checkpoint note, verbatim, ending in a newline. */
  checkpoint: string
}

export const PROOF_BUNDLE_HEADER = 'c2sp.org/tlog-proof@v1'
const EXTRA_MAGIC = Buffer.from('mtlog-audit/proof-extra@v1\n', 'latin1')
const EXTRA_FIXED_BYTES = EXTRA_MAGIC.length + 8 + 4 + 4
const INDEX_LINE = /^index (0|[1-9][0-9]{0,15})$/
const CONTROL = /[\u0000-\u0009\u000b-\u001f]/
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function invalid(problem: string, message: string, line?: number): AuditError {
  const details: Record<string, string | number> = { problem }
  if (line !== undefined) details.line = line
  return new AuditError(ERROR_CODES.PROOF_INVALID, `proof bundle: ${message}`, { details })
}

/**
 * Base64 decoded only when it is canonical. Buffer.from alone skips junk characters,
 * accepts missing padding and ignores padding bits; each of those makes the text
 * differ from the bytes' own encoding, so one comparison refuses them all.
 */
function strictBase64(text: string, problem: string, line: number): Buffer {
  const bytes = Buffer.from(text, 'base64')
  if (bytes.toString('base64') !== text) throw invalid(problem, 'not canonical base64', line)
  return bytes
}

function isSafeCount(n: unknown, min: number): n is number {
  return Number.isSafeInteger(n) && (n as number) >= min
}

/** The checkpoint's own rules, as far as a bundle needs them; its signature is A2's checkpoint code's job. */
function checkCheckpoint(checkpoint: unknown, line: number): asserts checkpoint is string {
  if (typeof checkpoint !== 'string' || checkpoint.length === 0) throw invalid('checkpoint', 'no checkpoint', line)
  if (Buffer.byteLength(checkpoint) > FIXED.noteBytesMax)
    throw invalid('checkpoint', `checkpoint larger than ${FIXED.noteBytesMax} bytes`, line)
  if (!checkpoint.isWellFormed()) throw invalid('checkpoint', 'checkpoint is not valid UTF-8', line)
  if (!checkpoint.endsWith('\n')) throw invalid('checkpoint', 'checkpoint does not end in a newline', line)
  if (CONTROL.test(checkpoint)) throw invalid('checkpoint', 'checkpoint holds a control character', line)
  if (checkpoint.startsWith('\n')) throw invalid('checkpoint', 'checkpoint has no origin line', line)
}

function checkBundle(b: ProofBundle): void {
  if (!isSafeCount(b.index, 0)) throw invalid('index', 'index must be a safe integer ≥ 0')
  if (!isSafeCount(b.seq, 1)) throw invalid('seq', 'seq must be a safe integer ≥ 1')
  if (!(b.leaf instanceof Uint8Array)) throw invalid('leaf', 'leaf must be bytes')
  if (b.leaf.length > FIXED.proofBundleLeafBytesMax)
    throw invalid('leaf', `leaf larger than ${FIXED.proofBundleLeafBytesMax} bytes`)
  if (!Array.isArray(b.proof) || b.proof.length > FIXED.proofHashesMax)
    throw invalid('proof-length', `more than ${FIXED.proofHashesMax} proof hashes`)
  for (const h of b.proof)
    if (!(h instanceof Uint8Array) || h.length !== HASH_BYTES)
      throw invalid('hash', `a proof hash is not ${HASH_BYTES} bytes`)
  checkCheckpoint(b.checkpoint, 0)
  if (b.logOrigin !== undefined) {
    if (typeof b.logOrigin !== 'string' || b.logOrigin.length === 0) throw invalid('origin', 'logOrigin is empty')
    if (b.logOrigin !== b.checkpoint.slice(0, b.checkpoint.indexOf('\n')))
      throw invalid('origin', "logOrigin is not the checkpoint's origin line")
  }
}

function encodeExtra(b: ProofBundle): Buffer {
  const origin = Buffer.from(b.logOrigin ?? '', 'utf8')
  const out = Buffer.alloc(EXTRA_FIXED_BYTES + origin.length + b.leaf.length)
  let at = EXTRA_MAGIC.copy(out, 0)
  at = out.writeBigUInt64BE(BigInt(b.seq), at)
  at = out.writeUInt32BE(origin.length, at)
  at += origin.copy(out, at)
  at = out.writeUInt32BE(b.leaf.length, at)
  out.set(b.leaf, at)
  return out
}

function parseExtra(extra: Buffer, line: number): { seq: number; logOrigin?: string; leaf: Buffer } {
  const fail = (message: string): AuditError => invalid('extra', message, line)
  if (extra.length < EXTRA_FIXED_BYTES || !extra.subarray(0, EXTRA_MAGIC.length).equals(EXTRA_MAGIC))
    throw fail('the extra data is not mtlog-audit proof data')
  let at = EXTRA_MAGIC.length
  const seq = extra.readBigUInt64BE(at)
  at += 8
  if (seq < 1n || seq > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('seq must be a safe integer ≥ 1')
  const originBytes = extra.readUInt32BE(at)
  at += 4
  if (originBytes > extra.length - at - 4) throw fail('origin runs past the end')
  let logOrigin: string | undefined
  if (originBytes > 0) {
    try {
      logOrigin = UTF8.decode(extra.subarray(at, at + originBytes))
    } catch {
      throw fail('origin is not valid UTF-8')
    }
  }
  at += originBytes
  const leafBytes = extra.readUInt32BE(at)
  at += 4
  if (leafBytes > FIXED.proofBundleLeafBytesMax) throw fail(`leaf larger than ${FIXED.proofBundleLeafBytesMax} bytes`)
  if (leafBytes !== extra.length - at) throw fail('leaf length does not match the extra data')
  const leaf = Buffer.from(extra.subarray(at))
  return logOrigin === undefined ? { seq: Number(seq), leaf } : { seq: Number(seq), logOrigin, leaf }
}

/** The bundle as c2sp.org/tlog-proof text. */
export function encodeProofBundle(b: ProofBundle): string {
  checkBundle(b)
  const lines = [PROOF_BUNDLE_HEADER, `extra ${encodeExtra(b).toString('base64')}`, `index ${b.index}`]
  for (const h of b.proof) lines.push(Buffer.from(h.buffer, h.byteOffset, h.length).toString('base64'))
  return `${lines.join('\n')}\n\n${b.checkpoint}`
}

function asText(input: string | Uint8Array): string {
  if (typeof input === 'string') {
    // Every UTF-16 unit takes at least one UTF-8 byte: a cheap bound before the exact one.
    if (input.length > FIXED.proofBundleBytesMax || Buffer.byteLength(input) > FIXED.proofBundleBytesMax)
      throw invalid('size', `larger than ${FIXED.proofBundleBytesMax} bytes`)
    if (!input.isWellFormed()) throw invalid('utf8', 'not valid UTF-8 (a lone surrogate)')
    return input
  }
  if (!(input instanceof Uint8Array)) throw invalid('type', 'a proof bundle is text or bytes')
  if (input.length > FIXED.proofBundleBytesMax) throw invalid('size', `larger than ${FIXED.proofBundleBytesMax} bytes`)
  try {
    return UTF8.decode(input)
  } catch {
    throw invalid('utf8', 'not valid UTF-8')
  }
}

/** Parse a proof bundle strictly; see the contract above. */
export function parseProofBundle(input: string | Uint8Array): ProofBundle {
  const text = asText(input)
  let at = 0
  let lineNo = 0
  const nextLine = (): string => {
    lineNo++
    const end = text.indexOf('\n', at)
    if (end < 0) throw invalid('truncated', 'ends before the checkpoint', lineNo)
    const line = text.slice(at, end)
    at = end + 1
    return line
  }
  if (nextLine() !== PROOF_BUNDLE_HEADER) throw invalid('header', `the first line is not ${PROOF_BUNDLE_HEADER}`, 1)
  const extraLine = nextLine()
  if (!extraLine.startsWith('extra ')) throw invalid('extra', 'no extra line (mtlog-audit bundles carry one)', 2)
  const extra = parseExtra(strictBase64(extraLine.slice('extra '.length), 'extra', 2), 2)
  const indexMatch = INDEX_LINE.exec(nextLine())
  const index = indexMatch === null ? NaN : Number(indexMatch[1])
  if (!Number.isSafeInteger(index)) throw invalid('index', 'the third line is not `index N`', 3)
  const proof: Buffer[] = []
  for (let line = nextLine(); line !== ''; line = nextLine()) {
    if (proof.length === FIXED.proofHashesMax)
      throw invalid('proof-length', `more than ${FIXED.proofHashesMax} proof hashes`, lineNo)
    const hash = strictBase64(line, 'hash', lineNo)
    if (hash.length !== HASH_BYTES) throw invalid('hash', `a proof hash is not ${HASH_BYTES} bytes`, lineNo)
    proof.push(hash)
  }
  const checkpoint = text.slice(at)
  checkCheckpoint(checkpoint, lineNo + 1)
  const bundle: ProofBundle = { ...extra, index, proof, checkpoint }
  checkBundle(bundle)
  // The last word: only the encoder's exact output parses (one text per bundle).
  if (encodeProofBundle(bundle) !== text) throw invalid('not-canonical', 'not in the form the encoder writes')
  return bundle
}
