/**
 * Bounded reads of the job lifecycle (a resource's jobs by their ids' prefixes, the dependents
 * index): a change reads and writes only its own keys whatever backlog the store holds, and the
 * guarantees the folder scans gave still hold under concurrency.
 */
import { cleanupChain, finishJob, pendingJobsOf, readChain } from '../../../shared/jobs';
import type { JobKeys } from '../../../shared/jobs/job-keys';
import type { Job } from '../../../shared/planner/types';
import type { Store } from '../../../shared/store/store';
import { claimJob } from '../../helpers/claim';
import { clients, eventsSince, isolatedKeys, job, seedJobs, storeClient } from './helpers';
import { observedStore } from '../../helpers/observed-store';
import { at } from '../../helpers/at';

const store = storeClient();
afterAll(() => store.close());

const TTL = 60;

/** A store that records every range read, to show which folders a call scanned. */
function recording(inner: Store): { store: Store; ranges: string[] } {
  const ranges: string[] = [];
  const store = observedStore(inner, {
    range: (prefix) => ranges.push(prefix),
    // A transaction's range ops are range reads too.
    txn: (parts) => {
      for (const op of [...parts.then, ...parts.otherwise]) if (op.kind === 'range') ranges.push(op.prefix);
    },
  });
  return { store, ranges };
}

/** A job of its own resource and chain (`<type>:<id>:1`), as the planner would name it. */
const own = (type: string, id: string, dependency: string[], extra: Partial<Job> = {}): Job =>
  job(`create:heat_worker:${type}:${id}:1:${id.slice(-5).padStart(5, 'x')}`, dependency, {
    resource_type: type,
    resource_id: id,
    job_name: `${type}:${id}:1`,
    version: 1,
    is_last: true,
    ...extra,
  });

/** 200 unrelated jobs: 100 ready, 100 waiting for a job that never finishes. */
async function backlog(keys: JobKeys): Promise<void> {
  const blocker = own('network', 'blocker', []);
  await seedJobs(store, keys, [blocker]);
  for (let batch = 0; batch < 10; batch++) {
    const jobs = Array.from({ length: 20 }, (_, i) => {
      const n = batch * 20 + i;
      return own('port', `bl${String(n).padStart(5, '0')}`, batch % 2 ? [blocker.id] : []);
    });
    await seedJobs(store, keys, jobs);
  }
}

const folderScans = (keys: JobKeys, ranges: string[]) =>
  ranges.filter((p) => (['all', 'waiting', 'working', 'finished'] as const).some((s) => p === keys.prefix(s)));

test('finishing a job with a backlog of unrelated jobs reads no job folder and changes only its own keys and its dependent', async () => {
  const keys = isolatedKeys('backlog');
  await backlog(keys);
  const a = own('network', 'neta0', []);
  const b = own('port', 'porta', [a.id]);
  await seedJobs(store, keys, [a, b]);
  const rec = recording(store);
  const claim = (await claimJob(rec.store, a.id, 'o', TTL, { keys }))!;
  const from = (await store.revision()) + 1;
  const result = await finishJob(rec.store, claim, { ok: true });
  expect(result).toMatchObject({ duplicate: false, promoted: [b.id], failedDependents: [] });

  const changed = (await eventsSince(store, keys.root, from)).map((e) => `${e.type} ${e.key}`).sort();
  expect(changed).toEqual(
    [
      `put ${keys.finished(a.id)}`,
      `delete ${keys.working(a.id)}`,
      `delete ${keys.waiting(b.id)}`,
      `delete ${keys.dependent(a.id, b.id)}`,
    ].sort(),
  );
  expect(folderScans(keys, rec.ranges)).toEqual([]);

  // Clean-up of the completed chain: only its own keys, still no folder scan.
  const rec2 = recording(store);
  const from2 = (await store.revision()) + 1;
  const cleaned = await cleanupChain(
    rec2.store,
    { resource_type: 'network', resource_id: 'neta0', version: 1 },
    { keys },
  );
  expect(cleaned).toMatchObject({ cleaned: true, jobIds: [a.id] });
  expect((await eventsSince(store, keys.root, from2)).map((e) => `${e.type} ${e.key}`).sort()).toEqual(
    [`delete ${keys.all(a.id)}`, `delete ${keys.finished(a.id)}`].sort(),
  );
  expect(folderScans(keys, rec2.ranges)).toEqual([]);
});

