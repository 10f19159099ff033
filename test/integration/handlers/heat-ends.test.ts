/**
 * Every stack ends, whatever happens to the invocations watching it: the deadline of a stack
 * operation counts from Heat's own start of it (the stack's updated_time, else creation_time), so a
 * job whose claim expired and is picked up again keeps it; the operation tag on the stack tells a
 * job its own operation, so a job re-run on a stack its operation left complete (or failed) sends
 * nothing to Heat; one stack's faults do not open another stack's circuit. Nothing of an operation
 * is kept in etcd. The clock of the job runner is the test's (moved forward instead of waiting
 * minutes); the simulator's clock is the real one.
 */
import { HeatClient } from '../../../shared/clients/heat';
import type { Job, Param } from '../../../shared/planner/types';
import { heatWork } from '../../../shared/work/heat-work';
import { jobRunner } from '../../../shared/work/job-runner';
import { createLogger } from '../../../shared/log/logger';
import { sqsConsumer } from '../../../shared/sqs/consumer';
import { lambdaContext, sqsEvent } from '../../helpers/sqs-event';
import { waitFor } from '../../helpers/wait';
import { sessionFor } from '../clients/helpers';
import { del, put } from '../../../shared/store/store';
import {
  cloneJob,
  counts,
  finishedOf,
  harness,
  loadBalancerJob,
  notStuck,
  preCreateStack,
  stackOf,
  uid,
  type Harness,
} from './helpers';
import { definedOnly } from '../../../shared/defined-only';

// Seed 002's load balancer job: heat_timeout 3 (minutes) → deadline 3 min + 60 s grace.
const lbJob = loadBalancerJob;
const stackKey = (j: Job) => `/esi-worker/heat_stacks/v2.0/load_balancers/${j.resource_id}`;
const GRACE_MS = 60_000;
const TAG = /^esi-op=[0-9a-f]{64}$/;

/** Every key under /esi-worker/ the resource has (the folders the worker ever wrote), as JSON. */
async function workerKeysOf(j: Job): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const folder of ['config', 'heat_stacks', 'heat_operations', 'job_state']) {
    const key = `/esi-worker/${folder}/v2.0/load_balancers/${j.resource_id}`;
    const v = await h.json(key);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** The simulator's stack of that name, as its engine holds it (Heat's own times and tags). */
const heatStack = (j: Job) => [...h.heat.engine.stacks].reverse().find((s) => s.name === stackOf(j))!;

/** The finished value of a job that failed with `error` (every field). */
const failedWith = (j: Job, error: string) => ({
  ok: false,
  error,
  on_failure: j.on_failure,
  finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  claim_revision: expect.any(Number),
});

let h: Harness;
let offsetMs = 0;
beforeAll(async () => {
  // A 2 s lease: a claim nobody renews (its Lambda died) is gone within seconds.
  h = await harness('ends', { runner: { leaseSeconds: 2, now: () => new Date(Date.now() + offsetMs) } });
});
afterAll(async () => h.stop());
afterEach(async () => {
  offsetMs = 0;
  await h.sim('/_sim/faults', { method: 'DELETE' });
  await h.sim('/_sim/config', { method: 'POST', body: { minute_ms: 60_000 } });
});

const claimGone = (job: Job) =>
  waitFor(async () => !(await h.store.get(h.keys.working(job.id))), { timeoutMs: 15_000, what: 'the claim to expire' });

/** The job's message handled again, as the reconciler or a redelivery would, with nobody polling in between. */
const again = (job: Job, n: number) => h.invoke('heat', h.jobRecord(job.id, n));

/** Runs the job on a stack whose `op` hangs for good; Heat's stack as it then is. */
async function startHanging(job: Job, op: 'create' | 'update' | 'delete') {
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: stackOf(job), mode: 'hang', endless: true, ops: [op] },
  });
  await h.writeJob(job);
  await h.invoke('heat', h.jobRecord(job.id));
  return heatStack(job);
}

/** Heat's start of an operation + the job's heat_timeout (3 minutes) + the grace. */
const deadlineFrom = (start: string) => new Date(Date.parse(start) + 3 * 60_000 + GRACE_MS).toISOString();

/** The step the job's claim holds. */
const stepOf = async (job: Job) => ((await h.json(h.keys.working(job.id))) as { step: Record<string, unknown> }).step;

