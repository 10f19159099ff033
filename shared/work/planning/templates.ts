/** The shipped heat templates and template_mappings, and the etcd overrides, parsed and cached per process. */
import YAML from 'yaml';
import { parseConfigValue } from '../../gohan/config-value';
import { PlanError, parseTemplateMappings, type HeatTemplate, type TemplateMappings } from '../../planner';
import type { KeyValue } from '../../store/store';
import { loadTemplates, toHeatTemplate } from '../../templates/load';

let shippedCache: { templates: Record<string, HeatTemplate>; mappings: TemplateMappings } | undefined;

export function shipped(): NonNullable<typeof shippedCache> {
  if (!shippedCache) {
    const loaded = loadTemplates();
    if (!loaded.templateMappings) throw new Error('templates/template_mappings.yaml is missing');
    shippedCache = { templates: loaded.templates, mappings: parseTemplateMappings(loaded.templateMappings) };
  }
  return shippedCache;
}

/** Parsed etcd values, reused while the key's mod revision is the same. */
const parsedCache = new Map<string, { modRevision: number; parsed: unknown }>();

function cachedParse<T>(kv: KeyValue, what: string, parse: () => T): T | PlanError {
  const cached = parsedCache.get(kv.key);
  if (cached?.modRevision === kv.modRevision) return cached.parsed as T | PlanError;
  let parsed: T | PlanError;
  try {
    parsed = parse();
  } catch (e) {
    const message = `${what} at ${kv.key} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`;
    parsed = new PlanError(message, { cause: e });
  }
  parsedCache.set(kv.key, { modRevision: kv.modRevision, parsed });
  return parsed;
}

/** A heat template value from etcd: a Gohan config value whose body is the template; undefined while deleted. */
export const parseEtcdTemplate = (id: string, kv: KeyValue): HeatTemplate | PlanError | undefined =>
  cachedParse(kv, `heat template "${id}"`, () => {
    const v = parseConfigValue(kv.value);
    if (!v.ok)
      return new PlanError(`heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
    return v.value.markedForDeletion ? undefined : toHeatTemplate(v.value.body, kv.key, id);
  });

export function templateMappings(kv: KeyValue | undefined): TemplateMappings | PlanError {
  if (!kv) return shipped().mappings;
  return cachedParse(kv, 'template_mappings override', () => parseTemplateMappings(YAML.parse(kv.value)));
}
