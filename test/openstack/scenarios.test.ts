/**
 * The recorded scenarios 00 and 05 through the whole local stack with real Keystone and Heat (the
 * run's tier) instead of the Keystone/Heat simulators, in normal and in burst mode: every /state
 * and /monitoring under the strict comparison (Heat's outputs compared by key: real Heat makes
 * its own values), nothing stuck, no dead letter, and the stacks left in Heat exactly those the
 * record leaves. Monitoring targets register with the stack's collector simulator through the stub
 * plugin, which reports the recorded statuses as settled long before the run (as
 * test/e2e/scenarios.test.ts does). Each run starts with none of the scenario's stacks in Heat
 * and removes them at its end: the same resource ids are played again by the next mode.
 */
import { deadLetters } from '../../infra/demo/dead-letters';
import { playScenario, summary } from '../../infra/demo/play';
import { loadScenario, type Scenario } from '../../infra/demo/scenario';
import { defaultSchemaIndex } from '../../shared/planner/schema';
import { EtcdStore } from '../../shared/store/etcd-store';
import { describeOpenStack, heatApi, openStack, tierSession } from '../helpers/openstack';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

jest.setTimeout(900_000);

/** When the recorded statuses last changed, as the collector reports them: long before the run. */
const SETTLED = '2000-01-01T00:00:00Z';

/**
 * The stacks the record leaves: every resource the record has stack outputs for (its
 * `/esi-worker/heat_stacks`), but those whose recorded /state is a completed delete.
 */
function recordedStacks(scenario: Scenario): string[] {
  const outputs = scenario.heat_outputs ?? {};
  const out: string[] = [];
  for (const [key, expected] of Object.entries(scenario.expected_states)) {
    const parts = key.split('/');
    const stack = `${defaultSchemaIndex().singular(at(parts, -2, key))}_${at(parts, -1, key)}`;
    const { worker_state: workerState } = expected.state;
    const deleted = typeof workerState === 'string' && workerState.startsWith('DELETE_');
    if (stack in outputs && !deleted) out.push(stack);
  }
  return out.sort();
}

interface StackRow {
  stack_name: string;
  id: string;
  stack_status: string;
}

async function stacksIn(heat: ReturnType<typeof heatApi>, names: readonly string[]): Promise<StackRow[]> {
  const r = await heat.send('GET', '/stacks');
  if (r.status !== 200) throw new Error(`stack list: HTTP ${r.status}`);
  const rows = (r.body.stacks as StackRow[]) ?? [];
  return rows.filter((s) => names.includes(s.stack_name)).sort((a, b) => a.stack_name.localeCompare(b.stack_name));
}

/** Deletes the named stacks and waits until Heat lists none of them. */
async function removeStacks(heat: ReturnType<typeof heatApi>, names: readonly string[]): Promise<void> {
  for (const s of await stacksIn(heat, names)) await heat.send('DELETE', `/stacks/${s.stack_name}/${s.id}`);
  await waitFor(async () => (await stacksIn(heat, names)).length === 0, {
    timeoutMs: 180_000,
    intervalMs: 1000,
    what: 'the scenario stacks deleted from Heat',
  });
}

describeOpenStack('recorded scenarios on real Keystone and Heat', () => {
  describe.each([
    ['00_logical_network', 11, 4],
    ['05_load_balancer', 29, 9],
  ])('%s', (name, states, monitoring) => {
    const scenario = loadScenario(name);
    const expectedStacks = recordedStacks(scenario);
    // Every resource type of the scenario that has a stack in Heat: the names of all of them, deleted ones included.
    const everyStack = Object.keys(scenario.heat_outputs ?? {}).filter((k) => !k.includes('@'));

    test.each([
      ['normal', false],
      ['burst', true],
    ])('%s mode: every /state and /monitoring matches the record', async (_mode, burst) => {
      const t0 = Date.now();
      const tier = openStack();
      const heat = heatApi(tierSession(tier));
      await removeStacks(heat, everyStack);
      const stack = await startTestStack(
        `os${name.slice(0, 2)}${burst ? 'b' : 'n'}`,
        {},
        { collectorStatusesSince: SETTLED },
        { openstack: tier },
      );
      const store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
      try {
        const t1 = Date.now();
        const result = await playScenario(store, scenario, {
          log: () => undefined,
          burst,
          timeoutMs: 600_000,
          simulators: { collectorUrl: stack.collector.url },
        });
        const played = (Date.now() - t1) / 1000;
        const dlq = await deadLetters(stack.env.ESI_SQS_ENDPOINT, stack.env.ESI_STAGE);
        const left = await stacksIn(heat, everyStack);
        const ok = result.checks.filter((c) => c.ok && c.kind === 'state').length;
        console.log(
          `${name} ${burst ? 'burst' : 'normal'} on real Heat: /state ${ok}/${states} match; played in ` +
            `${played.toFixed(1)} s (stack start ${((t1 - t0) / 1000).toFixed(1)} s); stacks left in Heat ` +
            `${left.length} (recorded ${expectedStacks.length})\n${summary(result).join('\n')}`,
        );
        expect(result.checks.filter((c) => c.kind === 'state')).toHaveLength(states);
        expect(result.checks.filter((c) => c.kind === 'monitoring')).toHaveLength(monitoring);
        expect(result.checks.filter((c) => !c.ok)).toEqual([]);
        expect(result.unfinishedJobs).toEqual([]);
        expect(Object.values(dlq).filter((n) => n > 0)).toEqual([]);
        expect(left.map((s) => [s.stack_name, s.stack_status.replace(/^(CREATE|UPDATE)_/, '')])).toEqual(
          expectedStacks.map((s) => [s, 'COMPLETE']),
        );
      } finally {
        store.close();
        await stack.stop();
        tier.useCollector(undefined);
        await removeStacks(heat, everyStack);
      }
    });
  });
});
