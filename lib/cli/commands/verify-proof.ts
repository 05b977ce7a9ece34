/**
 * `mtlog-audit verify-proof BUNDLE --public-key FILE [--witness-key FILE]
 * [--json]`: check one event's offline proof bundle with no access to the log
 * (checkProofBundle in lib/integrity/: the checkpoint's signature by a trusted
 * log key, the inclusion proof of the leaf bytes against its root, and a valid
 * cosignature of every --witness-key). --public-key is repeatable (the old and
 * the new key while a key rotates). Exit 0 with one line `ok ...` (or the JSON
 * report), exit 1 on any failure with its reason, exit 2 on a usage error.
 */

import { readFileSync, statSync } from 'node:fs'
import type { Command } from 'commander'
import { AuditError, ERROR_CODES } from '../../../shared/errors.js'
import { FIXED } from '../../../shared/limits.js'
import { checkProofBundle, loadVerifiers, type ProofCheck } from '../../integrity/index.js'
import { collect, EXIT } from '../common.js'

export interface VerifyProofReport {
  ok: boolean
  bundle: string
  /** Why it failed (absent when ok). */
  reason?: string
  code?: string
  /** The leaf's seq as the bundle states it (not authenticated by the proof: see docs/integrity.md). */
  seq?: number
  index?: number
  origin?: string
  treeSize?: number
  root?: string
  signedBy?: string[]
  cosignedBy?: { name: string; time: number }[]
}

function reportOf(bundle: string, c: ProofCheck): VerifyProofReport {
  return {
    ok: true,
    bundle,
    seq: c.bundle.seq,
    index: c.bundle.index,
    origin: c.checkpoint.origin,
    treeSize: c.checkpoint.size,
    root: c.checkpoint.root.toString('base64'),
    signedBy: c.signedBy,
    cosignedBy: c.cosignatures.map((s) => ({ name: s.name, time: s.time })),
  }
}

function okLine(r: VerifyProofReport): string {
  const cos = r.cosignedBy!.map((c) => `${c.name} at ${new Date(c.time * 1000).toISOString()}`)
  return (
    `ok leaf ${r.index} (seq ${r.seq}) is in ${r.origin} at tree size ${r.treeSize}, signed by ${r.signedBy!.join(', ')}` +
    (cos.length > 0 ? `, cosigned by ${cos.join(', ')}` : '')
  )
}

function verify(bundleFile: string, publicKeys: string[], witnessKeys: string[]): VerifyProofReport {
  try {
    // Bounded before it is read: parseProofBundle would refuse it anyway, after the memory is spent.
    const bytes = statSync(bundleFile).size
    if (bytes > FIXED.proofBundleBytesMax)
      throw new AuditError(ERROR_CODES.PROOF_INVALID, `${bundleFile} is ${bytes} bytes, above proofBundleBytesMax`, {
        details: { problem: 'size' },
      })
    const check = checkProofBundle(readFileSync(bundleFile), {
      log: publicKeys.flatMap(loadVerifiers),
      witnesses: witnessKeys.flatMap(loadVerifiers),
    })
    return reportOf(bundleFile, check)
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code
    if (!(err instanceof AuditError) && errno === undefined) throw err // a bug: main reports it (exit 3)
    return { ok: false, bundle: bundleFile, reason: (err as Error).message, code: errno }
  }
}

export function register(program: Command): void {
  program
    .command('verify-proof')
    .description("check an event's offline proof bundle (from `prove`) with the log's public key, without the log")
    .argument('<bundle>', 'the proof bundle file')
    .requiredOption('--public-key <file>', "the log's verifier key file (FILE.pub of keygen; repeatable)", collect)
    .option(
      '--witness-key <file>',
      'require a valid cosignature of this witness (repeatable: each is required)',
      collect,
    )
    .option('--json', 'print the report as JSON')
    .addHelpText('after', '\nExit codes: 0 the event is in the signed tree, 1 it is not or a check failed, 2 usage.')
    .action((bundleFile: string, opts: { publicKey: string[]; witnessKey?: string[]; json?: boolean }) => {
      const report = verify(bundleFile, opts.publicKey, opts.witnessKey ?? [])
      if (opts.json) console.log(JSON.stringify(report))
      else if (report.ok) console.log(okLine(report))
      else console.error(`mtlog-audit verify-proof: FAILED: ${report.code ? `${report.code}: ` : ''}${report.reason}`)
      process.exitCode = report.ok ? EXIT.OK : EXIT.INTEGRITY
    })
}
