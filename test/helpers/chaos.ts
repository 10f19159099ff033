/**
 * Checks and faults shared by the chaos tests: purge every queue of a stack, wait for etcd to go
 * quiet, and the end state every case must reach (no job key left, no orphan worker key).
 */
import fs from 'node:fs';
import { ListQueuesCommand, PurgeQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { RunningStack } from '../../infra/stack/stack';
import { WORKER_FOLDERS } from '../../shared/keys';
import type { Store } from '../../shared/store/store';
import { waitFor } from './wait';

export function stackSqs(stack: RunningStack): SQSClient {
  return new SQSClient({
    region: stack.env.AWS_REGION,
    endpoint: stack.env.ESI_SQS_ENDPOINT,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/**
 * PurgeQueue on every queue of the stack's stage (jobs, poll, finished, config, dead-letter
 * queues). The local SQS server purges at once, whenever asked: AWS's one purge per queue every
 * 60 seconds is not waited out.
 */
export async function purgeAllQueues(stack: RunningStack, sqs = stackSqs(stack)): Promise<string[]> {
  const res = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: `esi-${stack.env.ESI_STAGE}-` }));
  const urls = res.QueueUrls ?? [];
  await Promise.all(urls.map((QueueUrl) => sqs.send(new PurgeQueueCommand({ QueueUrl }))));
  return urls.map((u) => u.split('/').pop()!);
}

/**
 * Keys under the job folders that mean work is still pending: a job still under `all` (ready,
 * waiting or running, or finished and not aggregated: a completed chain is removed), a waiting or
 * working key.
 */
export async function pendingJobKeys(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const folder of ['all', 'waiting', 'working'])
    out.push(...(await store.range(`/jobs/${folder}/`)).items.map((kv) => kv.key));
  return out;
}

/** Worker keys (mirror, stack record, job state) whose resource has no /config key. */
export async function orphanWorkerKeys(store: Store): Promise<string[]> {
  const out: string[] = [];
  for (const folder of WORKER_FOLDERS) {
    const prefix = `/esi-worker/${folder}/`;
    for (const kv of (await store.range(prefix)).items) {
      if (!(await store.get(`/config/${kv.key.slice(prefix.length)}`))) out.push(kv.key);
    }
  }
  return out;
}

/** Repairs the reconciler logged in the stack's function log, by kind. */
export function repairsByKind(stack: RunningStack): Record<string, number> {
  const log = stack.processes.find((p) => p.name === 'serverless-offline')?.logFile;
  const counts: Record<string, number> = {};
  if (!log || !fs.existsSync(log)) return counts;
  for (const line of fs.readFileSync(log, 'utf8').split('\n')) {
    const kind = /"message":"repair".*?"repair":"(\w+)"/.exec(line)?.[1];
    if (kind) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/** Resolves once etcd's revision has not moved for `quietMs`. */
export async function etcdQuiet(store: Store, quietMs = 4000, timeoutMs = 120_000): Promise<void> {
  let last = await store.revision();
  let since = Date.now();
  await waitFor(
    async () => {
      const now = await store.revision();
      if (now !== last) [last, since] = [now, Date.now()];
      return Date.now() - since >= quietMs;
    },
    { timeoutMs, intervalMs: 250, what: 'etcd to go quiet' },
  );
}