/** The step of a job waiting for its create of `stack`: Heat's creation_time and the deadline from it. */
const createStep = (job: Job, stack: { id: string; creationTime: string }) => ({
  action: 'CREATE',
  stack_name: stackOf(job),
  stack_id: stack.id,
  stack_href: expect.stringContaining(`/stacks/${stackOf(job)}/${stack.id}`),
  timeout_mins: 3,
  started_at: stack.creationTime,
  deadline_at: deadlineFrom(stack.creationTime),
});

/**
 * The claim expires and the job is picked up again (its n-th delivery) past the deadline: it ends
 * failed with the stack's `<action>_IN_PROGRESS` and Heat's reason, nothing of it left running.
 */
async function overdueRerun(job: Job, n: number, action: string, deadline: string) {
  await claimGone(job);
  offsetMs = 5 * 60_000;
  await again(job, n);
  expect(await finishedOf(h, job.id)).toEqual(
    failedWith(
      job,
      `stack ${stackOf(job)} ${action}_IN_PROGRESS: timed out: not finished by ${deadline} (Heat: Stack ${action} started)`,
    ),
  );
  expect(await notStuck(h, job.id)).toEqual([]);
}

it("a stack hanging past its deadline, its claim expired: the job ends *_FAILED with Heat's status, no second operation", async () => {
  const job = lbJob();
  const stack = await startHanging(job, 'create');
  // Heat's stack: created, never updated, tagged with the job's operation.
  expect([stack.updatedTime, stack.tags]).toEqual([null, [expect.stringMatching(TAG)]]);
  const deadline = deadlineFrom(stack.creationTime);

  // Nobody polls (the poll messages are left in their queue): the claim expires.
  await claimGone(job);
  // Picked up again a minute later: it waits for the same operation, with the deadline counted
  // from Heat's creation_time, not from this invocation.
  offsetMs = 60_000;
  await again(job, 2);
  expect(await finishedOf(h, job.id)).toBeUndefined();
  expect(await stepOf(job)).toEqual(createStep(job, stack));

  await overdueRerun(job, 3, 'CREATE', deadline);
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  expect(await workerKeysOf(job)).toEqual({});
});

it("a claim whose step an earlier version stored (no timeout, a spec hash) is followed again from Heat's stack", async () => {
  const job = lbJob();
  const stack = await startHanging(job, 'create');
  const working = (await h.store.get(h.keys.working(job.id)))!;
  const value = JSON.parse(working.value) as { step: Record<string, unknown> };
  const { timeout_mins: _dropped, ...earlier } = value.step;
  await h.store
    .txn()
    .then(
      put(
        working.key,
        JSON.stringify({ ...value, step: { ...earlier, spec_hash: 'f'.repeat(64) } }),
        definedOnly({ lease: working.lease }),
      ),
    )
    .commit();
  await h.drive('heat', async () => (await stepOf(job)).timeout_mins === 3);
  expect(await stepOf(job)).toEqual(createStep(job, stack));
  expect(await finishedOf(h, job.id)).toBeUndefined();
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
});

it("an update hanging past its deadline, its claim expired: the deadline counts from Heat's updated_time", async () => {
  const first = lbJob();
  await h.writeJob(first);
  await h.invoke('heat', h.jobRecord(first.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, first.id)));
  const created = await h.json(stackKey(first));
  const update = cloneJob(first, { resourceId: first.resource_id, action: 'modify', isLast: true });
  const stack = await startHanging(update, 'update');
  expect(stack.updatedTime).toEqual(expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/));

  await overdueRerun(update, 2, 'UPDATE', deadlineFrom(stack.updatedTime!));
  expect(await counts(h, stackOf(first))).toEqual({ creates: 1, updates: 1, deletes: 0 });
  // The record of the create stays; the failed update wrote nothing.
  expect(await workerKeysOf(first)).toEqual({
    [stackKey(first)]: created,
    [`/esi-worker/job_state/v2.0/load_balancers/${first.resource_id}`]: {
      heat_outputs: (created as { output: unknown[] }).output,
      orchestration_state: 'CREATE_COMPLETE',
    },
  });
});

it("a delete hanging past its deadline, its claim expired: the deadline counts from Heat's updated_time, one DELETE", async () => {
  const job = lbJob('logical_delete');
  await preCreateStack(h, stackOf(job));
  const stack = await startHanging(job, 'delete');
  // Heat's convergence engine stamps updated_time when a delete starts.
  expect([stack.action, stack.status, stack.updatedTime]).toEqual(['DELETE', 'IN_PROGRESS', expect.any(String)]);

  await overdueRerun(job, 2, 'DELETE', deadlineFrom(stack.updatedTime!));
  // The re-run's DELETE met the running one (409) and was not counted: one delete.
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 1 });
  expect(await workerKeysOf(job)).toEqual({});
});

