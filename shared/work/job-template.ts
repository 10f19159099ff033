/**
 * Which template a claimed job runs: the planner's choice made again with every key read as it was at
 * the job's plan revision, so a later change does not change a planned job (docs/heat-handler.md).
 */
import { errorMessage } from '../errors';
import { TEMPLATE_MAPPINGS_KEY } from '../keys';
import { chooseTemplate, defaultSchemaIndex, PlanError, type HeatTemplate, type Job } from '../planner';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../store/store';
import { readKeys, type Reader } from '../store/read';
import { templateMappings } from './planning/templates';
import { evaluateInRounds, LoadingView } from './planning/view';
import { isPrepareFailure } from '../heat';
import type { JobWork, WorkContext } from './job-work';

/** The job's template could not be chosen or loaded: a job failure. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
}

interface JobTemplateOptions {
  /** The revision of the planner's transaction that wrote the job. */
  revision: number;
  /** Keys already read (the runner's `ctx.read`): one changed at or before `revision` is used as read. */
  read?: ReadonlyMap<string, KeyValue | undefined> | undefined;
}

/** What the heat and monitoring work share: the key read with the claim, and their jobs' own failures. */
export const templatedWork: Pick<JobWork, 'alsoRead' | 'isJobFailure'> = {
  alsoRead: [TEMPLATE_MAPPINGS_KEY],
  isJobFailure: (e) => isPrepareFailure(e) || e instanceof JobTemplateError,
};

/** Every read at one past revision: a key's value is the one it had then. */
const readingAt = (store: Pick<Store, 'range'>, revision: number): Reader => ({
  range: (prefix: string, opts: RangeOptions = {}): Promise<RangeResult> => store.range(prefix, { ...opts, revision }),
});

const isCompacted = (e: unknown): boolean => e instanceof Error && /compacted/i.test(e.message);

/** The job's template as the planner chose it; compacted past the revision: the keys as they are now. */
export async function templateOfJob(store: Store, job: Job, opts: JobTemplateOptions): Promise<HeatTemplate> {
  try {
    const current = opts.read?.get(TEMPLATE_MAPPINGS_KEY);
    const known = current && current.modRevision <= opts.revision ? current : undefined;
    return await chooseAt(readingAt(store, opts.revision), job, known);
  } catch (e) {
    if (!isCompacted(e)) throw e;
    return chooseAt(store, job, undefined);
  }
}

async function chooseAt(source: Reader, job: Job, mappingsKv: KeyValue | undefined): Promise<HeatTemplate> {
  const schema = defaultSchemaIndex();
  const mappings = templateMappings(
    mappingsKv ?? (await readKeys(source, { keys: [TEMPLATE_MAPPINGS_KEY] })).values[0],
  );
  if (mappings instanceof PlanError) throw new JobTemplateError(mappings.message);
  const view = new LoadingView(schema, { type: job.resource_type, id: job.resource_id, previous: undefined }, false);
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
    template = await evaluateInRounds(view, source, `choosing the template of job ${job.id}`, () =>
      chooseTemplate(mappings, job.handler, job.resource_type, ctx, templates),
    );
  } catch (e) {
    if (isCompacted(e)) throw e;
    throw new JobTemplateError(`${errorMessage(e)} (job ${job.id})`, { cause: e });
  }
  if (!template)
    throw new JobTemplateError(
      `template_mappings.${job.handler}.${job.resource_type} selects no template for job ${job.id}`,
    );
  return template;
}

/** The template of the job a work context runs. */
export const templateOfWork = (ctx: WorkContext): Promise<HeatTemplate> =>
  templateOfJob(ctx.store, ctx.job, { revision: ctx.claim.planRevision, read: ctx.read });
