/** The heat and monitoring handlers' job runner and its fenced writes (docs/jobs.md); the work: ./job-work.ts. */
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { numberSetting } from '../config';
import { errorMessage } from '../errors';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { isRetryable, isTerminal } from '../clients/errors';
import { parseJsonObject } from '../encoding/json-object';
import { ClaimLostError, jobTxn, releaseClaim, resumeClaim, retryJob, revokeQuietly, tryClaimJob } from '../jobs';
import { defaultJobKeys, finishJob, parseJobId, settleWaiting } from '../jobs';
import type { Claim, ClaimAttempt, HeldClaim, JobKeys, JobOutcome } from '../jobs';
import { ClaimLeases } from '../jobs/claim-lease';
import { encodeEsiValue } from '../heat/records';
import { keys as etcdKeys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { recordJobOutcome, serviceOf } from '../metrics';
import { pathOfSingular } from '../resource-path';
import { done, failed, retryLater, type Outcome, type RecordHandler } from '../sqs/consumer';
import { commitDecision, converge } from '../store/converge';
import { modRevisionIs, put, unchangedSince, type Op, type Store } from '../store/store';
import { jobFailed, type JobWork, type StepState, type WorkContext, type WorkResult } from './job-work';
import { definedOnly } from '../defined-only';

export * from './job-work';

/** Unset numbers come from the environment (docs/configuration.md); `hooks` let tests freeze an invocation. */
export interface JobRunnerOptions {
  store: Store | (() => Store);
  work: JobWork;
  keys?: JobKeys;
  leaseSeconds?: number;
  pollDelaySeconds?: number;
  quickPollMs?: number;
  maxAttempts?: number;
  now?: () => Date;
  hooks?: { beforeCommit?: (claim: Claim, result: WorkResult) => Promise<void> };
}

const envInt = (name: string, dflt: number, min = 1): number =>
  numberSetting(name, dflt, (n) => Number.isInteger(n) && n >= min);

const QUICK_POLL_FIRST_MS = 20; // the first wait of the in-invocation checks; each next one doubles

/** Delay of the n-th poll message of a claim (n = 0 for the first): 1, 2, 4 … seconds, up to `maxSeconds`. */
export const pollDelayFor = (n: number, maxSeconds: number): number => Math.min(maxSeconds, 2 ** Math.min(n, 16));

const CONTAINER_ID = crypto.randomBytes(4).toString('hex');

function settingsOf(opts: JobRunnerOptions) {
  const leaseSeconds = opts.leaseSeconds ?? envInt('ESI_JOB_LEASE_SECONDS', 15);
  return {
    work: opts.work,
    jobKeys: opts.keys ?? defaultJobKeys,
    leaseSeconds,
    pollDelay: opts.pollDelaySeconds ?? envInt('ESI_JOB_POLL_SECONDS', 5),
    maxAttempts: opts.maxAttempts ?? envInt('ESI_JOB_MAX_ATTEMPTS', 5),
    quickPollMs: opts.quickPollMs ?? envInt('ESI_JOB_QUICK_POLL_MS', 1500, 0),
    leases: new ClaimLeases(leaseSeconds),
    now: opts.now ?? (() => new Date()),
    hooks: opts.hooks,
  };
}

/** One message's view: the runner's settings, the store and the record's logger. */
type Invocation = ReturnType<typeof settingsOf> & { store: Store; logger: Logger };

export function jobRunner(opts: JobRunnerOptions): RecordHandler {
  const settings = settingsOf(opts);
  const storeOf = typeof opts.store === 'function' ? opts.store : () => opts.store as Store;
  return (message, { record, logger }) =>
    handleMessage({ ...settings, store: storeOf(), logger }, message, `${CONTAINER_ID}/${record.messageId}`);
}

/** `start` for a job that may be ready (`all` put, `waiting` delete), `poll` for the runner's own poll message. */
function jobMessage(jobKeys: JobKeys, m: EtcdEventMessage): { kind: 'start' | 'poll'; id: string } | undefined {
  const k = jobKeys.parse(m.key);
  if (k?.folder === 'working' && m.type !== 'delete') return { kind: 'poll', id: k.id };
  if ((k?.folder === 'all' && m.type !== 'delete') || (k?.folder === 'waiting' && m.type === 'delete'))
    return { kind: 'start', id: k.id };
  return undefined;
}

/** Read with the claim: the work's own keys and the job state of the resource the job id names. */
function readWithClaim(work: JobWork, jobId: string): string[] {
  const parts = parseJobId(jobId);
  const jobState = parts ? [etcdKeys.jobState(pathOfSingular(parts.resourceType, parts.resourceId))] : [];
  return [...(work.alsoRead ?? []), ...jobState];
}

async function handleMessage(inv: Invocation, message: EtcdEventMessage, owner: string): Promise<Outcome> {
  const { store, logger, jobKeys, work } = inv;
  const asked = jobMessage(jobKeys, message);
  if (!asked) return done('not a message that a job may be ready, nor a poll message');
  logger.appendKeys({ job_id: asked.id, handler: work.handler });
  const alsoRead = readWithClaim(work, asked.id);
  if (asked.kind === 'poll') {
    const ref = { jobId: asked.id, owner, createRevision: message.modRevision };
    const held = await resumeClaim(store, ref, { keys: jobKeys, alsoRead });
    if (held) return run(inv, held, 'poll');
    // The claim is gone: claim the job if it is in limbo; if someone else holds it, they poll it.
  }
  return inv.leases.hold(store, async (lease) => {
    const attempt = await tryClaimJob(store, asked.id, owner, inv.leaseSeconds, { keys: jobKeys, alsoRead, lease });
    if (attempt.kind === 'refused') return refused(inv, attempt, asked);
    const claim = attempt.claim;
    if (claim.handler !== work.handler) {
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
      await settleWaiting(inv.store, { keys: inv.jobKeys, now: inv.now, of: [id] });
      return done('job already finished');
    case 'waiting':
      return done('job still waiting for dependencies; their settlement sends it again');
    case 'unreadable':
      inv.logger.error('job value unreadable; not run', { error: attempt.error });
      return done(`unreadable job: ${attempt.error}`);
    case 'held':
      if (kind === 'poll') return done(`stale poll message: job held by ${attempt.owner ?? '?'}`);
      return retryLater(
        inv.leaseSeconds,
        `job held by ${attempt.owner ?? '?'}; trying again after its lease may have expired`,
      );
  }
}

/** Runs the work for a held claim, then writes what it answered. */
async function run(inv: Invocation, held: HeldClaim, phase: 'start' | 'poll'): Promise<Outcome> {
  const { logger } = inv;
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
  // A new claim's working value is the claim's own `{owner, claimed_at}`: no step, no polls yet.
  const step = parseJsonObject(working.value).step as StepState | undefined;
  const ctx: WorkContext = {
    store: inv.store,
    claim,
    job,
    attempt: claim.attempt,
    step,
    path,
    logger,
    now: inv.now,
    read: held.extra,
  };
  if (phase === 'start') recordJobOutcome(serviceOf(logger), job.handler, 'started');
  let result: WorkResult;
  try {
    result = await workResult(inv, ctx, phase);
  } catch (err) {
    return onError(inv, claim, err);
  }
  try {
    await inv.hooks?.beforeCommit?.(claim, result);
    return await writeResult(inv, held, ctx, result);
  } catch (err) {
    if (!(err instanceof ClaimLostError)) throw err;
    logger.warn("claim lost: this invocation's writes were rejected", { error: err.message });
    return done('claim lost; another invocation owns the job');
  }
}

/** The work's answer: start (then checked again a few times here), poll, or what an overdue step ends with. */
async function workResult(inv: Invocation, ctx: WorkContext, phase: 'start' | 'poll'): Promise<WorkResult> {
  const { step } = ctx;
  if (step?.deadline_at && inv.now().getTime() > Date.parse(step.deadline_at))
    return inv.work.overdue
      ? inv.work.overdue(ctx)
      : jobFailed(`timed out: job ${ctx.claim.jobId} did not complete by ${step.deadline_at}`);
  if (phase === 'poll') return inv.work.poll(ctx);
  return quickPolls(inv, ctx, await inv.work.start(ctx));
}

/** Writes what the work answered: a renewed claim and a poll message, or the job's end. */
async function writeResult(inv: Invocation, held: HeldClaim, ctx: WorkContext, result: WorkResult): Promise<Outcome> {
  const { claim } = held;
  switch (result.kind) {
    case 'poll': {
      const workingValue = parseJsonObject(held.working.value);
      const polls = typeof workingValue.polls === 'number' ? workingValue.polls : 0;
      const delay = result.delaySeconds ?? pollDelayFor(polls, inv.pollDelay);
      const value = { ...workingValue, polls: polls + 1, ...definedOnly({ step: result.step }) };
      if (!(await renewClaim(inv.store, held, value, result.ops ?? [], inv.leaseSeconds + delay)))
        return done('another invocation is polling this job');
      // The event of the put that created the working key: its modRevision names the claim.
      const poll: EtcdEventMessage = { key: held.working.key, modRevision: claim.createRevision, type: 'put' };
      return retryLater(delay, result.note ?? 'job in progress', poll);
    }
    case 'failed':
      return finish(inv, claim, { ok: false, error: result.error });
    case 'succeeded':
      await commitSuccess(inv.store, held, ctx.path, result);
      return finish(inv, claim, { ok: true }, result.note);
  }
}

/** Polls the work within this invocation, with doubling waits, for at most `quickPollMs`. */
async function quickPolls(inv: Invocation, ctx: WorkContext, first: WorkResult): Promise<WorkResult> {
  const until = Date.now() + inv.quickPollMs;
  let result = first;
  let wait = QUICK_POLL_FIRST_MS;
  while (result.kind === 'poll' && result.delaySeconds === undefined && Date.now() + wait <= until) {
    await sleep(wait);
    wait *= 2;
    const step = result.step ?? ctx.step;
    const ops = result.ops;
    result = await inv.work.poll({ ...ctx, step });
    // A poll answer keeps the step and the ops it lacks from the one before: what the renewal would
    // have written had this invocation not checked again.
    if (result.kind === 'poll')
      result = { ...result, ...definedOnly({ step: result.step ?? step, ops: result.ops ?? ops }) };
  }
  return result;
}

/** A claim not given back stays until its lease expires; the job is then in limbo and taken again. */
function releaseFailed(logger: Logger, claim: Claim, e: unknown): void {
  logger.warn('claim not released; it ends with its lease', {
    resource_key: claim.keys.working(claim.jobId),
    etcd_revision: claim.createRevision,
    error: errorMessage(e),
  });
}

/** An error of the work: the job's failure, a retry (the claim released, SQS redelivers), or thrown. */
async function onError(inv: Invocation, claim: Claim, err: unknown): Promise<Outcome> {
  const { store, logger, maxAttempts } = inv;
  if (err instanceof ClaimLostError) {
    logger.warn('claim lost during work', { error: err.message });
    return done('claim lost');
  }
  const text = errorMessage(err);
  try {
    if (isTerminal(err) || inv.work.isJobFailure?.(err)) return await finish(inv, claim, { ok: false, error: text });
    if (isRetryable(err)) {
      const attempt = await retryJob(store, claim, text);
      if (attempt >= maxAttempts)
        return await finish(inv, claim, { ok: false, error: `${text} (gave up after ${attempt} attempts)` });
      logger.warn('transient failure; job released for a retry', { error: text, attempt, max_attempts: maxAttempts });
      await releaseClaim(store, claim).catch((e) => {
        if (!(e instanceof ClaimLostError)) throw e;
      });
      throw err;
    }
  } catch (e) {
    // A claim lost meanwhile ends the message: another invocation owns the job.
    if (e instanceof ClaimLostError) return done('claim lost');
    throw e;
  }
  // Unexpected (etcd unreachable, a bug): give the job back and let SQS redeliver the message.
  await releaseClaim(store, claim).catch((e) => releaseFailed(logger, claim, e));
  throw err;
}

async function finish(inv: Invocation, claim: Claim, outcome: JobOutcome, note?: string): Promise<Outcome> {
  const { logger } = inv;
  const r = await finishJob(inv.store, claim, outcome, { now: inv.now });
  const fields = { promoted: r.promoted, failed_dependents: r.failedDependents, duplicate: r.duplicate };
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
  const key = etcdKeys.jobState(path);
  await converge(`${key} (job ${held.claim.jobId} writing its result)`, async (round) => {
    // The first round uses the job state read with the claim; a retry (the fence failed) reads it again.
    const prevKv = round === 1 && held.extra.has(key) ? held.extra.get(key) : await store.get(key);
    const next = result.jobState?.(prevKv ? parseJsonObject(prevKv.value) : undefined);
    const text = next === undefined ? undefined : encodeEsiValue(next);
    const ops = [...(result.ops ?? []), ...(text !== undefined && text !== prevKv?.value ? [put(key, text)] : [])];
    return commitDecision(store, { result: undefined, when: [unchangedSince(key, prevKv)], then: ops }, () =>
      jobTxn(store, held.claim),
    );
  });
}

/**
 * Puts the working key with `value` on a new lease of `ttl` seconds, with `ops`, when the claim holds and the key is
 * unchanged since read. False when a duplicate poll message renewed it first: one poll chain per claim goes on.
 */
async function renewClaim(
  store: Store,
  { claim, working }: HeldClaim,
  value: Record<string, unknown>,
  ops: Op[],
  ttl: number,
): Promise<boolean> {
  const lease = await store.grantLease(ttl);
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
  return ok;
}
