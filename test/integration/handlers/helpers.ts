/**
 * The heat and monitoring handlers against real etcd, the SQS server and in-test simulators.
 * Each file isolates its jobs under its own job root; the poll messages go to a standard queue
 * of its own, which `drive` reads and hands back to the handler, as Lambda's event source would.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CreateQueueCommand, DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse } from 'aws-lambda';
import { CollectorClient } from '../../../shared/clients/collector';
import { HeatClient } from '../../../shared/clients/heat';
import { decodeEventMessage } from '../../../shared/events/etcd-event-message';
import { heatWork } from '../../../shared/work/heat-work';
import { jobRunner, type JobRunnerOptions, type JobWork } from '../../../shared/work/job-runner';
import { monitoringWork } from '../../../shared/work/monitoring-work';
import { jobKeys, jobWrites, type JobKeys } from '../../../shared/jobs';
import { createLogger } from '../../../shared/log/logger';
import { stackNameOf } from '../../../shared/heat/records';
import type { Job } from '../../../shared/planner/types';
import { sqsClient } from '../../../shared/sqs/client';
import { sqsConsumer } from '../../../shared/sqs/consumer';
import { EtcdStore } from '../../../shared/store/etcd-store';
import { put, type Store } from '../../../shared/store/store';
import { encodeGohanConfigValue } from '../../../shared/gohan/config-value';
import { keys as etcdKeys } from '../../../shared/keys';
import { pathOfSingular } from '../../../shared/resource-path';
import {
  startCollectorSimulator,
  startHeatSimulator,
  type CollectorSimulator,
  type HeatSimulator,
} from '../../../infra/sim/main';
import { FAST_RETRY, sessionFor } from '../clients/helpers';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';
import { waitFor } from '../../helpers/wait';
import { at } from '../../helpers/at';

export const FIX = path.resolve(__dirname, '..', '..', 'fixtures');
export const readFixture = <T>(...p: string[]): T => JSON.parse(fs.readFileSync(path.join(FIX, ...p), 'utf8')) as T;

export const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

export interface SeedFile {
  seed: string;
  expected: { key: string; value: [string, Job, number] }[];
}
export const seedFile = (seed: string): SeedFile => readFixture<SeedFile>('seeds', `${seed}.json`);
/** Job `index` (in the seed's order) of the seed's point (2), as written under /jobs/all/. */
export const seedJob = (seed: string, index = 0): Job =>
  at(seedFile(seed).expected, index, `seed ${seed} expected jobs`).value[1];

export interface SeedRecord {
  seed: string;
  resource_type: string;
  resource_id: string;
  action: string;
  heat_stacks: { key: string; value: Record<string, unknown> & { output: unknown[] } };
  job_state: { key: string; value: Record<string, unknown> };
}
export const seedRecords = (): SeedRecord[] =>
  readFixture<{ records: SeedRecord[] }>('heat', 'seed-records.json').records;

/** heat_stacks records the seeds' heat jobs reference (network/subnet stacks). */
export function referencedStackRecords(): { key: string; value: unknown }[] {
  return [
    ...readFixture<{ records: { key: string; value: unknown }[] }>('heat', 'outputs.seed003.json').records,
    ...readFixture<{ records: { key: string; value: unknown }[] }>('handlers', 'seed004-referenced.json').records,
  ];
}

export interface Harness {
  store: Store;
  keys: JobKeys;
  heat: HeatSimulator;
  collector: CollectorSimulator;
  heatClient: HeatClient;
  collectorClient: CollectorClient;
  pollQueue: string;
  pollUrl: string;
  /** One handler invocation with these messages; the batch response. */
  invoke(work: 'heat' | 'monitoring', ...records: ReturnType<typeof sqsRecord>[]): Promise<SQSBatchResponse>;
  /** Writes the job as the planner does (jobWrites: runnable, or waiting for its unfinished dependencies). */
  writeJob(job: Job): Promise<void>;
  /** The relay's message for a planned job (its /jobs/all put). */
  jobRecord(jobId: string, receiveCount?: number): ReturnType<typeof sqsRecord>;
  /** The relay's message for a job whose dependencies were settled (its /jobs/waiting delete). */
  settledRecord(jobId: string, receiveCount?: number): ReturnType<typeof sqsRecord>;
  /** Delivers poll messages back to the handler until `until()` holds. Returns how many were delivered. */
  drive(
    work: 'heat' | 'monitoring',
    until: () => Promise<boolean>,
    opts?: { timeoutMs?: number; twice?: boolean },
  ): Promise<number>;
  json(key: string): Promise<unknown>;
  sim(pathname: string, init?: { method?: string; body?: unknown }): Promise<any>;
  stop(): Promise<void>;
}

