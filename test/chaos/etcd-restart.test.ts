/**
 * etcd SIGKILLed and restarted while the recorded scenario's jobs run, on the whole local stack
 * with the deployed defaults (serverless.yml; printed): every resource reaches its recorded /state, nothing is left pending or
 * orphaned, and the recovery time (restart → settled) is printed beside its 60 s ceiling.
 */
import { scenarioThroughFault, settingsLine, useChaosStack } from '../helpers/chaos-run';

jest.setTimeout(600_000);

const chaos = useChaosStack('chaos-etcd-kill');

test('etcd SIGKILLed and restarted mid-scenario: every resource at its recorded /state', async () => {
  let pid = 0;
  const r = await scenarioThroughFault(chaos.store, async () => {
    pid = chaos.stack.etcd.pid;
    await chaos.stack.etcd.kill();
    await chaos.stack.etcd.restart();
  });
  console.log(
    `chaos etcd kill/restart: etcd pid ${pid} SIGKILLed and restarted (pid ${chaos.stack.etcd.pid}); ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (bound 60 s); ${settingsLine()}`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
  // Recovery bounded on the deployed defaults: every /state within a minute of the fault's end.
  expect(r.statesSeconds).toBeLessThanOrEqual(60);
});
