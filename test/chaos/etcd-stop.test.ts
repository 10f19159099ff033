/**
 * etcd frozen (SIGSTOP) for 45 s while the recorded scenario's jobs run, on the whole local stack
 * with a 20 s job lease: every resource reaches its recorded /state, nothing is left pending or
 * orphaned, and the recovery time (SIGCONT → settled) is printed beside its 60 s ceiling.
 */
import path from 'node:path';
import type { RunningStack } from '../../infra/stack/stack';
import type { EtcdStore } from '../../shared/store/etcd-store';
import { chaosStore, scenarioThroughFault } from '../helpers/chaos-run';
import { startTestStack } from '../helpers/stack';

jest.setTimeout(600_000);

let stack: RunningStack;
let store: EtcdStore;
beforeAll(async () => {
  stack = await startTestStack(
    'chaos-etcd-stop',
    { ESI_JOB_LEASE_SECONDS: '20' },
    { heatFixtures: path.join(__dirname, '../fixtures/e2e/heat-outputs.seeds.json') },
  );
  store = chaosStore(stack.env.ESI_ETCD_ENDPOINTS);
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

test('etcd SIGSTOPped for 45 s mid-scenario: every resource at its recorded /state', async () => {
  const FROZEN_MS = 45_000;
  const r = await scenarioThroughFault(store, async () => {
    expect(stack.etcd.signal('SIGSTOP')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, FROZEN_MS)); // the fault itself: etcd frozen this long
    expect(stack.etcd.signal('SIGCONT')).toBe(true);
  });
  console.log(
    `chaos etcd SIGSTOP: etcd pid ${stack.etcd.pid} frozen ${FROZEN_MS / 1000} s; ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s after SIGCONT (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