export async function harness(
  name: string,
  o: {
    latencyMs?: number;
    minuteMs?: number;
    runner?: Partial<JobRunnerOptions>;
    retry?: typeof FAST_RETRY;
    /** Another Heat (a real one) instead of the in-test simulator. */
    heatClient?: HeatClient;
  } = {},
): Promise<Harness> {
  const store = new EtcdStore();
  const keys = jobKeys(`/${uid(`t-${name}`)}/jobs/`);
  const collector = await startCollectorSimulator({ port: 0 });
  const heat = await startHeatSimulator({ port: 0, latencyMs: o.latencyMs ?? 30, minuteMs: o.minuteMs ?? 60_000 });
  const heatClient =
    o.heatClient ?? new HeatClient({ session: sessionFor(heat), retry: o.retry ?? FAST_RETRY, timeoutMs: 5000 });
  const collectorClient = new CollectorClient({ baseUrl: collector.url, retry: FAST_RETRY, timeoutMs: 5000 });
  const pollQueue = uid(`esi-test-${name}-poll`);
  const pollUrl = (
    await sqsClient().send(new CreateQueueCommand({ QueueName: pollQueue, Attributes: { VisibilityTimeout: '30' } }))
  ).QueueUrl!;
  const logger = createLogger(`esi-test-${name}`);
  const runner = (work: JobWork) =>
    sqsConsumer(jobRunner({ store, keys, work, pollDelaySeconds: 0, quickPollMs: 0, leaseSeconds: 20, ...o.runner }), {
      logger,
      retryQueueName: pollQueue,
    });
  const handlers = {
    heat: runner(heatWork({ heat: heatClient })),
    monitoring: runner(monitoringWork({ collector: collectorClient })),
  };
  const h: Harness = {
    store,
    keys,
    heat,
    collector,
    heatClient,
    collectorClient,
    pollQueue,
    pollUrl,
    invoke: (work, ...records) => handlers[work](sqsEvent(...records), lambdaContext(`esi-test-${work}`)),
    async writeJob(job) {
      // A logical delete runs while Gohan still has the resource, marked for deletion.
      const config =
        job.action === 'logical_delete'
          ? [
              put(
                etcdKeys.config(pathOfSingular(job.resource_type, job.resource_id)),
                encodeGohanConfigValue(job.resource_input, job.version, true),
              ),
            ]
          : [];
      const w = await jobWrites(store, [{ handler: job.handler, job, attempt: 0 }], { keys });
      const res = await store
        .txn()
        .when(...w.compares)
        .then(...w.ops, ...config)
        .commit();
      if (!res.succeeded) throw new Error(`writing ${job.id} failed its compares`);
    },
    jobRecord: (jobId, receiveCount = 1) =>
      sqsRecord({ key: keys.all(jobId), modRevision: 1, type: 'put' }, receiveCount),
    settledRecord: (jobId, receiveCount = 1) =>
      sqsRecord({ key: keys.waiting(jobId), modRevision: 1, type: 'delete' }, receiveCount),
    async drive(work, until, opts = {}) {
      let delivered = 0;
      await waitFor(
        async () => {
          if (await until()) return true;
          const res = await sqsClient().send(
            new ReceiveMessageCommand({ QueueUrl: pollUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
          );
          const msgs = res.Messages ?? [];
          if (!msgs.length) return false;
          await sqsClient().send(
            new DeleteMessageBatchCommand({
              QueueUrl: pollUrl,
              Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
          delivered += msgs.length;
          const records = () => msgs.map((m) => sqsRecord(decodeEventMessage(m.Body!)));
          if (opts.twice) await Promise.all([h.invoke(work, ...records()), h.invoke(work, ...records())]);
          else await h.invoke(work, ...records());
          return until();
        },
        { timeoutMs: opts.timeoutMs ?? 20_000, intervalMs: 20, what: 'the job to settle' },
      );
      return delivered;
    },
    async json(key) {
      const kv = await store.get(key);
      return kv ? JSON.parse(kv.value) : undefined;
    },
    async sim(pathname, init = {}) {
      const res = await fetch(`${heat.url}${pathname}`, {
        method: init.method ?? 'GET',
        headers: { 'content-type': 'application/json' },
        body: init.body === undefined ? null : JSON.stringify(init.body),
      });
      const text = await res.text();
      return text ? JSON.parse(text) : undefined;
    },
    async stop() {
      await heat.stop();
      await collector.stop();
      store.close();
    },
  };
  return h;
}

/** `/jobs/finished/<id>` as JSON, or undefined. */
export const finishedOf = async (h: Harness, id: string) =>
  h.json(h.keys.finished(id)) as Promise<{ ok: boolean; error?: string } | undefined>;

/** Nothing of the job is left in working or waiting. */
export async function notStuck(h: Harness, id: string): Promise<string[]> {
  const left: string[] = [];
  for (const k of [h.keys.working(id), h.keys.waiting(id)]) if (await h.store.get(k)) left.push(k);
  return left;
}

/** The job's keys as they stand: which of all, waiting, working, finished exist ("ready" = only all). */
export async function jobKeysOf(h: Harness, id: string): Promise<string[]> {
  const folders = ['all', 'waiting', 'working', 'finished'] as const;
  const kvs = await Promise.all(folders.map((f) => h.store.get(h.keys.prefix(f) + id)));
  return folders.filter((_, i) => kvs[i] !== undefined);
}

/** Stack operation counts the simulator accepted. */
export async function counts(
  h: Harness,
  stackName: string,
): Promise<{ creates: number; updates: number; deletes: number }> {
  const c = h.heat.engine.count(stackName);
  return { creates: c.creates, updates: c.updates, deletes: c.deletes };
}

/** A stack that already exists (as an earlier version of the resource left it). */
export async function preCreateStack(h: Harness, name: string): Promise<void> {
  await h.heatClient.createStack({
    name,
    template: { heat_template_version: '2013-05-23', resources: { placeholder: { type: 'OS::Heat::None' } } },
    parameters: {},
  });
  await waitFor(async () => (await h.heatClient.showStack(name))?.status === 'CREATE_COMPLETE', {
    what: `${name} CREATE_COMPLETE`,
  });
}

/** A copy of a job under a new id (and optionally another resource), so tests do not collide. */
export function cloneJob(
  job: Job,
  o: { resourceId?: string; dependency?: string[]; action?: string; isLast?: boolean } = {},
): Job {
  const resourceId = o.resourceId ?? job.resource_id;
  const action = o.action ?? job.action;
  const id = `${action}:${job.handler}:${job.resource_type}:${resourceId}:${job.version}:${Math.random().toString(36).slice(2, 7)}`;
  const swap = (v: unknown): unknown => JSON.parse(JSON.stringify(v).split(job.resource_id).join(resourceId));
  return {
    ...job,
    id,
    action: action,
    resource_id: resourceId,
    job_name: `${job.resource_type}:${resourceId}:${job.version}`,
    dependency: o.dependency ?? [],
    is_last: o.isLast ?? job.is_last,
    params: swap(job.params) as Job['params'],
    resource_input: swap(job.resource_input) as Job['resource_input'],
  };
}

/** Seed 002's load balancer job (heat_timeout 3 minutes) for a fresh resource, as `action`, last of its chain. */
export function loadBalancerJob(action = 'create'): Job {
  return cloneJob(seedJob('002_addf4c9d80b3d0e0'), {
    resourceId: uid('lb'),
    action,
    isLast: true,
  });
}

/** The Heat stack a job's resource has. */
export const stackOf = (j: Job): string => stackNameOf(j.resource_type, j.resource_id);

/** The /esi-worker/heat_stacks record a load balancer's completed delete leaves (seed shape), written out. */
export const deletedLoadBalancerRecord = (j: Job) => ({
  id: `load_balancer:${j.resource_id}`,
  output: [],
  stack_id: '',
  stack_status: 'DELETE_COMPLETE',
  status_reason: '',
  tenant_id: j.resource_input.tenant_id,
});
