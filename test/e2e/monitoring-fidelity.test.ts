/**
 * /monitoring follows the record's rules end to end, on one fresh local stack: a small VPN
 * gateway scenario (test/fixtures/e2e/monitoring-fidelity.json, the demo's scenario format)
 * played as `npm run demo -- --scenario …` plays it, with the simulators told its heat outputs
 * and collector statuses (all positive, so no hold_options wait).
 *
 * - A gw-interface port attached at version 1 (a target at v1) and changed at version 2 with seed
 *   004's chain (monitoring delete → heat modify → monitoring create) reports again at version 2
 *   under its own id: {"version": 2, "vmi": "UP"} (seed 004 point 7). Its stack reports the VMI id
 *   the record's Heat reported for every port, not the port id.
 * - A VPN interface has a BGP target with an etcd syncer (`status`) and two router traffic targets
 *   with a tsdb syncer only (`primary_router`, `secondary_router`), all reporting: its /monitoring
 *   holds `status` only.
 *
 * Every /state and every /monitoring key of the stack is asserted, exactly.
 */
import path from 'node:path';
import { deadLetters } from '../../infra/demo/dead-letters';
import { playScenario } from '../../infra/demo/play';
import { loadScenario } from '../../infra/demo/scenario';
import type { RunningStack } from '../../infra/stack/stack';
import { EtcdStore } from '../../shared/store/etcd-store';
import { startTestStack } from '../helpers/stack';

jest.setTimeout(300_000);
const scenario = loadScenario(path.join(__dirname, '../fixtures/e2e/monitoring-fidelity.json'));
const PORT = '3c1e6b0a-000e-4a5e-9c11-00000000000e';
const VPN_IF = '3c1e6b0a-000a-4a5e-9c11-00000000000a';
const RECORDED_VMI_ID = 'f68d0924-ef20-4c1b-ac45-0e6b879af5e7';

let stack: RunningStack;
let store: EtcdStore;
beforeAll(async () => {
  stack = await startTestStack('monfid');
  store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

/** Every key under a prefix, values parsed. */
async function all(prefix: string): Promise<Record<string, unknown>> {
  const { items } = await store.range(prefix);
  return Object.fromEntries(items.map((kv) => [kv.key, JSON.parse(kv.value) as unknown]));
}

test('a re-created target reports at the new version; only etcd-synced targets reach /monitoring', async () => {
  const result = await playScenario(store, scenario, {
    log: () => undefined,
    timeoutMs: 180_000,
    simulators: { heatUrl: stack.heat.url, collectorUrl: stack.collector.url },
  });
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);
  expect(result.unfinishedJobs).toEqual([]);
  expect(
    Object.values(await deadLetters(stack.env.ESI_SQS_ENDPOINT, stack.env.ESI_STAGE)).filter((n) => n > 0),
  ).toEqual([]);

  // Strictly: exactly the expected /state values and /monitoring values, nothing else.
  expect(await all('/state/')).toEqual(scenario.expected_states);
  const monitoring = Object.fromEntries(Object.entries(scenario.expected_monitoring).filter(([, v]) => v !== null));
  expect(await all('/monitoring/')).toEqual(monitoring);
  expect(monitoring[`/monitoring/v2.0/ports/${PORT}`]).toEqual({ version: 2, vmi: 'UP' });
  expect(monitoring[`/monitoring/v2.0/vpn_interfaces/${VPN_IF}`]).toEqual({
    version: 1,
    status: { primary: 'ESTABLISHED', secondary: 'ESTABLISHED' },
  });

  // Not vacuous: the tsdb-only targets exist and reported; the port has one target, v2, under its id.
  const targets = stack.collector.targets();
  const of = (id: string) => targets.filter((t) => t.resource_id === id);
  const reported = (t: (typeof targets)[number]) => (t.values as { value: unknown }[]).map((v) => v.value);
  expect(
    of(VPN_IF)
      .map((t) => [t.field_name, Object.keys(t.syncer_properties as object), reported(t)])
      .sort(),
  ).toEqual([
    ['primary_router', ['tsdb'], ['UP']],
    ['secondary_router', ['tsdb'], ['UP']],
    ['status', ['etcd'], [{ primary: 'ESTABLISHED', secondary: 'ESTABLISHED' }]],
  ]);
  expect(of(PORT).map((t) => [t.resource_type, t.field_name, t.version, reported(t)])).toEqual([
    ['ports', 'vmi', 2, ['UP']],
  ]);
  expect(of(RECORDED_VMI_ID)).toEqual([]);
});
