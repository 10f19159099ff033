/**
 * The job runner shared by the heat and monitoring handlers (docs/jobs.md "Running a job").
 *
 * A record is an etcd event message for a job key:
 *   /jobs/all/<id> put, /jobs/waiting/<id> delete (the relay: the job may be ready; docs/jobs.md)
 *                       → claim the job (tryClaimJob) and call work.start; a job that is not ready
 *                         is refused by the claim and the message acknowledged (level-triggered);
 *   /jobs/working/<id>  → a poll message the runner sent itself: the event of the put that created
 *                         the working key, whose modRevision is therefore the claim's create
 *                         revision → resumeClaim and call work.poll.
 * A poll message whose claim is gone (lease expired, job released) falls back to claiming: a job
 * left in limbo is picked up by whichever message reaches it first.
 *
 * Work answers succeeded(jobState, ops) | failed(error) | poll(delay, step). The runner writes the
 * job-state merge and the extra ops (heat_stacks record) in ONE fenced transaction, then finishJob.
 * Client errors: RetryableError → retryJob (attempt + 1), claim released, thrown (SQS redelivers)
 * until ESI_JOB_MAX_ATTEMPTS, then the job fails with the last error; TerminalError and job
 * failures (bad params, missing outputs, bad template) → the job fails at once.
 */
