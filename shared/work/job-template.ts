/**
 * Which template a claimed job runs. A job does not carry its template id (its shape is the
 * seeds'), so the handler chooses it the way the planner did: the handler's section of
 * template_mappings (`/esi-worker/template_mappings` when set, else the shipped file) evaluated
 * against the job's `resource_input`, then `/config/v2.0/heat_templates/<id>` when present, else
 * the shipped `templates/heat_templates/<id>.yaml`. It uses the planner's own loading view
 * (planning-inputs.ts): mappings that hop to other resources are evaluated in rounds, and the
 * template is read from etcd over the shipped set, with the same caches.
 */
import { TEMPLATE_MAPPINGS_KEY } from '../keys';
import { chooseTemplate, defaultSchemaIndex, PlanError, type HeatTemplate, type Job } from '../planner';
import type { KeyValue, Store } from '../store/store';
import { evaluateInRounds, LoadingView, shipped, templateMappings } from './planning-inputs';

/** The job's template could not be chosen or loaded: a job failure with a readable message. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
}

export interface JobTemplateOptions {
  templatesRoot?: string;
  /** Keys already read (the runner's `ctx.read`): template_mappings is taken from here when it was read. */
  read?: ReadonlyMap<string, KeyValue | undefined>;
}

/** The keys a job's template choice reads whatever the job: read with the claim (JobWork.alsoRead). */
export const TEMPLATE_CHOICE_KEYS: readonly string[] = [TEMPLATE_MAPPINGS_KEY];

export async function templateOfJob(store: Store, job: Job, opts: JobTemplateOptions = {}): Promise<HeatTemplate> {
  const schema = defaultSchemaIndex();
  const mappingsKv = opts.read?.has(TEMPLATE_MAPPINGS_KEY)
    ? opts.read.get(TEMPLATE_MAPPINGS_KEY)
    : await store.get(TEMPLATE_MAPPINGS_KEY);
  const mappings = templateMappings(mappingsKv, opts.templatesRoot);
  if (mappings instanceof PlanError) throw new JobTemplateError(mappings.message);
  const where = `template_mappings.${job.handler}.${job.resource_type}`;
  const view = new LoadingView(
    schema,
    { type: job.resource_type, id: job.resource_id, previous: undefined },
    false,
    shipped(opts.templatesRoot).templates,
  );
  const templates = view.templateRecord();
  const ctx = {
    self: { resource_type: job.resource_type, resource_id: job.resource_id },
    body: job.resource_input ?? {},
    version: job.version,
    view,
    schema,
  };

  let template: HeatTemplate | undefined;
  try {
    // The planner's own choice and checks, re-run when the view has read more keys.
    template = await evaluateInRounds(view, store, `choosing the template of job ${job.id}`, () =>
      chooseTemplate(mappings, job.handler, job.resource_type, ctx, templates),
    );
  } catch (e) {
    throw new JobTemplateError(`${(e as Error).message} (job ${job.id})`, { cause: e });
  }
  if (!template) throw new JobTemplateError(`${where} selects no template for job ${job.id}`);
  return template;
}
