/**
 * Which template a claimed job runs: the planner's choice made again with every key read as it
 * was at the job's plan revision (`Claim.planRevision`), so a later change does not change a
 * planned job (docs/heat-handler.md "Template"). Uses the planner's loading view (rounds).
 */
import { errorMessage } from '../errors';
import { TEMPLATE_MAPPINGS_KEY } from '../keys';
import { chooseTemplate, defaultSchemaIndex, PlanError, type HeatTemplate, type Job } from '../planner';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../store/store';
import { readKeys, type Reader } from '../store/read';
import { shipped, templateMappings } from './planning/templates';
import { evaluateInRounds, LoadingView } from './planning/view';
import { isPrepareFailure } from '../heat';
import type { JobWork, WorkContext } from './job-work';
import { definedOnly } from '../defined-only';

/** The job's template could not be chosen or loaded: a job failure. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
}

interface JobTemplateOptions {
  templatesRoot?: string;
  /** The revision of the planner's transaction that wrote the job. */
  revision: number;
  /** Keys already read (the runner's `ctx.read`): one changed at or before `revision` is used as read. */
  read?: ReadonlyMap<string, KeyValue | undefined>;
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
  const self = { type: job.resource_type, id: job.resource_id, previous: undefined };
  const view = new LoadingView(schema, self, false, shipped(templatesRoot).templates);
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
  if (!template) throw new JobTemplateError(`${where} selects no template for job ${job.id}`);
  return template;
}

/** The template of the job a work context runs. */
export const templateOfWork = (ctx: WorkContext, templatesRoot: string | undefined): Promise<HeatTemplate> =>
  templateOfJob(ctx.store, ctx.job, definedOnly({ templatesRoot, revision: ctx.claim.planRevision, read: ctx.read }));