it("Heat times the stack out while no claim watches it: the job ends with Heat's reason, no UPDATE", async () => {
  const job = lbJob();
  await h.sim('/_sim/config', { method: 'POST', body: { minute_ms: 100 } }); // Heat's 3 minutes: 300 ms
  await h.sim('/_sim/faults', { method: 'POST', body: { match: stackOf(job), mode: 'hang', ops: ['create'] } });
  await h.writeJob(job);
  await h.invoke('heat', h.jobRecord(job.id));
  await claimGone(job);
  await waitFor(async () => (await h.heatClient.showStack(stackOf(job)))?.status === 'CREATE_FAILED', {
    what: 'Heat to time the stack out',
  });
  await again(job, 2);
  expect(await finishedOf(h, job.id)).toEqual(failedWith(job, `stack ${stackOf(job)} CREATE_FAILED: Timed out`));
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  expect(await workerKeysOf(job)).toEqual({});
  expect(await notStuck(h, job.id)).toEqual([]);
});

it('a job re-run on the stack it completed sends no UPDATE; a later job with other parameters does', async () => {
  const first = lbJob();
  await h.writeJob(first);
  await h.invoke('heat', h.jobRecord(first.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, first.id)));
  expect(await finishedOf(h, first.id)).toMatchObject({ ok: true });
  const record = (await h.json(stackKey(first))) as Record<string, unknown>;
  expect(record).toMatchObject({ stack_status: 'CREATE_COMPLETE' });
  const createdTags = heatStack(first).tags;

  // The same job run again after its stack operation completed and its success was written, as
  // when its invocation died before the finish: etcd as that crash leaves it (no finished key).
  await h.store
    .txn()
    .then(del(h.keys.finished(first.id)))
    .commit();
  await h.invoke('heat', h.jobRecord(first.id, 2));
  expect(await finishedOf(h, first.id)).toMatchObject({ ok: true });
  expect(await counts(h, stackOf(first))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  expect(await h.json(stackKey(first))).toEqual(record);
  expect(await notStuck(h, first.id)).toEqual([]);

  // Another parameter value: one UPDATE.
  const changed = cloneJob(first, { resourceId: first.resource_id, action: 'modify', isLast: true });
  changed.params = changed.params.map((p): Param =>
    p.param === 'version' ? { resources: [], type: 'value', value: 7, param: 'version' } : p,
  );
  await h.writeJob(changed);
  await h.invoke('heat', h.jobRecord(changed.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, changed.id)));
  expect(await finishedOf(h, changed.id)).toMatchObject({ ok: true });
  expect(await counts(h, stackOf(first))).toEqual({ creates: 1, updates: 1, deletes: 0 });
  // The update replaced the stack's tag with the later job's; the records follow the stack.
  const tags = heatStack(first).tags;
  expect(tags).toEqual([expect.stringMatching(TAG)]);
  expect(tags).not.toEqual(createdTags);
  // A new version re-registers the stack's monitoring target: the outputs are Heat's new ones.
  const output = heatStack(first).outputs;
  const updated = { ...record, output, stack_status: 'UPDATE_COMPLETE', status_reason: 'Stack successfully updated' };
  expect(await workerKeysOf(first)).toEqual({
    [stackKey(first)]: updated,
    [`/esi-worker/job_state/v2.0/load_balancers/${first.resource_id}`]: {
      heat_outputs: output,
      orchestration_state: 'UPDATE_COMPLETE',
    },
  });
});

