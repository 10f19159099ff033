/**
 * heat_worker jobs (docs/heat-handler.md "The heat handler"): one stack per resource, named
 * `<resource_type>_<resource_id>`. start prepares the stack from the referenced stacks' outputs
 * and creates, updates or deletes it, unless Heat shows this job's operation already running or
 * ended (shared/heat/operation.ts); poll shows the stack until it ends or its deadline passes.
 * Nothing about the operation is kept in etcd: a job picked up again re-derives it from Heat. On
 * success the stack record and the job state are written (orchestration_state only by a chain's
 * last job, seeds 000–004).
 */
import { numberSetting } from '../config';
import type { HeatClient, StackView } from '../clients/heat';
import { keys as etcdKeys } from '../keys';
import {
  deadlineOf,
  decideApply,
  deletedStackRecord,
  encodeEsiValue,
  failedText,
  isPrepareFailure,
  operationStart,
  operationTag,
  overdueText,
  splitStackStatus,
  jobStateValue,
  prepareStack,
  stackNameOf,
  stackRecord,
  tagsWith,
  tenantOf,
} from '../heat';
import { recordStackOperation, serviceOf } from '../metrics';
import { isDeleteAction } from '../planner/types';
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
import { JobTemplateError, TEMPLATE_CHOICE_KEYS, templateOfJob } from './job-template';
import { outputsResolver } from './stack-outputs';
import { definedOnly } from '../defined-only';

export interface HeatWorkOptions {
  /** The Heat client; a function so the handler can build it lazily (settings read on first use). */
  heat: HeatClient | (() => HeatClient);
  templatesRoot?: string;
  /** Added to timeout_mins before the handler gives up on a stack itself (default 60 s). */
  deadlineGraceSeconds?: number;
}

/** The operation a job waits for, kept in its claim between polls; re-derived from Heat on every start. */
interface HeatStep extends StepState {
  /** The action being waited for: CREATE, UPDATE or DELETE. */
  action: string;
  stack_name: string;
  /** Heat's stack id (for a delete: show by ref sees DELETE_COMPLETE). */
  stack_id?: string;
  stack_href?: string;
  /** The job's heat_timeout, which the deadline counts from the start. */
  timeout_mins: number;
  /** By Heat's clock once a show saw the operation running (operationStart); until then this invocation's. */
  started_at: string;
  deadline_at: string;
}

/** What the heat work's steps share: the client and the deadline grace. */
interface HeatRun {
  heatOf: () => HeatClient;
  grace: number;
  templatesRoot?: string;
}

type Operation = { action: string; stackName: string; timeoutMins: number; ref?: { id: string; href: string } };

export function heatWork(opts: HeatWorkOptions): JobWork {
  const h: HeatRun = definedOnly({
    heatOf: typeof opts.heat === 'function' ? opts.heat : () => opts.heat as HeatClient,
    grace: opts.deadlineGraceSeconds ?? envSeconds('ESI_HEAT_DEADLINE_GRACE_SECONDS', 60),
    templatesRoot: opts.templatesRoot,
  });
  const work: JobWork = {
    handler: 'heat_worker',
    alsoRead: TEMPLATE_CHOICE_KEYS,
    // Bad params, missing outputs, a template that does not render or cannot be chosen.
    isJobFailure: (e) => isPrepareFailure(e) || e instanceof JobTemplateError,
    start: (ctx) => (isDeleteAction(ctx.job.action) ? startDelete(h, ctx) : startApply(h, ctx)),
    async poll(ctx) {
      const s = stepIn(ctx);
      if (!s) return work.start(ctx);
      return follow(h, ctx, s, await showOf(h, s));
    },
    /** Past the deadline: the stack's final state if it reached one, else the job fails with Heat's status. */
    async overdue(ctx) {
      const s = stepIn(ctx);
      if (!s) return work.start(ctx);
      let view: StackView | undefined;
      try {
        view = await showOf(h, s);
      } catch {
        // Heat cannot be asked: the job ends past its deadline all the same, with the step's own facts.
        return ended(ctx, s, false, jobFailed(overdueText(s.stack_name, s.action, s.deadline_at)));
      }
      return follow(h, ctx, s, view);
    },
  };
  return work;
}

