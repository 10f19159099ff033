/** The shipped heat templates and template_mappings, and the etcd overrides, parsed and cached per process. */
import YAML from 'yaml';
import { parseConfigValue } from '../../gohan/config-value';
import { TEMPLATE_MAPPINGS_KEY } from '../../keys';
import { PlanError, parseTemplateMappings, type HeatTemplate, type TemplateMappings } from '../../planner';
import type { KeyValue } from '../../store/store';
import { loadTemplates, toHeatTemplate } from '../../templates/load';

interface Shipped {
  templates: Record<string, HeatTemplate>;
  mappings: TemplateMappings;
}
const shippedCache = new Map<string, Shipped>();

export function shipped(root: string | undefined): Shipped {
  const k = root ?? '';
  let s = shippedCache.get(k);
  if (!s) {
    const loaded = loadTemplates(root);
    if (!loaded.templateMappings) throw new Error(`${root ?? 'templates'}/template_mappings.yaml is missing`);
    s = { templates: loaded.templates, mappings: parseTemplateMappings(loaded.templateMappings) };
    shippedCache.set(k, s);
  }
  return s;
}

/** Parsed etcd values, reused while the key's mod revision is the same. */
const parsedTemplates = new Map<string, { modRevision: number; parsed: HeatTemplate | PlanError | undefined }>();
let parsedMappings: { modRevision: number; parsed: TemplateMappings | PlanError } | undefined;

/** A heat template value from etcd: a Gohan config value whose body is the template; undefined while deleted. */
export function parseEtcdTemplate(id: string, kv: KeyValue): HeatTemplate | PlanError | undefined {
  const cached = parsedTemplates.get(kv.key);
  if (cached?.modRevision === kv.modRevision) return cached.parsed;
  let parsed: HeatTemplate | PlanError | undefined;
  const v = parseConfigValue(kv.value);
  if (!v.ok)
    parsed = new PlanError(`heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is unreadable: ${v.error}`);
  else if (v.value.markedForDeletion) parsed = undefined;
  else {
    try {
      parsed = toHeatTemplate(v.value.body, kv.key, id);
    } catch (e) {
      parsed = new PlanError(
        `heat template "${id}" at ${kv.key} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  parsedTemplates.set(kv.key, { modRevision: kv.modRevision, parsed });
  return parsed;
}

export function templateMappings(kv: KeyValue | undefined, root: string | undefined): TemplateMappings | PlanError {
  if (!kv) return shipped(root).mappings;
  if (parsedMappings?.modRevision === kv.modRevision) return parsedMappings.parsed;
  let parsed: TemplateMappings | PlanError;
  try {
    parsed = parseTemplateMappings(YAML.parse(kv.value));
  } catch (e) {
    parsed = new PlanError(
      `template_mappings override at ${TEMPLATE_MAPPINGS_KEY} (revision ${kv.modRevision}) is invalid: ${(e as Error).message}`,
      { cause: e },
    );
  }
  parsedMappings = { modRevision: kv.modRevision, parsed };
  return parsed;
}
