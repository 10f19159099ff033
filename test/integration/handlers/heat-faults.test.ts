/**
 * Heat faults through the heat handler (Heat simulator fault rules): each ends with the right
 * /jobs/finished value, a readable error and nothing left in working/waiting.
 * The Heat client here does not retry within a call, so every 5xx reaches the job runner.
 */
import type { Job } from '../../../shared/planner/types';
import {
  counts,
  deletedLoadBalancerRecord,
  finishedOf,
  harness,
  loadBalancerJob,
  notStuck,
  preCreateStack,
  stackOf,
  type Harness,
} from './helpers';

// Seed 002's load balancer job: heat_timeout 3 (minutes) → deadline 3 min + 60 s grace.
const lbJob = loadBalancerJob;

let h: Harness;
beforeAll(async () => {
  h = await harness('faults', { retry: { retries: 0, initialDelayMs: 1, maxDelayMs: 1 }, runner: { maxAttempts: 5 } });
});
afterAll(async () => h.stop());
afterEach(async () => {
  await h.sim('/_sim/faults', { method: 'DELETE' });
});

async function run(job: Job, opts: { redeliveries?: number } = {}): Promise<void> {
  await h.writeJob(job);
  let res = await h.invoke('heat', h.jobRecord(job.id));
  // A thrown (transient) failure is redelivered by SQS: here, at once.
  for (let n = 2; res.batchItemFailures.length && n <= (opts.redeliveries ?? 0) + 1; n++)
    res = await h.invoke('heat', h.jobRecord(job.id, n));
  await h.drive('heat', async () => Boolean(await finishedOf(h, job.id)));
  expect(await notStuck(h, job.id)).toEqual([]);
}

it("create fails → the job fails with Heat's status reason", async () => {
  const job = lbJob();
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: stackOf(job), mode: 'fail', reason: 'No valid host was found', ops: ['create'] },
  });
  await run(job);
  expect(await finishedOf(h, job.id)).toMatchObject({
    ok: false,
    error: `stack ${stackOf(job)} CREATE_FAILED: Resource CREATE failed: No valid host was found`,
  });
  expect(await h.store.get(`/esi-worker/heat_stacks/v2.0/load_balancers/${job.resource_id}`)).toBeUndefined();
});

it('update times out → the job fails with "Timed out"', async () => {
  const job = lbJob('modify');
  await preCreateStack(h, stackOf(job));
  await h.sim('/_sim/config', { method: 'POST', body: { minute_ms: 20 } });
  await h.sim('/_sim/faults', { method: 'POST', body: { match: stackOf(job), mode: 'hang', ops: ['update'] } });
  try {
    await run(job);
  } finally {
    await h.sim('/_sim/config', { method: 'POST', body: { minute_ms: 60_000 } });
  }
  expect(await finishedOf(h, job.id)).toMatchObject({
    ok: false,
    error: `stack ${stackOf(job)} UPDATE_FAILED: Timed out`,
  });
  expect(await counts(h, stackOf(job))).toMatchObject({ creates: 1, updates: 1 });
});

it('5xx three times, then success → one create, three attempts counted, job succeeds', async () => {
  const job = lbJob();
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: stackOf(job), mode: 'http_error', status: 503, times: 3, ops: ['create'] },
  });
  await run(job, { redeliveries: 3 });
  expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
  expect(await counts(h, stackOf(job))).toEqual({ creates: 1, updates: 0, deletes: 0 });
  const [, , attempts] = (await h.json(h.keys.all(job.id))) as [string, Job, number];
  expect(attempts).toBe(3);
  expect(await h.json(`/esi-worker/heat_stacks/v2.0/load_balancers/${job.resource_id}`)).toMatchObject({
    stack_status: 'CREATE_COMPLETE',
  });
});

it('5xx beyond ESI_JOB_MAX_ATTEMPTS → the job fails with the last error', async () => {
  const job = lbJob();
  await h.sim('/_sim/faults', {
    method: 'POST',
    body: { match: stackOf(job), mode: 'http_error', status: 503, times: 50, ops: ['create'] },
  });
  await run(job, { redeliveries: 10 });
  const fin = await finishedOf(h, job.id);
  expect(fin).toMatchObject({ ok: false });
  expect(fin!.error).toMatch(/503.*\(gave up after 5 attempts\)$/);
  expect(await counts(h, stackOf(job))).toEqual({ creates: 0, updates: 0, deletes: 0 });
});

it("400 invalid template → the job fails at once with Heat's message", async () => {
  const job = lbJob();
  // A number parameter given text: the template is fine, Heat rejects the value (400).
  job.params = job.params.map<Job['params'][number]>((p) =>
    p.param === 'version' ? { ...p, type: 'value' as const, value: 'not-a-number' } : p,
  );
  await run(job);
  const fin = await finishedOf(h, job.id);
  expect(fin).toMatchObject({ ok: false });
  expect(fin!.error).toMatch(/^heat POST \/v1\/\S+\/stacks: 400 StackValidationFailed: Parameter 'version' is invalid/);
  expect(await counts(h, stackOf(job))).toEqual({ creates: 0, updates: 0, deletes: 0 });
  expect(((await h.json(h.keys.all(job.id))) as unknown[])[2]).toBe(0);
});

it('stack already deleted → the delete job succeeds with the DELETE_COMPLETE record', async () => {
  const job = lbJob('logical_delete');
  await preCreateStack(h, stackOf(job));
  await h.heatClient.deleteStack(stackOf(job));
  await run(job);
  expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
  expect(await h.json(`/esi-worker/heat_stacks/v2.0/load_balancers/${job.resource_id}`)).toEqual(
    deletedLoadBalancerRecord(job),
  );
  expect((await counts(h, stackOf(job))).deletes).toBe(1); // the test's own delete, none by the job
});
