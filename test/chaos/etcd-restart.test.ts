/**
 * etcd SIGKILLed and restarted while the recorded scenario's jobs run, on the whole local stack
 * with a 20 s job lease: every resource reaches its recorded /state, nothing is left pending or
 * orphaned, and the recovery time (restart → settled) is printed beside its 60 s ceiling.
 */
import { scenarioThroughFault, useChaosStack } from '../helpers/chaos-run';

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
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
