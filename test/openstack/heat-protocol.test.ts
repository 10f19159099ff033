/**
 * The heat handler's protocol against real Keystone and Heat (a pair of this file's own, so that
 * killing them disturbs no other file of the run, with 90 s tokens): the handler as
 * Lambda runs it (job runner, SQS poll messages, real etcd), its Heat client pointed at Debian's
 * Heat. Each case ends with what the handler promises — the job's /jobs/finished value, the
 * stack record and job state it writes, nothing left in working/waiting — and prints its time.
 *
 * Faults come from the real services: processes SIGKILLed and started again by PID, Keystone's
 * own token expiry, and the stub resource type's test hooks (a stack named `…esi-fail…` fails its
 * create, `…esi-hang…` never finishes, `…esi-slow…` takes 20 s; infra/openstack/heat-plugins).
 *
 * @waits 280 (Keystone's token lifetime, Heat's own timeout, the handler's deadline)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeatClient } from '../../shared/clients/heat';
import { KeystoneSession } from '../../shared/clients/keystone';
import type { Job, Param } from '../../shared/planner/types';
import { del } from '../../shared/store/store';
import { waitFor } from '../helpers/wait';
import {
  cloneJob,
  deletedLoadBalancerRecord,
  finishedOf,
  harness,
  notStuck,
  seedJob,
  stackOf,
  uid,
  type Harness,
} from '../integration/handlers/helpers';
import { type RealOpenStack, type ServiceProcess, startOpenStack } from '../../infra/openstack/openstack';
import { describeOpenStack } from '../helpers/openstack';

jest.setTimeout(600_000);

const RETRY = { retries: 1, initialDelayMs: 200, maxDelayMs: 1000 };

/** This file's Keystone + Heat, started before its cases. */
let tier: RealOpenStack;

function realSession(): KeystoneSession {
  return new KeystoneSession({
    authUrl: tier.keystoneUrl,
    ...tier.credentials,
    interface: 'public',
    region: tier.region,
    timeoutMs: 10_000,
    retry: RETRY,
  });
}

async function realHarness(name: string, session = realSession()): Promise<Harness> {
  const heatClient = new HeatClient({ session, retry: RETRY, timeoutMs: 15_000 });
  return harness(name, { heatClient, runner: { maxAttempts: 20, pollDelaySeconds: 1 } });
}

/** Seed 002's load balancer job for a fresh resource whose id carries `marker`; heat_timeout in minutes. */
function lbJob(marker: string, action = 'create', heatTimeout = 3): Job {
  const job = cloneJob(seedJob('002_addf4c9d80b3d0e0'), {
    resourceId: uid(`lb-${marker}`),
    action,
    isLast: true,
  });
  job.params = job.params.map((p): Param =>
    p.param === 'heat_timeout' ? { resources: [], type: 'value', value: heatTimeout, param: p.param } : p,
  );
  return job;
}

const stackKey = (j: Job) => `/esi-worker/heat_stacks/v2.0/load_balancers/${j.resource_id}`;
const jobStateKey = (j: Job) => `/esi-worker/job_state/v2.0/load_balancers/${j.resource_id}`;
const seconds = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/** Writes the job, hands it to the handler (redelivering a thrown batch item, as SQS does), polls it to its end. */
async function run(h: Harness, job: Job, o: { before?: () => Promise<void>; timeoutMs?: number } = {}) {
  await h.writeJob(job);
  await h.invoke('heat', h.jobRecord(job.id));
  await o.before?.();
  let n = 2;
  await h.drive(
    'heat',
    async () => {
      if (await finishedOf(h, job.id)) return true;
      // A job whose first delivery threw (the service was down) is delivered again.
      if (!(await h.store.get(h.keys.working(job.id)))) await h.invoke('heat', h.jobRecord(job.id, n++));
      return Boolean(await finishedOf(h, job.id));
    },
    { timeoutMs: o.timeoutMs ?? 180_000 },
  );
  expect(await notStuck(h, job.id)).toEqual([]);
  return finishedOf(h, job.id);
}

