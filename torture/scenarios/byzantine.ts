/**
 * ByzantineStorage: the disk lies. One of, per case:
 *   misread    the k-th read during open returns one wrong byte (transient);
 *   misdirect  the k-th write of a run lands at another offset, reported ok;
 *   lying sync the k-th fdatasync/fsync reports success and persists nothing.
 * What must hold: wrong bytes are never accepted as a valid record (every record
 * recovery keeps is exactly an emitted event at its seq, chain intact), and
 * damage in acknowledged data is refused or reported. What cannot be told from
 * the disk alone — a valid but shorter log, when a lying sync or a misdirected
 * last batch dropped acknowledged data at the very end — needs a checkpoint kept
 * elsewhere. For a lying sync the scenario now makes that checkpoint: it signs
 * the tree of the acknowledged records as the page cache held them (what the
 * signer thread reads back) and requires `verifySigned` to find the recovered
 * log short of it ('acked tail lost, caught by the exported checkpoint'); not
 * caught is a failure. A misdirected write damages the page cache view too, so
 * a signer would have refused to sign past it: those cases are counted apart.
 * A transient misread must never destroy acknowledged data: recovery that cuts
 * acknowledged records because of one wrong read is a failure.
 *
 * The same misdirect or lying sync is then run again with a mirror (the copy
 * kept elsewhere): there a lost or misplaced tail in one copy is caught up
 * from the other, or open refuses the copies as damaged or diverged; an
 * acknowledged event missing after open is a failure, with no exception. And
 * no seq either copy showed may be given to another record (issue 14, finding
 * 8): open must resume past every seq the two copies showed (checked on every
 * state), and a few states per iteration are reopened end to end with the real
 * writer, emitted into and closed: old and new receipts never share a seq.
 */

import fs from 'node:fs'
import path from 'node:path'
import {
  generateSigningKey,
  logOrigin,
  noteVerifier,
  signCheckpoint,
  type NoteSigner,
} from '../../lib/integrity/index.js'
import { logTree, rootAt, verifySigned } from '../../lib/read/index.js'
import { checkLog, parseWal } from '../checker.js'
import {
  ackedAt,
  dirFiles,
  recoverAndCheck,
  recoverMirroredAndCheck,
  recoverState,
  reopenAndAppend,
} from '../crashcheck.js'
import { makeOracle } from '../events.js'
import { int, mulberry32, pick } from '../prng.js'
import { type CrashPolicy, describePolicy, type Files, POLICIES, randomPolicy, SimFs } from '../sim-fs.js'
import { runSim } from '../workload.js'
import { emptyResult, type IterCtx, type IterResult, note, Replayer, type Scenario } from './common.js'

const isMissing = (m: string): boolean => /is missing: the log ends/.test(m)

let signer: NoteSigner | undefined

/**
 * Sign the tree of the acknowledged records as the writer's page cache held
 * them (what the signer thread reads), then check the recovered log against
 * that checkpoint. undefined when verify refuses the recovered log (caught);
 * otherwise why not.
 */
async function checkpointCatches(
  workDir: string,
  written: Map<string, Buffer>,
  recovered: Map<string, Buffer>,
  acked: readonly { seq: number }[],
): Promise<string | undefined> {
  signer ??= generateSigningKey('torture.example/byzantine').signer
  const put = (name: string, files: Map<string, Buffer>): string => {
    const d = path.join(workDir, name)
    fs.rmSync(d, { recursive: true, force: true })
    fs.mkdirSync(d, { recursive: true })
    for (const [n, b] of files) fs.writeFileSync(path.join(d, n), b)
    return d
  }
  const lastAcked = Math.max(...acked.map((a) => a.seq))
  const tree = await logTree(put('as-written', written))
  let size = 0
  while (size < tree.size && tree.lastSeq[size]! <= lastAcked) size++
  const note = signCheckpoint(
    { origin: logOrigin('torture', '0'.repeat(32)), size, root: rootAt(tree, size), extensions: [] },
    [signer],
  )
  const verifier = noteVerifier(signer.name, signer.type, signer.publicKey)
  const rep = await verifySigned(put('recovered', recovered), { keys: [verifier], checkpoint: note })
  return rep.checkpoint?.contained === false
    ? undefined
    : `verify found the recovered log to contain the signed tree of size ${size}`
}

/** A power loss after every op (a later honest sync heals an earlier lie), and a process crash at the end; in op order. */
function crashCases(ops: number): { c: number; policy: CrashPolicy }[] {
  const cases: { c: number; policy: CrashPolicy }[] = [{ c: ops, policy: POLICIES.process! }]
  for (let c = 0; c <= ops; c++) cases.push({ c, policy: POLICIES.dropAll! })
  return cases.sort((a, b) => a.c - b.c)
}

const crashName = (policy: CrashPolicy, c: number, ops: number): string =>
  `${policy === POLICIES.dropAll ? 'power loss' : policy === POLICIES.process ? 'process crash' : `power loss (${describePolicy(policy)})`} after op ${c} of ${ops}`

