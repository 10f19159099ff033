/**
 * etcd frozen (SIGSTOP) for 45 s while the planner works on a config write, on the whole local
 * stack with the deployed defaults (serverless.yml; printed): the write is the scenario's next to
 * last, a new version of a port whose next version is the last write, so the key's FIFO message
 * group is what the stalled invocation holds. The freeze outlasts the planner's 30 s timeout: the
 * invocation hands its record back before its deadline. Every resource reaches its recorded
 * /state, nothing is left pending or orphaned, and the time from SIGCONT to every /state is
 * asserted within a minute.
 */
import fs from 'node:fs';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type QueueAttributeName } from '@aws-sdk/client-sqs';
import { loadScenario } from '../../infra/demo/scenario';
import { queueName } from '../../shared/config';
import { stackSqs } from '../helpers/chaos';
import { scenarioThroughFault, settingsLine, useChaosStack } from '../helpers/chaos-run';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

jest.setTimeout(600_000);

const chaos = useChaosStack('chaos-etcd-stop');

/**
 * Whether the config queue holds a message, queued or in flight: the relay forwarded the write and
 * the planner has it or is about to take it. With etcd frozen the planner cannot finish it, so
 * once true this stays true for the whole freeze.
 */
async function plannerAtWork(): Promise<() => Promise<boolean>> {
  const sqs = stackSqs(chaos.stack);
  const { QueueUrl } = await sqs.send(
    new GetQueueUrlCommand({ QueueName: queueName('config', chaos.stack.env.ESI_STAGE) }),
  );
  return async () => {
    const a = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    const n = (name: QueueAttributeName) => Number(a.Attributes?.[name] ?? 0);
    return n('ApproximateNumberOfMessages') + n('ApproximateNumberOfMessagesNotVisible') > 0;
  };
}

/** Planner invocations that handed records back before their deadline, from the functions' log. */
function plannerHandBacks(): number {
  const log = chaos.stack.processes.find((p) => p.name === 'serverless-offline')?.logFile;
  if (!log || !fs.existsSync(log)) return 0;
  return fs
    .readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l.includes('invocation deadline near') && l.includes('esi-planner')).length;
}

test('etcd SIGSTOPped for 45 s during a planner invocation: every resource at its recorded /state', async () => {
  const FROZEN_MS = 45_000;
  const steps = loadScenario().steps;
  const step = steps.length - 2;
  const [write, next] = [at(steps, step), at(steps, step + 1)];
  // The stalled write and the last one are versions of one key: one FIFO message group.
  expect('put' in write && 'put' in next && write.put === next.put).toBe(true);
  const held = await plannerAtWork();
  // The functions host (with its SQS event source) is paused across the write, so the relay's
  // message waits in the queue until etcd is frozen: the planner then takes it and cannot finish.
  const host = (sig: NodeJS.Signals) => {
    process.kill(-chaos.stack.functions().pid!, sig);
  };
  const r = await scenarioThroughFault(
    chaos.store,
    async () => {
      try {
        await waitFor(held, { timeoutMs: 30_000, intervalMs: 50, what: `step ${step}'s message in the config queue` });
        expect(chaos.stack.etcd.signal('SIGSTOP')).toBe(true);
      } finally {
        host('SIGCONT');
      }
      await new Promise((resolve) => setTimeout(resolve, FROZEN_MS)); // the fault itself: etcd frozen this long
      expect(chaos.stack.etcd.signal('SIGCONT')).toBe(true);
    },
    { during: { step, beforeWrite: async () => host('SIGSTOP') } },
  );
  console.log(
    `chaos etcd SIGSTOP during planning: etcd pid ${chaos.stack.etcd.pid} frozen ${FROZEN_MS / 1000} s while the planner held step ${step}; ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `planner invocations that handed their records back before the deadline: ${plannerHandBacks()}; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s after SIGCONT (bound 60 s); ${settingsLine()}`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);
  // Recovery bounded on the deployed defaults: every /state within a minute of the fault's end.
  expect(r.statesSeconds).toBeLessThanOrEqual(60);
});
