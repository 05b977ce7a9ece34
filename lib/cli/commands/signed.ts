/**
 * The signed-history commands (docs/integrity.md, docs/cli.md):
 *
 *   checkpoint <dir> --output FILE         the log's latest signed checkpoint (a C2SP
 *                                          signed note) to FILE, replaced atomically
 *   prove <dir> --seq N --output BUNDLE    an offline proof bundle for seq N against the
 *                                          log's latest checkpoint covering it (or --checkpoint)
 *   consistency <dir> --from A --to B [--output PROOF]
 *                                          an RFC 9162 consistency proof that B's tree extends A's
 *   consistency --from A --to B --proof PROOF --public-key K
 *                                          check one, with the two checkpoints and the key only
 *
 * Outputs are written with replaceFile (temp file, fsync, rename): never half
 * a file. Exit codes: 0 ok, 1 the log or a proof fails a check, 2 usage, 3 I/O
 * or no checkpoint (ERR_AUDIT_NO_CHECKPOINT).
 */

import path from 'node:path'
import type { Command } from 'commander'
import { AuditError, ERROR_CODES } from '../../../shared/errors.js'
import { checkConsistency, loadVerifiers, readCheckpointUnverified, replaceFile } from '../../integrity/index.js'
import { checkDir, latestCheckpoint, proveConsistency, proveRecord } from '../../read/index.js'
import { collect, readNoteFile, run } from '../common.js'

/** Outputs are public evidence (notes, proofs), but like every file we write: owner-only by default. */
const OUTPUT_MODE = 0o600

function seqArg(v: string): number {
  const n = Number(v)
  if (!/^[1-9][0-9]{0,15}$/.test(v) || !Number.isSafeInteger(n))
    throw new AuditError(ERROR_CODES.OPTION_INVALID, '--seq must be an integer ≥ 1', { details: { option: 'seq' } })
  return n
}

export function register(program: Command): void {
  program
    .command('checkpoint')
    .description("write the log's latest signed checkpoint (a C2SP signed note) to FILE: keep it outside the host")
    .argument('<dir>', 'the WAL directory')
    .requiredOption('--output <file>', 'where the checkpoint goes (replaced atomically)')
    .option('--json', 'print what was written as JSON')
    .addHelpText('after', '\nExit codes: 0 written, 1 the log is damaged, 2 usage, 3 I/O or no checkpoint in the log.')
    .action((dir: string, opts: { output: string; json?: boolean }) =>
      run(async () => {
        checkDir(dir, 'checkpoint')
        const c = await latestCheckpoint(dir)
        await replaceFile(path.resolve(opts.output), Buffer.from(c.note), OUTPUT_MODE)
        const cp = readCheckpointUnverified(c.note)
        const facts = { output: opts.output, origin: cp.origin, size: c.size, covers: c.covers, seq: c.seq }
        if (opts.json) console.log(JSON.stringify(facts))
        else console.log(`checkpoint of ${cp.origin}: tree size ${c.size}, covers seq 1..${c.covers} → ${opts.output}`)
      }),
    )

  program
    .command('prove')
    .description('write an offline proof bundle for one seq: anyone with the public key checks it with verify-proof')
    .argument('<dir>', 'the WAL directory')
    .requiredOption('--seq <n>', 'the seq of the record to prove')
    .requiredOption('--output <file>', 'the proof bundle to write (replaced atomically)')
    .option('--checkpoint <file>', "prove against this signed checkpoint (default: the log's latest covering seq)")
    .option('--json', 'print what was written as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 written, 1 the log is damaged or does not contain --checkpoint, 2 usage, 3 I/O or no checkpoint covers the seq.',
    )
    .action((dir: string, opts: { seq: string; output: string; checkpoint?: string; json?: boolean }) =>
      run(async () => {
        checkDir(dir, 'prove')
        const seq = seqArg(opts.seq)
        const note = opts.checkpoint === undefined ? undefined : readNoteFile(opts.checkpoint, 'checkpoint')
        const bundle = await proveRecord(dir, seq, { checkpoint: note })
        await replaceFile(path.resolve(opts.output), Buffer.from(bundle), OUTPUT_MODE)
        if (opts.json) console.log(JSON.stringify({ output: opts.output, seq, bytes: Buffer.byteLength(bundle) }))
        else
          console.log(
            `proof bundle for seq ${seq} → ${opts.output} (check it: mtlog-audit verify-proof ${opts.output} --public-key FILE.pub)`,
          )
      }),
    )

  program
    .command('consistency')
    .description("prove (with <dir>) or check (with --proof) that one checkpoint's tree extends another's")
    .argument('[dir]', 'the WAL directory (to make a proof)')
    .requiredOption('--from <file>', 'the older signed checkpoint')
    .requiredOption('--to <file>', 'the newer signed checkpoint')
    .option('--output <file>', 'write the proof here (default: print it)')
    .option('--proof <file>', 'check this proof instead of making one (needs --public-key, no <dir>)')
    .option('--public-key <file>', "the log's verifier key (FILE.pub of keygen; repeatable)", collect)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 proof made / proof holds, 1 the log does not contain a checkpoint or the proof fails, 2 usage, 3 I/O.',
    )
    .action(
      (
        dir: string | undefined,
        opts: { from: string; to: string; output?: string; proof?: string; publicKey?: string[]; json?: boolean },
      ) =>
        run(async () => {
          const from = readNoteFile(opts.from, '--from')
          const to = readNoteFile(opts.to, '--to')
          if (opts.proof !== undefined) {
            if (dir !== undefined || opts.publicKey === undefined)
              throw new AuditError(
                ERROR_CODES.OPTION_INVALID,
                '--proof checks a proof: give --public-key and no <dir>',
                {
                  details: { option: 'proof' },
                },
              )
            const { from: a, to: b } = checkConsistency(
              readNoteFile(opts.proof, '--proof'),
              from,
              to,
              opts.publicKey.flatMap(loadVerifiers),
            )
            if (opts.json) console.log(JSON.stringify({ ok: true, origin: a.origin, from: a.size, to: b.size }))
            else console.log(`ok the tree of size ${b.size} extends the tree of size ${a.size} (${a.origin})`)
            return
          }
          if (dir === undefined)
            throw new AuditError(ERROR_CODES.OPTION_INVALID, 'give <dir> to make a proof, or --proof to check one', {
              details: { option: 'dir' },
            })
          checkDir(dir, 'consistency')
          const text = await proveConsistency(dir, from, to)
          if (opts.output === undefined) process.stdout.write(text)
          else {
            await replaceFile(path.resolve(opts.output), Buffer.from(text), OUTPUT_MODE)
            if (opts.json) console.log(JSON.stringify({ output: opts.output }))
            else console.log(`consistency proof → ${opts.output}`)
          }
        }),
    )
}