/**
 * With a mirror, also a seeded power loss that keeps, reorders and tears
 * unsynced writes, after every op (every third in `--quick`): one copy may then
 * show a torn batch the other never got, and open must still resume past every
 * seq either copy shows.
 */
function mirroredCases(ops: number, rng: () => number, every: number): { c: number; policy: CrashPolicy }[] {
  return crashCases(ops).flatMap((x) =>
    x.policy === POLICIES.dropAll && x.c % every === 0 ? [x, { c: x.c, policy: randomPolicy(rng) }] : [x],
  )
}

export const byzantine: Scenario = {
  name: 'ByzantineStorage',
  description:
    'wrong bytes on read, misdirected writes, fsync that reports success and persists nothing: never accepted as valid',
  async run(ctx: IterCtx): Promise<IterResult> {
    const r = emptyResult()
    const dir = path.join(ctx.workDir, 'wal')
    const oracle = makeOracle({ salt: ctx.seed })
    const kind = pick(ctx.rng, ['misread', 'misdirect', 'lying-sync'] as const)
    note(r, `${kind} iterations`)
    const count = int(ctx.rng, 20, ctx.quick ? 80 : 200)
    if (kind === 'misread') {
      const run = await runSim({ dir, oracle, producer: 1, count, rng: ctx.rng, journal: ctx.journal })
      r.acked = run.acks.length
      const fs = SimFs.from(undefined)
      for (const op of run.ops) fs.apply(op)
      const clean = fs.volatileFiles()
      // How many reads does a clean open make?
      const dry = recoverState(clean, dir)
      const reads = dry.counters.calls.get('pread') ?? 0
      for (let k = 1; k <= reads; k++) {
        const o = recoverState(clean, dir, { byzantine: { misreadNth: k, seed: (ctx.seed + k) >>> 0 } })
        r.crashStates++
        const where = `misread on pread #${k} of ${reads} during open: ${o.counters.fired.join('; ')}`
        if (o.error !== undefined) {
          // Refusing is right: as damage (CORRUPT, NOT_A_WAL) or as an unreliable disk (IO: two reads differ).
          if (!['ERR_AUDIT_CORRUPT', 'ERR_AUDIT_NOT_A_WAL', 'ERR_AUDIT_IO'].includes(o.error.code))
            r.failures.push({ message: `open refused with ${o.error.code}: ${o.error.message}`, detail: where })
          note(r, 'misread refused (detected)')
        } else {
          // Open accepted: the disk (real bytes) after it must still hold every acknowledged event.
          const after = o.after.crash(POLICIES.dropAll!, () => 0.5)
          const c = checkLog(parseWal(dirFiles(after, dir)), { oracle, acked: run.acks, allowTail: false })
          if (!c.ok)
            r.failures.push({
              message: `a transient misread during open destroyed acknowledged data: ${c.failures[0]}`,
              detail: `${where}; open reported ${JSON.stringify(o.rec!.tornTail)}`,
            })
          else note(r, 'misread harmless')
        }
        if (r.failures.length > 0) return r
      }
      return r
    }
    const writesOrSyncs = int(ctx.rng, 1, Math.max(2, Math.floor(count / 3)))
    const byz =
      kind === 'misdirect'
        ? {
            misdirectNth: writesOrSyncs,
            misdirectBy: pick(ctx.rng, [-4096, -512, -64, -1, 1, 64, 512]),
            seed: ctx.seed,
          }
        : { lieSyncNth: writesOrSyncs, seed: ctx.seed }
    const run = await runSim({
      dir,
      oracle,
      producer: 1,
      count,
      rng: ctx.rng,
      journal: ctx.journal,
      sim: { byzantine: byz },
    })
    r.acked = run.acks.length
    const rep = new Replayer(undefined, run.ops)
    for (const { c, policy } of crashCases(run.ops.length)) {
      const state = rep.to(c).crash(policy, () => 0.5)
      const res = recoverAndCheck(state, dir, oracle, ackedAt(run.acks, c))
      r.crashStates++
      const where = `${kind} #${writesOrSyncs} ${JSON.stringify(byz)}, then ${crashName(policy, c, run.ops.length)}`
      if (res.outcome.error !== undefined) {
        if (res.outcome.error.code !== 'ERR_AUDIT_CORRUPT' && res.outcome.error.code !== 'ERR_AUDIT_NOT_A_WAL')
          r.failures.push({
            message: `open refused with ${res.outcome.error.code}: ${res.outcome.error.message}`,
            detail: where,
          })
        else note(r, 'refused as corrupt (detected)')
        if (r.failures.length > 0) return r
        continue
      }
      r.recovered += res.records
      const wrong = res.failures.filter(
        (m) => !isMissing(m) && !/before the end .* of the last acknowledged record/.test(m),
      )
      if (wrong.length > 0) {
        r.failures.push({ message: `wrong data accepted as valid: ${wrong[0]}`, detail: where })
        return r
      }
      if (res.failures.length === 0) {
        note(r, 'no acknowledged data affected')
        continue
      }
      // The disk lost an acknowledged tail and left a valid, shorter log: the disk alone cannot tell.
      // A checkpoint kept elsewhere can: the signer read the records back from the page cache (the
      // state every accepted write survives in) and signed the acknowledged tree before the power loss.
      if (kind !== 'lying-sync') {
        note(r, 'acked tail lost (misdirected write: a signer would have refused to sign past it)')
        continue
      }
      const caught = await checkpointCatches(
        ctx.workDir,
        dirFiles(
          rep.to(c).crash(POLICIES.process!, () => 0.5),
          dir,
        ),
        dirFiles(res.outcome.after!.volatileFiles(), dir),
        ackedAt(run.acks, c),
      )
      if (caught === undefined) note(r, 'acked tail lost, caught by the exported checkpoint')
      else {
        r.failures.push({
          message: `an acknowledged tail was lost and the exported checkpoint did not catch it: ${caught}`,
          detail: where,
        })
        return r
      }
    }
    // The same lie with a mirror. Its own generator, so the draws above stay what they were.
    const dirs = [path.join(ctx.workDir, 'wal-m'), path.join(ctx.workDir, 'mirror-m')] as const
    const mrun = await runSim({
      dir: dirs[0],
      mirror: dirs[1],
      oracle,
      producer: 1,
      count,
      rng: mulberry32((ctx.seed ^ 0x6d697272) >>> 0),
      journal: ctx.journal,
      sim: { byzantine: byz },
    })
    r.acked += mrun.acks.length
    const mrep = new Replayer(undefined, mrun.ops)
    // States reopened end to end with the mirror (a writer thread each, ~0.2 s: 2 per iteration, in --quick 1 after
    // a lying sync), among those where the copies disagreed or seqs were lost: there a reused seq would show.
    const sample = mulberry32((ctx.seed ^ 0x73616d70) >>> 0)
    const reopenMax = ctx.quick ? (kind === 'lying-sync' ? 1 : 0) : 2
    const reopen: { c: number; state: Files; why: string }[] = []
    const policyRng = mulberry32((ctx.seed ^ 0x706f6c79) >>> 0)
    for (const { c, policy } of mirroredCases(mrun.ops.length, policyRng, ctx.quick ? 3 : 1)) {
      const fixed = policy === POLICIES.dropAll || policy === POLICIES.process
      const state = mrep.to(c).crash(policy, fixed ? () => 0.5 : policyRng)
      const res = recoverMirroredAndCheck(state, dirs, oracle, ackedAt(mrun.acks, c))
      r.crashStates++
      const where = `with a mirror: ${kind} #${writesOrSyncs} ${JSON.stringify(byz)}, then ${crashName(policy, c, mrun.ops.length)}`
      if (res.refused !== undefined) {
        if (res.refused.code !== 'ERR_AUDIT_CORRUPT' && res.refused.code !== 'ERR_AUDIT_NOT_A_WAL')
          r.failures.push({ message: `open refused with ${res.refused.code}: ${res.refused.message}`, detail: where })
        else
          note(
            r,
            `with a mirror, ${kind}: refused as ${/different histories/.test(res.refused.message) ? 'diverged' : 'damaged'} (detected)`,
          )
      } else if (res.failures.length > 0) {
        r.failures.push({
          message: `with a mirror, after open: ${res.failures[0]}`,
          detail: `${where}; ${res.failures.join(' | ')}`,
          state: { dir: dirs[0], mirror: dirs[1], files: state, acked: ackedAt(mrun.acks, c), salt: ctx.seed },
        })
      } else {
        r.recovered += res.records
        note(
          r,
          `with a mirror, ${kind}: ${res.caughtUp !== undefined ? 'one copy caught up from the other, every receipt kept' : 'every receipt kept'}`,
        )
        if (reopen.length < reopenMax && (res.caughtUp !== undefined || res.lost !== undefined))
          reopen.push({ c, state, why: crashName(policy, c, mrun.ops.length) })
      }
      if (r.failures.length > 0) return r
    }
    for (const { c, state, why } of reopen) {
      const f = await reopenAndAppend({
        state,
        dir: dirs[0],
        mirror: dirs[1],
        oracle,
        ackedBefore: ackedAt(mrun.acks, c),
        producer: 2,
        count: 1 + Math.floor(sample() * 10),
        journal: ctx.journal,
        rng: sample,
      })
      note(r, `with a mirror, ${kind}: reopened end to end`)
      if (f.length > 0) {
        r.failures.push({
          message: `with a mirror, reopen after ${kind}: ${f[0]}`,
          detail: `${kind} #${writesOrSyncs} ${JSON.stringify(byz)}, then ${why}; ${f.join(' | ')}`,
        })
        return r
      }
    }
    return r
  },
}
