/**
 * `mtlog-audit keys init|rotate|list --keyring FILE`: the keyring of an encrypted
 * log (docs/encryption.md, docs/cli.md). Output names key ids, purposes and
 * dates, never key bytes. The CLI knows only the local provider (the KEK in the
 * file); a keyring wrapped by a KMS is managed from code with its provider.
 *
 * Exit codes: 0 done; 2 usage, or `init` over an existing file
 * (ERR_AUDIT_OUTPUT_EXISTS); 3 a keyring that is missing, has group/other mode
 * bits (ERR_AUDIT_KEY_FILE_MODE) or is invalid (ERR_AUDIT_KEYRING_INVALID).
 */

import type { Command } from 'commander'
import { type KeyInfo, Keyring } from '../../crypto/index.js'
import { run } from '../common.js'

interface KeyringFlag {
  keyring: string
  json?: boolean
}

function keyLine(k: KeyInfo): string {
  const state = k.current ? 'current' : k.retired !== undefined ? `retired ${k.retired}` : ''
  return `${k.id}  ${k.purpose.padEnd(7)}  created ${k.created}${state === '' ? '' : `  ${state}`}`
}

function printList(ring: Keyring): void {
  const keys = ring.list()
  const subjects = keys.filter((k) => k.purpose === 'subject').length
  const lines = [`keyring ${ring.file} (provider ${ring.providerId})`]
  for (const k of keys) if (k.purpose !== 'subject') lines.push(`  ${keyLine(k)}`)
  lines.push(`  subject keys: ${subjects} live, ${ring.erasures().length} erased`)
  console.log(lines.join('\n'))
}

export function register(program: Command): void {
  const keys = program
    .command('keys')
    .description('create, rotate and list the keys of an encrypted log (docs/encryption.md)')
    .addHelpText(
      'after',
      '\nExit codes: 0 done, 2 usage or init over an existing file, 3 keyring missing, mode not 0600, or invalid.',
    )

  keys
    .command('init')
    .description('create a new keyring (mode 0600) with a data key and a lookup key; never overwrites')
    .requiredOption('--keyring <file>', 'the keyring file to create')
    .option('--json', 'print the new keys as JSON')
    .action((opts: KeyringFlag) =>
      run(async () => {
        const ring = await Keyring.create(opts.keyring)
        try {
          if (opts.json)
            console.log(JSON.stringify({ keyring: ring.file, provider: ring.providerId, keys: ring.list() }))
          else {
            console.log(`created keyring ${ring.file} (provider ${ring.providerId}, mode 0600)`)
            for (const k of ring.list()) console.log(`  ${keyLine(k)}`)
            console.log('Keep a backup of this file: a log cannot be read without it.')
          }
        } finally {
          ring.close()
        }
      }),
    )

  keys
    .command('rotate')
    .description('make a new current data key (durable before this returns); old keys stay for reading')
    .requiredOption('--keyring <file>', 'the keyring file')
    .option('--json', 'print the new key as JSON')
    .action((opts: KeyringFlag) =>
      run(async () => {
        const ring = await Keyring.load(opts.keyring)
        try {
          const k = await ring.rotate()
          console.log(opts.json ? JSON.stringify(k) : k.id)
        } finally {
          ring.close()
        }
      }),
    )

  keys
    .command('list')
    .description('key ids, purposes, dates and which keys are current (never key bytes)')
    .requiredOption('--keyring <file>', 'the keyring file')
    .option('--json', 'every key (subject keys too) and every erasure as JSON')
    .action((opts: KeyringFlag) =>
      run(async () => {
        const ring = await Keyring.load(opts.keyring)
        try {
          if (opts.json)
            console.log(
              JSON.stringify(
                { keyring: ring.file, provider: ring.providerId, keys: ring.list(), erased: ring.erasures() },
                null,
                2,
              ),
            )
          else printList(ring)
        } finally {
          ring.close()
        }
      }),
    )
}
