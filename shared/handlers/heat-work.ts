/**
 * heat_worker jobs (docs/heat-handler.md "The handler"): one stack per resource, named
 * `<resource_type>_<resource_id>`.
 *
 * start: read the referenced stacks' outputs (/esi-worker/heat_stacks), prepare the stack
 * (pure prepareStack), look the stack up, then
 *   create / modify → create if absent, update if present (create after an earlier attempt of the
 *                     same job finds the stack: update); a stack already *_IN_PROGRESS is waited for;
 *   logical_delete / delete → delete (absent: done at once).
 * poll: showStack until `<ACTION>_COMPLETE` (success), `*_FAILED` (the job fails with Heat's
 * status reason) or the step's deadline (timeout_mins + grace: "timed out").
 * On success: /esi-worker/heat_stacks/<path> (seed shape; DELETE_COMPLETE record after a delete)
 * and the job state `{heat_outputs, orchestration_state}` merged over what other handlers wrote.
 * orchestration_state is written only by the chain's last job (seeds 000–003); a heat job in the
 * middle of a chain writes heat_outputs alone (seed 004).
 */
import { splitStackStatus, type HeatClient, type StackView } from '../clients/heat';
import { keys as etcdKeys } from '../keys';
import {
  deletedStackRecord,
  encodeEsiValue,
  jobStateValue,
  prepareStack,
  stackNameOf,
  stackRecord,
  tenantOf,
} from '../heat';
import { recordStackOperation, serviceOf } from '../metrics';
import { put, type Op } from '../store/store';
import {
  jobFailed,
  pollLater,
  succeeded,
  type JobWork,
  type StepState,
  type WorkContext,
  type WorkResult,
} from './job-runner';
import { templateOfJob } from './job-template';
import { outputsResolver } from './stack-outputs';

export interface HeatWorkOptions {
  /** The Heat client; a function so the handler can build it lazily (settings read on first use). */
  heat: HeatClient | (() => HeatClient);
  templatesRoot?: string;
  /** Added to timeout_mins before the handler gives up on a stack itself (default 60 s). */
  deadlineGraceSeconds?: number;
}

interface HeatStep extends StepState {
  /** The action being waited for: CREATE, UPDATE or DELETE. */
  action: string;
  stack_name: string;
  /** Heat's stack id (for a delete: show by ref sees DELETE_COMPLETE). */
  stack_id?: string;
  stack_href?: string;
  started_at: string;
}

const DELETE_ACTIONS = new Set(['logical_delete', 'delete']);