/** The record and job state of a stack the job left complete: Heat's stack as it stands. */
async function expectComplete(h: Harness, job: Job, status: string) {
  const stack = (await h.heatClient.showStack(stackOf(job)))!;
  expect(stack.status).toBe(status);
  const output = stack.outputs.map((o) => ({
    description: o.description,
    output_key: o.output_key,
    output_value: o.output_value,
  }));
  expect(await h.json(stackKey(job))).toEqual({
    id: `load_balancer:${job.resource_id}`,
    output,
    stack_id: stackOf(job),
    stack_status: status,
    status_reason: stack.statusReason,
    tenant_id: job.resource_input.tenant_id,
  });
  expect(await h.json(jobStateKey(job))).toEqual({ heat_outputs: output, orchestration_state: status });
  return stack;
}

const finishedOk = (job: Job) => ({
  ok: true,
  on_failure: job.on_failure,
  finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  claim_revision: expect.any(Number),
});
const finishedFailed = (job: Job, error: string | RegExp) => ({
  ok: false,
  error: typeof error === 'string' ? error : expect.stringMatching(error),
  on_failure: job.on_failure,
  finished_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
  claim_revision: expect.any(Number),
});

/**
 * `service` killed before a new job arrives and started again before the job's next attempt: the
 * job completes; the time from the service's return and from the kill.
 */
async function downThenBack(
  h: Harness,
  service: ServiceProcess,
  marker: string,
): Promise<{ back: string; all: string }> {
  const job = lbJob(marker);
  await service.kill();
  const t0 = Date.now();
  let backAt = 0;
  const fin = await run(h, job, {
    before: async () => {
      expect(await finishedOf(h, job.id)).toBeUndefined();
      await service.start();
      backAt = Date.now();
    },
  });
  expect(fin).toEqual(finishedOk(job));
  await expectComplete(h, job, 'CREATE_COMPLETE');
  return { back: seconds(backAt), all: seconds(t0) };
}

