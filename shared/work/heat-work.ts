/**
 * heat_worker jobs (docs/heat-handler.md "The heat handler"): start sends the stack operation unless Heat
 * shows this job's running or ended; poll follows it to its end or deadline. Heat, not etcd, has the truth.
 */
import { numberSetting } from '../config';
import type { HeatClient, StackRef, StackView } from '../clients/heat';
import { keys as etcdKeys } from '../keys';
import {
  deadlineOf,
  decideApply,
  failedText,
  operationStart,
  operationTag,
  overdueText,
  splitStackStatus,
  tagsWith,
} from '../heat/operation';
import { prepareStack } from '../heat/prepare';
import { deletedStackRecord, encodeEsiValue, jobStateValue, stackNameOf, stackRecord, tenantOf } from '../heat/records';
import { recordStackOperation, serviceOf } from '../metrics';
import { isDeleteAction } from '../planner/types';
import { del, put, type Op } from '../store/store';
import { jobFailed, pollLater, succeeded } from './job-work';
import type { JobWork, StepState, WorkContext, WorkResult } from './job-work';
import { outputsResolver, templatedWork, templateOfWork } from './job-template';
import { definedOnly } from '../defined-only';

/** The operation a job waits for, kept in its claim between polls. */
interface HeatStep extends StepState {
  /** CREATE, UPDATE or DELETE. */
  action: string;
  stack_name: string;
  /** Heat's stack id (for a delete: show by ref sees DELETE_COMPLETE). */
  stack_id?: string;
  stack_href?: string;
  timeout_mins: number;
  /** By Heat's clock once a show saw the operation running; until then this invocation's. */
  started_at: string;
  deadline_at: string;
}

type HeatRun = { heat: HeatClient; grace: number };
type Operation = { action: string; stackName: string; timeoutMins: number; ref?: StackRef };

/** `heat` may be a function so the handler builds the client lazily (settings read on first use). */
export function heatWork(opts: { heat: HeatClient | (() => HeatClient) }): JobWork {
  const grace = numberSetting('ESI_HEAT_DEADLINE_GRACE_SECONDS', 60);
  const run = (): HeatRun => ({ heat: typeof opts.heat === 'function' ? opts.heat() : opts.heat, grace });
  const work: JobWork = {
    handler: 'heat_worker',
    ...templatedWork,
    start: (ctx) => (isDeleteAction(ctx.job.action) ? startDelete(run(), ctx) : startApply(run(), ctx)),
    poll: (ctx) => followStep(ctx, false),
    overdue: (ctx) => followStep(ctx, true),
  };
  async function followStep(ctx: WorkContext, overdue: boolean): Promise<WorkResult> {
    const s = ctx.step?.action && typeof ctx.step.timeout_mins === 'number' ? (ctx.step as HeatStep) : undefined;
    if (!s) return work.start(ctx);
    const h = run();
    const ref = s.stack_id && s.stack_href ? { id: s.stack_id, name: s.stack_name, href: s.stack_href } : undefined;
    const show = h.heat.showStack(ref ?? s.stack_name);
    // Past the deadline the job ends even when Heat cannot be asked.
    const view = overdue ? await show.catch(() => null) : await show;
    if (view === null) return ended(ctx, s, jobFailed(overdueText(s.stack_name, s.action, s.deadline_at)));
    return follow(h, ctx, s, view);
  }
  return work;
}

/** The step of an operation that started at `startedAt` (default: now, until a show gives Heat's own). */
const stepOf = (h: HeatRun, ctx: WorkContext, o: Operation, startedAt = ctx.now().toISOString()): HeatStep => ({
  action: o.action,
  stack_name: o.stackName,
  ...(o.ref ? { stack_id: o.ref.id, stack_href: o.ref.href } : {}),
  timeout_mins: o.timeoutMins,
  started_at: startedAt,
  deadline_at: deadlineOf(startedAt, o.timeoutMins, h.grace),
});

/** The awaited operation's end, or the step again with Heat's start of it, or its failure past the deadline. */
async function follow(h: HeatRun, ctx: WorkContext, s: HeatStep, view: StackView | undefined): Promise<WorkResult> {
  if (s.action === 'DELETE') {
    if (!view || view.status === 'DELETE_COMPLETE') return ended(ctx, s, await deleted(ctx));
  } else if (!view) {
    return ended(ctx, s, jobFailed(`stack ${s.stack_name} disappeared while waiting for ${s.action}_COMPLETE`));
  }
  const { action, state } = splitStackStatus(view.status);
  if (action === s.action && state === 'COMPLETE') return ended(ctx, s, applied(ctx, view));
  if (action === s.action && state === 'FAILED') return ended(ctx, s, jobFailed(failedText(s.stack_name, view)));
  const heatStart = action === s.action && state === 'IN_PROGRESS' ? operationStart(view) : undefined;
  const step = heatStart
    ? stepOf(h, ctx, { action: s.action, stackName: s.stack_name, timeoutMins: s.timeout_mins, ref: view }, heatStart)
    : s;
  if (ctx.now().getTime() > Date.parse(step.deadline_at))
    return ended(ctx, step, jobFailed(overdueText(step.stack_name, step.action, step.deadline_at, view)));
  return pollLater(step, view.status);
}

