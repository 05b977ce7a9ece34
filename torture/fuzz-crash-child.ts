/**
 * The process the Fuzz bases SIGKILL: it opens a sink at argv[2], emits the
 * events fuzz-bases.ts describes for (argv[3] = base seed, argv[4] = count) in
 * concurrent groups, writes "A\n" when every emit resolved (each one durable),
 * then waits to be killed. The log it leaves is a real crash state: an
 * unsealed last segment, usually with zero-ahead space after its last batch.
 */

import { AuditSink } from '../lib/index.js'
import { emitGroups } from './fuzz-bases.js'

const [dir, seedArg, countArg, segArg] = process.argv.slice(2)
const sink = await AuditSink.open({
  dir: dir!,
  segmentBytesMax: Number(segArg),
  batchBytesMax: 4096,
  eventBytesMax: 2048,
})
await emitGroups(sink, Number(seedArg), Number(countArg))
process.stdout.write('A\n')
setInterval(() => {}, 1 << 30)
