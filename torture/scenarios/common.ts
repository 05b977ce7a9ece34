/** What every scenario module shares: its shape, its context, its result. */

import type { Ack } from '../checker.js'
import type { Rng } from '../prng.js'
import { type Files, type Op, SimFs } from '../sim-fs.js'

export interface Failure {
  message: string
  /** Extra evidence (policy, crash point, files). */
  detail?: string
  /** The exact crash state that failed: written to a file and re-checked with --check-state. */
  state?: StateEvidence
}

/** Everything needed to re-run one crash-state check exactly (recover + check). */
export interface StateEvidence {
  dir: string
  /** The mirror of dir: the state is re-checked as open() does it with a mirror (each copy recovered, then reconciled). */
  mirror?: string
  files: Files
  acked: Ack[]
  salt: number
  clock?: 'steady' | 'jumpy'
  /** Earlier crash states of the same history: no seq they showed may be forgotten or reused (torture/seqs.ts). */
  earlier?: Files[]
  /** Producers' order along the log must follow p (ClockJump) or p >> 2 (Kill9). */
  epoch?: 'p' | 'p>>2'
}

export interface IterResult {
  /** Simulated crash states recovered and checked. */
  crashStates: number
  /** Real SIGKILLs of a live process. */
  kills: number
  /** Events acknowledged in this iteration. */
  acked: number
  /** Records read back and checked after recovery. */
  recovered: number
  failures: Failure[]
  /** Scenario-specific counters (summed over iterations in the report). */
  notes: Record<string, number>
  /** Set when the iteration could not run here (with the reason). */
  skipped?: string
}

export interface IterCtx {
  scenario: string
  seed: number
  rng: Rng
  /** A fresh directory for this iteration (removed afterwards). */
  workDir: string
  /** A reusable 64 MiB journal for simulated runs. */
  journal: SharedArrayBuffer
  /** Short-campaign sizes (npm test) instead of campaign sizes. */
  quick: boolean
}

export interface Scenario {
  name: string
  description: string
  run(ctx: IterCtx): Promise<IterResult>
  /** Called once when the campaign ends (child pools, mounts). */
  teardown?(): Promise<void>
}

export function emptyResult(): IterResult {
  return { crashStates: 0, kills: 0, acked: 0, recovered: 0, failures: [], notes: {} }
}

export function note(r: IterResult, key: string, by = 1): void {
  r.notes[key] = (r.notes[key] ?? 0) + by
}

/** Steps through a journal, yielding the disk after 0, 1, 2, ... ops. */
export class Replayer {
  readonly fs: SimFs
  private done = 0
  constructor(
    initial: Files | undefined,
    private readonly ops: readonly Op[],
  ) {
    this.fs = SimFs.from(initial)
  }
  /** Advance to the state after c ops. */
  to(c: number): SimFs {
    while (this.done < c) this.fs.apply(this.ops[this.done++]!)
    return this.fs
  }
}
