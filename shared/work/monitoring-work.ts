/**
 * monitoring_worker jobs (docs/heat-handler.md "The monitoring handler"): monitoring targets of
 * the collector agents (`POST/GET/DELETE /targets`, docs/PROTOCOL-NOTES.md §e). Both actions
 * resolve the params and render the template's `template_file` to a target body, or to nothing.
 * A target always names the job's own Gohan resource, which the template may not name: the
 * collector writes /monitoring/<resource_type>/<resource_id>, the key Gohan reads back, and a
 * Heat output such as the port's VMI `id` is not the Gohan id in general. create first asks the
 * collector for the same target (findTargets), so a create whose answer was lost is not
 * registered twice; delete removes every target of the resource (and field).
 */
import YAML from 'yaml';
import type { CollectorClient, TargetSpec } from '../clients/collector';
import { isPrepareFailure, resolveParams, tenantOf } from '../heat';
import { renderHotTemplate } from '../templates/render';
import { jobFailed, succeeded, type JobWork, type WorkContext, type WorkResult } from './job-runner';
import { JobTemplateError, TEMPLATE_CHOICE_KEYS, templateOfJob } from './job-template';
import type { Job } from '../planner/types';
import { outputsResolver } from './stack-outputs';
import { definedOnly } from '../defined-only';

export interface MonitoringWorkOptions {
  collector: CollectorClient | (() => CollectorClient);
  templatesRoot?: string;
}

/** What state_monitoring says of a registered target (seed 004 point (5)). */
export const TARGET_REGISTERED = 'ACTIVE';

/** The target body the job's template renders, or undefined when it renders nothing. */
async function targetBody(
  ctx: WorkContext,
  templatesRoot: string | undefined,
): Promise<{ body: TargetBody; templateId: string } | undefined> {
  const { job, store } = ctx;
  const template = await templateOfJob(
    store,
    job,
    definedOnly({ templatesRoot, revision: ctx.claim.planRevision, read: ctx.read }),
  );
  const vars = resolveParams(job, await outputsResolver(store, job));
  const text = renderHotTemplate(template.template_file, vars, template.id);
  if (!text.trim()) return undefined;
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new JobTemplateError(
      `template "${template.id}" does not render a YAML target body: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  if (doc === null || doc === undefined) return undefined;
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new JobTemplateError(
      `template "${template.id}" renders ${Array.isArray(doc) ? 'a list' : typeof doc}, not a target body`,
    );
  const body = doc as TargetBody;
  if (typeof body.type !== 'string' || !body.type)
    throw new JobTemplateError(`template "${template.id}": the target body has no "type"`);
  return { body, templateId: template.id };
}

/** What a monitoring template renders: a target body without the resource it is for. */
export interface TargetBody {
  type: string;
  field_name?: string;
  [extra: string]: unknown;
}

/**
 * The target registered for a job: the rendered body for the job's own resource, tenant and
 * version. Pure. A body naming another resource is a template error.
 */
export function targetSpec(
  body: TargetBody,
  job: Pick<Job, 'resource_id' | 'version' | 'resource_input'>,
  plural: string,
  templateId = 'monitoring template',
): TargetSpec {
  for (const [f, own] of [
    ['resource_type', plural],
    ['resource_id', job.resource_id],
  ] as const)
    if (body[f] !== undefined && body[f] !== own)
      throw new JobTemplateError(
        `template "${templateId}": the target names ${f} ${JSON.stringify(body[f])}, not the job's resource (${own}); a target is always its job's resource's`,
      );
  return {
    ...body,
    resource_type: plural,
    resource_id: job.resource_id,
    tenant_id: tenantOf(job.resource_input),
    version: job.version,
  };
}

function withoutFields(
  previous: Record<string, unknown> | undefined,
  fields: string[],
): Record<string, unknown> | undefined {
  if (!previous || typeof previous.state_monitoring !== 'object' || previous.state_monitoring === null)
    return undefined;
  const sm = { ...(previous.state_monitoring as Record<string, unknown>) };
  let changed = false;
  for (const f of fields)
    if (f in sm) {
      delete sm[f];
      changed = true;
    }
  if (!changed) return undefined;
  const next = { ...previous };
  if (Object.keys(sm).length) next.state_monitoring = sm;
  else delete next.state_monitoring;
  return next;
}

export function monitoringWork(opts: MonitoringWorkOptions): JobWork {
  const collectorOf = typeof opts.collector === 'function' ? opts.collector : () => opts.collector as CollectorClient;

  async function create(ctx: WorkContext): Promise<WorkResult> {
    const rendered = await targetBody(ctx, opts.templatesRoot);
    if (!rendered) return succeeded(undefined, [], 'nothing to monitor');
    const spec = targetSpec(rendered.body, ctx.job, ctx.path.plural, rendered.templateId);
    const collector = collectorOf();
    const existing = (
      await collector.findTargets({
        resource_type: spec.resource_type,
        resource_id: spec.resource_id,
        ...(spec.field_name ? { field_name: spec.field_name } : {}),
      })
    ).find((t) => t.type === spec.type && t.version === spec.version);
    const target = existing ?? (await collector.createTarget(spec));
    ctx.logger.info(existing ? 'target already registered' : 'target registered', {
      target_id: target.id,
      target_type: spec.type,
    });
    const field = spec.field_name ?? spec.type;
    return succeeded(
      (previous) => ({
        ...(previous ?? {}),
        state_monitoring: {
          ...(previous?.state_monitoring ?? {}),
          [field]: TARGET_REGISTERED,
        },
      }),
      [],
      `target ${target.id}`,
    );
  }

  async function remove(ctx: WorkContext): Promise<WorkResult> {
    const { job, path } = ctx;
    const body = (await targetBody(ctx, opts.templatesRoot))?.body;
    const collector = collectorOf();
    // Every version's target of the job's resource (and field): the previous version's is the one to go.
    const filter = {
      resource_type: path.plural,
      resource_id: job.resource_id,
      ...(body?.field_name ? { field_name: body.field_name } : {}),
    };
    const targets = await collector.findTargets(filter);
    for (const t of targets) await collector.deleteTarget(t.id);
    ctx.logger.info('targets removed', { count: targets.length, targets: targets.map((t) => t.id) });
    const fields = targets.map((t) => t.field_name ?? t.type).filter((f): f is string => typeof f === 'string');
    return succeeded((previous) => withoutFields(previous, fields), [], `${targets.length} target(s) removed`);
  }

  const work: JobWork = {
    handler: 'monitoring_worker',
    alsoRead: TEMPLATE_CHOICE_KEYS,
    // Bad params, missing outputs, a target body that does not render or cannot be chosen.
    isJobFailure: (e) => isPrepareFailure(e) || e instanceof JobTemplateError,
    async start(ctx) {
      switch (ctx.job.action) {
        case 'create':
        case 'modify':
          return create(ctx);
        case 'delete':
        case 'logical_delete':
          return remove(ctx);
        default:
          return jobFailed(
            `job action ${JSON.stringify(ctx.job.action)} is not one the monitoring worker handles (create, modify, delete, logical_delete)`,
          );
      }
    },
    // Nothing is asynchronous at the collector; a poll message (e.g. after a lost lease) runs start again.
    poll(ctx) {
      return work.start(ctx);
    },
  };
  return work;
}
