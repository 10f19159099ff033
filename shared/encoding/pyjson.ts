/** JSON as Python's json.dumps writes it (the original workers', Gohan's and the seeds' format). */
export function pyDumps(v: unknown, opts: { sortKeys?: boolean } = {}): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return asciiString(v);
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map((x) => pyDumps(x, opts)).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
    if (opts.sortKeys) entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${asciiString(k)}: ${pyDumps(x, opts)}`).join(', ')}}`;
  }
  throw new TypeError(`cannot encode a ${typeof v}`);
}

function asciiString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
