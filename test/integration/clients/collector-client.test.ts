/** The collector client against the collector simulator started in-test (loopback, free port). */
import axios from 'axios';
import { ClientError, RetryableError, TerminalError } from '../../../shared/clients/errors';
import { CollectorClient, type TargetSpec } from '../../../shared/clients/collector';
import { type CollectorSimulator, startCollectorSimulator } from '../../../infra/sim/main';
import { FAST_RETRY } from './helpers';

/** The body heat-engine POSTed for the load balancer's vnf_instance (record: 05_load_balancer CreateLoadbalancer_01). */
const VNF_TARGET: TargetSpec = {
  resource_id: '398d65ba-0060-456e-b415-5bc954450717',
  tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
  version: 1,
  syncer_properties: { etcd: { status: { key: 'server' } } },
  field_name: 'server',
  type: 'compute',
  properties: { server_id: '47531b14-72e9-439d-8949-fd941457ecde' },
  resource_type: 'vnf_instances',
};

let sim: CollectorSimulator;
let client: CollectorClient;

const simCounts = async () =>
  (await axios.get(`${sim.url}/_sim/targets`)).data.counts as { created: number; deleted: number; live: number };
const fault = (f: Record<string, unknown>) => axios.post(`${sim.url}/_sim/faults`, f);

async function caught(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) return e;
    throw e;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  sim = await startCollectorSimulator({ port: 0 });
  client = new CollectorClient({ baseUrl: `${sim.url}/`, retry: FAST_RETRY, timeoutMs: 5000 });
});
afterAll(async () => {
  await sim?.stop();
});
beforeEach(async () => {
  await axios.post(`${sim.url}/_sim/reset`);
});

it('create → the body echoed with id, link, monitorer, created_at; found by resource with its values; delete; delete again = absent', async () => {
  const t = await client.createTarget(VNF_TARGET);
  expect(t).toMatchObject(VNF_TARGET);
  expect(t.id).toMatch(/^[0-9a-f-]{36}$/);
  expect(t.link).toBe(`${sim.url}/targets/${t.id}`);
  expect(t.monitorer).toBe(sim.url);
  expect(t.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

  const byResource = { resource_type: 'vnf_instances', resource_id: VNF_TARGET.resource_id };
  expect(await client.findTargets(byResource)).toEqual([{ ...t, values: [] }]);
  sim.setStatus(t.id, 'UP');
  const [got] = await client.findTargets(byResource);
  expect(got?.values?.map((v) => [v.key, v.value, v.reporter, v.fail_counter])).toEqual([
    ['status', 'UP', 'NovaAgent', 0],
  ]);

  expect(await client.findTargets({ resource_type: 'vnf_instances', resource_id: 'other' })).toEqual([]);

  expect(await client.deleteTarget(t.id)).toBe('deleted');
  expect(await client.deleteTarget(t.id)).toBe('absent');
  expect(await client.findTargets(byResource)).toEqual([]);
  expect(await simCounts()).toEqual({ created: 1, deleted: 1, live: 0 });
});

it("a body without the required fields → TerminalError 400 with the collector's message", async () => {
  const e = await caught(client.createTarget({ ...VNF_TARGET, type: undefined as unknown as string }));
  expect(e).toBeInstanceOf(TerminalError);
  expect([e.service, e.status, e.serviceMessage]).toEqual(['collector', 400, 'missing or invalid field(s): type']);
});

it('POST answered 503 twice: retried (nothing was created), one target', async () => {
  await fault({ method: 'POST', status: 503, times: 2 });
  await client.createTarget(VNF_TARGET);
  expect(await simCounts()).toEqual({ created: 1, deleted: 0, live: 1 });
});

it('POST answered 500: not repeated in-process (it might have been applied), RetryableError', async () => {
  await fault({ method: 'POST', status: 500, times: 1 });
  const e = await caught(client.createTarget(VNF_TARGET));
  expect([e.constructor, e.status]).toEqual([RetryableError, 500]);
  // The fault is spent and nothing was retried: no target exists.
  expect(await simCounts()).toEqual({ created: 0, deleted: 0, live: 0 });
});

it('GET/DELETE 503 three times then success; 5xx beyond the budget → RetryableError', async () => {
  const t = await client.createTarget(VNF_TARGET);
  await fault({ method: 'GET', status: 503, times: 3 });
  expect((await client.findTargets({ resource_id: t.resource_id })).map((x) => x.id)).toEqual([t.id]);
  await fault({ method: 'DELETE', status: 502, times: 4 });
  const e = await caught(client.deleteTarget(t.id));
  expect([e.constructor, e.status]).toEqual([RetryableError, 502]);
  expect(await client.deleteTarget(t.id)).toBe('deleted');
});

it('connection refused → RetryableError', async () => {
  const dead = await startCollectorSimulator({ port: 0 });
  await dead.stop();
  const c = new CollectorClient({ baseUrl: dead.url, retry: { retries: 1, initialDelayMs: 1, maxDelayMs: 2 } });
  const e = await caught(c.findTargets({}));
  expect([e.constructor, e.code]).toEqual([RetryableError, 'ECONNREFUSED']);
});
