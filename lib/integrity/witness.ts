/**
 * A witness after C2SP tlog-witness: `POST /add-checkpoint` on node:http.
 *
 * The witness knows a set of logs (origin → trusted log keys) and, per log, the
 * latest checkpoint it cosigned, kept in `<stateDir>/<sha256(origin)[:32]>.checkpoint`.
 * For a request it answers, in this order:
 *   400 the body, note or checkpoint is malformed, old > new size, or a proof
 *       is sent with old 0 (or between equal sizes);
 *   404 the origin is not a log it knows;
 *   403 no trusted log key's signature verifies (or one fails);
 *   409 `old` is not the size it holds (body: that size, text/x.tlog.size), or
 *       the sizes are equal and the roots differ;
 *   422 the consistency proof from its root to the new root fails;
 *   200 its cosignature line(s), only AFTER the new checkpoint is durable
 *       (temp file, fsync, rename, directory fsync);
 *   500 persisting failed: nothing changed, nothing cosigned.
 * The compare-and-persist of one origin runs under a per-origin queue, so two
 * racing requests can never roll the stored size back (the spec's race).
 * Bodies are bounded (413 above FIXED.witnessBodyBytesMax) and so is time.
 */

import { createHash } from 'node:crypto'
import { promises as fsp } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { AuditError, ERROR_CODES, ioError, preview } from '../../shared/errors.js'
import { FIXED } from '../../shared/limits.js'
import { cosignCheckpoint, parseCheckpoint, readCheckpointUnverified, type Checkpoint } from './checkpoint.js'
import { readSmallFile, replaceFile } from './durable-file.js'
import { emptyRoot, verifyConsistency } from './merkle.js'
import { cosigner, formatVerifierKey, type NoteSigner, type NoteVerifier } from './note-keys.js'
import { openNote, parseNote, signatureLine } from './note.js'
import {
  ADD_CHECKPOINT_PATH,
  formatSizeBody,
  parseAddCheckpoint,
  TLOG_SIZE_CONTENT_TYPE,
  type AddCheckpointRequest,
} from './witness-protocol.js'

export interface WitnessLog {
  origin: string
  /** The log's keys (more than one while it rotates keys). */
  verifiers: readonly NoteVerifier[]
}

export interface WitnessOptions {
  stateDir: string
  /** The witness's Ed25519 key (type 0x01, as keygen writes it); it cosigns as type 0x04. */
  key: NoteSigner
  logs: readonly WitnessLog[]
  /** Address to listen on (default 127.0.0.1) and port (default 0: any free port). */
  host?: string
  port?: number
  nowSeconds?: () => number
  /** One line per decision, for the operator (the CLI prints them on stderr). */
  log?: (line: string) => void
}

/** What the witness answers to one add-checkpoint request. */
export interface WitnessAnswer {
  status: number
  body: string
  type?: string
}

const STATE_SUFFIX = '.checkpoint'
const STATE_MODE = 0o644

export function stateFileOf(stateDir: string, origin: string): string {
  return path.join(stateDir, createHash('sha256').update(origin).digest('hex').slice(0, 32) + STATE_SUFFIX)
}

const text = (status: number, body: string): WitnessAnswer => ({
  status,
  body: body.endsWith('\n') ? body : `${body}\n`,
})

export class Witness {
  readonly #opts: WitnessOptions
  readonly #logs = new Map<string, WitnessLog>()
  readonly #state = new Map<string, Checkpoint>()
  readonly #queues = new Map<string, Promise<unknown>>()
  #server: Server | undefined