/** The step of an operation that started at `startedAt`. */
const stepOf = (h: HeatRun, o: Operation, startedAt: string): HeatStep => ({
  action: o.action,
  stack_name: o.stackName,
  ...(o.ref ? { stack_id: o.ref.id, stack_href: o.ref.href } : {}),
  timeout_mins: o.timeoutMins,
  started_at: startedAt,
  deadline_at: deadlineOf(startedAt, o.timeoutMins, h.grace),
});

/** An operation this invocation has just sent: its start is now until a show gives Heat's own. */
const sent = (h: HeatRun, ctx: WorkContext, o: Operation, note: string): WorkResult =>
  pollLater(stepOf(h, o, ctx.now().toISOString()), undefined, note);

/**
 * Where the awaited operation stands, from the stack as Heat shows it: its end, or the step
 * again with Heat's start of the operation (so its deadline), or the job's failure past that
 * deadline.
 */
async function follow(h: HeatRun, ctx: WorkContext, s: HeatStep, view: StackView | undefined): Promise<WorkResult> {
  if (s.action === 'DELETE') {
    if (!view || view.status === 'DELETE_COMPLETE') return ended(ctx, s, true, await deleted(ctx));
  } else if (!view) {
    return ended(ctx, s, false, jobFailed(`stack ${s.stack_name} disappeared while waiting for ${s.action}_COMPLETE`));
  }
  const { action, state } = splitStackStatus(view.status);
  if (action === s.action && state === 'COMPLETE') return ended(ctx, s, true, applied(ctx, view));
  if (action === s.action && state === 'FAILED') return ended(ctx, s, false, jobFailed(failedText(s.stack_name, view)));
  const heatStart = action === s.action && state === 'IN_PROGRESS' ? operationStart(view) : undefined;
  const step = heatStart
    ? stepOf(h, { action: s.action, stackName: s.stack_name, timeoutMins: s.timeout_mins, ref: view }, heatStart)
    : s;
  if (ctx.now().getTime() > Date.parse(step.deadline_at))
    return ended(ctx, step, false, jobFailed(overdueText(step.stack_name, step.action, step.deadline_at, view)));
  return pollLater(step, undefined, view.status);
}

/** A delete job: delete the stack, or find it absent (done at once) or already being deleted. */
async function startDelete(h: HeatRun, ctx: WorkContext): Promise<WorkResult> {
  const { job } = ctx;
  const heat = h.heatOf();
  const stackName = stackNameOf(job.resource_type, job.resource_id);
  const prepared = prepareStack(job, { id: '(delete)', template_file: '' }, () => undefined);
  const r = await heat.deleteStack(stackName);
  if (r.result === 'absent') {
    ctx.logger.info('stack absent: delete is done', { stack_name: stackName });
    return deleted(ctx);
  }
  ctx.logger.info('stack delete started', { stack_name: stackName, result: r.result });
  const o = { action: 'DELETE', stackName, timeoutMins: prepared.timeoutMins, ref: r.ref };
  // A delete already running (an earlier invocation's): its start is Heat's.
  if (r.result === 'in_progress')
    return follow(h, ctx, stepOf(h, o, ctx.now().toISOString()), await heat.showStack(r.ref));
  return sent(h, ctx, o, `DELETE ${stackName}`);
}