import { numberSetting } from '../config';
import { errorMessage } from '../errors';
import { commitDecision, converge } from '../store/converge';
import crypto from 'node:crypto';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { isRetryable, isTerminal } from '../clients/errors';
import { isPrepareFailure } from '../heat/prepare';
import { parseJsonObject } from '../encoding/json-object';
import { encodeEsiValue } from '../heat/records';
import {
  ClaimLostError,
  defaultJobKeys,
  finishJob,
  jobTxn,
  releaseClaim,
  resumeClaim,
  retryJob,
  revokeQuietly,
  tryClaimJob,
  type Claim,
  type HeldClaim,
  type FinishResult,
  type JobKeys,
  type JobOutcome,
} from '../jobs';
import { parseJobId } from '../jobs/job-keys';
import { keys as etcdKeys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { recordJobOutcome, serviceOf } from '../metrics';
import { pathOfSingular } from '../resource-path';
import type { Job } from '../planner';
import { done, failed, retryLater, type Outcome, type RecordContext, type RecordHandler } from '../sqs/consumer';
import { modRevisionIs, put, unchangedSince, type KeyValue, type Op, type Store } from '../store/store';
import { JobTemplateError } from './job-template';

/** Handler-defined state of a running step, kept in the working value (`step`) between polls. */
export interface StepState {
  /** ISO time after which the job fails with "timed out". */
  deadline_at?: string;
  [k: string]: unknown;
}

export type JobStateMerge = (previous: Record<string, unknown> | undefined) => Record<string, unknown> | undefined;

export type WorkResult =
  | { kind: 'succeeded'; jobState?: JobStateMerge; ops?: Op[]; note?: string }
  | { kind: 'failed'; error: string }
  /** `ops` are written with the claim's renewal, under the fence (e.g. the work's durable record of what it started). */
  | { kind: 'poll'; delaySeconds?: number; step?: StepState; note?: string; ops?: Op[] };

export const succeeded = (jobState?: JobStateMerge, ops: Op[] = [], note?: string): WorkResult => ({
  kind: 'succeeded',
  jobState,
  ops,
  note,
});
export const jobFailed = (error: string): WorkResult => ({ kind: 'failed', error });
export const pollLater = (step?: StepState, delaySeconds?: number, note?: string, ops?: Op[]): WorkResult => ({
  kind: 'poll',
  step,
  delaySeconds,
  note,
  ...(ops?.length ? { ops } : {}),
});

export interface WorkContext {
  store: Store;
  claim: Claim;
  job: Job;
  /** Attempts recorded so far (third element of /jobs/all). */
  attempt: number;
  /** What the last poll(…) stored; undefined on start. */
  step: StepState | undefined;
  path: ResourcePath;
  logger: Logger;
  now(): Date;
  /** The work's `alsoRead` keys, read in the claim's transaction (undefined = absent). */
  read?: ReadonlyMap<string, KeyValue | undefined>;
}

export interface JobWork {
  /** The handler this work runs (`heat_worker`); a job of another handler is not claimed. */
  handler: string;
  /**
   * Keys this work reads for every job (template_mappings): read in the claim's own transaction
   * rather than in a request of their own, and handed over as `ctx.read`.
   */
  alsoRead?: readonly string[];
  start(ctx: WorkContext): Promise<WorkResult>;
  poll(ctx: WorkContext): Promise<WorkResult>;
  /** The step's deadline passed: how the job ends (default: failed, "timed out"). */
  overdue?(ctx: WorkContext): Promise<WorkResult>;
}

export interface JobRunnerOptions {
  store: Store | (() => Store);
  work: JobWork;
  keys?: JobKeys;
  /** Claim lease TTL per invocation: above the function timeout (default ESI_JOB_LEASE_SECONDS, 90). */
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
export const pollMessage = (claim: Claim): EtcdEventMessage => ({
  key: claim.keys.working(claim.jobId),
  modRevision: claim.createRevision,
  type: 'put',
});

/** A claim that could not be given back stays until its lease expires; then the job is in limbo and is taken again. */
function releaseFailed(logger: Logger, claim: Claim, e: unknown): void {
  logger.warn('claim not released; it ends with its lease', {
    resource_key: claim.keys.working(claim.jobId),
    etcd_revision: claim.createRevision,
    error: errorMessage(e),
  });
}

/** Errors that are the job's own failure: retrying cannot help. */
const isJobFailure = (e: unknown): boolean => isTerminal(e) || isPrepareFailure(e) || e instanceof JobTemplateError;

export function jobRunner(opts: JobRunnerOptions): RecordHandler {
  const jobKeys = opts.keys ?? defaultJobKeys;
  const storeOf = typeof opts.store === 'function' ? opts.store : () => opts.store as Store;
  const leaseSeconds = opts.leaseSeconds ?? envInt('ESI_JOB_LEASE_SECONDS', 90);
  const pollDelay = opts.pollDelaySeconds ?? envInt('ESI_JOB_POLL_SECONDS', 5);
  const maxAttempts = opts.maxAttempts ?? envInt('ESI_JOB_MAX_ATTEMPTS', 5);
  const quickPollMs = opts.quickPollMs ?? envInt('ESI_JOB_QUICK_POLL_MS', 1500, { allowZero: true });
  const heldRetry = opts.heldRetrySeconds ?? leaseSeconds;
  const now = opts.now ?? (() => new Date());
  const work = opts.work;

  /**
   * What a message asks: `start` for a job that may be ready (the relay's `all` put or resync,
   * `waiting` delete), `poll` for
   * the runner's own poll message (a `working` key). Anything else is not work.
   */
  function jobMessage(m: EtcdEventMessage): { state: 'start' | 'poll'; id: string } | undefined {
    const k = jobKeys.parse(m.key);
    if (!k) return undefined;
    if (k.state === 'working' && m.type !== 'delete') return { state: 'poll', id: k.id };
    if ((k.state === 'all' && m.type !== 'delete') || (k.state === 'waiting' && m.type === 'delete'))
      return { state: 'start', id: k.id };
    return undefined;
  }

  /**
   * Read with the claim: the work's own keys, and the resource's job state (its id names the
   * resource), which a success merges into. A key read here is used once, fenced like any read.
   */
  function readWithClaim(jobId: string): string[] {
    const parts = parseJobId(jobId);
    const jobState = parts ? [etcdKeys.jobState(pathOfSingular(parts.resourceType, parts.resourceId))] : [];
    return [...(work.alsoRead ?? []), ...jobState];
  }

  return async (message, rctx) => {
    const store = storeOf();
    const parsed = jobMessage(message);
    if (!parsed) return done('not a message that a job may be ready, nor a poll message');
    const owner = opts.owner?.(rctx) ?? `${CONTAINER_ID}/${rctx.record.messageId}`;
    const logger = rctx.logger;
    logger.appendKeys({ job_id: parsed.id, handler: work.handler });

    if (parsed.state === 'poll') {
      const held = await resumeClaim(
        store,
        { jobId: parsed.id, owner, createRevision: message.modRevision },
        { keys: jobKeys, alsoRead: readWithClaim(parsed.id) },
      );
      if (held) return run(store, held, 'poll', logger);
      // The claim is gone: claim the job if it is in limbo; if someone else holds it, they poll it.
    }

    const attempt = await tryClaimJob(store, parsed.id, owner, leaseSeconds, {
      keys: jobKeys,
      alsoRead: readWithClaim(parsed.id),
    });
    if (attempt.kind === 'refused') {
      switch (attempt.reason) {
        case 'missing':
          return done('job not found (cleaned up or never planned)');
        case 'finished':
          return done('job already finished');
        case 'waiting':
          return done('job still waiting for dependencies; their settlement sends it again');
        case 'unreadable':
          logger.error('job value unreadable; not run', { error: attempt.error });
          return done(`unreadable job: ${attempt.error}`);
        case 'held':
          if (parsed.state === 'poll') return done(`stale poll message: job held by ${attempt.owner ?? '?'}`);
          return retryLater(
            heldRetry,
            `job held by ${attempt.owner ?? '?'}; trying again after its lease may have expired`,
          );
      }
    }
    const claim = attempt.claim;
    if (claim.handler !== work.handler) {
      await releaseClaim(store, claim).catch((e) => releaseFailed(logger, claim, e));
      logger.error('job of another handler on this queue; released', { job_handler: claim.handler });
      return done(`job belongs to ${claim.handler}`);
    }
    return run(store, attempt, 'start', logger);
  };

  async function run(store: Store, held: HeldClaim, phase: 'start' | 'poll', logger: Logger): Promise<Outcome> {
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
    const ctx: WorkContext = { store, claim, job, attempt: claim.attempt, step, path, logger, now, read: held.extra };

    let result: WorkResult;
    if (phase === 'start') recordJobOutcome(serviceOf(logger), job.handler, 'started');
    const overdue = Boolean(step?.deadline_at && now().getTime() > Date.parse(step.deadline_at));
    try {
      if (overdue && !work.overdue)
        result = jobFailed(`timed out: job ${claim.jobId} did not complete by ${step!.deadline_at}`);
      else
        result = overdue ? await work.overdue!(ctx) : phase === 'start' ? await work.start(ctx) : await work.poll(ctx);
      // A new operation is checked here a few times (20 ms, 40 ms, 80 ms …) before the
      // invocation ends: a fast one completes in this invocation, with no poll message at all.
      if (phase === 'start') result = await quickPolls(ctx, result);
    } catch (err) {
      return onError(store, claim, err, logger);
    }

    try {
      await opts.hooks?.beforeCommit?.(claim, result);
      switch (result.kind) {
        case 'poll': {
          const polls = phase === 'start' ? 0 : typeof workingValue.polls === 'number' ? workingValue.polls : 0;
          const delay = result.delaySeconds ?? pollDelayFor(polls, pollDelay);
          const renewed = await renewClaim(
            store,
            claim,
            working,
            { ...workingValue, polls: polls + 1 },
            result.step ?? step,
            leaseSeconds + delay,
            result.ops ?? [],
          );
          if (!renewed) return done('another invocation is polling this job');
          return retryLater(delay, result.note ?? 'job in progress', pollMessage(claim));
        }
        case 'failed':
          return finish(store, claim, { ok: false, error: result.error }, logger);
        case 'succeeded':
          await commitSuccess(store, held, path, result);
          return finish(store, claim, { ok: true }, logger, result.note);
      }
    } catch (err) {
      if (err instanceof ClaimLostError) {
        logger.warn("claim lost: this invocation's writes were rejected", { error: err.message });
        return done('claim lost; another invocation owns the job');
      }
      throw err;
    }
  }

  /** Polls the work within this invocation, with doubling waits, for at most `quickPollMs`. */
  async function quickPolls(ctx: WorkContext, first: WorkResult): Promise<WorkResult> {
    const until = Date.now() + quickPollMs;
    let result = first;
    let wait = QUICK_POLL_FIRST_MS;
    while (result.kind === 'poll' && result.delaySeconds === undefined && Date.now() + wait <= until) {
      await sleep(wait);
      wait *= 2;
      const step = result.step ?? ctx.step;
      const ops = result.kind === 'poll' ? result.ops : undefined;
      result = await work.poll({ ...ctx, step });
      // An answer without a step keeps the one being polled, and without ops the ops of the answer
      // it follows: what the renewal would have written had this invocation not checked again. A
      // success writes its own final record instead.
      if (result.kind === 'poll') result = { ...result, step: result.step ?? step, ops: result.ops ?? ops };
    }
    return result;
  }

  async function onError(store: Store, claim: Claim, err: unknown, logger: Logger): Promise<Outcome> {
    if (err instanceof ClaimLostError) {
      logger.warn('claim lost during work', { error: err.message });
      return done('claim lost');
    }
    const text = errorMessage(err);
    if (isJobFailure(err)) return finishQuiet(store, claim, { ok: false, error: text }, logger);
    if (isRetryable(err)) {
      let attempt: number;
      try {
        attempt = await retryJob(store, claim, text);
      } catch (e) {
        if (e instanceof ClaimLostError) return done('claim lost');
        throw e;
      }
      if (attempt >= maxAttempts)
        return finishQuiet(store, claim, { ok: false, error: `${text} (gave up after ${attempt} attempts)` }, logger);
      logger.warn('transient failure; job released for a retry', { error: text, attempt, max_attempts: maxAttempts });
      await releaseClaim(store, claim).catch((e) => {
        if (!(e instanceof ClaimLostError)) throw e;
      });
      throw err;
    }
    // Unexpected (etcd unreachable, a bug): give the job back and let SQS redeliver the message.
    await releaseClaim(store, claim).catch((e) => releaseFailed(logger, claim, e));
    throw err;
  }

  async function finishQuiet(store: Store, claim: Claim, outcome: JobOutcome, logger: Logger): Promise<Outcome> {
    try {
      return await finish(store, claim, outcome, logger);
    } catch (e) {
      if (e instanceof ClaimLostError) return done('claim lost');
      throw e;
    }
  }

  async function finish(
    store: Store,
    claim: Claim,
    outcome: JobOutcome,
    logger: Logger,
    note?: string,
  ): Promise<Outcome> {
    const r: FinishResult = await finishJob(store, claim, outcome, { now });
    const fields = {
      promoted: r.promoted,
      failed_dependents: r.failed,
      duplicate: r.duplicate,
    };
    if (!r.duplicate) recordJobOutcome(serviceOf(logger), claim.job.handler, outcome.ok ? 'succeeded' : 'failed');
    if (outcome.ok) {
      logger.info('job succeeded', { ...fields, note });
      return done(`job succeeded${note ? `: ${note}` : ''}`);
    }
    logger.error('job failed', { ...fields, error: outcome.error, on_failure: claim.job.on_failure });
    return failed(outcome.error);
  }

  /** The job-state merge and the work's ops, in one transaction fenced by the claim. */
  async function commitSuccess(
    store: Store,
    held: HeldClaim,
    path: ResourcePath,
    result: Extract<WorkResult, { kind: 'succeeded' }>,
  ): Promise<void> {
    const { claim } = held;
    const key = etcdKeys.jobState(path);
    // The first attempt uses the job state read with the claim; a retry (the fence failed) reads it again.
    let useClaimRead = held.extra.has(key);
    await converge(`${key} (job ${claim.jobId} writing its result)`, async () => {
      const prevKv = useClaimRead ? held.extra.get(key) : await store.get(key);
      useClaimRead = false;
      const ops: Op[] = [...(result.ops ?? [])];
      if (result.jobState) {
        const next = result.jobState(prevKv ? parseJsonObject(prevKv.value) : undefined);
        if (next !== undefined) {
          const text = encodeEsiValue(next);
          if (prevKv?.value !== text) ops.push(put(key, text));
        }
      }
      return commitDecision(store, { result: undefined, when: [unchangedSince(key, prevKv)], then: ops }, () =>
        jobTxn(store, claim),
      );
    });
  }

  /**
   * Moves the working key to a new lease that covers the poll delay and the next invocation, and
   * stores the step: `when my claim holds and working is unchanged since read, put working on the
   * new lease` (and the work's own ops). The create revision (the fence) stays the same. False when another invocation
   * renewed it first (a duplicate poll message): only one poll chain per claim goes on.
   */
  async function renewClaim(
    store: Store,
    claim: Claim,
    working: KeyValue,
    workingValue: Record<string, unknown>,
    step: StepState | undefined,
    ttl: number,
    ops: Op[],
  ): Promise<boolean> {
    const lease = await store.grantLease(ttl);
    const value = { ...workingValue, ...(step ? { step } : {}) };
    let ok = false;
    try {
      const res = await jobTxn(store, claim)
        .when(modRevisionIs(working.key, working.modRevision))
        .then(put(working.key, JSON.stringify(value), { lease: lease.id }), ...ops)
        .commit();
      ok = res.succeeded;
    } finally {
      if (!ok) await revokeQuietly(lease);
    }
    // The old lease has nothing attached any more; revoke it if this invocation holds its handle.
    if (claim.lease) await revokeQuietly(claim.lease);
    return ok;
  }
}
