/**
 * `mtlog-audit keygen --output FILE [--name NAME]`: a new Ed25519 signing key.
 * Writes FILE (the signer key, mode 0600) and FILE.pub (the C2SP verifier key
 * `name+keyid+base64`, one line, mode 0644); never overwrites either (exit 2,
 * ERR_AUDIT_OUTPUT_EXISTS). Prints the verifier key, never the private key.
 */

import type { Command } from 'commander'
import { writeKeyPair } from '../../integrity/index.js'
import { run } from '../common.js'

/** The default key name: a C2SP key name is any text without spaces or '+'. */
export const DEFAULT_KEY_NAME = 'mtlog-audit'

export function register(program: Command): void {
  program
    .command('keygen')
    .description('write a new Ed25519 signing key: FILE (private, 0600) and FILE.pub (the verifier key)')
    .requiredOption('--output <file>', 'the private key file to create (FILE.pub is created beside it)')
    .option('--name <name>', 'key name, e.g. example.com/audit (no spaces, no +)', DEFAULT_KEY_NAME)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExit codes: 0 written, 2 usage or FILE / FILE.pub exists, 3 I/O.')
    .action((opts: { output: string; name: string; json?: boolean }) =>
      run(async () => {
        const k = await writeKeyPair(opts.output, opts.name)
        if (opts.json) console.log(JSON.stringify(k))
        else
          console.log(
            [
              `private key  ${k.file} (mode 0600: keep it on the host that signs, nowhere else)`,
              `public key   ${k.publicFile}`,
              `verifier key ${k.verifierKey}`,
            ].join('\n'),
          )
      }),
    )
}
