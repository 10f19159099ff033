/**
 * The Lambda host (serverless-offline, with the local SQS event source inside it) SIGKILLed while
 * the recorded scenario's jobs run, then started again, with the deployed defaults (serverless.yml; printed): every resource
 * reaches its recorded /state, nothing is left pending or orphaned, and the recovery time
 * (restart → settled) is printed beside its 60 s ceiling.
 */
import { killGroup } from '../../infra/stack/stack';
import { scenarioThroughFault, settingsLine, useChaosStack } from '../helpers/chaos-run';

jest.setTimeout(600_000);

const chaos = useChaosStack('chaos-lambda-host');

test('the Lambda host SIGKILLed with jobs in flight, then restarted: every resource at its recorded /state', async () => {
  let pid = 0;
  const r = await scenarioThroughFault(chaos.store, async () => {
    pid = chaos.stack.functions().pid!;
    await killGroup(chaos.stack.functions());
    await chaos.stack.startFunctions();
  });
  console.log(
    `chaos Lambda host kill: serverless-offline pid ${pid} SIGKILLed with jobs in flight, restarted (pid ${chaos.stack.functions().pid}); ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (bound 60 s); ${settingsLine()}`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
  // Recovery bounded on the deployed defaults: every /state within a minute of the fault's end.
  expect(r.statesSeconds).toBeLessThanOrEqual(60);
});
