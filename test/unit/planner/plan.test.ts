/**
 * planChange beyond the seeds: no-template resources, key deletes, the gw-port chain on delete,
 * ordering against an older unfinished chain, and how errors surface. Bodies are the seed 004 /
 * record ones, trimmed.
 */
import { MappingError } from '../../../shared/planner/mapping';
import { PlanError, planChange, type PlanInput } from '../../../shared/planner/plan';
import { defaultSchemaIndex } from '../../../shared/planner/schema';
import { parseTemplateMappings, TemplateMappingsError } from '../../../shared/planner/template-mappings';
import type { ConfigValue, JsonObject } from '../../../shared/planner/types';
import { MemoryView, counterSuffix, shippedTemplateMappings, shippedTemplates } from './helpers';
import { at } from '../../helpers/at';

const PORT = '7abe783f-4837-417d-b76f-771ec4d38b97';
const NETWORK = '52d7bef8-aa17-45c3-b63e-6a0e504603f0';
const SUBNET = 'a510f785-7758-4ce5-8fd4-c107d11b8e40';
const GW_IF = 'b9618566-14ea-4505-8eae-8fdb4b6a0ec1';

const gwPortBody = (extra: JsonObject = {}): JsonObject => ({
  id: PORT,
  device_owner: 'network:gw_interface',
  device_id: GW_IF,
  network_id: NETWORK,
  attached: true,
  admin_state_up: true,
  tenant_id: '0b576f6f4cbf414f829cd12f008bf08f',
  allowed_address_pairs: [],
  security_groups: [],
  mac_address: 'fa:16:3e:f8:45:26',
  fixed_ips: [{ subnet_id: SUBNET, ip_address: '172.16.101.153' }],
  ...extra,
});

const config = (body: JsonObject, version: number, markedForDeletion = false): ConfigValue => ({
  body,
  version,
  markedForDeletion,
});

function world(): MemoryView {
  return new MemoryView()
    .setConfig('network', NETWORK, config({ id: NETWORK }, 1))
    .setConfig('subnet', SUBNET, config({ id: SUBNET, network_id: NETWORK }, 1))
    .setConfig('gw_interface', GW_IF, config({ id: GW_IF }, 1));
}

function input(overrides: Partial<PlanInput>): PlanInput {
  return {
    resourceType: 'port',
    resourceId: PORT,
    value: config(gwPortBody(), 2),
    templates: shippedTemplates(),
    templateMappings: shippedTemplateMappings(),
    view: world(),
    schema: defaultSchemaIndex(),
    randomSuffix: counterSuffix(),
    ...overrides,
  };
}

describe('resources without a template', () => {
  it('a dhcp port is only read: READ_COMPLETE with its version', () => {
    const body = { id: 'e50e0cef-49cc-4231-8331-d1119e2dea5a', device_owner: 'network:dhcp' };
    const r = planChange(input({ resourceId: body.id, value: config(body, 1) }));
    expect(r).toEqual({
      kind: 'no_template',
      state: { state: { worker_state: 'READ_COMPLETE' }, version: 1, error: '' },
    });
  });

  it('a type absent from template_mappings (quota) is only read', () => {
    const r = planChange(
      input({ resourceType: 'quota', resourceId: 'default', value: config({ id: 'default', port: 10000 }, 1) }),
    );
    expect(r.kind).toBe('no_template');
  });
});