describeOpenStack('the heat handler on real Heat', () => {
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-openstack-protocol-'));
    tier = await startOpenStack({ dataDir: dir, tokenExpirationSecs: 90 });
    h = await realHarness('os-protocol');
  });
  afterAll(async () => {
    await h?.stop();
    await tier?.stop();
    // Its logs stay (a failure is read there); the databases go.
    for (const entry of dir ? fs.readdirSync(dir) : [])
      if (entry !== 'logs') fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
  });

  it('a create, then the same job re-run on its complete stack: 0 UPDATEs (Heat never updated the stack)', async () => {
    const job = lbJob('rerun');
    const t0 = Date.now();
    expect(await run(h, job)).toEqual(finishedOk(job));
    const created = await expectComplete(h, job, 'CREATE_COMPLETE');
    const createdIn = seconds(t0);
    expect([created.updatedTime, created.tags]).toEqual([undefined, [expect.stringMatching(/^esi-op=[0-9a-f]{64}$/)]]);
    // As after a crash between the stack's completion and the job's finish.
    await h.store
      .txn()
      .then(del(h.keys.finished(job.id)))
      .commit();
    const t1 = Date.now();
    await h.invoke('heat', h.jobRecord(job.id, 2));
    expect(await finishedOf(h, job.id)).toEqual(finishedOk(job));
    const after = await expectComplete(h, job, 'CREATE_COMPLETE');
    expect([after.updatedTime, after.tags, after.creationTime]).toEqual([
      undefined,
      created.tags,
      created.creationTime,
    ]);
    console.log(
      `real Heat: create ${createdIn}; re-run on the complete stack ${seconds(t1)}, 0 UPDATEs (updated_time still null)`,
    );
  });

  it('a delete of a stack already gone: the job succeeds with the DELETE_COMPLETE record', async () => {
    const job = lbJob('gone', 'logical_delete');
    const t0 = Date.now();
    expect(await run(h, job)).toEqual(finishedOk(job));
    expect(await h.json(stackKey(job))).toEqual(deletedLoadBalancerRecord(job));
    expect(await h.heatClient.showStack(stackOf(job))).toBeUndefined();
    console.log(`real Heat: delete of a stack already gone ${seconds(t0)}`);
  });

  it("a resource that fails: the job fails with Heat's CREATE_FAILED and its reason", async () => {
    const job = lbJob('esi-fail');
    const t0 = Date.now();
    const fin = await run(h, job);
    expect(fin).toEqual(
      finishedFailed(job, /^stack load_balancer_\S+ CREATE_FAILED: Resource CREATE failed: Error: .*esi-fail/),
    );
    expect((await h.heatClient.showStack(stackOf(job)))?.status).toBe('CREATE_FAILED');
    console.log(`real Heat: failing resource → ${fin!.error} in ${seconds(t0)}`);
  });

  it("a resource hanging past heat_timeout (1 minute): Heat's own timeout fails the job", async () => {
    const job = lbJob('esi-hang', 'create', 1);
    const t0 = Date.now();
    const fin = await run(h, job, { timeoutMs: 240_000 });
    expect(fin).toEqual(finishedFailed(job, /^stack load_balancer_\S+ CREATE_FAILED: .*[Tt]imed out/));
    console.log(`real Heat: hang past heat_timeout → ${fin!.error} in ${seconds(t0)}`);
  });

  it('heat-all SIGKILLed in the middle of a create and started again: Heat leaves the stack in progress, the job ends at its deadline', async () => {
    // heat_timeout 1 minute: the handler's deadline is Heat's creation_time + 1 min + 60 s grace.
    const job = lbJob('esi-slow', 'create', 1);
    const t0 = Date.now();
    let restart = '';
    const fin = await run(h, job, {
      before: async () => {
        await waitFor(async () => (await h.heatClient.showStack(stackOf(job)))?.status === 'CREATE_IN_PROGRESS', {
          timeoutMs: 60_000,
          what: 'the create in progress',
        });
        const killedAt = Date.now();
        await tier.heat.kill();
        await tier.heat.start();
        restart = seconds(killedAt);
      },
      timeoutMs: 300_000,
    });
    // Heat's convergence engine does not take over a dead engine's operation: the stack stays
    // CREATE_IN_PROGRESS (and its own timeout died with the engine); the job ends at its deadline.
    const stack = (await h.heatClient.showStack(stackOf(job)))!;
    expect([stack.status, stack.statusReason]).toEqual(['CREATE_IN_PROGRESS', 'Stack CREATE started']);
    const deadline = new Date(Date.parse(stack.creationTime!) + 2 * 60_000).toISOString();
    expect(fin).toEqual(
      finishedFailed(
        job,
        `stack ${stackOf(job)} CREATE_IN_PROGRESS: timed out: not finished by ${deadline} (Heat: Stack CREATE started)`,
      ),
    );
    console.log(
      `real Heat: heat-all killed mid-create, answering again ${restart} later; ` +
        `the stack stays CREATE_IN_PROGRESS; the job failed at its deadline: ${seconds(t0)} after its write`,
    );
  });

  it('Heat API down (heat-all killed) when the job arrives, then back: the job completes', async () => {
    const t = await downThenBack(h, tier.heat, 'heatdown');
    console.log(`real Heat: Heat down then back → CREATE_COMPLETE ${t.back} after Heat was back (${t.all} in all)`);
  });

  it('Keystone down (uwsgi killed) when a new container authenticates, then back: the job completes', async () => {
    const fresh = await realHarness('os-keystone-down');
    try {
      const t = await downThenBack(fresh, tier.keystone, 'ksdown');
      console.log(
        `real Heat: Keystone down then back → CREATE_COMPLETE ${t.back} after Keystone was back (${t.all} in all)`,
      );
    } finally {
      await fresh.stop();
    }
  });

  it("a token past Keystone's expiry: Heat refuses it (401), the session renews, the next job completes", async () => {
    const session = realSession();
    const fresh = await realHarness('os-token', session);
    try {
      const first = await session.token();
      const lifetime = (first.expiresAt - Date.now()) / 1000;
      const t0 = Date.now();
      await waitFor(() => Date.now() > first.expiresAt + 1000, {
        timeoutMs: 400_000,
        intervalMs: 1000,
        what: 'the token to expire',
      });
      const stale = await fetch(`${tier.heatUrl}/${first.projectId}/stacks`, {
        headers: { 'X-Auth-Token': first.token },
      });
      expect(stale.status).toBe(401);
      const job = lbJob('token');
      const t1 = Date.now();
      expect(await run(fresh, job)).toEqual(finishedOk(job));
      await expectComplete(fresh, job, 'CREATE_COMPLETE');
      expect(session.authentications).toBe(2);
      console.log(
        `real Keystone: token lifetime ${lifetime.toFixed(0)} s; expired token refused by Heat (401) after ${seconds(t0)}; ` +
          `renewed (2 authentications), the job CREATE_COMPLETE in ${seconds(t1)}`,
      );
    } finally {
      await fresh.stop();
    }
  });
});
