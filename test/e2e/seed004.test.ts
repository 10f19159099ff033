/**
 * Seed 004 end to end on the local stack: a gw-interface port goes from version 1 (not attached)
 * to version 2. Through relay → planner → monitoring delete (fails: no stack recorded for the
 * port yet; ignored) → heat modify → monitoring create → aggregator → monitoring sync, with the
 * Heat simulator given the seed's outputs. heat_stacks (3), job_state (4) then (5), /state (6) and
 * /monitoring (7) must equal the seed's values.
 *
 * Preconditions, as version 1 and the referenced resources left them: their configs are planned
 * (mirrors), the network's and subnet's stacks are recorded, and the port's stack exists in Heat
 * with no record in etcd (that is why the monitoring delete has nothing to delete).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { HeatClient } from '../../shared/clients/heat';
import { keystoneSession } from '../../shared/clients/keystone';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import type { RunningStack } from '../../infra/stack/stack';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { at, get } from '../helpers/at';

jest.setTimeout(300_000);
const FIX = path.join(__dirname, '../fixtures');
const read = <T>(...p: string[]): T => JSON.parse(fs.readFileSync(path.join(FIX, ...p), 'utf8')) as T;

interface Config {
  key: string;
  value: { body: Record<string, unknown>; version: number; marked_for_deletion?: boolean };
}
const seed = read<{ change: Config; previous: Config; resources: Config[] }>('seeds', '004_18d39a09107f9f1f.json');
const records = read<{
  records: {
    seed: string;
    heat_stacks: { key: string; value: { stack_id: string; output: unknown[] } };
    job_state: { key: string; value: unknown };
  }[];
}>('heat', 'seed-records.json').records;
const rec = records.find((r) => r.seed.startsWith('004'))!;
const point5 = read<{ job_state_5: unknown }>('handlers', 'seed004-point5.json').job_state_5;
const referenced = read<{ records: { key: string; value: unknown }[] }>('handlers', 'seed004-referenced.json').records;
const states = read<{ state: { key: string; value: unknown }; monitoring: { key: string; value: unknown }[] }>(
  'state',
  '004_18d39a09107f9f1f.json',
);

let stack: RunningStack;
let store: EtcdStore;
beforeAll(async () => {
  const fixtures = path.join(process.env.ESI_TEST_ROOT!, 'seed004-heat-outputs.json');
  fs.writeFileSync(fixtures, JSON.stringify({ [rec.heat_stacks.value.stack_id]: rec.heat_stacks.value.output }));
  stack = await startTestStack('seed004', {}, { heatFixtures: fixtures });
  store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

const mirror = (c: Config) => JSON.stringify({ body: c.value.body, deleted: false, version: c.value.version });
const json = async (key: string) => {
  const kv = await store.get(key);
  return kv ? JSON.parse(kv.value) : undefined;
};

test('the three jobs run in order, the ignored failure does not stop the chain, and every point equals the seed', async () => {
  // The port's stack exists in Heat, as version 1 left it.
  const heat = new HeatClient({
    session: keystoneSession({
      authUrl: stack.env.ESI_KEYSTONE_URL,
      username: get(stack.env, 'ESI_KEYSTONE_USERNAME', 'stack env'),
      password: get(stack.env, 'ESI_KEYSTONE_PASSWORD', 'stack env'),
      projectName: get(stack.env, 'ESI_KEYSTONE_PROJECT', 'stack env'),
      userDomainName: 'Default',
      projectDomainName: 'Default',
      interface: 'public',
    }),
  });
  await heat.createStack({
    name: rec.heat_stacks.value.stack_id,
    template: { heat_template_version: '2013-05-23', resources: { placeholder: { type: 'OS::Heat::None' } } },
    parameters: {},
  });
  await waitFor(async () => (await heat.showStack(rec.heat_stacks.value.stack_id))?.status === 'CREATE_COMPLETE', {
    what: 'the version 1 stack',
  });

  await store
    .txn()
    .then(
      ...seed.resources.flatMap((r) => [
        put(r.key, encodeGohanConfigValue(r.value.body, r.value.version)),
        put(r.key.replace('/config/', '/esi-worker/config/'), mirror(r)),
      ]),
      ...referenced.map((r) => put(r.key, JSON.stringify(r.value))),
      put(seed.change.key.replace('/config/', '/esi-worker/config/'), mirror(seed.previous)),
    )
    .commit();
  const jobStates: unknown[] = [];
  const watch = await store.watch(rec.job_state.key, (await store.revision()) + 1, {
    onError: () => undefined,
    onEvents: (evs) =>
      evs.forEach((e) => {
        if (e.type === 'put') jobStates.push(JSON.parse(e.value));
      }),
  });

  // Gohan writes version 2 of the port.
  await store
    .txn()
    .then(put(seed.change.key, encodeGohanConfigValue(seed.change.value.body, seed.change.value.version)))
    .commit();

  const state = await waitFor(() => json(states.state.key), { timeoutMs: 180_000, what: "the port's /state" });
  expect(state).toEqual(states.state.value);
  expect(await json(rec.heat_stacks.key)).toEqual(rec.heat_stacks.value);
  await watch.cancel();
  expect(jobStates).toEqual([rec.job_state.value, point5]);
  // The chain is gone, job state cleared.
  expect((await store.range('/jobs/all/')).items.filter((kv) => kv.key.includes('7abe783f'))).toEqual([]);
  expect(await store.get(rec.job_state.key)).toBeUndefined();

  const monitoring = at(states.monitoring, 0, 'seed 004 monitoring');
  await waitFor(async () => isDeepStrictEqual(await json(monitoring.key), monitoring.value), {
    timeoutMs: 60_000,
    what: 'the port /monitoring',
  });
});
