/**
 * monitoring_worker jobs (docs/heat-handler.md "The monitoring handler"): create reuses a matching
 * target (a lost answer registers nothing twice); delete removes every target of the resource (and field).
 */
import YAML from 'yaml';
import { isPlainObject } from '../encoding/json-object';
import type { CollectorClient, TargetSpec } from '../clients/collector';
import { resolveParams, tenantOf } from '../heat';
import { renderHotTemplate } from '../templates/render';
import { jobFailed, succeeded, type JobWork, type WorkContext, type WorkResult } from './job-runner';
import { JobTemplateError, outputsResolver, templatedWork, templateOfWork } from './job-template';
import { isDeleteAction, type Job } from '../planner/types';

/** What state_monitoring says of a registered target (seed 004 point (5)). */
const TARGET_REGISTERED = 'ACTIVE';

async function targetBody(ctx: WorkContext) {
  const template = await templateOfWork(ctx);
  const vars = resolveParams(ctx.job, await outputsResolver(ctx));
  const text = renderHotTemplate(template.template_file, vars, template.id);
  if (!text.trim()) return undefined;
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    const message = `template "${template.id}" does not render a YAML target body: ${(e as Error).message}`;
    throw new JobTemplateError(message, { cause: e });
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
type TargetBody = Partial<TargetSpec> & { type: string };

/** Pure: the body for the job's own resource, tenant and version; naming another resource is a template error. */
export function targetSpec(
  body: TargetBody,
  job: Pick<Job, 'resource_id' | 'version' | 'resource_input'>,
  plural: string,
  templateId = 'monitoring template',
): TargetSpec {
  for (const [f, own] of Object.entries({ resource_type: plural, resource_id: job.resource_id }))
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

/** The job state without these state_monitoring fields; undefined when it has none of them. */
function withoutFields(previous: Record<string, unknown> | undefined, fields: string[]) {
  const sm = previous?.state_monitoring;
  if (!isPlainObject(sm) || !fields.some((f) => f in sm)) return undefined;
  const kept = Object.fromEntries(Object.entries(sm).filter(([f]) => !fields.includes(f)));
  const { state_monitoring: _, ...rest } = previous!;
  return Object.keys(kept).length ? { ...previous, state_monitoring: kept } : rest;
}

/** The collector's filter for the targets of a resource (and field). */
const targetsOf = (plural: string, resourceId: string, field: string | undefined) => ({
  resource_type: plural,
  resource_id: resourceId,
  ...(field ? { field_name: field } : {}),
});

export function monitoringWork(opts: { collector: CollectorClient | (() => CollectorClient) }): JobWork {
  const collectorOf = typeof opts.collector === 'function' ? opts.collector : () => opts.collector as CollectorClient;

  async function create(ctx: WorkContext): Promise<WorkResult> {
    const rendered = await targetBody(ctx);
    if (!rendered) return succeeded(undefined, [], 'nothing to monitor');
    const spec = targetSpec(rendered.body, ctx.job, ctx.path.plural, rendered.templateId);
    const collector = collectorOf();
    const found = await collector.findTargets(targetsOf(spec.resource_type, spec.resource_id, spec.field_name));
    const existing = found.find((t) => t.type === spec.type && t.version === spec.version);
    const target = existing ?? (await collector.createTarget(spec));
    ctx.logger.info(existing ? 'target already registered' : 'target registered', {
      target_id: target.id,
      target_type: spec.type,
    });
    const field = spec.field_name ?? spec.type;
    return succeeded(
      (previous) => ({
        ...previous,
        state_monitoring: { ...(previous?.state_monitoring ?? {}), [field]: TARGET_REGISTERED },
      }),
      [],
      `target ${target.id}`,
    );
  }

  async function remove(ctx: WorkContext): Promise<WorkResult> {
    const body = (await targetBody(ctx))?.body;
    const collector = collectorOf();
    // Every version's target: the previous version's is the one to go.
    const targets = await collector.findTargets(targetsOf(ctx.path.plural, ctx.job.resource_id, body?.field_name));
    for (const t of targets) await collector.deleteTarget(t.id);
    ctx.logger.info('targets removed', { count: targets.length, targets: targets.map((t) => t.id) });
    const fields = targets.map((t) => t.field_name ?? t.type).filter((f): f is string => typeof f === 'string');
    return succeeded((previous) => withoutFields(previous, fields), [], `${targets.length} target(s) removed`);
  }

  const work: JobWork = {
    handler: 'monitoring_worker',
    ...templatedWork,
    async start(ctx) {
      const { action } = ctx.job;
      if (action === 'create' || action === 'modify') return create(ctx);
      if (isDeleteAction(action)) return remove(ctx);
      return jobFailed(
        `job action ${JSON.stringify(action)} is not one the monitoring worker handles (create, modify, delete, logical_delete)`,
      );
    },
    // Nothing is asynchronous at the collector; a poll message (a lost lease) runs start again.
    poll: (ctx) => work.start(ctx),
  };
  return work;
}
