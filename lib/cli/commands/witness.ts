/**
 * `mtlog-audit witness serve --state DIR --listen HOST:PORT --key FILE
 * [--log ORIGIN=PUBKEYFILE ...]`: a C2SP tlog-witness on node:http.
 *
 * Prints `mtlog-audit witness listening on http://HOST:PORT` as its first line
 * on stdout once it accepts requests (port 0 picks a free port: read the
 * line), then its cosigner key and the logs it knows; one line per request on
 * stderr; serves until SIGTERM or SIGINT, then closes and exits 0.
 */

import { InvalidArgumentError, type Command } from 'commander'
import { AuditError, ERROR_CODES, preview } from '../../../shared/errors.js'
import { loadSigner, loadVerifiers, Witness, type NoteVerifier, type WitnessLog } from '../../integrity/index.js'
import { collect, run } from '../common.js'

export interface ListenAddress {
  host: string
  port: number
}

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:0`. */
export function parseListen(v: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(v)
  const port = Number(m?.[3])
  if (!m || port > 65535) throw new InvalidArgumentError('must be HOST:PORT, e.g. 127.0.0.1:8080 ([::1]:8080 for IPv6)')
  return { host: m[1] ?? m[2]!, port }
}

/** `--log ORIGIN=PUBKEYFILE`, repeatable; one origin may be given twice (a key rotation: both keys trusted). */
export function parseLogs(specs: readonly string[]): WitnessLog[] {
  const byOrigin = new Map<string, NoteVerifier[]>()
  for (const spec of specs) {
    const eq = spec.indexOf('=')
    if (eq <= 0 || eq === spec.length - 1)
      throw new AuditError(ERROR_CODES.OPTION_INVALID, `--log ${preview(spec)}: use ORIGIN=PUBKEYFILE`, {
        details: { option: 'log' },
      })
    const origin = spec.slice(0, eq)
    byOrigin.set(origin, [...(byOrigin.get(origin) ?? []), ...loadVerifiers(spec.slice(eq + 1))])
  }
  return [...byOrigin].map(([origin, verifiers]) => ({ origin, verifiers }))
}

interface ServeFlags {
  state: string
  listen: ListenAddress
  key: string
  log?: string[]
}

async function serve(opts: ServeFlags): Promise<void> {
  const logs = parseLogs(opts.log ?? [])
  const witness = await Witness.start({
    stateDir: opts.state,
    key: await loadSigner(opts.key),
    logs,
    host: opts.listen.host,
    port: opts.listen.port,
    log: (line) => console.error(`${new Date().toISOString()} ${line}`),
  })
  console.log(`mtlog-audit witness listening on ${witness.url}`)
  console.log(`cosigner key ${witness.cosignerKey}`)
  for (const l of logs) console.log(`log ${l.origin} (${l.verifiers.length} key${l.verifiers.length === 1 ? '' : 's'})`)
  if (logs.length === 0) console.error('mtlog-audit witness: no --log given: every checkpoint will be refused (404)')
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGTERM', stop)
      process.off('SIGINT', stop)
      void witness.close().then(resolve)
    }
    process.on('SIGTERM', stop)
    process.on('SIGINT', stop)
  })
}

export function register(program: Command): void {
  const witness = program
    .command('witness')
    .description('a C2SP tlog-witness that cosigns checkpoints of the logs it knows')
  witness
    .command('serve')
    .description('serve POST /add-checkpoint until SIGTERM or SIGINT')
    .requiredOption('--state <dir>', 'where the latest cosigned checkpoint of each log is kept (created if missing)')
    .requiredOption(
      '--listen <host:port>',
      'address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port)',
      parseListen,
    )
    .requiredOption('--key <file>', "the witness's private key (keygen; mode 0600)")
    .option(
      '--log <origin=pubkeyfile>',
      'a log it witnesses: its origin line and public key file (repeatable)',
      collect,
    )
    .addHelpText(
      'after',
      '\nAnswers (C2SP tlog-witness): 200 cosignature, 400 malformed, 403 bad signature, 404 unknown log,\n409 stale old size (body: the size held), 422 inconsistent tree.\nExit codes: 0 stopped by a signal, 2 usage, 3 key file, state directory or address unusable.',
    )
    .action((opts: ServeFlags) => run(() => serve(opts)))
}
