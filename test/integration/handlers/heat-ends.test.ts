/**
 * Every stack ends, whatever happens to the invocations watching it: the deadline of a stack
 * operation lives in its operation record (etcd), not in the claim, so a job whose claim expired
 * and is picked up again keeps it; a job re-run on a stack already complete with the same template
 * and parameters sends nothing to Heat; one stack's faults do not open another stack's circuit.
 * The clock of the job runner is the test's (moved forward instead of waiting minutes).
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
import { del } from '../../../shared/store/store';
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

// Seed 002's load balancer job: heat_timeout 3 (minutes) → deadline 3 min + 60 s grace.
const lbJob = loadBalancerJob;
const opKey = (j: Job) => `/esi-worker/heat_operations/v2.0/load_balancers/${j.resource_id}`;
const stackKey = (j: Job) => `/esi-worker/heat_stacks/v2.0/load_balancers/${j.resource_id}`;

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
const again = (job: Job, n: number) => h.invoke('heat', h.readyRecord(job.id, n));

it("a stack hanging past its deadline, its claim expired: the job ends *_FAILED with Heat's status, no second operation", async () => {
  const job = lbJob();
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: stackOf(job), mode: 'hang', endless: true, ops: ['create'] },
  });
  await h.writeJob(job);
  await h.invoke('heat', h.readyRecord(job.id));
  const first = (await h.json(opKey(job))) as { deadline_at: string; started_at: string };
  expect(first).toMatchObject({ job_id: job.id, action: 'CREATE', state: 'in_progress', stack_name: stackOf(job) });
  expect(Date.parse(first.deadline_at) - Date.parse(first.started_at)).toBe((3 * 60 + 60) * 1000);

  // Nobody polls (the poll messages are left in their queue): the claim expires.
  await claimGone(job);
  // Picked up again before the deadline: it waits for the same operation, with the same deadline.
  offsetMs = 60_000;
  await again(job, 2);
  expect(await h.json(opKey(job))).toEqual(first);
  expect(await finishedOf(h, job.id)).toBeUndefined();

  await claimGone(job);
  // Picked up again after the deadline.
  offsetMs = 5 * 60_000;
  await again(job, 3);
  expect(await finishedOf(h, job.id)).toMatchObject({
    ok: false,
    error: `stack ${stackOf(job)} CREATE_IN_PROGRESS: timed out: not finished by ${first.deadline_at} (Heat: Stack CREATE started)`,
  });
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  expect(await h.store.get(stackKey(job))).toBeUndefined();
  expect(await notStuck(h, job.id)).toEqual([]);
});

it("Heat times the stack out while no claim watches it: the job ends with Heat's reason, no UPDATE", async () => {
  const job = lbJob();
  await h.sim('/_sim/config', { method: 'POST', body: { minute_ms: 100 } }); // Heat's 3 minutes: 300 ms
  await h.sim('/_sim/faults', { method: 'POST', body: { match: stackOf(job), mode: 'hang', ops: ['create'] } });
  await h.writeJob(job);
  await h.invoke('heat', h.readyRecord(job.id));
  await claimGone(job);
  await waitFor(async () => (await h.heatClient.showStack(stackOf(job)))?.status === 'CREATE_FAILED', {
    what: 'Heat to time the stack out',
  });
  await again(job, 2);
  expect(await finishedOf(h, job.id)).toMatchObject({
    ok: false,
    error: `stack ${stackOf(job)} CREATE_FAILED: Timed out`,
  });
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  expect(await notStuck(h, job.id)).toEqual([]);
});

it('a job re-run on the stack it completed sends no UPDATE; a later job with other parameters does', async () => {
  const first = lbJob();
  await h.writeJob(first);
  await h.invoke('heat', h.readyRecord(first.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, first.id)));
  expect(await finishedOf(h, first.id)).toMatchObject({ ok: true });
  const record = await h.json(stackKey(first));
  expect(record).toMatchObject({ stack_status: 'CREATE_COMPLETE' });

  // The same job run again after its stack operation completed and its success was written, as
  // when its invocation died before the finish: etcd as that crash leaves it (no finished key).
  await h.store
    .txn()
    .then(del(h.keys.finished(first.id)))
    .commit();
  await h.invoke('heat', h.readyRecord(first.id, 2));
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
  await h.invoke('heat', h.readyRecord(changed.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, changed.id)));
  expect(await finishedOf(h, changed.id)).toMatchObject({ ok: true });
  expect(await counts(h, stackOf(first))).toEqual({ creates: 1, updates: 1, deletes: 0 });
  expect(await h.json(opKey(first))).toMatchObject({ job_id: changed.id, action: 'UPDATE', state: 'complete' });
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
    const res = await handler(sqsEvent(h2.readyRecord(job.id)), lambdaContext('esi-test-heat'));
    expect(res?.batchItemFailures).toHaveLength(1); // the timeout: a transient failure, redelivered
    await waitFor(async () => (await h.heatClient.showStack(stackOf(job)))?.status === 'CREATE_COMPLETE', {
      what: 'the late create to complete',
    });
    const again2 = await handler(sqsEvent(h2.readyRecord(job.id, 2)), lambdaContext('esi-test-heat'));
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
  await h.invoke('heat', h.readyRecord(job.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, job.id)));
  expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
  expect(await h.store.get(stackKey(job))).toBeUndefined();
  expect(await h.store.get(opKey(job))).toBeUndefined();
  expect((await counts(h, stackOf(job))).deletes).toBe(1);
  expect(await notStuck(h, job.id)).toEqual([]);
});
