/**
 * Which template a claimed job runs: the planner's choice, read again at the revision the planner
 * committed the job at (`Claim.planRevision`). A job does not carry its template id (its shape is
 * the seeds'), so the handler evaluates the handler's section of template_mappings
 * (`/esi-worker/template_mappings` when set, else the shipped file) against the job's
 * `resource_input`, then takes `/config/v2.0/heat_templates/<id>` when present, else the shipped
 * `templates/heat_templates/<id>.yaml`, every key read as it was at that revision: a mapping or a
 * template changed after the plan does not change a planned job (docs/heat-handler.md "Template").
 * It uses the planner's own loading view (planning/view.ts): mappings that hop to other
 * resources are evaluated in rounds.
 */
import { errorMessage } from '../errors';
import { TEMPLATE_MAPPINGS_KEY } from '../keys';
import { chooseTemplate, defaultSchemaIndex, PlanError, type HeatTemplate, type Job } from '../planner';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../store/store';
import { readKeys, type Reader } from '../store/read';
import { shipped, templateMappings } from './planning/templates';
import { evaluateInRounds, LoadingView } from './planning/view';

/** The job's template could not be chosen or loaded: a job failure with a readable message. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
}

export interface JobTemplateOptions {
  templatesRoot?: string;
  /** The revision of the planner's transaction that wrote the job (`Claim.planRevision`). */
  revision: number;
  /** Keys already read (the runner's `ctx.read`): one changed at or before `revision` is used as read. */
  read?: ReadonlyMap<string, KeyValue | undefined>;
}

/** The keys a job's template choice reads whatever the job: read with the claim (JobWork.alsoRead). */
export const TEMPLATE_CHOICE_KEYS: readonly string[] = [TEMPLATE_MAPPINGS_KEY];

/** Every read at one past revision: a key's value is the one it had then (shared/store/read.ts). */
const readingAt = (store: Pick<Store, 'range'>, revision: number): Reader => ({
  range: (prefix: string, opts: RangeOptions = {}): Promise<RangeResult> => store.range(prefix, { ...opts, revision }),
});

/** etcd no longer holds the revision asked for (compacted past it). */
const isCompacted = (e: unknown): boolean => e instanceof Error && /compacted/i.test(e.message);

/**
 * The job's template as the planner chose it. When etcd has been compacted past the plan's
 * revision (a job that waited longer than the cluster keeps history), the keys as they are now:
 * the same choice unless a mapping or template changed meanwhile.
 */
export async function templateOfJob(store: Store, job: Job, opts: JobTemplateOptions): Promise<HeatTemplate> {
  try {
    // A key changed at or before the plan's revision holds the value it had then.
    const current = opts.read?.get(TEMPLATE_MAPPINGS_KEY);
    const known = current && current.modRevision <= opts.revision ? current : undefined;
    return await chooseAt(readingAt(store, opts.revision), job, opts.templatesRoot, known);
  } catch (e) {
    if (!isCompacted(e)) throw e;
    return chooseAt(store, job, opts.templatesRoot, undefined);
  }
}

async function chooseAt(
  source: Reader,
  job: Job,
  templatesRoot: string | undefined,
  mappingsKv: KeyValue | undefined,
): Promise<HeatTemplate> {
  const schema = defaultSchemaIndex();
  const mappings = templateMappings(
    mappingsKv ?? (await readKeys(source, { keys: [TEMPLATE_MAPPINGS_KEY] })).values[0],
    templatesRoot,
  );
  if (mappings instanceof PlanError) throw new JobTemplateError(mappings.message);
  const where = `template_mappings.${job.handler}.${job.resource_type}`;
  const view = new LoadingView(
    schema,
    { type: job.resource_type, id: job.resource_id, previous: undefined },
    false,
    shipped(templatesRoot).templates,
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
    template = await evaluateInRounds(view, source, `choosing the template of job ${job.id}`, () =>
      chooseTemplate(mappings, job.handler, job.resource_type, ctx, templates),
    );
  } catch (e) {
    if (isCompacted(e)) throw e;
    throw new JobTemplateError(`${errorMessage(e)} (job ${job.id})`, { cause: e });
  }
  if (!template) throw new JobTemplateError(`${where} selects no template for job ${job.id}`);
  return template;
}
