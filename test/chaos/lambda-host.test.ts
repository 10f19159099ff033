/**
 * The Lambda host (serverless-offline, with the local SQS event source inside it) SIGKILLed while
 * the recorded scenario's jobs run, then started again, with a 20 s job lease: every resource
 * reaches its recorded /state, nothing is left pending or orphaned, and the recovery time
 * (restart → settled) is printed beside its 60 s ceiling.
 */
import path from 'node:path';
import { killGroup, type RunningStack } from '../../infra/stack/stack';
import type { EtcdStore } from '../../shared/store/etcd-store';
import { chaosStore, scenarioThroughFault } from '../helpers/chaos-run';
import { startTestStack } from '../helpers/stack';

jest.setTimeout(600_000);

let stack: RunningStack;
let store: EtcdStore;
beforeAll(async () => {
  stack = await startTestStack(
    'chaos-lambda-host',
    { ESI_JOB_LEASE_SECONDS: '20' },
    { heatFixtures: path.join(__dirname, '../fixtures/e2e/heat-outputs.seeds.json') },
  );
  store = chaosStore(stack.env.ESI_ETCD_ENDPOINTS);
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

test('the Lambda host SIGKILLed with jobs in flight, then restarted: every resource at its recorded /state', async () => {
  let pid = 0;
  const r = await scenarioThroughFault(store, async () => {
    pid = stack.functions().pid!;
    await killGroup(stack.functions());
    await stack.startFunctions();
  });
  console.log(
    `chaos Lambda host kill: serverless-offline pid ${pid} SIGKILLed with jobs in flight, restarted (pid ${stack.functions().pid}); ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
