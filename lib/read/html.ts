/** Text made safe inside HTML and SVG elements and double-quoted attributes (the reports of bench/ and torture/). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ENTITIES[c]!)
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }
