/**
 * `mtlog-audit erase <dir> --subject ID --keyring FILE`: crypto-shred one data
 * subject of a closed encrypted log (docs/encryption.md, "Erasure"). The CLI
 * opens the log as its writer (so a log whose writer is running is refused
 * with ERR_AUDIT_LOCKED: erase through that sink's eraseSubject() instead),
 * erases the subject's keys from the keyring, writes the tombstone record and
 * closes. Prints the tombstone's receipt; never key bytes.
 *
 * Exit codes: 0 erased (tombstone durable); 2 usage; 3 the log is locked by
 * its writer, the keyring is missing, not 0600 or invalid, or I/O.
 */

import type { Command } from 'commander'
import { AuditSink } from '../../sink/index.js'
import { run } from '../common.js'

interface EraseFlags {
  subject: string
  keyring: string
  legalBasis?: string
  by?: string
  json?: boolean
}

export function register(program: Command): void {
  program
    .command('erase')
    .description("crypto-shred a data subject's personal fields in a closed encrypted log and write a tombstone")
    .argument('<dir>', 'the WAL directory (not open by a running writer)')
    .requiredOption('--subject <id>', "the subject's id (the personalData subject property's value)")
    .requiredOption('--keyring <file>', 'the keyring of the log')
    .option('--legal-basis <text>', 'the legal basis, stored in the tombstone (e.g. "GDPR Art. 17(1)(b)")')
    .option('--by <who>', 'who asked for the erasure, stored in the tombstone')
    .option('--json', 'print the receipt as JSON')
    .addHelpText(
      'after',
      '\nExit codes: 0 erased, 2 usage, 3 the log is open by its writer (ERR_AUDIT_LOCKED), keyring missing or invalid, I/O.',
    )
    .action((dir: string, opts: EraseFlags) =>
      run(async () => {
        const sink = await AuditSink.open({ dir, encryption: { keyring: opts.keyring } })
        let receipt
        try {
          receipt = await sink.eraseSubject(opts.subject, { legalBasis: opts.legalBasis, by: opts.by })
        } finally {
          await sink.close()
        }
        if (opts.json) console.log(JSON.stringify(receipt))
        else
          console.log(
            `erased: ${receipt.keyIds.length} subject key(s) shredded at ${receipt.erasedAt}; tombstone seq ${receipt.seq} (pseudonym ${receipt.pseudonyms[0]}, unsigned)`,
          )
      }),
    )
}
