import fs from 'node:fs';
import path from 'node:path';
import { jobWrites } from '../../../shared/jobs/enqueue';
import { jobKeys, type JobKeys } from '../../../shared/jobs/job-keys';
import type { StoredJob } from '../../../shared/jobs/values';
import type { Job } from '../../../shared/planner/types';
import { EtcdStore } from '../../../shared/store/etcd-store';
import { put, type Store, type WatchEvent } from '../../../shared/store/store';
import { MemoryStore } from '../../helpers/memory-store';
import { waitFor } from '../../helpers/wait';
import { at } from '../../helpers/at';

let n = 0;

/** A jobs root of its own, so test files and tests never see each other's keys. */
export function isolatedKeys(name: string): JobKeys {
  n++;
  return jobKeys(`/it-jobs/${name}-${process.pid}-${Date.now()}-${n}/jobs/`);
}

/** A job with only the fields the lifecycle reads (the unit tests' builder). */
export { job } from '../../unit/jobs/fixtures';

/** Writes jobs the way the planner does (jobWrites: all, + waiting for a job that must wait; guarded). */
export async function seedJobs(store: Store, keys: JobKeys, jobs: Job[]): Promise<Map<string, string>> {
  const stored: StoredJob[] = jobs.map((j) => ({ handler: j.handler, job: j, attempt: 0 }));
  const w = await jobWrites(store, stored, { keys });
  const res = await store
    .txn()
    .when(...w.compares)
    .then(...w.ops)
    .commit();
  if (!res.succeeded) throw new Error('seeding jobs failed its compares');
  return w.placement;
}

/** Seed 004's three jobs (monitoring delete, ignore → heat modify → monitoring create, is_last). */
/** Seed 004's chain in order: the monitoring delete, the heat modify, the monitoring create. */
export function seed004Jobs(): [Job, Job, Job] {
  const dir = path.resolve(__dirname, '../../fixtures/seeds');
  const file = fs.readdirSync(dir).find((f) => f.startsWith('004_'))!;
  const seed = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as {
    expected: { key: string; value: unknown }[];
  };
  const jobs = seed.expected
    .filter((e) => e.key.startsWith('/jobs/all/'))
    .map((e) => (e.value as [string, Job, number])[1]);
  if (jobs.length !== 3) throw new Error(`seed 004: expected 3 jobs, got ${jobs.length}`);
  return [at(jobs, 0), at(jobs, 1), at(jobs, 2)];
}

/** n separate etcd clients (separate connections), closed by the returned function. */
/**
 * The store the job lifecycle files run on: etcd in the integration project, and the same files
 * again in the unit project on one in-memory store (its global ESI_TEST_STORE is `memory`),
 * which the store contract suite holds to etcd's semantics (test/integration/store-contract.test.ts).
 */
const onMemory = (globalThis as { ESI_TEST_STORE?: string }).ESI_TEST_STORE === 'memory';
let memory: MemoryStore | undefined;
const memoryClient = (): Store & { close(): void } => {
  memory ??= new MemoryStore();
  const shared = memory;
  // Every client of the file is the one store, as every etcd client reaches the one etcd; a
  // client's close leaves it open.
  return new Proxy(shared, {
    get: (target, key) => {
      if (key === 'close') return () => undefined;
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
};

/** A client of the store the lifecycle runs on (a new connection on etcd). */
export const storeClient = (): Store & { close(): void } => (onMemory ? memoryClient() : new EtcdStore());

/** `count` clients of that store, as many Lambda containers would be. */
export function clients(count: number): { stores: (Store & { close(): void })[]; close: () => void } {
  const stores = Array.from({ length: count }, storeClient);
  return { stores, close: () => stores.forEach((s) => s.close()) };
}

let sentinels = 0;

/**
 * Every etcd event under prefix from fromRevision on, up to now: a sentinel key is written under
 * the prefix and the watch is read until it arrives, so nothing is missed and nothing is waited
 * for blindly.
 */
export async function eventsSince(store: Store, prefix: string, fromRevision: number): Promise<WatchEvent[]> {
  const sentinel = `${prefix}~sentinel-${++sentinels}`;
  await store.txn().then(put(sentinel, 'x')).commit();
  const events: WatchEvent[] = [];
  let seen = false;
  let failure: Error | undefined;
  const handle = await store.watch(prefix, fromRevision, {
    onEvents: (evs) => evs.forEach((e) => (e.key === sentinel ? (seen = true) : events.push(e))),
    onError: (err) => {
      failure = err;
    },
  });
  try {
    await waitFor(
      () => {
        if (failure) throw failure;
        return seen;
      },
      { what: `watch of ${prefix} to reach its sentinel` },
    );
  } finally {
    await handle.cancel();
  }
  return events.filter((e) => !e.key.includes('~sentinel-'));
}
