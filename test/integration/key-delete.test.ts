/**
 * A plain /config key delete after a completed create, as upstream Gohan's REST DELETE does it (no
 * `marked_for_deletion` phase), through the real planner, heat and monitoring job runners and
 * aggregator on real etcd, with the Heat and collector simulators (test/helpers/in-process-pipeline.ts).
 * A gw-interface port is created (its stack and its monitoring target), then its key is deleted:
 * its stack and its target must be gone and no key of the worker left. Then its network, subnet and
 * gw interface are deleted at once: nothing of any of them is left. These two run as upstream Gohan's
 * deployment is set (ESI_KEY_DELETE_STATE=remove); the third in the default (keep), as the record's
 * Gohan: a logical delete whose key goes before its chain is done keeps its /state DELETE_COMPLETED.
 */
import { CollectorClient } from '../../shared/clients/collector';
import { HeatClient } from '../../shared/clients/heat';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { stackNameOf } from '../../shared/heat/records';
import { keys, type ResourcePath } from '../../shared/keys';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put } from '../../shared/store/store';
import {
  startCollectorSimulator,
  startHeatSimulator,
  type CollectorSimulator,
  type HeatSimulator,
} from '../../infra/sim/main';
import { startInProcessPipeline, type InProcessPipeline } from '../helpers/in-process-pipeline';
import { waitFor } from '../helpers/wait';
import { FAST_RETRY, sessionFor } from './clients/helpers';

const tag = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const NET = `kd-net-${tag}`;
const SUBNET = `kd-subnet-${tag}`;
const GW_IF = `kd-gwif-${tag}`;
const PORT = `kd-port-${tag}`;
const MARKED = `kd-marked-${tag}`;
const path = (plural: string, id: string): ResourcePath => ({ scope: 'v2.0', plural, id });
const portPath = path('ports', PORT);

const bodies = {
  network: { id: NET, name: 'kd', admin_state_up: true },
  subnet: {
    id: SUBNET,
    network_id: NET,
    cidr: '10.9.0.0/24',
    gateway_ip: '10.9.0.1',
    enable_dhcp: false,
    dhcp_server_address: '10.9.0.2',
    dns_nameservers: [],
    ntp_servers: [],
    allocation_pools: [],
    host_routes: [],
  },
  port: {
    id: PORT,
    device_owner: 'network:gw_interface',
    device_id: GW_IF,
    network_id: NET,
    attached: true,
    admin_state_up: true,
    tenant_id: 't-kd',
    allowed_address_pairs: [],
    security_groups: [],
    mac_address: 'fa:16:3e:00:00:01',
    fixed_ips: [{ subnet_id: SUBNET, ip_address: '10.9.0.10' }],
  },
};

let store: EtcdStore;
let heatSim: HeatSimulator;
let collectorSim: CollectorSimulator;
let heat: HeatClient;
let collector: CollectorClient;
let pipeline: InProcessPipeline;

beforeAll(async () => {
  store = new EtcdStore();
  collectorSim = await startCollectorSimulator({ port: 0 });
  heatSim = await startHeatSimulator({ port: 0, latencyMs: 30, collectorUrl: collectorSim.url });
  heat = new HeatClient({ session: sessionFor(heatSim), retry: FAST_RETRY, timeoutMs: 5000 });
  collector = new CollectorClient({ baseUrl: collectorSim.url, retry: FAST_RETRY, timeoutMs: 5000 });
  pipeline = await startInProcessPipeline(store, { heat, collector, ids: [NET, SUBNET, GW_IF, PORT, MARKED] });
});
afterAll(async () => {
  await pipeline?.stop();
  await heatSim?.stop();
  await collectorSim?.stop();
  store?.close();
});

const json = async (key: string) => {
  const kv = await store.get(key);
  return kv ? (JSON.parse(kv.value) as Record<string, unknown>) : undefined;
};
const workerState = async (p: ResourcePath) =>
  ((await json(keys.state(p)))?.state as { worker_state?: string } | undefined)?.worker_state;
/** Throws (so a timeout says what is left) until no stack of `stacks` and no key of `ids` is left. */
async function nothingLeft(ids: string[], stacks: string[]): Promise<boolean> {
  const left = [...(await keysLeft(ids)), ...liveStacks(stacks)];
  if (left.length) throw new Error(`left: ${left.join(', ')}`);
  return true;
}
/** Every key of the test's resources anywhere in etcd but /config. */
async function keysLeft(ids: string[]): Promise<string[]> {
  const { items } = await store.range('/', { keysOnly: true });
  return items.map((kv) => kv.key).filter((k) => !k.startsWith('/config/') && ids.some((id) => k.includes(id)));
}
const liveStacks = (names: string[]) => names.filter((n) => heatSim.engine.lookup(n));
const portTargets = () => collector.findTargets({ resource_type: 'ports', resource_id: PORT });

