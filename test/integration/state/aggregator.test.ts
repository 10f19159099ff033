/**
 * The aggregator on real etcd with seed 004's chain (monitoring delete → heat modify → monitoring
 * create): jobs claimed and finished through the job lifecycle, job state as the seed's point (5);
 * /state must equal the seed's point (6) and the chain must be gone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { handler } from '../../../functions/aggregator/handler';
import { pyDumps } from '../../../shared/encoding/pyjson';
import { claimJob } from '../../helpers/claim';
import { defaultJobKeys, encodeStoredJob, finishJob, jobWrites, type Job } from '../../../shared/jobs';
import { EtcdStore } from '../../../shared/store/etcd-store';
import { put } from '../../../shared/store/store';
import { expectedJobs, seedFixtures } from '../../helpers/seed-etcd';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';
import { at } from '../../helpers/at';

const store = new EtcdStore();
afterAll(() => store.close());

const seed004 = seedFixtures().find((s) => s.seed.startsWith('004'))!;
const seedState = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../fixtures/state/004_18d39a09107f9f1f.json'), 'utf8'),
);

/** Seed 004's jobs under a fresh resource id, so runs and files do not meet. */
function chainJobs(resourceId: string, version = 2): Job[] {
  return expectedJobs(seed004).map(({ job }) => {
    const id = job.id.replace(job.resource_id, resourceId).replace(/:2:/, `:${version}:`);
    return {
      ...job,
      id,
      resource_id: resourceId,
      version,
      job_name: `port:${resourceId}:${version}`,
      dependency: job.dependency.map((d) => d.replace(job.resource_id, resourceId).replace(/:2:/, `:${version}:`)),
    };
  });
}

/** Stores the chain, then claims and finishes `run` of its jobs (default all) with the given results. */
async function runChain(jobs: Job[], results: Record<string, 'ok' | 'fail'>, run = jobs.length): Promise<string> {
  // Written as the planner writes them (jobWrites: dependents index keys for the waiting ones).
  const w = await jobWrites(
    store,
    jobs.map((j) => ({ handler: j.handler, job: j, attempt: 0 })),
  );
  await store
    .txn()
    .when(...w.compares)
    .then(...w.ops)
    .commit();
  let last = '';
  for (const j of jobs.slice(0, run)) {
    const claim = await claimJob(store, j.id, 'test-worker', 60);
    expect(claim).toBeDefined();
    const r = results[j.handler + ':' + j.action];
    await finishJob(
      store,
      claim!,
      r === 'fail' ? { ok: false, error: 'no monitoring target for the port yet' } : { ok: true },
    );
    last = j.id;
  }
  return last;
}

const invoke = (key: string) =>
  handler(sqsEvent(sqsRecord({ key, modRevision: 1, type: 'put' })), lambdaContext('esi-test-aggregator'));
const json = async (key: string) => {
  const kv = await store.get(key);
  return kv ? JSON.parse(kv.value) : undefined;
};

test("seed 004: the completed chain gives the seed's /state; the chain and its job state are removed", async () => {
  const rid = `agg-${Date.now()}`;
  const jobs = chainJobs(rid);
  await store
    .txn()
    .then(put(`/esi-worker/job_state/v2.0/ports/${rid}`, pyDumps(seedState.job_state, { sortKeys: true })))
    .commit();
  const last = await runChain(jobs, {
    'monitoring_worker:delete': 'fail',
    'heat_worker:modify': 'ok',
    'monitoring_worker:create': 'ok',
  });

  // A message for a job that is not the last changes nothing yet; the last one aggregates.
  await invoke(defaultJobKeys.finished(last));
  const state = await json(`/state/v2.0/ports/${rid}`);
  expect(state).toEqual(seedState.state.value);
  for (const j of jobs) {
    expect(await store.get(defaultJobKeys.all(j.id))).toBeUndefined();
    expect(await store.get(defaultJobKeys.finished(j.id))).toBeUndefined();
  }
  expect(await store.get(`/esi-worker/job_state/v2.0/ports/${rid}`)).toBeUndefined();

  // A duplicate delivery: nothing is written again.
  const before = (await store.get(`/state/v2.0/ports/${rid}`))!.modRevision;
  expect(await invoke(defaultJobKeys.finished(last))).toEqual({ batchItemFailures: [] });
  expect((await store.get(`/state/v2.0/ports/${rid}`))!.modRevision).toBe(before);
});

