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
import { numberSetting } from '../config';
import type { HeatClient, StackView } from '../clients/heat';
import { keys as etcdKeys } from '../keys';
import {
  decideApply,
  deletedStackRecord,
  encodeEsiValue,
  failedText,
  overdueText,
  parseOperation,
  specHash,
  splitStackStatus,
  type StackOperation,
  jobStateValue,
  prepareStack,
  stackNameOf,
  stackRecord,
  tenantOf,
} from '../heat';
import { jobTxn } from '../jobs';
import { recordStackOperation, serviceOf } from '../metrics';
import { del, put } from '../store/store';
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
  const grace = opts.deadlineGraceSeconds ?? envSeconds('ESI_HEAT_DEADLINE_GRACE_SECONDS', 60);

  /**
   * The operation this job is waiting for. Its times come from the job's own operation record when
   * there is one (an earlier invocation of this job started it), so no re-run moves the deadline.
   */
  const operation = (
    ctx: WorkContext,
    mine: StackOperation | undefined,
    o: { action: string; stackName: string; timeoutMins: number; ref?: { id: string; href: string }; hash?: string },
  ): StackOperation => {
    const startedAt = ctx.now();
    return {
      job_id: ctx.job.id,
      action: o.action,
      state: 'in_progress',
      stack_name: o.stackName,
      ...(o.ref ? { stack_id: o.ref.id, stack_href: o.ref.href } : {}),
      started_at: mine?.started_at ?? startedAt.toISOString(),
      deadline_at:
        mine?.deadline_at ?? new Date(startedAt.getTime() + (o.timeoutMins * 60 + grace) * 1000).toISOString(),
      ...(o.hash ? { spec_hash: o.hash } : {}),
    };
  };

  /** Wait for the operation: its step (with the deadline) in the claim, its record durable beside the stack's. */
  const waitFor = (ctx: WorkContext, op: StackOperation, note: string): WorkResult => {
    return pollLater(stepOf(op), undefined, note, [put(etcdKeys.heatOperation(ctx.path), encodeEsiValue(op))]);
  };

  const work: JobWork = {
    handler: 'heat_worker',

    async start(ctx) {
      const { job, store } = ctx;
      const heat = heatOf();
      const stackName = stackNameOf(job.resource_type, job.resource_id);
      const opKv = await store.get(etcdKeys.heatOperation(ctx.path));
      const recorded = parseOperation(opKv?.value);
      const mine = recorded?.job_id === job.id && recorded.state === 'in_progress' ? recorded : undefined;
      if (mine && ctx.now().getTime() > Date.parse(mine.deadline_at))
        return work.overdue!({ ...ctx, step: stepOf(mine) });

      if (DELETE_ACTIONS.has(job.action)) {
        const prepared = prepareStack(job, { id: '(delete)', template_file: '' }, () => undefined);
        const r = await heat.deleteStack(stackName);
        if (r.result === 'absent') {
          ctx.logger.info('stack absent: delete is done', { stack_name: stackName });
          return deleted(ctx);
        }
        ctx.logger.info('stack delete started', { stack_name: stackName, result: r.result });
        const op = operation(ctx, mine?.action === 'DELETE' ? mine : undefined, {
          action: 'DELETE',
          stackName,
          timeoutMins: prepared.timeoutMins,
          ref: r.ref,
        });
        return waitFor(ctx, op, `DELETE ${stackName}`);
      }

      const template = await templateOfJob(store, job, { templatesRoot: opts.templatesRoot });
      const prepared = prepareStack(job, template, await outputsResolver(store, job));
      if (prepared.action !== 'create_or_update') throw new Error('unreachable: prepared a delete for an apply action');
      const hash = specHash(prepared);
      const existing = await heat.showStack(stackName);
      const decision = decideApply({ op: recorded, jobId: job.id, hash, stackName, stack: existing });
      const base = { stackName, timeoutMins: prepared.timeoutMins };
      switch (decision.kind) {
        case 'wait': {
          // An operation already running (this job's, its answer lost, or an earlier attempt's): wait for it.
          ctx.logger.info('stack operation already in progress; waiting for it', {
            stack_name: stackName,
            stack_status: existing!.status,
            adopted: decision.adopted,
          });
          const op = operation(ctx, decision.adopted ? undefined : mine, {
            ...base,
            action: decision.action,
            ref: existing,
            hash: decision.adopted ? undefined : mine?.spec_hash,
          });
          return waitFor(ctx, op, `${existing!.status} ${stackName} (in progress)`);
        }
        case 'complete':
          ctx.logger.info('stack already complete; nothing sent to Heat', {
            stack_name: stackName,
            note: decision.note,
          });
          return applied(ctx, existing!, recorded, recorded?.spec_hash, decision.note);
        case 'failed':
          return jobFailed(decision.error);
        case 'update': {
          const ref = await heat.updateStack({
            name: stackName,
            template: prepared.template,
            parameters: prepared.parameters,
            timeoutMins: prepared.timeoutMins,
            ref: { id: existing!.id, name: existing!.name, href: existing!.href },
          });
          ctx.logger.info('stack update started', { stack_name: stackName });
          const op = operation(ctx, mine, { ...base, action: 'UPDATE', ref, hash });
          return waitFor(ctx, op, `UPDATE ${stackName}`);
        }
        case 'create': {
          // The intent first: a create whose answer is lost (the client timed out, the invocation
          // died) is then recognised as this job's by whichever invocation finds the stack.
          const intent = operation(ctx, mine, { ...base, action: 'CREATE', hash });
          await jobTxn(store, ctx.claim)
            .then(put(etcdKeys.heatOperation(ctx.path), encodeEsiValue(intent)))
            .commit();
          const ref = await heat.createStack({
            name: stackName,
            template: prepared.template,
            parameters: prepared.parameters,
            timeoutMins: prepared.timeoutMins,
          });
          ctx.logger.info('stack create started', { stack_name: stackName });
          return waitFor(ctx, { ...intent, stack_id: ref.id, stack_href: ref.href }, `CREATE ${stackName}`);
        }
      }
    },

    async poll(ctx) {
      const s = ctx.step as HeatStep | undefined;
      if (!s?.action) return work.start(ctx);
      const view = await showOf(s);
      if (s.action === 'DELETE') {
        if (!view || view.status === 'DELETE_COMPLETE') return ended(ctx, s, true, await deleted(ctx));
      } else if (!view) {
        return ended(
          ctx,
          s,
          false,
          jobFailed(`stack ${s.stack_name} disappeared while waiting for ${s.action}_COMPLETE`),
        );
      }
      const { action, state } = splitStackStatus(view.status);
      if (action === s.action && state === 'COMPLETE')
        return ended(ctx, s, true, applied(ctx, view, s, typeof s.spec_hash === 'string' ? s.spec_hash : undefined));
      if (state === 'FAILED' && action === s.action)
        return ended(ctx, s, false, jobFailed(failedText(s.stack_name, view)));
      return pollLater(s, undefined, `${view.status}`);
    },

    /** Past the deadline: the stack's final state if it reached one, else the job fails with Heat's status. */
    async overdue(ctx) {
      const s = ctx.step as HeatStep;
      const view = await showOf(s).catch(() => undefined);
      if (view) {
        const { action, state } = splitStackStatus(view.status);
        if (action === s.action && (state === 'COMPLETE' || state === 'FAILED')) return work.poll(ctx);
      } else if (s.action === 'DELETE') return work.poll(ctx);
      return ended(ctx, s, false, jobFailed(overdueText(s.stack_name, s.action, s.deadline_at ?? '?', view)));
    },
  };

  function showOf(s: HeatStep): Promise<StackView | undefined> {
    const heat = heatOf();
    return s.stack_id && s.stack_href
      ? heat.showStack({ id: s.stack_id, name: s.stack_name, href: s.stack_href })
      : heat.showStack(s.stack_name);
  }
  return work;
}

