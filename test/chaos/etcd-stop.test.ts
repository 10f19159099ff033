/**
 * etcd frozen (SIGSTOP) for 45 s while the recorded scenario's jobs run, on the whole local stack
 * with a 20 s job lease: every resource reaches its recorded /state, nothing is left pending or
 * orphaned, and the recovery time (SIGCONT → settled) is printed beside its 60 s ceiling.
 */
import { scenarioThroughFault, useChaosStack } from '../helpers/chaos-run';

jest.setTimeout(600_000);

const chaos = useChaosStack('chaos-etcd-stop');

test('etcd SIGSTOPped for 45 s mid-scenario: every resource at its recorded /state', async () => {
  const FROZEN_MS = 45_000;
  const r = await scenarioThroughFault(chaos.store, async () => {
    expect(chaos.stack.etcd.signal('SIGSTOP')).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, FROZEN_MS)); // the fault itself: etcd frozen this long
    expect(chaos.stack.etcd.signal('SIGCONT')).toBe(true);
  });
  console.log(
    `chaos etcd SIGSTOP: etcd pid ${chaos.stack.etcd.pid} frozen ${FROZEN_MS / 1000} s; ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s after SIGCONT (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
