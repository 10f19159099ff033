/**
 * etcd down (SIGKILLed, kept down, then started again) for 6.5 minutes while the recorded
 * scenario's jobs run, on the whole local stack with serverless.yml's maxReceiveCount (the deployed
 * one; printed) and the local 60 s retry cap: longer than the 375 s a record had before it was
 * dead-lettered with 10 receives, within the local budget of serverless.yml's receive count.
 * Every resource reaches its recorded /state afterwards, nothing is left pending or orphaned, and
 * every dead-letter queue of the stack is empty. No time is scaled: the outage is real.
 *
 * @waits 390 (the outage itself)
 */
import { deadLetters } from '../../infra/demo/dead-letters';
import { retryBudgetSeconds } from '../helpers/retry-budget';
import { deployedRecoverySettings, scenarioThroughFault, settingsLine, useChaosStack } from '../helpers/chaos-run';

const OUTAGE_S = 390;
/** The local stack's retry cap: the functions' default (docs/operations.md "Retry budget"). */
const LOCAL_CAP_S = 60;

jest.setTimeout(1_500_000);

const chaos = useChaosStack('chaos-long-outage');

test('etcd down for 6.5 minutes mid-scenario: every resource at its recorded /state, nothing dead-lettered', async () => {
  const { maxReceiveCount } = deployedRecoverySettings();
  const oldBudget = retryBudgetSeconds(10, LOCAL_CAP_S);
  const budget = retryBudgetSeconds(maxReceiveCount, LOCAL_CAP_S);
  // The outage outlasts the budget 10 receives gave and stays inside serverless.yml's receive count.
  expect(OUTAGE_S).toBeGreaterThan(oldBudget);
  expect(OUTAGE_S).toBeLessThan(budget);
  let down = 0;
  const r = await scenarioThroughFault(
    chaos.store,
    async () => {
      await chaos.stack.etcd.kill();
      const since = Date.now();
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_S * 1000)); // the fault itself: etcd down this long
      await chaos.stack.etcd.restart();
      down = (Date.now() - since) / 1000;
    },
    { settleTimeoutMs: 300_000 },
  );
  const dlq = await deadLetters(chaos.stack.env.ESI_SQS_ENDPOINT, chaos.stack.env.ESI_STAGE);
  console.log(
    `chaos long outage: etcd down ${down.toFixed(0)} s (budget with 10 receives ${oldBudget} s, local budget with ` +
      `${maxReceiveCount} receives ${budget} s); ${r.checks.filter((c) => c.ok).length}/${r.checks.length} resources ` +
      `at their recorded /state, no pending job key, no orphan; every /state after ${r.statesSeconds.toFixed(1)} s, ` +
      `recovery ${r.seconds.toFixed(1)} s; dead letters ${Object.values(dlq).reduce((a, b) => a + b, 0)} in ` +
      `${Object.keys(dlq).length} DLQs; ${settingsLine()}, local retry cap ${LOCAL_CAP_S} s`,
  );
  expect(Object.keys(dlq).length).toBeGreaterThanOrEqual(6);
  expect(dlq).toEqual(Object.fromEntries(Object.keys(dlq).map((k) => [k, 0])));
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
});
