/**
 * What the heat and monitoring work share: a claimed job's template (the planner's choice made again at the
 * job's plan revision, so a later change changes no planned job: docs/heat-handler.md) and stack outputs.
 */
import { errorMessage } from '../errors';
import { keys, TEMPLATE_MAPPINGS_KEY } from '../keys';
import { chooseTemplate, defaultSchemaIndex, PlanError, type HeatTemplate, type Job } from '../planner';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../store/store';
import { readKeys, readValues, type Reader } from '../store/read';
import { evaluateInRounds, LoadingView, templateMappings } from './planning/view';
import { isPrepareFailure, parseStackRecord, type HeatOutput } from '../heat';
import { outputTargets } from '../jobs/referencing-index';
import { pathOfSingular } from '../resource-path';
import type { JobWork, WorkContext } from './job-work';

/** The job's template could not be chosen or loaded: a job failure. */
export class JobTemplateError extends Error {
  override name = 'JobTemplateError';
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

/**
 * The job's template as the planner chose it at `revision`, its plan's (a key in `read` is used as read if it
 * changed no later); compacted past the revision: the keys as they are now.
 */
export async function templateOfJob(store: Store, job: Job, opts: { revision: number; read?: WorkContext['read'] }) {
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
  const kv = mappingsKv ?? (await readKeys(source, { keys: [TEMPLATE_MAPPINGS_KEY] })).values[0];
  const mappings = templateMappings(kv);
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
  const template = await evaluateInRounds(view, source, `choosing the template of job ${job.id}`, () =>
    chooseTemplate(mappings, job.handler, job.resource_type, ctx, templates),
  ).catch((e: unknown) => {
    if (isCompacted(e)) throw e;
    throw new JobTemplateError(`${errorMessage(e)} (job ${job.id})`, { cause: e });
  });
  const where = `template_mappings.${job.handler}.${job.resource_type}`;
  if (!template) throw new JobTemplateError(`${where} selects no template for job ${job.id}`);
  return template;
}

export const templateOfWork = (ctx: WorkContext): Promise<HeatTemplate> =>
  templateOfJob(ctx.store, ctx.job, { revision: ctx.claim.planRevision, read: ctx.read });

/**
 * The stack outputs a job's `output_key` params refer to, from the heat_stacks records (one read): undefined
 * when a resource has no stack record, [] when its stack was deleted.
 */
export async function outputsResolver({ store, job }: WorkContext) {
  const stackKeyOf = (type: string, id: string) => keys.heatStack(pathOfSingular(type, id));
  const stackKeys = outputTargets(job).map((r) => stackKeyOf(r.type, r.id));
  const records = await readValues(store, stackKeys);
  return (type: string, id: string): HeatOutput[] | undefined => {
    const kv = records.get(stackKeyOf(type, id));
    const rec = kv ? parseStackRecord(kv.value) : undefined;
    return rec && rec.stack_status !== 'DELETE_COMPLETE' ? rec.output : rec ? [] : undefined;
  };
}