it("a create answered after the HTTP timeout is recognised as the job's own: no UPDATE, no second create", async () => {
  const job = lbJob();
  // A client that gives up after 300 ms and does not retry within the call: the job runner retries.
  const impatient = new HeatClient({
    session: sessionFor(h.heat),
    timeoutMs: 300,
    retry: { retries: 0, initialDelayMs: 1, maxDelayMs: 1 },
  });
  const h2 = await harness('ends-late', { runner: { leaseSeconds: 5 } });
  try {
    const handler = sqsConsumer(
      jobRunner({
        store: h2.store,
        keys: h2.keys,
        work: heatWork({ heat: impatient }),
        pollDelaySeconds: 0,
        leaseSeconds: 5,
      }),
      { logger: createLogger('esi-test-ends-late'), retryQueueName: h2.pollQueue },
    );
    await h.sim('/_sim/faults', {
      method: 'POST',
      body: { match: stackOf(job), mode: 'latency', ms: 1500, committed: true, ops: ['create'], times: 1 },
    });
    await h2.writeJob(job);
    const res = await handler(sqsEvent(h2.jobRecord(job.id)), lambdaContext('esi-test-heat'));
    expect(res?.batchItemFailures).toHaveLength(1); // the timeout: a transient failure, redelivered
    await waitFor(async () => (await h.heatClient.showStack(stackOf(job)))?.status === 'CREATE_COMPLETE', {
      what: 'the late create to complete',
    });
    const again2 = await handler(sqsEvent(h2.jobRecord(job.id, 2)), lambdaContext('esi-test-heat'));
    expect(again2?.batchItemFailures).toEqual([]);
    expect(await finishedOf(h2, job.id)).toMatchObject({ ok: true });
    expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
    expect(await h2.json(stackKey(job))).toMatchObject({ stack_status: 'CREATE_COMPLETE' });
  } finally {
    await h2.stop();
  }
});

it("one stack's 5xx storm opens that stack's circuit only", async () => {
  const client = new HeatClient({
    session: sessionFor(h.heat),
    timeoutMs: 2000,
    retry: { retries: 0, initialDelayMs: 1, maxDelayMs: 1 },
    breaker: { threshold: 3, halfOpenAfterMs: 60_000 },
  });
  const sick = uid('sick');
  const healthy = uid('healthy');
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: `^${sick}$`, mode: 'http_error', status: 503, times: 100 },
  });
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const e = (await client.showStack(sick).catch((err: unknown) => err)) as { status?: number; code?: string };
    outcomes.push(String(e?.code ?? e?.status));
  }
  expect(outcomes).toEqual(['503', '503', '503', 'CIRCUIT_OPEN', 'CIRCUIT_OPEN']);
  await expect(client.showStack(healthy)).resolves.toBeUndefined();
});

it('a delete finishing after Gohan deleted the /config key leaves no stack record behind', async () => {
  const job = lbJob('logical_delete');
  await preCreateStack(h, stackOf(job));
  await h.writeJob(job);
  // Gohan removed the resource while its delete ran (the planner then removed its worker keys).
  await h.store
    .txn()
    .then(del(`/config/v2.0/load_balancers/${job.resource_id}`))
    .commit();
  await h.invoke('heat', h.jobRecord(job.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, job.id)));
  expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
  // No stack record; the job state stays for the aggregator, which removes it with the chain.
  expect(await workerKeysOf(job)).toEqual({
    [`/esi-worker/job_state/v2.0/load_balancers/${job.resource_id}`]: {
      heat_outputs: [],
      orchestration_state: 'DELETE_COMPLETE',
    },
  });
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 1 });
  expect(await notStuck(h, job.id)).toEqual([]);
});

it('a job state written by another between the claim and the success is kept: the merge reads it again', async () => {
  const job = lbJob();
  const jobStateKey = `/esi-worker/job_state/v2.0/load_balancers/${job.resource_id}`;
  // The job state as it is when the job is claimed (read with the claim) …
  await h.store
    .txn()
    .then(put(jobStateKey, JSON.stringify({ monitoring_state: 'before' })))
    .commit();
  const h2 = await harness('ends-merge', {
    runner: {
      hooks: {
        // … and as another writer leaves it after the claim, before this job's success is written.
        beforeCommit: async () => {
          await h.store
            .txn()
            .then(put(jobStateKey, JSON.stringify({ monitoring_state: 'ACTIVE' })))
            .commit();
        },
      },
    },
  });
  try {
    await h2.writeJob(job);
    await h2.invoke('heat', h2.jobRecord(job.id));
    await h2.drive('heat', async () => Boolean(await finishedOf(h2, job.id)));
    expect(await finishedOf(h2, job.id)).toMatchObject({ ok: true });
    const output = h2.heat.engine.stacks.find((s) => s.name === stackOf(job))!.outputs;
    expect(await h2.json(jobStateKey)).toEqual({
      monitoring_state: 'ACTIVE',
      heat_outputs: output,
      orchestration_state: 'CREATE_COMPLETE',
    });
  } finally {
    await h2.stop();
  }
});
