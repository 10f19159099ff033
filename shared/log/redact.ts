/** Masks secrets before anything is logged or stored as an error: Gohan resource bodies carry passwords. */
export const MASK = '****';

/** Field names that hold secrets, at any depth. */
const SECRET_NAME = /pass(word|wd|phrase)?|secret|token|private[_-]?key|credential|api[_-]?key/i;
const masked = (name: string, v: unknown): boolean =>
  SECRET_NAME.test(name) && v !== null && v !== undefined && v !== '';

// "name": "value" pairs inside text, plain JSON or JSON escaped inside a JSON string
// (a Gohan config value's body is escaped JSON). Group 1 keeps everything up to the value.
const SECRET_PAIR = /((\\*)"([^"\\]*)\2"\s*:\s*\2")((?:\\\\|\\(?!")|[^"\\])*)(\2")/g;

/** Masks secrets in text: a JSON document structurally, at every level of nesting; free text by its pairs. */
export function redactText(text: string, depth = 0): string {
  const trimmed = text.trimStart();
  if ((trimmed.startsWith('{') || trimmed.startsWith('[')) && depth < 8) {
    try {
      // Parsed JSON has no cycles: no depth limit on its nesting, only on text inside text.
      return JSON.stringify(redact(JSON.parse(text), -Infinity, (s) => redactText(s, depth + 1)));
    } catch {
      // not JSON after all: fall through to pattern masking
    }
  }
  return text.replace(SECRET_PAIR, (whole, head: string, _q: string, name: string, _value: string, tail: string) =>
    SECRET_NAME.test(name) ? `${head}${MASK}${tail}` : whole,
  );
}

/** A deep copy with secret-named fields masked and strings masked by `text`; `depth` stops at cycles. */
export function redact<T>(value: T, depth = 0, text = (s: string) => redactText(s)): T {
  if (depth > 32) return value;
  if (typeof value === 'string') return text(value) as unknown as T;
  if (Array.isArray(value)) return (value as unknown[]).map((v) => redact(v, depth + 1, text)) as unknown as T;
  if (value instanceof Error) return redactError(value) as unknown as T;
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, masked(k, v) ? MASK : redact(v, depth + 1, text)]),
  ) as T;
}

/** An error whose message and stack carry no secret pairs (the cause chain included). */
export function redactError(err: Error): Error {
  const copy = new Error(redactText(err.message));
  copy.name = err.name;
  if (err.stack) copy.stack = redactText(err.stack);
  if ('cause' in err && err.cause !== undefined) (copy as Error & { cause?: unknown }).cause = redact(err.cause);
  return copy;
}
