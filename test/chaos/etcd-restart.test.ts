/**
 * etcd SIGKILLed and restarted while the recorded scenario's jobs run, on the whole local stack
 * with a 20 s job lease: every resource reaches its recorded /state, nothing is left pending or
 * orphaned, and the recovery time (restart → settled) is printed beside its 60 s ceiling.
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
    'chaos-etcd-kill',
    { ESI_JOB_LEASE_SECONDS: '20' },
    { heatFixtures: path.join(__dirname, '../fixtures/e2e/heat-outputs.seeds.json') },
  );
  store = chaosStore(stack.env.ESI_ETCD_ENDPOINTS);
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

test('etcd SIGKILLed and restarted mid-scenario: every resource at its recorded /state', async () => {
  let pid = 0;
  const r = await scenarioThroughFault(store, async () => {
    pid = stack.etcd.pid;
    await stack.etcd.kill();
    await stack.etcd.restart();
  });
  console.log(
    `chaos etcd kill/restart: etcd pid ${pid} SIGKILLed and restarted (pid ${stack.etcd.pid}); ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
