/** A JSON object: not null, not an array (the one such check; `T` types its values where the caller knows them). */
export const isPlainObject = <T = unknown>(v: unknown): v is Record<string, T> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A JSON object from text, or {} when the text is not JSON or not an object (values written by us, read leniently). */
export function parseJsonObject(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return isPlainObject(v) ? v : {};
  } catch {
    return {};
  }
}