describe('a key delete', () => {
  it('of a resource the worker never saw, or whose logical delete it planned, plans nothing', () => {
    expect(planChange(input({ value: undefined }))).toEqual({ kind: 'deleted' });
    const marked = world().setPrevious('port', PORT, config(gwPortBody(), 4, true));
    expect(planChange(input({ value: undefined, view: marked }))).toEqual({ kind: 'deleted' });
  });

  it('of a live gw port tears it down from the version the worker saw: monitoring delete, heat delete', () => {
    const view = world().setPrevious('port', PORT, config(gwPortBody(), 3));
    const r = planChange(input({ value: undefined, view }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => [j.job.id, j.job.is_first, j.job.is_last, j.job.on_failure, j.job.dependency])).toEqual([
      [`delete:monitoring_worker:port:${PORT}:4:t0000`, true, false, 'ignore', []],
      [
        `delete:heat_worker:port:${PORT}:4:t0001`,
        false,
        true,
        'fail',
        [`delete:monitoring_worker:port:${PORT}:4:t0000`],
      ],
    ]);
    expect(at(r.jobs, 1).job.resource_input).toEqual(gwPortBody());
    expect(at(r.jobs, 1).job.params.find((p) => p.param === 'virtual_network')?.resources).toEqual([
      { resource_type: 'network', resource_id: NETWORK },
      { resource_type: 'network', resource_id: NETWORK },
    ]);
  });

  it('whose references are gone from /config too is planned with empty params (a delete needs the stack name only)', () => {
    const view = new MemoryView().setPrevious('port', PORT, config(gwPortBody({ device_owner: 'compute:nova' }), 2));
    const r = planChange(input({ value: undefined, view }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => [j.job.id, j.job.params, j.job.dependency])).toEqual([
      [`delete:heat_worker:port:${PORT}:3:t0000`, [], []],
    ]);
  });

  it('of a resource without a template plans nothing', () => {
    const body = { id: 'e50e0cef-49cc-4231-8331-d1119e2dea5a', device_owner: 'network:dhcp' };
    const view = world().setPrevious('port', body.id, config(body, 1));
    expect(planChange(input({ resourceId: body.id, value: undefined, view }))).toEqual({ kind: 'deleted' });
  });
});

describe('the gw-port chain', () => {
  it('on logical_delete: monitoring delete then heat logical_delete, no monitoring create', () => {
    const view = world().setPrevious('port', PORT, config(gwPortBody(), 3));
    const r = planChange(input({ value: config(gwPortBody(), 4, true), view }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => [j.job.handler, j.job.action, j.job.is_first, j.job.is_last, j.job.on_failure])).toEqual([
      ['monitoring_worker', 'delete', true, false, 'ignore'],
      ['heat_worker', 'logical_delete', false, true, 'fail'],
    ]);
    expect(at(r.jobs, 1).job.dependency).toEqual([at(r.jobs, 0).job.id]);
  });

  it('a port that is not a gw interface gets the heat job alone', () => {
    const r = planChange(input({ value: config(gwPortBody({ device_owner: 'compute:nova', device_id: 'vm-1' }), 2) }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => [j.job.handler, j.job.is_first, j.job.is_last])).toEqual([['heat_worker', true, true]]);
  });

  it('on create (no previous version) there is no target to remove: heat create, then monitoring create', () => {
    const r = planChange(input({ value: config(gwPortBody({ attached: false }), 1) }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => [j.job.id, j.job.is_first, j.job.is_last, j.job.dependency])).toEqual([
      [`create:heat_worker:port:${PORT}:1:t0000`, true, false, []],
      [`create:monitoring_worker:port:${PORT}:1:t0001`, false, true, [`create:heat_worker:port:${PORT}:1:t0000`]],
    ]);
    // A create evaluates once: resources are not doubled.
    expect(at(r.jobs, 0).job.params.find((p) => p.param === 'virtual_network')?.resources).toEqual([
      { resource_type: 'network', resource_id: NETWORK },
    ]);
  });

  it('a later version the worker never saw before (no mirror) plans no monitoring delete either', () => {
    const r = planChange(input({ value: config(gwPortBody(), 3) }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => `${j.job.action}:${j.job.handler}`)).toEqual([
      'modify:heat_worker',
      'create:monitoring_worker',
    ]);
  });
});

describe('dependency', () => {
  it('waits for unfinished jobs of referenced resources, once each', () => {
    const view = world()
      .addPending('network', NETWORK, `create:heat_worker:network:${NETWORK}:1:aaaaa`)
      .addPending('subnet', SUBNET, `create:heat_worker:subnet:${SUBNET}:1:bbbbb`);
    const r = planChange(
      input({ value: config(gwPortBody({ device_owner: 'compute:nova', device_id: 'vm-1' }), 1), view }),
    );
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(new Set(at(r.jobs, 0).job.dependency)).toEqual(
      new Set([`create:heat_worker:network:${NETWORK}:1:aaaaa`, `create:heat_worker:subnet:${SUBNET}:1:bbbbb`]),
    );
  });

  it('a newer version waits for the unfinished jobs of the older one (docs/planner.md)', () => {
    const older = `modify:heat_worker:port:${PORT}:2:ccccc`;
    const view = world().addPending('port', PORT, older).setPrevious('port', PORT, config(gwPortBody(), 2));
    const r = planChange(input({ value: config(gwPortBody(), 3), view }));
    if (r.kind !== 'jobs') throw new Error(r.kind);
    for (const j of r.jobs) expect(j.job.dependency).toContain(older);
  });
});

