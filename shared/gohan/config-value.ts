/** Gohan's /config value: `body` escaped JSON on the wire, already decoded in the seeds; both accepted. */
import { isPlainObject, parseJsonObject } from '../encoding/json-object';

export type ConfigValue = { body: Record<string, unknown>; version: number; markedForDeletion: boolean };

type Parsed = { ok: true; value: ConfigValue } | { ok: false; error: string };
const fail = (error: string): Parsed => ({ ok: false, error });

/** Parses a raw /config value. Never throws; the error says what is wrong without quoting the value. */
export function parseConfigValue(raw: string): Parsed {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return fail(`config value is not JSON (${raw.length} bytes)`);
  }
  if (!isPlainObject(v)) return fail('config value is not a JSON object');
  const { version, marked_for_deletion: deleted } = v;
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
    return fail('config value has no valid "version" (a positive integer is required)');
  let body = v.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return fail(`config body is a string but not JSON (version ${version})`);
    }
  }
  if (!isPlainObject(body)) return fail(`config value has no "body" object (version ${version})`);
  if (deleted !== undefined && typeof deleted !== 'boolean')
    return fail(`config "marked_for_deletion" is not a boolean (version ${version})`);
  return { ok: true, value: { body, version, markedForDeletion: deleted === true } };
}

/** The integer `version` of a JSON value (config, mirror, /state, /monitoring); undefined when none. */
export function versionOf(raw: string): number | undefined {
  const v = parseJsonObject(raw).version;
  return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
}

const sortedKeys = (_key: string, v: unknown): unknown =>
  isPlainObject(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1))) : v;

/** Gohan's wire encoding (Go encoding/json: compact, keys sorted, body as an escaped string). */
export function encodeGohanConfigValue(body: Record<string, unknown>, version: number, markedForDeletion = false) {
  return JSON.stringify({ body: JSON.stringify(body, sortedKeys), marked_for_deletion: markedForDeletion, version });
}
