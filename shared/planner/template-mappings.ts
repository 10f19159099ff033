/**
 * template_mappings: which template (if any) each handler uses for a resource, and in which
 * order the handlers' jobs run (the chain). Format: docs/templates.md.
 */
import { isPlainObject } from '../encoding/json-object';
import {
  JOB_ACTIONS,
  JOB_HANDLERS,
  type ChainStep,
  type JsonValue,
  type Mapping,
  type TemplateMappings,
} from './types';

export class TemplateMappingsError extends Error {
  override name = 'TemplateMappingsError';
}

/** The chain used for a resource type that has no entry of its own and no `default`. */
export const BUILTIN_DEFAULT_CHAIN: ChainStep[] = [{ handler: 'heat_worker' }];

const STEP_KEYS = new Set(['handler', 'action', 'on_failure', 'params_from', 'for_actions']);

/**
 * Validates a parsed template_mappings document (YAML or the record's JSON). Every top-level key
 * except `chains` is a handler section. Throws TemplateMappingsError naming the bad entry.
 */
export function parseTemplateMappings(doc: unknown): TemplateMappings {
  if (!isPlainObject<JsonValue>(doc))
    throw new TemplateMappingsError('template_mappings must be an object of handler sections');
  const handlers: Record<string, Record<string, Mapping>> = {};
  const chains: Record<string, ChainStep[]> = {};
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
  const unknown = Object.keys(raw).filter((k) => !STEP_KEYS.has(k));
  if (unknown.length) throw new TemplateMappingsError(`${where}: unknown key(s) ${unknown.join(', ')}`);
  const { handler, action, on_failure, params_from, for_actions } = raw;
  if (typeof handler !== 'string' || !handler)
    throw new TemplateMappingsError(`${where}: "handler" must be a handler name`);
  if (!(handler in handlers))
    throw new TemplateMappingsError(`${where}: handler "${handler}" has no section in template_mappings`);
  if (!(JOB_HANDLERS as readonly string[]).includes(handler))
    throw new TemplateMappingsError(`${where}: handler "${handler}" is not one of ${JOB_HANDLERS.join(', ')}`);
  const step: ChainStep = { handler };
  if (action !== undefined) {
    if (typeof action !== 'string' || !(JOB_ACTIONS as readonly string[]).includes(action))
      throw new TemplateMappingsError(`${where}: "action" must be one of ${JOB_ACTIONS.join(', ')}`);
    step.action = action;
  }
  if (on_failure !== undefined) {
    if (on_failure !== 'fail' && on_failure !== 'ignore')
      throw new TemplateMappingsError(`${where}: "on_failure" must be fail or ignore`);
    step.on_failure = on_failure;
  }
  if (params_from !== undefined) {
    if (params_from !== 'current' && params_from !== 'previous')
      throw new TemplateMappingsError(`${where}: "params_from" must be current or previous`);
    step.params_from = params_from;
  }
  if (for_actions !== undefined) {
    if (!Array.isArray(for_actions) || !for_actions.every((a) => typeof a === 'string')) {
      throw new TemplateMappingsError(`${where}: "for_actions" must be a list of actions`);
    }
    step.for_actions = for_actions;
  }
  return step;
}

/** The chain for a resource type: its own, else `default`, else one heat_worker step. */
export function chainFor(mappings: TemplateMappings, resourceType: string): ChainStep[] {
  return mappings.chains[resourceType] ?? mappings.chains.default ?? BUILTIN_DEFAULT_CHAIN;
}

/** The template-id mapping of a handler for a type; undefined when the type is not listed. */
export function templateMappingFor(
  mappings: TemplateMappings,
  handler: string,
  resourceType: string,
): Mapping | undefined {
  const section = mappings.handlers[handler];
  if (!section || !Object.prototype.hasOwnProperty.call(section, resourceType)) return undefined;
  return section[resourceType];
}