async function startDelete(h: HeatRun, ctx: WorkContext): Promise<WorkResult> {
  const stackName = stackNameOf(ctx.job.resource_type, ctx.job.resource_id);
  const { timeoutMins } = prepareStack(ctx.job, { id: '(delete)', template_file: '' }, () => undefined);
  const r = await h.heat.deleteStack(stackName);
  if (r.result === 'absent') {
    ctx.logger.info('stack absent: delete is done', { stack_name: stackName });
    return deleted(ctx);
  }
  ctx.logger.info('stack delete started', { stack_name: stackName, result: r.result });
  const step = stepOf(h, ctx, { action: 'DELETE', stackName, timeoutMins, ref: r.ref });
  if (r.result === 'in_progress') return follow(h, ctx, step, await h.heat.showStack(r.ref));
  return pollLater(step, `DELETE ${stackName}`);
}

async function startApply(h: HeatRun, ctx: WorkContext): Promise<WorkResult> {
  const { job } = ctx;
  const stackName = stackNameOf(job.resource_type, job.resource_id);
  const template = await templateOfWork(ctx);
  const prepared = prepareStack(job, template, await outputsResolver(ctx));
  if (prepared.action !== 'create_or_update') throw new Error('unreachable: prepared a delete for an apply action');
  const { timeoutMins } = prepared;
  const tag = operationTag(job.id, prepared);
  const existing = await h.heat.showStack(stackName);
  const decision = decideApply({ tag, stackName, stack: existing });
  const spec = { name: stackName, template: prepared.template, parameters: prepared.parameters, timeoutMins };
  const stepFor = (action: string, ref: StackRef) => stepOf(h, ctx, { action, stackName, timeoutMins, ref });
  const sent = (action: string, ref: StackRef) => {
    ctx.logger.info(`stack ${action.toLowerCase()} started`, { stack_name: stackName });
    return pollLater(stepFor(action, ref), `${action} ${stackName}`);
  };
  switch (decision.kind) {
    case 'wait':
      // This job's (its answer lost) or another's: wait for it, by Heat's start of it.
      ctx.logger.info('stack operation already in progress; waiting for it', {
        stack_name: stackName,
        stack_status: existing!.status,
        adopted: decision.adopted,
      });
      return follow(h, ctx, stepFor(decision.action, existing!), existing);
    case 'complete':
      ctx.logger.info('stack already complete; nothing sent to Heat', { stack_name: stackName, note: decision.note });
      return applied(ctx, existing!, decision.note);
    case 'failed':
      return jobFailed(decision.error);
    case 'update': {
      const { id, name, href, tags } = existing!;
      return sent('UPDATE', await h.heat.updateStack({ ...spec, tags: tagsWith(tags, tag), ref: { id, name, href } }));
    }
    case 'create':
      // A create whose answer is lost is recognised by its tag by whichever invocation finds it.
      return sent('CREATE', await h.heat.createStack({ ...spec, tags: [tag] }));
  }
}

/** An operation's duration goes to the metrics and onto the job's outcome line ("slowest stack operations"). */
function ended(ctx: WorkContext, s: HeatStep, result: WorkResult): WorkResult {
  const ms = ctx.now().getTime() - Date.parse(s.started_at);
  recordStackOperation(serviceOf(ctx.logger), ms);
  ctx.logger.appendKeys({ stack_name: s.stack_name, stack_operation: s.action, stack_operation_ms: ms });
  return result;
}

const resourceOf = (job: WorkContext['job']) => ({
  resourceType: job.resource_type,
  resourceId: job.resource_id,
  tenantId: tenantOf(job.resource_input),
});

/** The stack record op and the job state of a stack that reached `status`. */
function stackDone(ctx: WorkContext, view: Pick<StackView, 'status' | 'outputs'>, op: Op, note?: string): WorkResult {
  const orchestrationState = ctx.job.is_last ? view.status : undefined;
  return succeeded(
    (previous) => jobStateValue(definedOnly({ outputs: view.outputs, orchestrationState, previous })),
    [op],
    note ?? view.status,
  );
}

function applied(ctx: WorkContext, view: StackView, note?: string): WorkResult {
  const { status, statusReason, outputs } = view;
  const record = stackRecord({ ...resourceOf(ctx.job), status, statusReason, outputs });
  return stackDone(ctx, view, put(etcdKeys.heatStack(ctx.path), encodeEsiValue(record)), note);
}

/** The DELETE_COMPLETE record; none when the /config key is gone (nothing outlives its resource). */
async function deleted(ctx: WorkContext): Promise<WorkResult> {
  const key = etcdKeys.heatStack(ctx.path);
  const configGone = !(await ctx.store.get(etcdKeys.config(ctx.path)));
  const op = configGone ? del(key) : put(key, encodeEsiValue(deletedStackRecord(resourceOf(ctx.job))));
  return stackDone(ctx, { status: 'DELETE_COMPLETE', outputs: [] }, op);
}
