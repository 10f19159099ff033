import fs from 'node:fs';
import path from 'node:path';
import { type HeatSimulator, startHeatSimulator } from '../../../infra/sim/main';
import { client, type HeatTestClient, http, outputsByKey } from './sim-client';

/** Seed 003, point (1): the outputs of the port stack as the original system stored them. */
const FIXTURE = path.join(__dirname, '..', '..', 'fixtures', 'sim', 'heat-outputs.seed003.json');
const SEED_STACK = 'port_ddc14be4-3480-4e97-a978-817b18f9904c';
const seedOutputs = (JSON.parse(fs.readFileSync(FIXTURE, 'utf8')) as Record<string, unknown[]>)[SEED_STACK];

/** The port template's shape (parameters the seed's job passes, outputs it reads). */
const PORT_TEMPLATE = {
  heat_template_version: '2013-05-23',
  description: 'Virtual Machine Interface Template\n',
  parameters: {
    uuid: { type: 'string' },
    name: { type: 'string' },
    virtual_network: { type: 'string' },
    virtual_machine_interface_allowed_address_pairs: { type: 'json' },
    virtual_machine_interface_mac_address: { type: 'string', default: 'fe:ff:ff:ff:ff:ff' },
    tenant_id: { type: 'string' },
    version: { type: 'number' },
  },
  resources: {
    virtual_machine_interface: {
      type: 'OS::Contrail::VirtualMachineInterface',
      properties: {
        uuid: { get_param: 'uuid' },
        name: { get_param: 'name' },
        virtual_machine_interface_allowed_address_pairs: {
          get_param: 'virtual_machine_interface_allowed_address_pairs',
        },
        virtual_machine_interface_mac_addresses: [{ get_param: 'virtual_machine_interface_mac_address' }],
        virtual_networks: [{ get_param: 'virtual_network' }],
      },
    },
  },
  outputs: {
    id: {
      description: 'A unique id for the virtual machine interface.',
      value: { get_resource: 'virtual_machine_interface' },
    },
    mac_address: {
      description: 'Virtual machine interface mac address.',
      value: { get_attr: ['virtual_machine_interface', 'virtual_machine_interface_mac_addresses'] },
    },
    allowed_address_pairs: {
      description: 'Virtual machine allowed address pairs.',
      value: { get_attr: ['virtual_machine_interface', 'virtual_machine_interface_allowed_address_pairs'] },
    },
    virtual_network: {
      description: 'Virtual network.',
      value: { get_attr: ['virtual_machine_interface', 'virtual_networks'] },
    },
    fq_name: {
      description: 'Fully Qualified Name of the VMI',
      value: { get_attr: ['virtual_machine_interface', 'fq_name'] },
    },
  },
};
const PARAMS = {
  uuid: 'ddc14be4-3480-4e97-a978-817b18f9904c',
  name: 'ddc14be4-3480-4e97-a978-817b18f9904c',
  virtual_network: 'ce9a7a92-d11a-4fc6-8ae7-18061b62c98f',
  virtual_machine_interface_allowed_address_pairs: 'null',
  tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
  version: '2',
};

describe('Heat simulator outputs fixtures', () => {
  let sim: HeatSimulator;
  let heat: HeatTestClient;

  beforeAll(async () => {
    sim = await startHeatSimulator({ latencyMs: 50, fixtures: FIXTURE });
  });
  afterAll(() => sim.stop());
  beforeEach(async () => {
    await http.post(`${sim.url}/_sim/reset`);
    heat = await client(sim);
  });

  it("replaying seed 003's port stack (create, then the modify) yields the seed's outputs exactly", async () => {
    expect(seedOutputs).toHaveLength(5);
    // The seed's stack lives under the record's tenant, which is the simulator's default project.
    expect(sim.heatUrl).toBe(`${sim.url}/v1/fe3a4a1a72c04479bb6c19c2c0ccba4c`);
    expect(
      (await heat.create({ stack_name: SEED_STACK, template: PORT_TEMPLATE, parameters: { ...PARAMS, version: '1' } }))
        .status,
    ).toBe(201);
    const url = await heat.canonical(SEED_STACK);
    expect((await heat.waitStatus(url, 'CREATE_COMPLETE')).outputs).toEqual(seedOutputs);
    expect((await heat.put(url, { template: PORT_TEMPLATE, parameters: PARAMS })).status).toBe(202);
    const stack = await heat.waitStatus(url, 'UPDATE_COMPLETE');
    // Same order, same keys, same values as /esi-worker/heat_stacks/... in the seed.
    expect(stack.outputs).toEqual(seedOutputs);
    expect(stack.stack_status_reason).toBe('Stack successfully updated');
    const fq = await heat.get(`${url}/outputs/fq_name`);
    expect(fq.data.output).toEqual({
      output_value: 'default-domain:admin:f68d0924-ef20-4c1b-ac45-0e6b879af5e7',
      description: 'Fully Qualified Name of the VMI',
      output_key: 'fq_name',
    });
  });

  it('computes outputs for stacks the fixtures do not name, in the same shapes', async () => {
    const other = 'port_00000000-0000-4000-8000-000000000000';
    await heat.create({
      stack_name: other,
      template: PORT_TEMPLATE,
      parameters: { ...PARAMS, uuid: other.slice(5), name: other.slice(5) },
    });
    const stack = await heat.waitStatus(await heat.canonical(other), 'CREATE_COMPLETE');
    const o = outputsByKey(stack.outputs as never);
    const seed = outputsByKey(seedOutputs as never);
    expect(Object.keys(o).sort()).toEqual(Object.keys(seed).sort());
    expect(o.fq_name).toBe(`default-domain:admin:${String(o.id)}`);
    expect(o.allowed_address_pairs).toEqual(seed.allowed_address_pairs);
    expect(o.virtual_network).toEqual([['default-domain', 'admin', PARAMS.virtual_network]]);
    expect(o.mac_address).toEqual([expect.stringMatching(/^fa:16:3e:/)]);
  });

  it('takes fixtures at run time and forgets them on reset', async () => {
    const outputs = [{ output_key: 'id', output_value: 'fixed', description: 'd' }];
    expect((await http.put(`${sim.url}/_sim/fixtures`, { port_runtime: outputs })).status).toBe(204);
    await heat.create({ stack_name: 'port_runtime', template: PORT_TEMPLATE, parameters: PARAMS });
    expect((await heat.waitStatus(await heat.canonical('port_runtime'), 'CREATE_COMPLETE')).outputs).toEqual(outputs);
    await http.post(`${sim.url}/_sim/reset`);
    expect(Object.keys((await http.get(`${sim.url}/_sim/fixtures`)).data)).toEqual([SEED_STACK]);
    expect((await http.put(`${sim.url}/_sim/fixtures`, { bad: 'not a list' })).status).toBe(400);
  });
});
