// recoverLog in a process of its own, so its peak memory can be measured
// (test/read/cap.test.ts): prints one JSON line with the report's counts and
// this process's maxRSS (process.resourceUsage(), KiB) when it is done.
//   node recover-rss.js <dir> <output>
import { recoverLog } from '../../lib/index.js'

const [dir, output] = process.argv.slice(2)
if (dir === undefined || output === undefined) {
  console.error('usage: recover-rss <dir> <output>')
  process.exit(2)
}
const r = await recoverLog(dir, { output })
console.log(
  JSON.stringify({
    ok: r.ok,
    verified: r.verify.ok,
    intact: r.records.intact,
    lastSeq: r.lastSeq,
    copiedExactly: r.segments.copiedExactly,
    maxRssKiB: process.resourceUsage().maxRSS,
  }),
)
