// The docs point at what the repository holds: every relative link of README.md, CHANGELOG.md,
// docs/*.md and bench/README.md opens a file that exists (and, with #anchor into a markdown file, a
// heading of it); no link points at a generated report git ignores (an HTML report, a results/local/
// folder: regenerated, never committed); and no doc cites a contract that is not in the repository
// (the team's ARCHITECTURE lives outside it: the contracts are README's Guarantees). No randomness.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))

function docs(): string[] {
  const inDocs = fs
    .readdirSync(path.join(ROOT, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`)
  return ['README.md', 'CHANGELOG.md', 'bench/README.md', ...inDocs].filter((f) => fs.existsSync(path.join(ROOT, f)))
}

/** Markdown link and image targets outside code: [text](target) and ![alt](target). */
function links(md: string): string[] {
  const prose = md.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '')
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!)
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')
}

function anchors(file: string): Set<string> {
  const md = fs.readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  return new Set([...md.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)))
}

test('every relative link of the docs opens a file (and heading) of the repository', () => {
  const broken: string[] = []
  for (const doc of docs()) {
    const text = fs.readFileSync(path.join(ROOT, doc), 'utf8')
    for (const link of links(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue // https:, mailto:
      const [target, anchor] = link.split('#') as [string, string | undefined]
      const file = target === '' ? path.join(ROOT, doc) : path.resolve(path.dirname(path.join(ROOT, doc)), target)
      if (!fs.existsSync(file)) broken.push(`${doc}: ${link} (no such file)`)
      else if (anchor !== undefined && file.endsWith('.md') && !anchors(file).has(anchor))
        broken.push(`${doc}: ${link} (no such heading)`)
      else if (/\.html?$/.test(target) || /\/results\/local\//.test(file))
        broken.push(`${doc}: ${link} (a generated report git ignores)`)
    }
  }
  assert.equal(broken, [], `broken links:\n${broken.join('\n')}`)
})

test('no doc cites a contract that is not in the repository', () => {
  const cites = docs().flatMap((doc) =>
    fs
      .readFileSync(path.join(ROOT, doc), 'utf8')
      .split('\n')
      .flatMap((l, i) => (/\bARCHITECTURE\b/.test(l) ? [`${doc}:${i + 1}: ${l.trim()}`] : [])),
  )
  assert.equal(cites, [], `cites the team's ARCHITECTURE (not in the repository):\n${cites.join('\n')}`)
})

test.run()
