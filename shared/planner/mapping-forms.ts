/** Values and forms of the mapping language (./mapping.ts): JSON checks, names for messages, output references. */
import { isPlainObject } from '../encoding/json-object';
import type { JsonObject, JsonValue, Mapping, OutputKeyRef, ResourceRef } from './types';

export const isObject = (v: unknown): v is JsonObject => isPlainObject<JsonValue>(v);
export const short = (m: Mapping): string => {
  const s = JSON.stringify(m) ?? typeof m;
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
};

export const DICT_FORMS: Array<[string, string[]]> = [
  ['constant', ['constant']],
  ['version', ['version']],
  ['if_mapping', ['if_mapping', 'then_mapping', 'else_mapping']],
  ['for_field', ['for_field', 'for_mapping']],
  ['output_key', ['output_key', 'path']],
  ['field', ['field', 'path', 'ignore_missing']],
];

export function outputRef(outputKey: string, ref: ResourceRef): OutputKeyRef {
  return { output_key: outputKey, resource_type: ref.resource_type, resource_id: ref.resource_id };
}

/** Whether a mapping yields a deferred Heat output reference (M form or dict with output_key). */
export function isOutputKeyMapping(m: Mapping): boolean {
  return (typeof m === 'string' && m.startsWith('M')) || (isObject(m) && 'output_key' in m);
}

export function typeName(v: JsonValue | undefined): string {
  if (v === undefined) return 'missing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}

export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  // JSON holds no undefined: an undefined element or member is a missing one.
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => b[i] !== undefined && jsonEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ea = Object.entries(a);
    return ea.length === Object.keys(b).length && ea.every(([k, x]) => b[k] !== undefined && jsonEqual(x, b[k]));
  }
  return false;
}