test('a failed chain reports <ACTION>_FAILED with the root cause', async () => {
  const rid = `agg-fail-${Date.now()}`;
  const jobs = chainJobs(rid);
  await runChain(jobs, { 'monitoring_worker:delete': 'ok', 'heat_worker:modify': 'fail' }, 2);
  // The heat modify failed: the monitoring create was failed by it; its finished key completes the chain.
  const monitoringCreate = at(jobs, 2, 'chain jobs');
  expect(JSON.parse((await store.get(defaultJobKeys.finished(monitoringCreate.id)))!.value)).toMatchObject({
    ok: false,
  });
  await invoke(defaultJobKeys.finished(monitoringCreate.id));
  const state = await json(`/state/v2.0/ports/${rid}`);
  expect(state).toMatchObject({
    state: { worker_state: 'CREATE_FAILED' },
    version: 2,
    error: expect.stringContaining('no monitoring target for the port yet'),
  });
});

test('a late aggregation of an older version does not overwrite the newer /state, but still clears its chain', async () => {
  const rid = `agg-late-${Date.now()}`;
  const newer = { error: '', state: { worker_state: 'MODIFY_COMPLETED' }, version: 3 };
  await store
    .txn()
    .then(put(`/state/v2.0/ports/${rid}`, JSON.stringify(newer)))
    .commit();
  const jobs = chainJobs(rid, 2);
  const last = await runChain(jobs, {
    'monitoring_worker:delete': 'ok',
    'heat_worker:modify': 'ok',
    'monitoring_worker:create': 'ok',
  });
  await invoke(defaultJobKeys.finished(last));
  expect(await json(`/state/v2.0/ports/${rid}`)).toEqual(newer);
  expect(await store.get(defaultJobKeys.all(last))).toBeUndefined();
});

test("a chain completing after the next version's chain was planned leaves the resource's job state to that chain", async () => {
  const rid = `agg-next-${Date.now()}`;
  const jobs = chainJobs(rid, 2);
  const jobStateKey = `/esi-worker/job_state/v2.0/ports/${rid}`;
  const next = { heat_outputs: [{ description: 'd', output_key: 'k', output_value: 'v3' }] };
  const last = await runChain(jobs, {
    'monitoring_worker:delete': 'ok',
    'heat_worker:modify': 'ok',
    'monitoring_worker:create': 'ok',
  });
  // Meanwhile version 3's chain was planned (its job is under /jobs/all) and its heat job
  // already wrote its outputs into the resource's job state.
  const v3 = {
    ...at(jobs, 1, 'chain jobs'),
    id: `modify:heat_worker:port:${rid}:3:abcde`,
    version: 3,
    job_name: `port:${rid}:3`,
  };
  await store
    .txn()
    .then(
      put(defaultJobKeys.all(v3.id), encodeStoredJob({ handler: v3.handler, job: v3, attempt: 0 })),
      put(jobStateKey, pyDumps(next, { sortKeys: true })),
    )
    .commit();
  await invoke(defaultJobKeys.finished(last));
  expect(await json(`/state/v2.0/ports/${rid}`)).toMatchObject({
    state: { worker_state: 'CREATE_COMPLETED' }, // the chain's last job is the monitoring create
    version: 2,
  });
  expect(await store.get(defaultJobKeys.all(last))).toBeUndefined();
  expect(await json(jobStateKey)).toEqual(next);
  expect(await store.get(defaultJobKeys.all(v3.id))).toBeDefined();
});

test('an unreadable job state is read as empty, as the job runner reads it: /state is written, the chain removed', async () => {
  const rid = `agg-unreadable-${Date.now()}`;
  const jobStateKey = `/esi-worker/job_state/v2.0/ports/${rid}`;
  await store.txn().then(put(jobStateKey, '{not json')).commit();
  const jobs = chainJobs(rid);
  const last = await runChain(jobs, {
    'monitoring_worker:delete': 'ok',
    'heat_worker:modify': 'ok',
    'monitoring_worker:create': 'ok',
  });
  expect(await invoke(defaultJobKeys.finished(last))).toEqual({ batchItemFailures: [] });
  expect(await json(`/state/v2.0/ports/${rid}`)).toEqual({
    error: '',
    state: { worker_state: 'CREATE_COMPLETED' },
    version: 2,
  });
  for (const j of jobs) expect(await store.get(defaultJobKeys.all(j.id))).toBeUndefined();
  expect(await store.get(jobStateKey)).toBeUndefined();
});
