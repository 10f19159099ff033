/**
 * The recorded scenario 00 through the whole local stack with real Keystone and Heat (the
 * run's tier) instead of the simulators: every /state and /monitoring under the strict comparison
 * (Heat's outputs compared by key: real Heat makes its own values), nothing stuck, no dead letter.
 * Monitoring targets register with the stack's collector simulator through the stub plugin.
 */
import { deadLetters } from '../../infra/demo/dead-letters';
import { playScenario, summary } from '../../infra/demo/play';
import { loadScenario } from '../../infra/demo/scenario';
import { EtcdStore } from '../../shared/store/etcd-store';
import { describeOpenStack, openStack } from '../helpers/openstack';
import { startTestStack } from '../helpers/stack';

jest.setTimeout(900_000);

describeOpenStack('recorded scenarios on real Keystone and Heat', () => {
  // 05_load_balancer: its jobs all complete on real Heat, but its /monitoring does not yet reach
  // the record (docs/openstack-tier.md); it is played on the simulators (test/e2e/scenarios.test.ts).
  describe.each([['00_logical_network', 11, 4, false]])('%s', (name, states, monitoring, burst) => {
    test(`${burst ? 'burst' : 'normal'} mode: every /state and /monitoring matches the record`, async () => {
      const t0 = Date.now();
      const tier = openStack();
      const stack = await startTestStack(`os${name.slice(0, 2)}${burst ? 'b' : 'n'}`, {}, {}, { openstack: tier });
      const store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
      try {
        const t1 = Date.now();
        const result = await playScenario(store, loadScenario(name), {
          log: () => undefined,
          burst,
          timeoutMs: 600_000,
          simulators: { collectorUrl: stack.collector.url },
        });
        const dlq = await deadLetters(stack.env.ESI_SQS_ENDPOINT, stack.env.ESI_STAGE);
        const ok = result.checks.filter((c) => c.ok && c.kind === 'state').length;
        console.log(
          `${name} ${burst ? 'burst' : 'normal'} on real Heat: /state ${ok}/${states} match; ` +
            `played in ${((Date.now() - t1) / 1000).toFixed(1)} s (stack start ${((t1 - t0) / 1000).toFixed(1)} s)\n${summary(result).join('\n')}`,
        );
        expect(result.checks.filter((c) => c.kind === 'state')).toHaveLength(states);
        expect(result.checks.filter((c) => c.kind === 'monitoring')).toHaveLength(monitoring);
        expect(result.checks.filter((c) => !c.ok)).toEqual([]);
        expect(result.unfinishedJobs).toEqual([]);
        expect(Object.values(dlq).filter((n) => n > 0)).toEqual([]);
      } finally {
        store.close();
        await stack.stop();
        tier.useCollector(undefined);
      }
    });
  });
});