  private constructor(opts: WitnessOptions) {
    this.#opts = opts
    for (const l of opts.logs) {
      if (this.#logs.has(l.origin))
        throw new AuditError(ERROR_CODES.OPTION_INVALID, `log ${preview(l.origin)} is configured twice`, {
          details: { option: 'logs' },
        })
      this.#logs.set(l.origin, l)
    }
  }

  /** Load the state of every known log, then listen. */
  static async start(opts: WitnessOptions): Promise<Witness> {
    const w = new Witness(opts)
    await w.#load()
    await w.#listen(opts.host ?? '127.0.0.1', opts.port ?? 0)
    return w
  }

  /** The witness's cosigner verifier key (type 0x04): what clients configure. */
  get cosignerKey(): string {
    return formatVerifierKey(cosigner(this.#opts.key))
  }

  get url(): string {
    const a = this.#server!.address() as AddressInfo
    return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
  }

  /** The checkpoint the witness holds for an origin (undefined: none yet, as if size 0). */
  held(origin: string): Checkpoint | undefined {
    return this.#state.get(origin)
  }

  async close(): Promise<void> {
    const s = this.#server
    if (s === undefined) return
    this.#server = undefined
    await new Promise<void>((resolve) => {
      s.close(() => resolve())
      s.closeAllConnections()
    })
    await Promise.allSettled([...this.#queues.values()])
  }

  async #load(): Promise<void> {
    try {
      await fsp.mkdir(this.#opts.stateDir, { recursive: true, mode: 0o700 })
      for (const n of await fsp.readdir(this.#opts.stateDir))
        if (n.includes(`${STATE_SUFFIX}.tmp-`)) await fsp.rm(path.join(this.#opts.stateDir, n), { force: true })
    } catch (err) {
      throw ioError('open', this.#opts.stateDir, err)
    }
    for (const origin of this.#logs.keys()) {
      const file = stateFileOf(this.#opts.stateDir, origin)
      const note = await readSmallFile(file, FIXED.noteBytesMax)
      if (note === undefined) continue
      const c = readCheckpointUnverified(note)
      if (c.origin !== origin)
        throw new AuditError(ERROR_CODES.NOTE_MALFORMED, `${file} holds a checkpoint of another origin`, {
          details: { problem: 'origin', path: file },
        })
      this.#state.set(origin, c)
    }
  }

  #listen(host: string, port: number): Promise<void> {
    const server = createServer({ requestTimeout: FIXED.witnessRequestTimeoutMs }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#opts.log?.(`500 ${(err as Error).message}`)
        this.#send(res, text(500, 'internal error'))
      })
    })
    server.headersTimeout = FIXED.witnessRequestTimeoutMs
    this.#server = server
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(ioError('listen', `${host}:${port}`, err)))
      server.listen(port, host, () => resolve())
    })
  }

  #send(res: ServerResponse, a: WitnessAnswer): void {
    if (res.headersSent) return
    res.writeHead(a.status, {
      'content-type': a.type ?? 'text/plain; charset=utf-8',
      'content-length': Buffer.byteLength(a.body),
    })
    res.end(a.body)
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.url !== ADD_CHECKPOINT_PATH) return this.#send(res, text(404, 'not found'))
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      return this.#send(res, text(405, 'use POST'))
    }
    const body = await readBody(req)
    if (body === undefined) {
      // WitnessAnswer, then drop the connection rather than read the rest of the body.
      res.setHeader('connection', 'close')
      res.on('finish', () => req.destroy())
      return this.#send(res, text(413, `body larger than ${FIXED.witnessBodyBytesMax} bytes`))
    }
    this.#send(res, await this.addCheckpoint(body))
  }

  /** The protocol without HTTP: a request body in, the status and body out (and one log line). */
  async addCheckpoint(body: Buffer): Promise<WitnessAnswer> {
    const seen: { req?: AddCheckpointRequest; c?: Checkpoint } = {}
    const a = await this.#decide(body, seen)
    const what = seen.c ? `${preview(seen.c.origin, 80)} old ${seen.req!.oldSize} new ${seen.c.size}` : 'request'
    const why = a.status === 200 ? 'cosigned' : a.status === 409 ? `held size is ${a.body.trimEnd()}` : a.body.trimEnd()
    this.#opts.log?.(`${a.status} ${what}: ${why}`)
    return a
  }

  async #decide(body: Buffer, seen: { req?: AddCheckpointRequest; c?: Checkpoint }): Promise<WitnessAnswer> {
    let req: AddCheckpointRequest
    let c: Checkpoint
    try {
      req = parseAddCheckpoint(new TextDecoder('utf-8', { fatal: true }).decode(body))
      c = parseCheckpoint(parseNote(req.note).text)
    } catch (err) {
      return text(400, err instanceof AuditError ? err.message : 'body is not UTF-8')
    }
    seen.req = req
    seen.c = c
    const log = this.#logs.get(c.origin)
    if (log === undefined) return text(404, `unknown log ${preview(c.origin)}`)
    try {
      openNote(req.note, log.verifiers)
    } catch (err) {
      return text(403, err instanceof AuditError ? err.message : 'signature check failed')
    }
    if (req.oldSize > c.size) return text(400, `old size ${req.oldSize} is above the checkpoint's size ${c.size}`)
    if (req.oldSize === 0 && req.proof.length > 0) return text(400, 'a consistency proof from size 0 must be empty')
    return this.#serial(c.origin, () => this.#advance(req, c))
  }

  /** Check against the held checkpoint, persist, cosign: one origin at a time. */
  async #advance(req: AddCheckpointRequest, c: Checkpoint): Promise<WitnessAnswer> {
    const held = this.#state.get(c.origin)
    const heldSize = held?.size ?? 0
    const conflict: WitnessAnswer = { status: 409, body: formatSizeBody(heldSize), type: TLOG_SIZE_CONTENT_TYPE }
    if (req.oldSize !== heldSize) return conflict
    if (c.size === heldSize) {
      if (req.proof.length > 0) return text(400, 'a consistency proof between equal sizes must be empty')
      // Nothing held yet: the tree of size 0 is the empty tree, whose root is fixed.
      if (!c.root.equals(held?.root ?? emptyRoot())) return conflict
    } else if (heldSize > 0 && !verifyConsistency(heldSize, c.size, held!.root, c.root, [...req.proof])) {
      return text(422, `consistency proof from size ${heldSize} to ${c.size} does not verify`)
    }
    await replaceFile(stateFileOf(this.#opts.stateDir, c.origin), Buffer.from(req.note), STATE_MODE)
    this.#state.set(c.origin, c)
    const body = parseNote(req.note).text
    return text(200, signatureLine(cosignCheckpoint(body, this.#opts.key, this.#opts.nowSeconds)).trimEnd())
  }

  #serial<T>(origin: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#queues.get(origin) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.catch(() => {})
    this.#queues.set(origin, tail)
    void tail.then(() => {
      if (this.#queues.get(origin) === tail) this.#queues.delete(origin)
    })
    return next
  }
}

/** The request body, or undefined when it is larger than witnessBodyBytesMax. */
async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > FIXED.witnessBodyBytesMax) return undefined
  const chunks: Buffer[] = []
  let bytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length
    if (bytes > FIXED.witnessBodyBytesMax) return undefined
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}
