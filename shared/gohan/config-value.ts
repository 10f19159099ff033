/**
 * Gohan's /config value. On the wire: {"body":"<escaped JSON string>","marked_for_deletion":bool,
 * "version":N}; the spec's seeds show `body` already decoded. Both are accepted.
 */

export interface ConfigValue {
  body: Record<string, unknown>;
  version: number;
  markedForDeletion: boolean;
}

/** Parses a raw /config value. Never throws; the error says what is wrong without quoting the value. */
export function parseConfigValue(raw: string): { ok: true; value: ConfigValue } | { ok: false; error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    return { ok: false, error: `config value is not JSON (${raw.length} bytes)` };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    return { ok: false, error: 'config value is not a JSON object' };
  const v = doc as Record<string, unknown>;
  if (typeof v.version !== 'number' || !Number.isInteger(v.version) || v.version < 1) {
    return { ok: false, error: 'config value has no valid "version" (a positive integer is required)' };
  }
  let body = v.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return { ok: false, error: `config body is a string but not JSON (version ${v.version})` };
    }
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { ok: false, error: `config value has no "body" object (version ${v.version})` };
  }
  if (v.marked_for_deletion !== undefined && typeof v.marked_for_deletion !== 'boolean') {
    return { ok: false, error: `config "marked_for_deletion" is not a boolean (version ${v.version})` };
  }
  const value = {
    body: body as Record<string, unknown>,
    version: v.version,
    markedForDeletion: v.marked_for_deletion === true,
  };
  return { ok: true, value };
}

/** The integer `version` of a JSON value (config, mirror, /state, /monitoring); undefined when none. */
export function versionOf(raw: string): number | undefined {
  try {
    const v = (JSON.parse(raw) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Gohan's wire encoding (Go encoding/json: compact, keys sorted, body as an escaped string). */
export function encodeGohanConfigValue(
  body: Record<string, unknown>,
  version: number,
  markedForDeletion = false,
): string {
  return JSON.stringify({ body: JSON.stringify(sortKeys(body)), marked_for_deletion: markedForDeletion, version });
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]),
    );
  }
  return v;
}