const stepOf = (op: StackOperation): HeatStep => ({
  action: op.action,
  stack_name: op.stack_name,
  ...(op.stack_id ? { stack_id: op.stack_id, stack_href: op.stack_href } : {}),
  started_at: op.started_at,
  deadline_at: op.deadline_at,
  ...(op.spec_hash ? { spec_hash: op.spec_hash } : {}),
});

const envSeconds = (name: string, dflt: number): number => numberSetting(name, dflt);

/** A stack operation reached its end: its duration (from the request to Heat) goes to the metrics. */
function ended(ctx: WorkContext, s: HeatStep, ok: boolean, result: WorkResult): WorkResult {
  recordStackOperation(serviceOf(ctx.logger), s.action, ctx.now().getTime() - Date.parse(s.started_at), {
    ok,
    stack: s.stack_name,
  });
  return result;
}

/**
 * A create/update reached `<ACTION>_COMPLETE`: the stack record, the job state, and the operation
 * record marked complete with the hash of what the stack now has (undefined: unknown, so a later
 * job updates it).
 */
function applied(
  ctx: WorkContext,
  view: StackView,
  times: { started_at: string; deadline_at?: string } | undefined,
  specHash: string | undefined,
  note?: string,
): WorkResult {
  const { job } = ctx;
  const record = stackRecord({
    resourceType: job.resource_type,
    resourceId: job.resource_id,
    tenantId: tenantOf(job.resource_input),
    status: view.status,
    statusReason: view.statusReason,
    outputs: view.outputs,
  });
  const at = ctx.now().toISOString();
  const op: StackOperation = {
    job_id: job.id,
    action: splitStackStatus(view.status).action,
    state: 'complete',
    stack_name: view.name,
    stack_id: view.id,
    stack_href: view.href,
    started_at: times?.started_at ?? at,
    deadline_at: times?.deadline_at ?? at,
    ...(specHash ? { spec_hash: specHash } : {}),
  };
  return succeeded(
    (previous) =>
      jobStateValue({ outputs: view.outputs, orchestrationState: job.is_last ? view.status : undefined, previous }),
    [
      put(etcdKeys.heatStack(ctx.path), encodeEsiValue(record)),
      put(etcdKeys.heatOperation(ctx.path), encodeEsiValue(op)),
    ],
    note ?? view.status,
  );
}

/**
 * The stack is gone: the DELETE_COMPLETE record, and no operation record any more. When Gohan has
 * already deleted the /config key (the planner then removed the resource's worker keys), no record
 * is written at all: nothing of the worker's outlives its resource.
 */
async function deleted(ctx: WorkContext): Promise<WorkResult> {
  const { job } = ctx;
  const record = deletedStackRecord({
    resourceType: job.resource_type,
    resourceId: job.resource_id,
    tenantId: tenantOf(job.resource_input),
  });
  const configGone = !(await ctx.store.get(etcdKeys.config(ctx.path)));
  return succeeded(
    (previous) =>
      jobStateValue({ outputs: [], orchestrationState: job.is_last ? 'DELETE_COMPLETE' : undefined, previous }),
    [
      configGone ? del(etcdKeys.heatStack(ctx.path)) : put(etcdKeys.heatStack(ctx.path), encodeEsiValue(record)),
      del(etcdKeys.heatOperation(ctx.path)),
    ],
    'DELETE_COMPLETE',
  );
}
