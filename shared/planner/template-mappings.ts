/** template_mappings: each handler's template for a resource, and the order of its jobs (docs/templates.md). */
import { isPlainObject } from '../encoding/json-object';
import { JOB_ACTIONS, JOB_HANDLERS, type ChainStep, type JsonValue, type TemplateMappings } from './types';

export class TemplateMappingsError extends Error {
  override name = 'TemplateMappingsError';
}

/** A step's optional fields, in the order they are copied: whether a value is valid, and what it must be. */
const STEP_FIELDS: Array<[keyof ChainStep, (v: JsonValue) => boolean, string]> = [
  ['action', (v) => (JOB_ACTIONS as readonly JsonValue[]).includes(v), `must be one of ${JOB_ACTIONS.join(', ')}`],
  ['on_failure', (v) => v === 'fail' || v === 'ignore', 'must be fail or ignore'],
  ['params_from', (v) => v === 'current' || v === 'previous', 'must be current or previous'],
  ['for_actions', (v) => Array.isArray(v) && v.every((a) => typeof a === 'string'), 'must be a list of actions'],
];

/** Validates a parsed document (YAML or the record's JSON): every top-level key but `chains` is a handler section. */
export function parseTemplateMappings(doc: unknown): TemplateMappings {
  if (!isPlainObject<JsonValue>(doc))
    throw new TemplateMappingsError('template_mappings must be an object of handler sections');
  const handlers: TemplateMappings['handlers'] = {};
  const chains: TemplateMappings['chains'] = {};
  for (const [key, section] of Object.entries(doc)) {
    if (key === 'chains') continue;
    if (!isPlainObject<JsonValue>(section))
      throw new TemplateMappingsError(`handler section "${key}" must be an object of resource type → mapping`);
    handlers[key] = section;
  }
  const rawChains = doc.chains ?? {};
  if (!isPlainObject<JsonValue>(rawChains))
    throw new TemplateMappingsError('"chains" must be an object of resource type → list of steps');
  for (const [type, steps] of Object.entries(rawChains)) {
    if (!Array.isArray(steps) || steps.length === 0)
      throw new TemplateMappingsError(`chains.${type} must be a non-empty list of steps`);
    chains[type] = steps.map((s, i) => parseStep(s, `chains.${type}[${i}]`, handlers));
  }
  return { handlers, chains };
}

function parseStep(raw: unknown, where: string, handlers: Record<string, unknown>): ChainStep {
  if (!isPlainObject<JsonValue>(raw)) throw new TemplateMappingsError(`${where} must be an object`);
  const unknown = Object.keys(raw).filter((k) => k !== 'handler' && !STEP_FIELDS.some(([f]) => f === k));
  if (unknown.length) throw new TemplateMappingsError(`${where}: unknown key(s) ${unknown.join(', ')}`);
  const { handler } = raw;
  if (typeof handler !== 'string' || !handler)
    throw new TemplateMappingsError(`${where}: "handler" must be a handler name`);
  if (!(handler in handlers))
    throw new TemplateMappingsError(`${where}: handler "${handler}" has no section in template_mappings`);
  if (!(JOB_HANDLERS as readonly string[]).includes(handler))
    throw new TemplateMappingsError(`${where}: handler "${handler}" is not one of ${JOB_HANDLERS.join(', ')}`);
  const step: Record<string, JsonValue> = { handler };
  for (const [field, valid, must] of STEP_FIELDS) {
    if (raw[field] === undefined) continue;
    if (!valid(raw[field])) throw new TemplateMappingsError(`${where}: "${field}" ${must}`);
    step[field] = raw[field];
  }
  return step as unknown as ChainStep;
}