export function heatWork(opts: HeatWorkOptions): JobWork {
  const heatOf = typeof opts.heat === 'function' ? opts.heat : () => opts.heat as HeatClient;
  const grace = opts.deadlineGraceSeconds ?? 60;

  const step = (
    ctx: WorkContext,
    action: string,
    stackName: string,
    timeoutMins: number,
    ref?: { id: string; href: string },
  ): HeatStep => ({
    action,
    stack_name: stackName,
    ...(ref ? { stack_id: ref.id, stack_href: ref.href } : {}),
    started_at: ctx.now().toISOString(),
    deadline_at: new Date(ctx.now().getTime() + (timeoutMins * 60 + grace) * 1000).toISOString(),
  });

  const work: JobWork = {
    handler: 'heat_worker',

    async start(ctx) {
      const { job, store } = ctx;
      const heat = heatOf();
      const stackName = stackNameOf(job.resource_type, job.resource_id);
      if (DELETE_ACTIONS.has(job.action)) {
        const prepared = prepareStack(job, { id: '(delete)', template_file: '' }, () => undefined);
        const r = await heat.deleteStack(stackName);
        if (r.result === 'absent') {
          ctx.logger.info('stack absent: delete is done', { stack_name: stackName });
          return deleted(ctx);
        }
        ctx.logger.info('stack delete started', { stack_name: stackName, result: r.result });
        return pollLater(step(ctx, 'DELETE', stackName, prepared.timeoutMins, r.ref), undefined, `DELETE ${stackName}`);
      }

      const template = await templateOfJob(store, job, { templatesRoot: opts.templatesRoot });
      const prepared = prepareStack(job, template, await outputsResolver(store, job));
      if (prepared.action !== 'create_or_update') throw new Error('unreachable: prepared a delete for an apply action');
      const existing = await heat.showStack(stackName);
      if (existing && splitStackStatus(existing.status).state === 'IN_PROGRESS') {
        // An operation of an earlier attempt (its answer lost) is still running: wait for it.
        const { action } = splitStackStatus(existing.status);
        ctx.logger.info('stack operation already in progress; waiting for it', {
          stack_name: stackName,
          stack_status: existing.status,
        });
        return pollLater(
          step(ctx, action, stackName, prepared.timeoutMins, existing),
          undefined,
          `${action} ${stackName} (in progress)`,
        );
      }
      const spec = {
        name: stackName,
        template: prepared.template,
        parameters: prepared.parameters,
        timeoutMins: prepared.timeoutMins,
      };
      if (existing) {
        const ref = await heat.updateStack({
          ...spec,
          ref: { id: existing.id, name: existing.name, href: existing.href },
        });
        ctx.logger.info('stack update started', { stack_name: stackName });
        return pollLater(step(ctx, 'UPDATE', stackName, prepared.timeoutMins, ref), undefined, `UPDATE ${stackName}`);
      }
      const ref = await heat.createStack(spec);
      ctx.logger.info('stack create started', { stack_name: stackName });
      return pollLater(step(ctx, 'CREATE', stackName, prepared.timeoutMins, ref), undefined, `CREATE ${stackName}`);
    },

    async poll(ctx) {
      const s = ctx.step as HeatStep | undefined;
      if (!s?.action) return work.start(ctx);
      const heat = heatOf();
      const view: StackView | undefined =
        s.stack_id && s.stack_href
          ? await heat.showStack({ id: s.stack_id, name: s.stack_name, href: s.stack_href })
          : await heat.showStack(s.stack_name);
      if (s.action === 'DELETE') {
        if (!view || view.status === 'DELETE_COMPLETE') return ended(ctx, s, true, deleted(ctx));
      } else if (!view) {
        return ended(
          ctx,
          s,
          false,
          jobFailed(`stack ${s.stack_name} disappeared while waiting for ${s.action}_COMPLETE`),
        );
      }
      const { action, state } = splitStackStatus(view!.status);
      if (action === s.action && state === 'COMPLETE') return ended(ctx, s, true, applied(ctx, view!));
      if (state === 'FAILED' && action === s.action) {
        return ended(
          ctx,
          s,
          false,
          jobFailed(`stack ${s.stack_name} ${view!.status}: ${view!.statusReason || 'no reason given'}`),
        );
      }
      return pollLater(s, undefined, `${view!.status}`);
    },
  };
  return work;
}

/** A stack operation reached its end: its duration (from the request to Heat) goes to the metrics. */
function ended(ctx: WorkContext, s: HeatStep, ok: boolean, result: WorkResult): WorkResult {
  recordStackOperation(serviceOf(ctx.logger), s.action, ctx.now().getTime() - Date.parse(s.started_at), {
    ok,
    stack: s.stack_name,
  });
  return result;
}

function stackOps(ctx: WorkContext, value: unknown): Op[] {
  return [put(etcdKeys.heatStack(ctx.path), encodeEsiValue(value))];
}

function applied(ctx: WorkContext, view: StackView): WorkResult {
  const { job } = ctx;
  const record = stackRecord({
    resourceType: job.resource_type,
    resourceId: job.resource_id,
    tenantId: tenantOf(job.resource_input),
    status: view.status,
    statusReason: view.statusReason,
    outputs: view.outputs,
  });
  return succeeded(
    (previous) =>
      jobStateValue({ outputs: view.outputs, orchestrationState: job.is_last ? view.status : undefined, previous }),
    stackOps(ctx, record),
    view.status,
  );
}

function deleted(ctx: WorkContext): WorkResult {
  const { job } = ctx;
  const record = deletedStackRecord({
    resourceType: job.resource_type,
    resourceId: job.resource_id,
    tenantId: tenantOf(job.resource_input),
  });
  return succeeded(
    (previous) =>
      jobStateValue({ outputs: [], orchestrationState: job.is_last ? 'DELETE_COMPLETE' : undefined, previous }),
    stackOps(ctx, record),
    'DELETE_COMPLETE',
  );
}