describe('errors are results, never crashes', () => {
  it('a missing referenced resource is a MappingError result', () => {
    const view = new MemoryView().setConfig('subnet', SUBNET, config({ id: SUBNET }, 1));
    const r = planChange(
      input({ value: config(gwPortBody({ device_owner: 'compute:nova', device_id: 'vm-1' }), 1), view }),
    );
    expect(r.kind).toBe('error');
    if (r.kind !== 'error') return;
    expect(r.error).toBeInstanceOf(MappingError);
    expect(r.error.message).toMatch(
      /param "virtual_network": mapping "Mnetwork:network_id:id": referenced network 52d7bef8-.* does not exist/,
    );
  });

  it('a template id that names no template is a PlanError result', () => {
    const mappings = parseTemplateMappings({ heat_worker: { port: 'Cport_v9' } });
    const r = planChange(input({ templateMappings: mappings }));
    expect(r.kind).toBe('error');
    if (r.kind === 'error') {
      expect(r.error).toBeInstanceOf(PlanError);
      expect(r.error.message).toBe(
        'template_mappings.heat_worker.port selects template "port_v9", which does not exist',
      );
    }
  });

  it('template_mappings with a bad chain step is rejected when parsed', () => {
    expect(() => parseTemplateMappings({ heat_worker: {}, chains: { port: [{ handler: 'nobody' }] } })).toThrow(
      TemplateMappingsError,
    );
    expect(() =>
      parseTemplateMappings({ heat_worker: {}, chains: { port: [{ handler: 'heat_worker', on_failure: 'retry' }] } }),
    ).toThrow('chains.port[0]: "on_failure" must be fail or ignore');
    // Job ids start with their action and handler, which find a resource's jobs: only known ones.
    expect(() =>
      parseTemplateMappings({ heat_worker: {}, chains: { port: [{ handler: 'heat_worker', action: 'rebuild' }] } }),
    ).toThrow('chains.port[0]: "action" must be one of create, modify, logical_delete, delete');
    expect(() => parseTemplateMappings({ other_worker: {}, chains: { port: [{ handler: 'other_worker' }] } })).toThrow(
      'chains.port[0]: handler "other_worker" is not one of heat_worker, monitoring_worker',
    );
  });
});

describe('dependency on the resources that reference the planned one (PROTOCOL-NOTES §a)', () => {
  // A port (this test's PORT) whose params read the network NETWORK: its unfinished job was
  // planned before the network's change, so the network's job waits for it.
  const portJob = `create:heat_worker:port:${PORT}:1:aaaaa`;

  it("a change waits for the referencing resources' unfinished jobs", () => {
    const view = world().addReferencing('network', NETWORK, portJob);
    const r = planChange(
      input({
        resourceType: 'network',
        resourceId: NETWORK,
        value: config({ id: NETWORK, admin_state_up: true }, 2),
        view,
      }),
    );
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(r.jobs.map((j) => j.job.dependency)).toEqual([[portJob]]);
  });

  it('each job id once, even when a job both references the resource and is listed as its own', () => {
    const own = `modify:heat_worker:network:${NETWORK}:2:bbbbb`;
    const view = world()
      .addReferencing('network', NETWORK, portJob)
      .addReferencing('network', NETWORK, own)
      .addPending('network', NETWORK, own);
    const r = planChange(
      input({
        resourceType: 'network',
        resourceId: NETWORK,
        value: config({ id: NETWORK, admin_state_up: true }, 3),
        view,
      }),
    );
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect([...at(r.jobs, 0).job.dependency].sort()).toEqual([own, portJob].sort());
  });

  it('nothing references the resource: only its own and its references count, as before', () => {
    const r = planChange(
      input({ resourceType: 'network', resourceId: NETWORK, value: config({ id: NETWORK, admin_state_up: true }, 2) }),
    );
    if (r.kind !== 'jobs') throw new Error(r.kind);
    expect(at(r.jobs, 0).job.dependency).toEqual([]);
  });
});
