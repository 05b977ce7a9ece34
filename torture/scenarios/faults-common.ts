/** Shared by IOErrorSweep and DiskFull: what must hold after a run that hit an I/O error. */

import type { Ack } from '../checker.js'
import { dirFiles, recoverAndCheck } from '../crashcheck.js'
import { device } from '../seqs.js'
import type { Oracle } from '../events.js'
import { type Files, POLICIES, SimFs } from '../sim-fs.js'
import type { SimRun } from '../workload.js'
import type { IterResult } from './common.js'

const REJECT_OK = new Set(['ERR_AUDIT_FAILED', 'ERR_AUDIT_IO'])

/** Record a wrong-error-code failure once per distinct message in an iteration. */
function codeFailure(r: IterResult, message: string, where: string): void {
  const key = (m: string): string => m.replace(/\bE[A-Z]{2,}\b/g, 'E*')
  if (r.failures.some((f) => key(f.message) === key(message))) return
  r.failures.push({ message, detail: where })
  r.notes['wrong error codes'] = (r.notes['wrong error codes'] ?? 0) + 1
}

/**
 * Fail closed and no ack lost: nothing resolved after a failure was reported,
 * every rejection is coded FAILED/IO, an open that failed failed with IO, and
 * after a power loss right after the run (every unsynced write dropped) and
 * after a process crash (all kept), recovery holds every acknowledged event,
 * and no seq the initial state showed is forgotten or given to another record.
 */
export function checkFaultedRun(
  r: IterResult,
  run: SimRun,
  initial: Files | undefined,
  dir: string,
  oracle: Oracle,
  ackedBefore: Ack[],
  where: string,
): Files | undefined {
  const fail = (message: string): undefined => {
    r.failures.push({ message, detail: where })
    return undefined
  }
  if (run.ackedAfterFailure.length > 0) return fail(`not fail-closed: ${run.ackedAfterFailure[0]}`)
  // A wrong error code is a failure, but the durability checks below still run (they matter more).
  const badCode = run.rejected.find((x) => !REJECT_OK.has(x.code))
  if (badCode) codeFailure(r, `emit rejected with ${badCode.code}, expected ERR_AUDIT_FAILED or ERR_AUDIT_IO`, where)
  if (run.openError && run.openError.code !== 'ERR_AUDIT_IO')
    codeFailure(
      r,
      `open failed with ${run.openError.code} (${run.openError.message.replace(/\/tmp\/[^ ']*/g, '<dir>')}), expected ERR_AUDIT_IO`,
      where,
    )
  const fs = SimFs.from(initial)
  for (const op of run.ops) fs.apply(op)
  const acked = [...ackedBefore, ...run.acks]
  // The seqs the initial state showed (a torn tail, side files) are used: the run, whatever failed in it, keeps them.
  const history = initial === undefined ? [] : [device(dirFiles(initial, dir))]
  let dropped: Files | undefined
  for (const [name, policy] of [
    ['power loss', POLICIES.dropAll!],
    ['process crash', POLICIES.process!],
  ] as const) {
    const state = fs.crash(policy, () => 0.5)
    if (name === 'power loss') dropped = state
    const res = recoverAndCheck(state, dir, oracle, acked, { history })
    r.crashStates++
    r.recovered += res.records
    if (res.failures.length > 0) {
      r.failures.push({
        message: `after the faulted run and a ${name}: ${res.failures[0]}`,
        detail: where,
        state: { dir, files: state, acked, salt: oracle.salt, earlier: initial ? [initial] : undefined },
      })
      return undefined
    }
  }
  return dropped
}
