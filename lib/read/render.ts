/**
 * Message templates (the mtlog / Serilog syntax) rendered to text.
 *
 *   'User {UserId} moved {@Cart} to {Target,10} at {When:HH:mm}'
 *          └ name  └ @ destructure └ alignment └ format (kept, not applied)
 *
 * Rules, documented in docs/cli.md ("Rendering"):
 * - `{Name}` is replaced by the property's value: a string as is (unquoted),
 *   a number, boolean or null as JSON writes it, an array or object as
 *   compact JSON.
 * - `{@Name}` (destructure) and `{$Name}` (stringify) name the same property;
 *   the stored value is already data (JSON), so both render it as above: a
 *   structure as compact JSON, a scalar as itself. The operator never becomes
 *   part of the property name.
 * - `{Name,N}` / `{Name,-N}` pad the text to N characters (right / left aligned).
 *   `{Name:format}` is accepted; the format is not applied (there is no .NET
 *   formatter here) and the value renders as above.
 * - `{{` and `}}` are literal braces.
 * - A property that is missing stays as written (`{Name}`), and so does
 *   anything that is not a valid hole (`{not a name}`, an unclosed `{`).
 */

export type TemplateToken =
  | { kind: 'text'; text: string }
  | {
      kind: 'hole'
      raw: string
      name: string
      operator: '' | '@' | '$'
      alignment: number | undefined
      format: string | undefined
    }

const HOLE = /^([@$]?)([A-Za-z0-9_]+)(?:,(-?\d+))?(?::([^{}]*))?$/

/** Split a template into text and holes. Never throws. */
export function parseTemplate(template: string): TemplateToken[] {
  const tokens: TemplateToken[] = []
  let text = ''
  let i = 0
  while (i < template.length) {
    const c = template[i]!
    if (c === '{' && template[i + 1] === '{') {
      text += '{'
      i += 2
      continue
    }
    if (c === '}' && template[i + 1] === '}') {
      text += '}'
      i += 2
      continue
    }
    if (c === '{') {
      const close = template.indexOf('}', i + 1)
      const inner = close === -1 ? undefined : template.slice(i + 1, close)
      const m = inner === undefined || inner.includes('{') ? null : HOLE.exec(inner)
      if (m === null) {
        text += c
        i++
        continue
      }
      if (text !== '') tokens.push({ kind: 'text', text })
      text = ''
      tokens.push({
        kind: 'hole',
        raw: template.slice(i, close + 1),
        name: m[2]!,
        operator: (m[1] ?? '') as '' | '@' | '$',
        alignment: m[3] === undefined ? undefined : Number(m[3]),
        format: m[4],
      })
      i = close + 1
      continue
    }
    text += c
    i++
  }
  if (text !== '') tokens.push({ kind: 'text', text })
  return tokens
}

/** A property value as message text (see the header comment). */
export function renderValue(value: unknown): string {
  if (typeof value === 'string') return value
  if (value === undefined) return ''
  return JSON.stringify(value)
}

function align(s: string, alignment: number | undefined): string {
  if (alignment === undefined) return s
  return alignment < 0 ? s.padEnd(-alignment) : s.padStart(alignment)
}

// Templates repeat: a small cache of parsed ones keeps replay of millions of events cheap.
const cache = new Map<string, TemplateToken[]>()
const CACHE_ENTRIES_MAX = 1024

/** Render a message template with its properties. */
export function renderTemplate(template: string, properties: Record<string, unknown> = {}): string {
  let tokens = cache.get(template)
  if (tokens === undefined) {
    tokens = parseTemplate(template)
    if (cache.size >= CACHE_ENTRIES_MAX) cache.clear()
    cache.set(template, tokens)
  }
  let out = ''
  for (const t of tokens) {
    if (t.kind === 'text') out += t.text
    else if (Object.prototype.hasOwnProperty.call(properties, t.name))
      out += align(renderValue(properties[t.name]), t.alignment)
    else out += t.raw
  }
  return out
}