test('10 dependencies finished concurrently with a backlog: one promotion, no backlog key touched', async () => {
  const keys = isolatedKeys('fan-in-backlog');
  await backlog(keys);
  const deps = Array.from({ length: 10 }, (_, i) => own('subnet', `sub0${i}`, []));
  const dependent = own(
    'port',
    'fanin',
    deps.map((d) => d.id),
  );
  await seedJobs(store, keys, [...deps, dependent]);
  const { stores, close } = clients(10);
  try {
    const claims = await Promise.all(deps.map((d, i) => claimJob(at(stores, i), d.id, `o${i}`, TTL, { keys })));
    const from = (await store.revision()) + 1;
    const results = await Promise.all(claims.map((c, i) => finishJob(at(stores, i), c!, { ok: true })));
    expect(results.filter((r) => r.promoted.includes(dependent.id))).toHaveLength(1);
    const events = await eventsSince(store, keys.root, from);
    const touched = new Set(events.map((e) => e.key));
    const expected = new Set([
      ...deps.flatMap((d) => [keys.finished(d.id), keys.working(d.id), keys.dependent(d.id, dependent.id)]),
      keys.waiting(dependent.id),
    ]);
    expect([...touched].filter((k) => !expected.has(k))).toEqual([]);
    expect(events.filter((e) => e.key === keys.waiting(dependent.id)).map((e) => e.type)).toEqual(['delete']);
    expect(await store.range(keys.dependents(at(deps, 0).id))).toMatchObject({ items: [] });
  } finally {
    close();
  }
});

test("the planner's view of a resource's unfinished jobs comes from its job ids' prefixes, and a finished job drops out", async () => {
  const keys = isolatedKeys('unfinished');
  await backlog(keys);
  const v1 = own('network', 'netu1', []);
  const v2 = job('modify:heat_worker:network:netu1:2:yyyyy', [v1.id], {
    resource_type: 'network',
    resource_id: 'netu1',
    job_name: 'network:netu1:2',
    version: 2,
    is_last: true,
  });
  await seedJobs(store, keys, [v1]);
  await seedJobs(store, keys, [v2]);
  const resources = [
    { type: 'network', id: 'netu1' },
    { type: 'network', id: 'never-planned' },
  ];
  const rec = recording(store);
  expect([...(await pendingJobsOf(rec.store, keys, resources)).unfinished]).toEqual([
    ['network\u0000netu1', [v2.id, v1.id].sort()],
    ['network\u0000never-planned', []],
  ]);
  expect(folderScans(keys, rec.ranges)).toEqual([]);
  await finishJob(store, (await claimJob(store, v1.id, 'o', TTL, { keys }))!, { ok: true });
  expect((await pendingJobsOf(store, keys, resources)).unfinished.get('network\u0000netu1')).toEqual([v2.id]);
  // Planning writes nothing but the jobs' own keys (no index of the resource's chains).
  expect((await store.range(`${keys.root}resources/`)).items).toEqual([]);
});

test('a resource id that is a prefix of another, or contains ":", finds only its own jobs', async () => {
  const keys = isolatedKeys('prefixes');
  const net1 = own('network', 'net-1', []);
  const net10 = own('network', 'net-10', []);
  const a = own('network', 'a', []);
  // `a:1` version 2 has the id `create:...:network:a:1:2:...`, under the prefix of `a` version 1's chain.
  const a1v2 = job('create:heat_worker:network:a:1:2:zzzzz', [], {
    resource_type: 'network',
    resource_id: 'a:1',
    job_name: 'network:a:1:2',
    version: 2,
    is_last: true,
  });
  await seedJobs(store, keys, [net1, net10, a, a1v2]);
  const found = await pendingJobsOf(store, keys, [
    { type: 'network', id: 'net-1' },
    { type: 'network', id: 'a' },
    { type: 'network', id: 'a:1' },
  ]);
  expect([...found.unfinished]).toEqual([
    ['network\u0000net-1', [net1.id]],
    ['network\u0000a', [a.id]],
    ['network\u0000a:1', [a1v2.id]],
  ]);
  const read = await readChain(store, keys, { resource_type: 'network', resource_id: 'a', version: 1 });
  expect(read.ids).toEqual([a.id]);
  expect(read.resourceIds).toEqual([a.id]);
});
