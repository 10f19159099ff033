/**
 * The job runner shared by the heat and monitoring handlers (docs/jobs.md "Running a job"): a
 * message for a job that may be ready claims it and calls work.start; a poll message (the put that
 * created the working key, at the claim's create revision) resumes the claim and calls work.poll.
 * What the work answers is written in ONE fenced transaction, then finishJob; client errors become
 * a retry (RetryableError, up to ESI_JOB_MAX_ATTEMPTS) or the job's failure (TerminalError,
 * `JobWork.isJobFailure`). What work gives and gets: ./job-work.ts.
 */
import crypto from 'node:crypto';
import { numberSetting } from '../config';
import { errorMessage } from '../errors';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { isRetryable, isTerminal } from '../clients/errors';
import { parseJsonObject } from '../encoding/json-object';
import {
  ClaimLostError,
  defaultJobKeys,
  finishJob,
  releaseClaim,
  resumeClaim,
  retryJob,
  settleDependents,
  tryClaimJob,
  type Claim,
  type ClaimAttempt,
  type HeldClaim,
  type JobKeys,
  type JobOutcome,
} from '../jobs';
import { ClaimLeases } from '../jobs/claim-lease';
import { parseJobId } from '../jobs/job-keys';
import { keys as etcdKeys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { recordJobOutcome, serviceOf } from '../metrics';
import { pathOfSingular } from '../resource-path';
import { done, failed, retryLater, type Outcome, type RecordContext, type RecordHandler } from '../sqs/consumer';
import type { Store } from '../store/store';
import { commitSuccess, renewClaim } from './claim-writes';
import { jobFailed, type JobWork, type StepState, type WorkContext, type WorkResult } from './job-work';
import { definedOnly } from '../defined-only';

export * from './job-work';

export interface JobRunnerOptions {
  store: Store | (() => Store);
  work: JobWork;
  keys?: JobKeys;
  /**
   * Claim lease TTL (default ESI_JOB_LEASE_SECONDS, 15): kept alive while the claiming invocation
   * runs, renewed by each poll for the poll's delay plus this; so the bound on a dead holder's claim.
   */
  leaseSeconds?: number;
  /** Longest delay of a poll message (default ESI_JOB_POLL_SECONDS, 5); the first ones are shorter. */
  pollDelaySeconds?: number;
  /**
   * How long an invocation that started an operation keeps checking it itself before it leaves
   * the rest to poll messages (default ESI_JOB_QUICK_POLL_MS, 1500; 0 turns it off).
   */
  quickPollMs?: number;
  /** Attempts before a retryable failure becomes the job's failure (default ESI_JOB_MAX_ATTEMPTS, 5). */
  maxAttempts?: number;
  /** Delay before a held job's message is tried again (default: the lease TTL). */
  heldRetrySeconds?: number;
  now?: () => Date;
  /** The claim owner; default `<container id>/<SQS message id>`. */
  owner?: (ctx: RecordContext) => string;
  /** Test hooks (e.g. to freeze an invocation between its work and its writes). */
  hooks?: { beforeCommit?: (claim: Claim, result: WorkResult) => Promise<void> };
}

/** One invocation's view of a claimed job: the runner, the store and the record's logger. */
interface Invocation {
  r: Runner;
  store: Store;
  logger: Logger;
}

const envInt = (name: string, dflt: number, opts: { allowZero?: boolean } = {}): number =>
  numberSetting(name, dflt, (n) => Number.isInteger(n) && (n > 0 || (opts.allowZero === true && n === 0)));

/** First wait of the in-invocation checks; each next one doubles. */
const QUICK_POLL_FIRST_MS = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Delay of the n-th poll message of a claim (n = 0 for the first): 1, 2, 4 … seconds, up to the
 * configured interval, so a stack that takes a few seconds is seen soon after it is done and a
 * long one costs one invocation per interval.
 */
export const pollDelayFor = (n: number, maxSeconds: number): number => Math.min(maxSeconds, 2 ** Math.min(n, 16));

const CONTAINER_ID = crypto.randomBytes(4).toString('hex');

/**
 * The message that brings a running job back to its handler: an ordinary event message for the
 * put that created the working key. Its modRevision keeps its one meaning (the revision of that
 * put), which is the claim's create revision, so the message names the claim it belongs to.
 */
const pollMessage = (claim: Claim): EtcdEventMessage => ({
  key: claim.keys.working(claim.jobId),
  modRevision: claim.createRevision,
  type: 'put',
});

/** The runner's settings, resolved once (options over environment over defaults). */
type Runner = ReturnType<typeof settingsOf>;
function settingsOf(opts: JobRunnerOptions) {
  const leaseSeconds = opts.leaseSeconds ?? envInt('ESI_JOB_LEASE_SECONDS', 15);
  return {
    work: opts.work,
    jobKeys: opts.keys ?? defaultJobKeys,
    leaseSeconds,
    pollDelay: opts.pollDelaySeconds ?? envInt('ESI_JOB_POLL_SECONDS', 5),
    maxAttempts: opts.maxAttempts ?? envInt('ESI_JOB_MAX_ATTEMPTS', 5),
    quickPollMs: opts.quickPollMs ?? envInt('ESI_JOB_QUICK_POLL_MS', 1500, { allowZero: true }),
    heldRetry: opts.heldRetrySeconds ?? leaseSeconds,
    leases: new ClaimLeases(leaseSeconds),
    now: opts.now ?? (() => new Date()),
    hooks: opts.hooks,
  };
}

export function jobRunner(opts: JobRunnerOptions): RecordHandler {
  const r = settingsOf(opts);
  const storeOf = typeof opts.store === 'function' ? opts.store : () => opts.store as Store;
  return (message, rctx) => {
    const owner = opts.owner?.(rctx) ?? `${CONTAINER_ID}/${rctx.record.messageId}`;
    return handleMessage({ r, store: storeOf(), logger: rctx.logger }, message, owner);
  };
}

/**
 * What a message asks: `start` for a job that may be ready (the relay's `all` put or resync,
 * `waiting` delete), `poll` for the runner's own poll message (a `working` key). Anything else is
 * not work.
 */
function jobMessage(jobKeys: JobKeys, m: EtcdEventMessage): { kind: 'start' | 'poll'; id: string } | undefined {
  const k = jobKeys.parse(m.key);
  if (!k) return undefined;
  if (k.folder === 'working' && m.type !== 'delete') return { kind: 'poll', id: k.id };
  if ((k.folder === 'all' && m.type !== 'delete') || (k.folder === 'waiting' && m.type === 'delete'))
    return { kind: 'start', id: k.id };
  return undefined;
}

/**
 * Read with the claim: the work's own keys, and the resource's job state (its id names the
 * resource), which a success merges into. A key read here is used once, fenced like any read.
 */
function readWithClaim(work: JobWork, jobId: string): string[] {
  const parts = parseJobId(jobId);
  const jobState = parts ? [etcdKeys.jobState(pathOfSingular(parts.resourceType, parts.resourceId))] : [];
  return [...(work.alsoRead ?? []), ...jobState];
}

async function handleMessage(inv: Invocation, message: EtcdEventMessage, owner: string): Promise<Outcome> {
  const { r, store, logger } = inv;
  const asked = jobMessage(r.jobKeys, message);
  if (!asked) return done('not a message that a job may be ready, nor a poll message');
  logger.appendKeys({ job_id: asked.id, handler: r.work.handler });
  const alsoRead = readWithClaim(r.work, asked.id);
  if (asked.kind === 'poll') {
    const ref = { jobId: asked.id, owner, createRevision: message.modRevision };
    const held = await resumeClaim(store, ref, { keys: r.jobKeys, alsoRead });
    if (held) return run(inv, held, 'poll');
    // The claim is gone: claim the job if it is in limbo; if someone else holds it, they poll it.
  }
  // A short lease kept alive while this process works on the claim: a holder that dies (its host,
  // etcd's restart, Lambda's deadline) lets its claim go one lease after its last renewal.
  return r.leases.hold(store, async (lease) => {
    const attempt = await tryClaimJob(store, asked.id, owner, r.leaseSeconds, { keys: r.jobKeys, alsoRead, lease });
    if (attempt.kind === 'refused') return refused(inv, attempt, asked);
    const claim = attempt.claim;
    if (claim.handler !== r.work.handler) {
      await releaseClaim(store, claim).catch((e) => releaseFailed(logger, claim, e));
      logger.error('job of another handler on this queue; released', { job_handler: claim.handler });
      return done(`job belongs to ${claim.handler}`);
    }
    return run(inv, attempt, 'start');
  });
}

/** A claim refused: acknowledged, except a held job's start, which comes back after the lease. */
async function refused(
  inv: Invocation,
  attempt: Extract<ClaimAttempt, { kind: 'refused' }>,
  { id, kind }: { id: string; kind: 'start' | 'poll' },
): Promise<Outcome> {
  switch (attempt.reason) {
    case 'missing':
      return done('job not found (cleaned up or never planned)');
    case 'finished':
      // A redelivered message of a finish that ended between its steps: the settlement is completed.
      await settleDependents(inv.store, [id], { keys: inv.r.jobKeys, now: inv.r.now });
      return done('job already finished');
    case 'waiting':
      return done('job still waiting for dependencies; their settlement sends it again');
    case 'unreadable':
      inv.logger.error('job value unreadable; not run', { error: attempt.error });
      return done(`unreadable job: ${attempt.error}`);
    case 'held':
      if (kind === 'poll') return done(`stale poll message: job held by ${attempt.owner ?? '?'}`);
      return retryLater(
        inv.r.heldRetry,
        `job held by ${attempt.owner ?? '?'}; trying again after its lease may have expired`,
      );
  }
}

/** Runs the work for a held claim, then writes what it answered. */
async function run(inv: Invocation, held: HeldClaim, phase: 'start' | 'poll'): Promise<Outcome> {
  const { r, store, logger } = inv;
  const { claim, working } = held;
  const job = claim.job;
  const path = pathOfSingular(job.resource_type, job.resource_id);
  logger.appendKeys({
    job_id: claim.jobId,
    handler: job.handler,
    resource_key: etcdKeys.config(path),
    resource_type: job.resource_type,
    resource_id: job.resource_id,
    version: job.version,
    attempt: claim.attempt,
    phase,
  });
  const workingValue = parseJsonObject(working.value);
  const step = phase === 'poll' ? (workingValue.step as StepState | undefined) : undefined;
  const ctx: WorkContext = {
    store,
    claim,
    job,
    attempt: claim.attempt,
    step,
    path,
    logger,
    now: r.now,
    read: held.extra,
  };
  if (phase === 'start') recordJobOutcome(serviceOf(logger), job.handler, 'started');
  let result: WorkResult;
  try {
    result = await workResult(r, ctx, phase);
  } catch (err) {
    return onError(inv, claim, err);
  }
  try {
    await r.hooks?.beforeCommit?.(claim, result);
    return await writeResult(inv, held, phase, workingValue, path, result);
  } catch (err) {
    if (!(err instanceof ClaimLostError)) throw err;
    logger.warn("claim lost: this invocation's writes were rejected", { error: err.message });
    return done('claim lost; another invocation owns the job');
  }
}

/** The work's answer: start, poll, or what an overdue step ends with. */
async function workResult(r: Runner, ctx: WorkContext, phase: 'start' | 'poll'): Promise<WorkResult> {
  const { step } = ctx;
  const overdue = Boolean(step?.deadline_at && r.now().getTime() > Date.parse(step.deadline_at));
  if (overdue)
    return r.work.overdue
      ? r.work.overdue(ctx)
      : jobFailed(`timed out: job ${ctx.claim.jobId} did not complete by ${step!.deadline_at}`);
  if (phase === 'poll') return r.work.poll(ctx);
  // A new operation is checked here a few times (20 ms, 40 ms, 80 ms …) before the
  // invocation ends: a fast one completes in this invocation, with no poll message at all.
  return quickPolls(r, ctx, await r.work.start(ctx));
}

/** Writes what the work answered: a renewed claim and a poll message, or the job's end. */
async function writeResult(
  inv: Invocation,
  held: HeldClaim,
  phase: 'start' | 'poll',
  workingValue: Record<string, unknown>,
  path: ResourcePath,
  result: WorkResult,
): Promise<Outcome> {
  const { r, store } = inv;
  const { claim, working } = held;
  switch (result.kind) {
    case 'poll': {
      const polls = phase === 'start' ? 0 : typeof workingValue.polls === 'number' ? workingValue.polls : 0;
      const delay = result.delaySeconds ?? pollDelayFor(polls, r.pollDelay);
      const step = result.step ?? (phase === 'poll' ? (workingValue.step as StepState | undefined) : undefined);
      const renewal = { workingValue: { ...workingValue, polls: polls + 1 }, step, ops: result.ops ?? [] };
      if (!(await renewClaim(store, claim, working, renewal, r.leaseSeconds + delay)))
        return done('another invocation is polling this job');
      return retryLater(delay, result.note ?? 'job in progress', pollMessage(claim));
    }
    case 'failed':
      return finish(inv, claim, { ok: false, error: result.error });
    case 'succeeded':
      await commitSuccess(store, held, path, result);
      return finish(inv, claim, { ok: true }, result.note);
  }
}

/** Polls the work within this invocation, with doubling waits, for at most `quickPollMs`. */
async function quickPolls(r: Runner, ctx: WorkContext, first: WorkResult): Promise<WorkResult> {
  const until = Date.now() + r.quickPollMs;
  let result = first;
  let wait = QUICK_POLL_FIRST_MS;
  while (result.kind === 'poll' && result.delaySeconds === undefined && Date.now() + wait <= until) {
    await sleep(wait);
    wait *= 2;
    const step = result.step ?? ctx.step;
    const ops = result.ops;
    result = await r.work.poll({ ...ctx, step });
    // An answer without a step keeps the one being polled, and without ops the ops of the answer
    // it follows: what the renewal would have written had this invocation not checked again. A
    // success writes its own final record instead.
    if (result.kind === 'poll')
      result = { ...result, ...definedOnly({ step: result.step ?? step, ops: result.ops ?? ops }) };
  }
  return result;
}

/** A claim that could not be given back stays until its lease expires; then the job is in limbo and is taken again. */
function releaseFailed(logger: Logger, claim: Claim, e: unknown): void {
  logger.warn('claim not released; it ends with its lease', {
    resource_key: claim.keys.working(claim.jobId),
    etcd_revision: claim.createRevision,
    error: errorMessage(e),
  });
}

/** An error of the work: the job's failure, a retry (the claim released, SQS redelivers), or thrown. */
async function onError(inv: Invocation, claim: Claim, err: unknown): Promise<Outcome> {
  const { r, store, logger } = inv;
  if (err instanceof ClaimLostError) {
    logger.warn('claim lost during work', { error: err.message });
    return done('claim lost');
  }
  const text = errorMessage(err);
  if (isTerminal(err) || r.work.isJobFailure?.(err)) return finishQuiet(inv, claim, { ok: false, error: text });
  if (isRetryable(err))
    return unlessLost(async () => {
      const attempt = await retryJob(store, claim, text);
      if (attempt >= r.maxAttempts)
        return finish(inv, claim, { ok: false, error: `${text} (gave up after ${attempt} attempts)` });
      logger.warn('transient failure; job released for a retry', { error: text, attempt, max_attempts: r.maxAttempts });
      await releaseClaim(store, claim).catch((e) => {
        if (!(e instanceof ClaimLostError)) throw e;
      });
      throw err;
    });
  // Unexpected (etcd unreachable, a bug): give the job back and let SQS redeliver the message.
  await releaseClaim(store, claim).catch((e) => releaseFailed(logger, claim, e));
  throw err;
}

/** Runs `fn`; a claim lost meanwhile ends the message: another invocation owns the job. */
async function unlessLost(fn: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ClaimLostError) return done('claim lost');
    throw e;
  }
}

const finishQuiet = (inv: Invocation, claim: Claim, outcome: JobOutcome) =>
  unlessLost(() => finish(inv, claim, outcome));

async function finish(inv: Invocation, claim: Claim, outcome: JobOutcome, note?: string): Promise<Outcome> {
  const { logger } = inv;
  const r = await finishJob(inv.store, claim, outcome, { now: inv.r.now });
  const fields = { promoted: r.promoted, failed_dependents: r.failedDependents, duplicate: r.duplicate };
  if (!r.duplicate) recordJobOutcome(serviceOf(logger), claim.job.handler, outcome.ok ? 'succeeded' : 'failed');
  if (outcome.ok) {
    logger.info('job succeeded', { ...fields, note });
    return done(`job succeeded${note ? `: ${note}` : ''}`);
  }
  logger.error('job failed', { ...fields, error: outcome.error, on_failure: claim.job.on_failure });
  return failed(outcome.error);
}
