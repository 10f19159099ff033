import {
  type CollectorSimulator,
  type HeatSimulator,
  startCollectorSimulator,
  startHeatSimulator,
} from '../../../infra/sim/main';
import { waitFor } from '../../helpers/wait';
import { client, http, outputsByKey } from './sim-client';
import { at } from '../../helpers/at';

/** The request heat-engine sent for a port's VMI monitor (record: 05_load_balancer, UpdateLoadbalancerInterface_04). */
const VMI_TARGET = {
  resource_id: '23464cbc-d910-430a-93f7-3776ea07f992',
  tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
  version: 3,
  syncer_properties: {
    tsdb: {
      'traffic.in': {
        metric: 'traffic.contrail_bytes',
        tags: { direction: 'in', resource_id: '23464cbc-d910-430a-93f7-3776ea07f992' },
      },
      'traffic.out': {
        metric: 'traffic.contrail_bytes',
        tags: { direction: 'out', resource_id: '23464cbc-d910-430a-93f7-3776ea07f992' },
      },
    },
    etcd: { status: { key: 'vmi' } },
  },
  field_name: 'vmi',
  type: 'virtual_machine_interface',
  properties: { fq_name: 'default-domain:admin:f68d0924-ef20-4c1b-ac45-0e6b879af5e7' },
  resource_type: 'ports',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('monitoring collector simulator', () => {
  let col: CollectorSimulator;
  const seen: unknown[] = [];

  beforeAll(async () => {
    col = await startCollectorSimulator({ onStatus: (_t, v) => seen.push(v) });
  });
  afterAll(() => col.stop());
  beforeEach(() => http.post(`${col.url}/_sim/reset`));

  it('POST /targets answers 201 with the body echoed plus id, link, monitorer and created_at', async () => {
    const res = await http.post(`${col.url}/targets`, VMI_TARGET);
    expect(res.status).toBe(201);
    const id = res.data.id as string;
    expect(id).toMatch(UUID);
    expect(res.data).toEqual({
      ...VMI_TARGET,
      id,
      link: `${col.url}/targets/${id}`,
      monitorer: col.url,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
    });
    // The create answer has no values; show adds them (empty until an agent reports).
    expect(res.data.values).toBeUndefined();
    const show = await http.get(res.data.link);
    expect(show.status).toBe(200);
    expect(show.data).toEqual({ ...res.data, values: [] });
  });

  it('drives status changes through the control endpoint (UP → FAIL), with last_changed only on change', async () => {
    const { data: t } = await http.post(`${col.url}/targets`, VMI_TARGET);
    const up = await http.post(`${col.url}/_sim/targets/${t.id}/status`, { value: 'UP' });
    expect(up.status).toBe(200);
    expect(up.data.values).toEqual([
      {
        reporter: 'contrail_vmi',
        last_reported: expect.any(String),
        last_changed: expect.any(String),
        value: 'UP',
        key: 'status',
        fail_counter: 0,
      },
    ]);
    const firstChange = up.data.values[0].last_changed;
    const again = await http.post(`${col.url}/_sim/targets/${t.id}/status`, { value: 'UP' });
    expect(again.data.values[0].last_changed).toBe(firstChange);
    await http.post(`${col.url}/_sim/targets/${t.id}/status`, { value: 'FAIL', fail_counter: 2 });
    const show = await http.get(`${col.url}/targets/${t.id}`);
    expect(show.data.values).toEqual([expect.objectContaining({ key: 'status', value: 'FAIL', fail_counter: 2 })]);
    // Metric keys sit beside the status, as the record's port targets show.
    await http.post(`${col.url}/_sim/targets/${t.id}/status`, { key: 'traffic.in', value: 14 });
    expect((await http.get(`${col.url}/targets/${t.id}`)).data.values.map((v: { key: string }) => v.key)).toEqual([
      'status',
      'traffic.in',
    ]);
    expect(seen.slice(-4)).toEqual(['UP', 'UP', 'FAIL', 14]);
  });

  it('sets status by resource and accepts object statuses (VRRP)', async () => {
    const vrrp = {
      ...VMI_TARGET,
      type: 'vrrp_pool',
      resource_type: 'gw_interfaces',
      resource_id: 'gw-1',
      field_name: 'status',
    };
    const { data: t } = await http.post(`${col.url}/targets`, vrrp);
    const res = await http.post(`${col.url}/_sim/status`, {
      resource_type: 'gw_interfaces',
      resource_id: 'gw-1',
      value: { primary: 'MASTER', secondary: 'BACKUP' },
    });
    expect(res.status).toBe(200);
    expect(res.data.targets[0].values[0]).toMatchObject({
      reporter: 'VRRPAgent',
      value: { primary: 'MASTER', secondary: 'BACKUP' },
    });
    expect(at(col.targets(), 0, 'collector targets').id).toBe(t.id);
    expect((await http.post(`${col.url}/_sim/status`, { resource_id: 'nope', value: 'UP' })).status).toBe(404);
  });

  it('DELETE /targets/<id> answers 204, then 404; GET /targets lists and filters', async () => {
    const a = (await http.post(`${col.url}/targets`, VMI_TARGET)).data;
    const b = (
      await http.post(`${col.url}/targets`, { ...VMI_TARGET, resource_type: 'load_balancers', resource_id: 'lb-1' })
    ).data;
    expect((await http.get(`${col.url}/targets`)).data.map((t: { id: string }) => t.id)).toEqual([a.id, b.id]);
    const filtered = await http.get(`${col.url}/targets`, {
      params: { resource_type: 'load_balancers', resource_id: 'lb-1' },
    });
    expect(filtered.data.map((t: { id: string }) => t.id)).toEqual([b.id]);
    expect((await http.delete(`${col.url}/targets/${a.id}`)).status).toBe(204);
    expect((await http.delete(`${col.url}/targets/${a.id}`)).status).toBe(404);
    expect((await http.get(`${col.url}/targets/${a.id}`)).status).toBe(404);
    expect((await http.get(`${col.url}/_sim/targets`)).data.counts).toEqual({ created: 2, deleted: 1, live: 1 });
  });

  it('rejects a target without type/resource_type/resource_id, and injects 5xx on demand', async () => {
    const bad = await http.post(`${col.url}/targets`, { field_name: 'x' });
    expect(bad.status).toBe(400);
    expect(bad.data.error).toBe('missing or invalid field(s): type, resource_type, resource_id');
    await http.post(`${col.url}/_sim/faults`, { method: 'POST', status: 503, times: 1 });
    expect((await http.post(`${col.url}/targets`, VMI_TARGET)).status).toBe(503);
    expect((await http.post(`${col.url}/targets`, VMI_TARGET)).status).toBe(201);
  });

  it('reports a status by itself when autoStatus is set', async () => {
    const auto = await startCollectorSimulator({ autoStatus: 'UP', autoStatusDelayMs: 50 });
    try {
      const { data: t } = await http.post(`${auto.url}/targets`, VMI_TARGET);
      expect((await http.get(`${auto.url}/targets/${t.id}`)).data.values).toEqual([]);
      await waitFor(async () => (await http.get(`${auto.url}/targets/${t.id}`)).data.values[0]?.value === 'UP', {
        timeoutMs: 2_000,
        what: 'auto status',
      });
    } finally {
      await auto.stop();
    }
  });
});

describe('Heat simulator registering MonitoringTargets with the collector simulator', () => {
  let col: CollectorSimulator;
  let sim: HeatSimulator;
  const TEMPLATE = {
    heat_template_version: '2013-05-23',
    parameters: { uuid: { type: 'string' }, tenant_id: { type: 'string' }, version: { type: 'number' } },
    resources: {
      vmi: { type: 'OS::Contrail::VirtualMachineInterface', properties: { name: { get_param: 'uuid' } } },
      vmi_monitor: {
        type: 'ESI::Monitoring::MonitoringTarget',
        depends_on: 'vmi',
        properties: {
          type: 'virtual_machine_interface',
          resource_type: 'ports',
          resource_id: { get_param: 'uuid' },
          field_name: 'vmi',
          tenant_id: { get_param: 'tenant_id' },
          version: { get_param: 'version' },
          properties: { fq_name: { get_attr: ['vmi', 'fq_name'] } },
          syncer_properties: { etcd: { status: { key: 'vmi' } } },
        },
      },
    },
    outputs: {
      monitoring_target_id: { description: 'Monitoring Target ID', value: { get_resource: 'vmi_monitor' } },
      monitoring_link: { description: 'Monitoring Process Link', value: { get_attr: ['vmi_monitor', 'link'] } },
      fq_name: { value: { get_attr: ['vmi', 'fq_name'] } },
    },
  };
  const params = (version: number) => ({ uuid: VMI_TARGET.resource_id, tenant_id: VMI_TARGET.tenant_id, version });

  beforeAll(async () => {
    col = await startCollectorSimulator();
    sim = await startHeatSimulator({ latencyMs: 50, collectorUrl: col.url });
  });
  afterAll(async () => {
    await sim.stop();
    await col.stop();
  });

  it('registers on create, re-registers on an update that changes the target, unregisters on delete', async () => {
    const heat = await client(sim);
    const name = `port_${VMI_TARGET.resource_id}`;
    await heat.create({ stack_name: name, template: TEMPLATE, parameters: params(2) });
    const url = await heat.canonical(name);
    const created = outputsByKey((await heat.waitStatus(url, 'CREATE_COMPLETE')).outputs as never);
    const target = (await http.get(created.monitoring_link as string)).data;
    expect(target).toMatchObject({
      id: created.monitoring_target_id,
      resource_type: 'ports',
      resource_id: VMI_TARGET.resource_id,
      version: 2,
      field_name: 'vmi',
      properties: { fq_name: created.fq_name },
      values: [],
    });

    await heat.put(url, { template: TEMPLATE, parameters: params(3) });
    const updated = outputsByKey((await heat.waitStatus(url, 'UPDATE_COMPLETE')).outputs as never);
    expect(updated.monitoring_target_id).not.toBe(created.monitoring_target_id);
    expect((await http.get(created.monitoring_link as string)).status).toBe(404);
    expect((await http.get(updated.monitoring_link as string)).data.version).toBe(3);

    // An update that leaves the target unchanged keeps it.
    await heat.put(url, { template: TEMPLATE, parameters: params(3) });
    expect(outputsByKey((await heat.waitStatus(url, 'UPDATE_COMPLETE')).outputs as never).monitoring_target_id).toBe(
      updated.monitoring_target_id,
    );

    await heat.del(url);
    await heat.waitStatus(url, 'DELETE_COMPLETE');
    expect(col.targets()).toEqual([]);
  });

  it('fails the stack when the collector refuses the target', async () => {
    const heat = await client(sim);
    await http.post(`${col.url}/_sim/faults`, { method: 'POST', status: 500 });
    await heat.create({ stack_name: 'port_collector_down', template: TEMPLATE, parameters: params(1) });
    const failed = await heat.waitStatus(await heat.canonical('port_collector_down'), 'CREATE_FAILED');
    expect(failed.stack_status_reason).toBe(
      'Resource CREATE failed: resources.monitoring_target: collector answered 500 to POST /targets',
    );
  });
});
