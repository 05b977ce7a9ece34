/**
 * The client side of C2SP tlog-witness add-checkpoint, on node's fetch.
 *
 * Contract: addCheckpoint resolves with the witness's cosignature lines (each
 * a well-formed note signature line) only on a 200; any other status, a
 * malformed answer, no answer within FIXED.witnessRequestTimeoutMs or a
 * network error is ERR_AUDIT_WITNESS_FAILED with details.status (0: no
 * answer) and, on 409, details.size: the size the witness holds, from which
 * the caller resends with a consistency proof. The cosignatures are NOT
 * verified here: a caller checks them with the witness keys it trusts
 * (verifyCosignatures on addSignatures(note, cosignatures)).
 */

import { AuditError, ERROR_CODES, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import type { NoteSignature } from './note.js'
import {
  ADD_CHECKPOINT_PATH,
  formatAddCheckpoint,
  parseCosignatureLines,
  parseSizeBody,
  TLOG_SIZE_CONTENT_TYPE,
  type AddCheckpointRequest,
} from './witness-protocol.js'

export interface AddCheckpointResult {
  /** The witness's answer as it came: signature lines, each ending in a newline. */
  lines: string
  cosignatures: NoteSignature[]
}

function failed(url: string, status: number, message: string, extra: Record<string, number> = {}): AuditError {
  return new AuditError(ERROR_CODES.WITNESS_FAILED, `witness ${url}: ${message}`, {
    details: { url, status, ...extra },
  })
}

/**
 * POST a checkpoint to a witness. `witnessUrl` is its submission prefix
 * (e.g. `http://127.0.0.1:8080`); the path /add-checkpoint is added.
 */
export async function addCheckpoint(
  witnessUrl: string,
  req: AddCheckpointRequest,
  opts: { timeoutMs?: number } = {},
): Promise<AddCheckpointResult> {
  const url = witnessUrl.replace(/\/+$/, '') + ADD_CHECKPOINT_PATH
  const body = formatAddCheckpoint(req)
  let res: Response
  let answer: string
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      signal: AbortSignal.timeout(opts.timeoutMs ?? FIXED.witnessRequestTimeoutMs),
    })
    const declared = Number(res.headers.get('content-length') ?? 0)
    if (declared > FIXED.witnessAnswerBytesMax) throw new Error(`answer of ${declared} bytes`)
    answer = await res.text()
  } catch (err) {
    throw failed(witnessUrl, 0, `no answer: ${(err as Error).message}`)
  }
  if (answer.length > FIXED.witnessAnswerBytesMax) throw failed(witnessUrl, res.status, 'answer too large')
  if (res.status === 409) {
    const type = res.headers.get('content-type') ?? ''
    let size: number
    try {
      if (!type.startsWith(TLOG_SIZE_CONTENT_TYPE)) throw new Error(type)
      size = parseSizeBody(answer)
    } catch {
      throw failed(witnessUrl, 409, 'conflict without a text/x.tlog.size body')
    }
    throw failed(witnessUrl, 409, `it holds tree size ${size}, not ${req.oldSize}`, { size })
  }
  if (res.status !== 200)
    throw failed(witnessUrl, res.status, `refused (${res.status}): ${preview(answer.trim(), 200)}`)
  try {
    return { lines: answer, cosignatures: parseCosignatureLines(answer) }
  } catch (err) {
    throw failed(witnessUrl, 200, `malformed cosignature lines: ${(err as Error).message}`)
  }
}