test('a key delete after a completed create: the stack and the monitoring target go, no worker key is left', async () => {
  process.env.ESI_KEY_DELETE_STATE = 'remove';
  // The gw interface is only read by the port's params: its config is already taken in (its mirror).
  await store
    .txn()
    .then(
      put(
        keys.mirror(path('gw_interfaces', GW_IF)),
        JSON.stringify({ body: { id: GW_IF, service_type: 'internet' }, deleted: false, version: 1 }),
      ),
      put(
        keys.config(path('gw_interfaces', GW_IF)),
        encodeGohanConfigValue({ id: GW_IF, service_type: 'internet' }, 1),
      ),
    )
    .commit();
  await store
    .txn()
    .then(
      put(keys.config(path('networks', NET)), encodeGohanConfigValue(bodies.network, 1)),
      put(keys.config(path('subnets', SUBNET)), encodeGohanConfigValue(bodies.subnet, 1)),
      put(keys.config(portPath), encodeGohanConfigValue(bodies.port, 1)),
    )
    .commit();
  await waitFor(async () => (await workerState(portPath)) === 'CREATE_COMPLETED', {
    timeoutMs: 30_000,
    what: 'the port CREATE_COMPLETED',
  });
  expect(await json(keys.state(portPath))).toMatchObject({ error: '', version: 1 });
  expect(liveStacks([stackNameOf('port', PORT)])).toEqual([stackNameOf('port', PORT)]);
  expect((await portTargets()).map((t) => [t.type, t.field_name])).toEqual([['virtual_machine_interface', 'vmi']]);
  expect(await json(keys.mirror(portPath))).toEqual({ body: bodies.port, deleted: false, version: 1 });

  // Gohan's REST DELETE: the key goes at once, nothing marked for deletion before.
  await store
    .txn()
    .then(del(keys.config(portPath)))
    .commit();
  await waitFor(
    async () => (await keysLeft([PORT])).length === 0 && liveStacks([stackNameOf('port', PORT)]).length === 0,
    {
      timeoutMs: 30_000,
      what: "the port's stack and keys to go",
    },
  );
  expect(await portTargets()).toEqual([]);
  expect(heatSim.engine.count(stackNameOf('port', PORT))).toMatchObject({ creates: 1, deletes: 1 });
  expect(await keysLeft([PORT])).toEqual([]);
  // Its network and subnet are still there, with their stacks.
  expect([await workerState(path('networks', NET)), await workerState(path('subnets', SUBNET))]).toEqual([
    'CREATE_COMPLETED',
    'CREATE_COMPLETED',
  ]);
});

test('the rest deleted at once: every stack gone, no key of any of them left', async () => {
  const stacks = [stackNameOf('network', NET), stackNameOf('subnet', SUBNET)];
  expect(liveStacks(stacks)).toEqual(stacks);
  await store
    .txn()
    .then(
      del(keys.config(path('subnets', SUBNET))),
      del(keys.config(path('networks', NET))),
      del(keys.config(path('gw_interfaces', GW_IF))),
    )
    .commit();
  const ids = [NET, SUBNET, GW_IF, PORT];
  await waitFor(() => nothingLeft(ids, stacks), {
    timeoutMs: 30_000,
    what: 'every stack and key to go',
  });
  expect(liveStacks(stacks)).toEqual([]);
  expect(await keysLeft(ids)).toEqual([]);
  expect(pipeline.errors).toEqual([]);
});

test("the record's Gohan: a logical delete, then its key deleted at once, keeps /state DELETE_COMPLETED", async () => {
  delete process.env.ESI_KEY_DELETE_STATE;
  const marked = path('networks', MARKED);
  const body = { id: MARKED, name: 'kd-marked', admin_state_up: true };
  await store
    .txn()
    .then(put(keys.config(marked), encodeGohanConfigValue(body, 1)))
    .commit();
  await waitFor(async () => (await workerState(marked)) === 'CREATE_COMPLETED', {
    timeoutMs: 30_000,
    what: 'the network CREATE_COMPLETED',
  });
  // Marked for deletion at v2, and the key removed before the delete chain is done.
  await store
    .txn()
    .then(put(keys.config(marked), encodeGohanConfigValue(body, 2, true)))
    .commit();
  await store
    .txn()
    .then(del(keys.config(marked)))
    .commit();
  await waitFor(
    async () =>
      (await workerState(marked)) === 'DELETE_COMPLETED' &&
      (await keysLeft([MARKED])).every((k) => k === keys.state(marked)),
    { timeoutMs: 30_000, what: 'DELETE_COMPLETED, and every other key of the network gone' },
  );
  expect(await json(keys.state(marked))).toEqual({
    error: '',
    // As the record's /state of a deleted port (seed 001).
    state: { worker_state: 'DELETE_COMPLETED', heat_outputs: '[]', orchestration_state: 'DELETE_COMPLETE' },
    version: 2,
  });
  expect(liveStacks([stackNameOf('network', MARKED)])).toEqual([]);
  expect(await keysLeft([MARKED])).toEqual([keys.state(marked)]);
  expect(pipeline.errors).toEqual([]);
});
