/**
 * Every queue purged (all in-flight messages lost) in the middle of the recorded load-balancer
 * scenario, on the whole local stack: the reconciler re-derives the lost work from etcd, and all
 * 29 resources still reach their recorded /state, with no job key left under all, waiting or
 * working and no orphan worker key. Then `esi reconcile --dry-run`: nothing on the healthy stack;
 * after a purge with the reconciler's schedule stopped, each stranded resource; and with the
 * schedule back, every one of them reaches its /state.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { playScenario, summary } from '../../infra/demo/play';
import { loadScenario } from '../../infra/demo/scenario';
import type { RunningStack } from '../../infra/stack/stack';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { parseCheckpoint } from '../../shared/relay/checkpoint';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import { stopProcessGroup } from '../../infra/local/processes';
import { etcdQuiet, orphanWorkerKeys, pendingJobKeys, purgeAllQueues, repairsByKind } from '../helpers/chaos';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

jest.setTimeout(900_000);

const run = promisify(execFile);
const fixtures = path.join(__dirname, '../fixtures');
let stack: RunningStack;
let store: EtcdStore;

beforeAll(async () => {
  // A 20 s job lease: a job whose poll message is purged is claimable again 20 s after its last poll.
  stack = await startTestStack(
    'purge',
    { ESI_JOB_LEASE_SECONDS: '20' },
    { heatFixtures: path.join(fixtures, 'e2e', 'heat-outputs.seeds.json') },
  );
  store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
});

afterAll(async () => {
  store?.close();
  await stack?.stop();
});

/** Where the relay stands on /config/ (its checkpoint holds each route's revision). */
const relayCheckpoint = async () => {
  const kv = await store.get('/esi-relay/checkpoints/main');
  return kv ? (parseCheckpoint(kv.value).routes['/config/'] ?? 0) : 0;
};

/** No job running and etcd quiet: whatever is left without a message is stranded for good. */
async function settled(): Promise<void> {
  await waitFor(async () => (await store.range('/jobs/working/')).items.length === 0, {
    timeoutMs: 120_000,
    what: 'running jobs to end or their claims to expire',
  });
  await etcdQuiet(store, 6000);
}

const esi = (...args: string[]) =>
  run(process.execPath, [path.join(__dirname, '../../bin/esi.cjs'), ...args], {
    env: { ...process.env, ESI_ETCD_ENDPOINTS: stack.env.ESI_ETCD_ENDPOINTS, ESI_LOG_LEVEL: 'ERROR' },
  });

test('every queue purged mid-scenario: all 29 resources reach their recorded /state, nothing stuck', async () => {
  const scenario = loadScenario();
  const middle = Math.floor(scenario.steps.length / 2);
  let purgedAt = 0;
  let purged: string[] = [];
  let purgedAfter = 0;
  const result = await playScenario(store, scenario, {
    log: () => undefined,
    timeoutMs: 300_000,
    afterWrite: async (index, rev) => {
      // In the middle, once this write was handed to SQS: every queue purged (whatever is queued
      // or delayed then is lost).
      if (index !== middle) return;
      await waitFor(async () => (await relayCheckpoint()) >= rev, { what: 'the relay to forward the write' });
      purgedAfter = index + 1;
      purged = await purgeAllQueues(stack);
      purgedAt = Date.now();
    },
  });
  const settledAt = Date.now();
  console.log(
    `purge chaos: ${purged.length} queues purged after write ${purgedAfter} of ${scenario.steps.length}; ` +
      `${result.checks.filter((c) => c.ok).length}/${result.checks.length} recorded checks (/state, /monitoring) hold ` +
      `${((settledAt - purgedAt) / 1000).toFixed(1)} s after the purge\n${summary(result).join('\n')}`,
  );
  expect(purged.length).toBeGreaterThanOrEqual(6);
  // Every check of the record holds (/state, and /monitoring where recorded); 29 resources have a /state.
  expect(new Set(result.checks.filter((c) => c.key.startsWith('/state/')).map((c) => c.key)).size).toBe(29);
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);

  await waitFor(async () => (await pendingJobKeys(store)).length === 0, { timeoutMs: 120_000, what: 'no job keys' });
  expect(await pendingJobKeys(store)).toEqual([]);
  await waitFor(async () => (await orphanWorkerKeys(store)).length === 0, { timeoutMs: 60_000, what: 'no orphans' });
  expect(await orphanWorkerKeys(store)).toEqual([]);
  const repairs = JSON.stringify(repairsByKind(stack));
  console.log(
    `purge chaos: recovered (no job key, no orphan) ${((Date.now() - purgedAt) / 1000).toFixed(1)} s after the purge; ` +
      `reconciler repairs by kind: ${repairs}`,
  );
});

test('esi reconcile --dry-run: empty on a healthy stack; each stranded resource after a purge', async () => {
  // The schedule stopped (its passes write their memory, so etcd would never be quiet), then
  // a quiet, healthy stack.
  await stack.reconciler.stop();
  await settled();
  const healthy = await esi('reconcile', '--dry-run', '--grace', '0');
  expect(healthy.stdout).toBe('');

  // Strand new work: the Lambda host stopped, 30 new resources written in one transaction,
  // every queue purged once the relay has handed their changes to SQS, the host started again.
  await stopProcessGroup(stack.functions());
  const ids = Array.from({ length: 30 }, (_, i) => `purge-net-${i}`);
  const keys = ids.map((id) => `/config/v2.0/networks/${id}`);
  const rev = (
    await store
      .txn()
      .then(...ids.map((id, i) => put(at(keys, i), encodeGohanConfigValue({ id, name: id, admin_state_up: true }, 1))))
      .commit()
  ).revision;
  await waitFor(async () => (await relayCheckpoint()) >= rev, { what: 'the relay to forward the writes' });
  await purgeAllQueues(stack);
  await stack.startFunctions();
  await settled();

  // Stranded, by the test's own reading of etcd: no /state at the written version yet.
  const stranded: string[] = [];
  for (const [i, key] of keys.entries()) {
    const state = await store.get(key.replace('/config/', '/state/'));
    if (!state || (JSON.parse(state.value) as { version?: number }).version !== 1) stranded.push(at(ids, i));
  }
  const listed = (await esi('reconcile', '--dry-run', '--grace', '0')).stdout.split('\n').filter(Boolean);
  console.log(`dry run after the purge: ${stranded.length} stranded resources\n${listed.join('\n')}`);
  expect(stranded).toEqual(ids);
  for (const id of stranded) expect({ id, listed: listed.some((l) => l.includes(id)) }).toEqual({ id, listed: true });
  for (const line of listed)
    expect({ line, stranded: stranded.some((id) => line.includes(id)) }).toEqual({ line, stranded: true });

  // The schedule back: every stranded resource reaches its /state.
  const restartedAt = Date.now();
  stack.reconciler.start();
  await waitFor(
    async () => {
      for (const key of keys) {
        const state = await store.get(key.replace('/config/', '/state/'));
        if (!state) return false;
        const v = JSON.parse(state.value) as { state?: { worker_state?: string }; version?: number };
        if (v.version !== 1 || v.state?.worker_state !== 'CREATE_COMPLETED') return false;
      }
      return (await pendingJobKeys(store)).length === 0;
    },
    { timeoutMs: 180_000, intervalMs: 250, what: 'the stranded resources to reach /state' },
  );
  console.log(
    `dry run case: recovered ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the reconciler was back`,
  );
});
