/**
 * What every CLI command shares: exit codes (docs/errors.md), and the rule
 * that human output goes to stdout, diagnostics and progress to stderr.
 */

import type { Command } from 'commander'

export const EXIT = { OK: 0, INTEGRITY: 1, USAGE: 2, ENVIRONMENT: 3 } as const

/** A command module: adds itself to the program. */
export type Register = (program: Command) => void

export function mb(bytes: number): string {
  return (bytes / 1e6).toFixed(1)
}