/** A create or modify job: the stack as this job wants it, created, updated, or waited for. */
async function startApply(h: HeatRun, ctx: WorkContext): Promise<WorkResult> {
  const { job, store } = ctx;
  const heat = h.heatOf();
  const stackName = stackNameOf(job.resource_type, job.resource_id);
  const template = await templateOfJob(
    store,
    job,
    definedOnly({ templatesRoot: h.templatesRoot, revision: ctx.claim.planRevision, read: ctx.read }),
  );
  const prepared = prepareStack(job, template, await outputsResolver(store, job));
  if (prepared.action !== 'create_or_update') throw new Error('unreachable: prepared a delete for an apply action');
  const tag = operationTag(job.id, prepared);
  const existing = await heat.showStack(stackName);
  const decision = decideApply({ tag, stackName, stack: existing });
  const base = { stackName, timeoutMins: prepared.timeoutMins };
  const spec = {
    name: stackName,
    template: prepared.template,
    parameters: prepared.parameters,
    timeoutMins: prepared.timeoutMins,
  };
  switch (decision.kind) {
    case 'wait':
      // An operation already running (this job's, its answer lost, or another's): wait for it,
      // by Heat's start of it.
      ctx.logger.info('stack operation already in progress; waiting for it', {
        stack_name: stackName,
        stack_status: existing!.status,
        adopted: decision.adopted,
      });
      return follow(
        h,
        ctx,
        stepOf(h, definedOnly({ ...base, action: decision.action, ref: existing }), ctx.now().toISOString()),
        existing,
      );
    case 'complete':
      ctx.logger.info('stack already complete; nothing sent to Heat', { stack_name: stackName, note: decision.note });
      return applied(ctx, existing!, decision.note);
    case 'failed':
      return jobFailed(decision.error);
    case 'update': {
      const ref = await heat.updateStack({
        ...spec,
        tags: tagsWith(existing!.tags, tag),
        ref: { id: existing!.id, name: existing!.name, href: existing!.href },
      });
      ctx.logger.info('stack update started', { stack_name: stackName });
      return sent(h, ctx, { ...base, action: 'UPDATE', ref }, `UPDATE ${stackName}`);
    }
    case 'create': {
      // A create whose answer is lost (the client timed out, the invocation died) is
      // recognised by its tag by whichever invocation finds the stack.
      const ref = await heat.createStack({ ...spec, tags: [tag] });
      ctx.logger.info('stack create started', { stack_name: stackName });
      return sent(h, ctx, { ...base, action: 'CREATE', ref }, `CREATE ${stackName}`);
    }
  }
}

function showOf(h: HeatRun, s: HeatStep): Promise<StackView | undefined> {
  const heat = h.heatOf();
  return s.stack_id && s.stack_href
    ? heat.showStack({ id: s.stack_id, name: s.stack_name, href: s.stack_href })
    : heat.showStack(s.stack_name);
}

/** The claim's step, or undefined when there is none to follow (start then derives the operation from Heat). */
function stepIn(ctx: WorkContext): HeatStep | undefined {
  const s = ctx.step;
  return s?.action && typeof s.timeout_mins === 'number' ? (s as HeatStep) : undefined;
}

const envSeconds = (name: string, dflt: number): number => numberSetting(name, dflt);

/**
 * A stack operation reached its end: its duration (from the request to Heat) goes to the metrics,
 * and with the stack and operation onto the job's outcome line (the "slowest stack operations" query).
 */
function ended(ctx: WorkContext, s: HeatStep, ok: boolean, result: WorkResult): WorkResult {
  const ms = ctx.now().getTime() - Date.parse(s.started_at);
  recordStackOperation(serviceOf(ctx.logger), ms);
  ctx.logger.appendKeys({ stack_name: s.stack_name, stack_operation: s.action, stack_operation_ms: ms });
  return result;
}

/** A create/update reached `<ACTION>_COMPLETE`: the stack record and the job state. */
function applied(ctx: WorkContext, view: StackView, note?: string): WorkResult {
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
      jobStateValue(
        definedOnly({ outputs: view.outputs, orchestrationState: job.is_last ? view.status : undefined, previous }),
      ),
    [put(etcdKeys.heatStack(ctx.path), encodeEsiValue(record))],
    note ?? view.status,
  );
}

/**
 * The stack is gone: the DELETE_COMPLETE record. When Gohan has
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
      jobStateValue(
        definedOnly({ outputs: [], orchestrationState: job.is_last ? 'DELETE_COMPLETE' : undefined, previous }),
      ),
    [configGone ? del(etcdKeys.heatStack(ctx.path)) : put(etcdKeys.heatStack(ctx.path), encodeEsiValue(record))],
    'DELETE_COMPLETE',
  );
}
