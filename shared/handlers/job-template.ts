/**
 * Which template a claimed job runs. A job does not carry its template id (its shape is the
 * seeds'), so the handler chooses it the way the planner did: the handler's section of
 * template_mappings (`/esi-worker/template_mappings` when set, else the shipped file) evaluated
 * against the job's `resource_input`, then `/config/v2.0/heat_templates/<id>` when present, else
 * the shipped `templates/heat_templates/<id>.yaml`. Same loaders and caches as the planner
 * (planning-inputs.ts).
 *
 * Mappings that hop to other resources (`F`, `M` forms) are evaluated in rounds like the planner
 * does: what the evaluation asked for is read from /config, and it runs again.
 */
import { parseConfigValue, type ConfigValue } from '../gohan/config-value';
import { CONFIG_PREFIX, keys, TEMPLATE_MAPPINGS_KEY } from '../keys';
import { defaultSchemaIndex, evaluateValue, PlanError, templateMappingFor, type HeatTemplate, type Job, type JsonObject } from '../planner';
import { read, type KeyValue, type Store } from '../store/store';
import { parseEtcdTemplate, shipped, templateMappings } from './planning-inputs';

const MAX_ROUNDS = 8;

/** The job's template could not be chosen or loaded: a job failure with a readable message. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
}

export interface JobTemplateOptions {
  templatesRoot?: string;
}

export async function templateOfJob(store: Store, job: Job, opts: JobTemplateOptions = {}): Promise<HeatTemplate> {
  const schema = defaultSchemaIndex();
  const mappingsKv = await store.get(TEMPLATE_MAPPINGS_KEY);
  const mappings = templateMappings(mappingsKv, opts.templatesRoot);
  if (mappings instanceof PlanError) throw new JobTemplateError(mappings.message);
  const where = `template_mappings.${job.handler}.${job.resource_type}`;
  const mapping = templateMappingFor(mappings, job.handler, job.resource_type);
  if (mapping === undefined || mapping === null) throw new JobTemplateError(`${where} selects no template for job ${job.id}`);

  const loaded = new Map<string, KeyValue | undefined>();
  const missing = new Set<string>();
  const configKey = (type: string, id: string): string | undefined => {
    const prefix = schema.prefix(type);
    return prefix ? `${CONFIG_PREFIX.slice(0, -1)}${prefix}/${id}` : undefined;
  };
  const view = {
    resource(type: string, id: string): ConfigValue | undefined {
      const key = configKey(type, id);
      if (!key) return undefined;
      if (!loaded.has(key)) {
        missing.add(key);
        return undefined;
      }
      const kv = loaded.get(key);
      if (!kv) return undefined;
      const v = parseConfigValue(kv.value);
      return v.ok ? v.value : undefined;
    },
  };
  const ctx = { self: { resource_type: job.resource_type, resource_id: job.resource_id }, body: (job.resource_input ?? {}) as JsonObject, version: job.version, view, schema };

  let templateId: unknown;
  for (let round = 0; ; round++) {
    let error: unknown;
    try {
      templateId = evaluateValue(where, mapping, ctx).value;
    } catch (e) {
      error = e;
    }
    if (missing.size && round < MAX_ROUNDS) {
      const wanted = [...missing];
      missing.clear();
      const got = (await store.txn().then(...wanted.map((k) => read(k))).commit()).reads;
      wanted.forEach((k, i) => loaded.set(k, got[i]));
      continue;
    }
    if (error) throw new JobTemplateError(`${where}: ${(error as Error).message}`);
    break;
  }
  if (typeof templateId !== 'string' || !templateId) throw new JobTemplateError(`${where} yields ${JSON.stringify(templateId)} for job ${job.id}, not a template id`);

  const kv = await store.get(keys.heatTemplate(templateId));
  const fromEtcd = kv ? parseEtcdTemplate(templateId, kv) : undefined;
  if (fromEtcd instanceof PlanError) throw new JobTemplateError(fromEtcd.message);
  const shippedTemplates = shipped(opts.templatesRoot).templates;
  const template = fromEtcd ?? (Object.prototype.hasOwnProperty.call(shippedTemplates, templateId) ? shippedTemplates[templateId] : undefined);
  if (!template) throw new JobTemplateError(`${where} selects template "${templateId}", which does not exist`);
  if (template.handler !== job.handler) throw new JobTemplateError(`${where} selects template "${templateId}", whose handler is "${template.handler}", not "${job.handler}"`);
  return template;
}
