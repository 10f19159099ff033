import YAML from 'yaml';
import { type HeatSimulator, startHeatSimulator } from '../../../infra/sim/main';
import { client, type HeatTestClient, http, outputsByKey } from './sim-client';
import { waitFor } from '../../helpers/wait';

/** A small port-like HOT template exercising every intrinsic function the simulator resolves. */
const TEMPLATE = {
  heat_template_version: '2013-05-23',
  description: 'Simulator test port',
  parameters: {
    uuid: { type: 'string' },
    name: { type: 'string' },
    tenant_id: { type: 'string' },
    version: { type: 'number' },
    mac: { type: 'string', default: 'fe:ff:ff:ff:ff:ff' },
    virtual_network: { type: 'string' },
    admin_state_up: { type: 'boolean', default: true },
    pairs: { type: 'json', default: [] },
    device_password: { type: 'string', hidden: true, default: 'not-for-show' },
  },
  resources: {
    vmi: {
      type: 'OS::Contrail::VirtualMachineInterface',
      properties: {
        uuid: { get_param: 'uuid' },
        name: { get_param: 'name' },
        virtual_machine_interface_mac_addresses: [{ get_param: 'mac' }],
        virtual_machine_interface_allowed_address_pairs: { get_param: 'pairs' },
        virtual_networks: [{ get_param: 'virtual_network' }],
      },
    },
    iip: {
      type: 'OS::Contrail::InstanceIp',
      properties: {
        name: {
          str_replace: {
            template: '%name%_%zone%_%ip%',
            params: { '%name%': { get_param: 'name' }, '%zone%': 'zone-a', '%ip%': '10.0.0.5' },
          },
        },
        virtual_machine_interfaces: [{ get_resource: 'vmi' }],
      },
    },
    monitor: {
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
      },
    },
  },
  outputs: {
    id: { description: 'A unique id for the virtual machine interface.', value: { get_resource: 'vmi' } },
    fq_name: { description: 'Fully Qualified Name of the VMI', value: { get_attr: ['vmi', 'fq_name'] } },
    mac_address: {
      description: 'Virtual machine interface mac address.',
      value: { get_attr: ['vmi', 'virtual_machine_interface_mac_addresses'] },
    },
    virtual_network: { description: 'Virtual network.', value: { get_attr: ['vmi', 'virtual_networks'] } },
    allowed_address_pairs: {
      description: 'Virtual machine allowed address pairs.',
      value: { get_attr: ['vmi', 'virtual_machine_interface_allowed_address_pairs'] },
    },
    ip_name: { description: 'Instance IP name', value: { get_attr: ['iip', 'name'] } },
    joined: {
      description: 'list_join',
      value: { list_join: ['-', [{ get_param: 'name' }, { get_param: 'version' }, 'x']] },
    },
    version: { description: 'typed number', value: { get_param: 'version' } },
    admin: { description: 'typed boolean', value: { get_param: 'admin_state_up' } },
    project: { description: 'pseudo parameter', value: { get_param: 'OS::project_id' } },
    monitoring_target_id: { description: 'Monitoring Target ID', value: { get_resource: 'monitor' } },
    monitoring_link: { description: 'Monitoring Process Link', value: { get_attr: ['monitor', 'link'] } },
  },
};

const PORT = 'a7e5822c-5c04-4c5f-a5ac-b0e0ad50159f';
const VN = 'ce9a7a92-d11a-4fc6-8ae7-18061b62c98f';
const params = (over: Record<string, unknown> = {}) => ({
  uuid: PORT,
  name: PORT,
  tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
  version: 2,
  virtual_network: VN,
  ...over,
});
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('Heat v1 simulator: stacks', () => {
  let sim: HeatSimulator;
  let heat: HeatTestClient;
  let n = 0;
  const name = () => `port_${++n}_${PORT}`;

  beforeAll(async () => {
    sim = await startHeatSimulator({ latencyMs: 150 });
  });
  afterAll(() => sim.stop());
  beforeEach(async () => {
    await http.post(`${sim.url}/_sim/reset`);
    heat = await client(sim);
  });

  async function createComplete(stackName: string, p = params()) {
    const res = await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: p, timeout_mins: 13 });
    expect(res.status).toBe(201);
    const url = await heat.canonical(stackName);
    return { url, id: res.data.stack.id as string, stack: await heat.waitStatus(url, 'CREATE_COMPLETE') };
  }

  it('creates a stack: 201 with id and links, CREATE_IN_PROGRESS, then CREATE_COMPLETE with outputs computed from the template', async () => {
    const stackName = name();
    const res = await heat.create({
      stack_name: stackName,
      template: TEMPLATE,
      parameters: params(),
      timeout_mins: 13,
    });
    expect(res.status).toBe(201);
    const { id, links } = res.data.stack;
    expect(id).toMatch(UUID);
    const self = `${sim.heatUrl}/stacks/${stackName}/${id}`;
    expect(links).toEqual([{ href: self, rel: 'self' }]);
    expect(res.headers.location).toBe(self);

    const first = await heat.get(self);
    expect(first.data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    expect(first.data.stack.stack_status_reason).toBe('Stack CREATE started');
    expect(first.data.stack.outputs).toEqual([]);

    const stack = await heat.waitStatus(self, 'CREATE_COMPLETE');
    expect(stack.stack_status_reason).toBe('Stack CREATE completed successfully');
    expect(stack).toMatchObject({
      id,
      stack_name: stackName,
      description: 'Simulator test port',
      template_description: 'Simulator test port',
      timeout_mins: 13,
      disable_rollback: true,
      stack_owner: 'admin',
      stack_user_project_id: sim.credentials.projectId,
      updated_time: null,
      deletion_time: null,
    });
    expect(stack.creation_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // stack-show prints parameters as strings, hidden ones masked (the record: "False", "null", "3").
    expect(stack.parameters).toEqual({
      uuid: PORT,
      name: PORT,
      tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
      version: '2',
      mac: 'fe:ff:ff:ff:ff:ff',
      virtual_network: VN,
      admin_state_up: 'True',
      pairs: '[]',
      device_password: '******',
      'OS::stack_name': stackName,
      'OS::stack_id': id,
      'OS::project_id': sim.credentials.projectId,
    });

    const outputs = stack.outputs as { output_key: string; output_value: unknown; description: string }[];
    expect(outputs.map((o) => o.output_key)).toEqual(Object.keys(TEMPLATE.outputs));
    // The VMI's `uuid` property is its id, as Contrail does: get_resource gives the port's own id.
    expect(outputs[0]).toEqual({
      output_key: 'id',
      output_value: PORT,
      description: 'A unique id for the virtual machine interface.',
    });
    const o = outputsByKey(outputs);
    expect(o.fq_name).toBe(`default-domain:admin:${PORT}`);
    // The template passes the placeholder MAC, so "Contrail" allocates one in OpenStack's range.
    expect(o.mac_address).toEqual([expect.stringMatching(/^fa:16:3e(:[0-9a-f]{2}){3}$/)]);
    expect(o.virtual_network).toEqual([['default-domain', 'admin', VN]]);
    expect(o.allowed_address_pairs).toEqual({ allowed_address_pair: [] });
    expect(o.ip_name).toBe(`${PORT}_zone-a_10.0.0.5`);
    expect(o.joined).toBe(`${PORT}-2-x`);
    expect(o.version).toBe(2);
    expect(o.admin).toBe(true);
    expect(o.project).toBe(sim.credentials.projectId);
    expect(o.monitoring_target_id).toMatch(UUID);
    expect(o.monitoring_link).toBe(`http://127.0.0.1:7070/targets/${String(o.monitoring_target_id)}`);

    const counts = await http.get(`${sim.url}/_sim/stacks/${stackName}`);
    expect(counts.data.counts).toEqual({ creates: 1, updates: 0, deletes: 0 });
  });

  it('accepts the template as YAML text and lists stacks', async () => {
    const stackName = name();
    const res = await heat.create({
      stack_name: stackName,
      template: YAML.stringify(TEMPLATE),
      parameters: params({ version: '2', admin_state_up: 'false' }),
    });
    expect(res.status).toBe(201);
    const stack = await heat.waitStatus(await heat.canonical(stackName), 'CREATE_COMPLETE');
    const o = outputsByKey(stack.outputs as never);
    expect(o.version).toBe(2);
    expect(o.admin).toBe(false);
    const list = await heat.get(`${heat.heatUrl}/stacks`);
    expect(list.data.stacks.map((s: { stack_name: string }) => s.stack_name)).toEqual([stackName]);
    expect(list.data.stacks[0].stack_status).toBe('CREATE_COMPLETE');
  });

  it('answers 409 to a second create with a live name', async () => {
    const stackName = name();
    expect((await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: params() })).status).toBe(201);
    const dup = await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: params() });
    expect(dup.status).toBe(409);
    expect(dup.data).toEqual({
      explanation: 'There was a conflict when trying to complete your request.',
      code: 409,
      title: 'Conflict',
      error: { message: `The Stack (${stackName}) already exists.`, traceback: null, type: 'StackExists' },
    });
    expect((await http.get(`${sim.url}/_sim/stacks/${stackName}`)).data.counts.creates).toBe(1);
  });

  it('answers a look-up by name (or id) with a 302 to /stacks/<name>/<id>, and 404 for an unknown name', async () => {
    const stackName = name();
    const { id } = await createComplete(stackName);
    const byName = await heat.lookup(stackName);
    expect(byName.status).toBe(302);
    expect(byName.headers.location).toBe(`${sim.heatUrl}/stacks/${stackName}/${id}`);
    const byId = await heat.lookup(id);
    expect(byId.status).toBe(302);
    expect(byId.headers.location).toBe(`${sim.heatUrl}/stacks/${stackName}/${id}`);
    const sub = await heat.lookup(stackName, '/outputs');
    expect(sub.status).toBe(302);
    expect(sub.headers.location).toBe(`${sim.heatUrl}/stacks/${stackName}/${id}/outputs`);
    const missing = await heat.lookup('port_nope');
    expect(missing.status).toBe(404);
    expect(missing.data.error).toEqual({
      message: 'The Stack (port_nope) could not be found.',
      traceback: null,
      type: 'EntityNotFound',
    });
  });

  it('serves the outputs list and single outputs', async () => {
    const stackName = name();
    const { url, stack } = await createComplete(stackName);
    const list = await heat.get(`${url}/outputs`);
    expect(list.status).toBe(200);
    expect(list.data.outputs[1]).toEqual({ output_key: 'fq_name', description: 'Fully Qualified Name of the VMI' });
    const one = await heat.get(`${url}/outputs/fq_name`);
    expect(one.data.output).toEqual((stack.outputs as unknown[])[1]);
    const none = await heat.get(`${url}/outputs/nope`);
    expect(none.status).toBe(404);
    expect(none.data.error.message).toBe('Specified output key nope not found.');
  });

  it('updates a stack (PUT 202 → UPDATE_IN_PROGRESS → UPDATE_COMPLETE), keeping resource ids and replacing a changed monitoring target', async () => {
    const stackName = name();
    const { url, stack } = await createComplete(stackName);
    const before = outputsByKey(stack.outputs as never);
    const put = await heat.put(url, {
      template: TEMPLATE,
      parameters: params({ version: 3, mac: 'fa:16:3e:21:5b:14' }),
      timeout_mins: 13,
    });
    expect(put.status).toBe(202);
    const during = (await heat.get(url)).data.stack;
    expect(during.stack_status).toBe('UPDATE_IN_PROGRESS');
    expect(during.stack_status_reason).toBe('Stack UPDATE started');
    // The old outputs stay visible while the update runs.
    expect(during.outputs).toEqual(stack.outputs);
    // Heat refuses a second action while one is running.
    const busy = await heat.put(url, { template: TEMPLATE, parameters: params() });
    expect(busy.status).toBe(409);
    expect(busy.data.error.type).toBe('ActionInProgress');

    const done = await heat.waitStatus(url, 'UPDATE_COMPLETE');
    expect(done.stack_status_reason).toBe('Stack successfully updated');
    expect(done.updated_time).toMatch(/Z$/);
    const after = outputsByKey(done.outputs as never);
    expect(after.id).toBe(before.id);
    expect(after.fq_name).toBe(before.fq_name);
    expect(after.mac_address).toEqual(['fa:16:3e:21:5b:14']);
    expect(after.version).toBe(3);
    expect(after.monitoring_target_id).not.toBe(before.monitoring_target_id);
    expect((done.parameters as Record<string, string>).version).toBe('3');

    // PATCH keeps the template and the parameters it does not name.
    expect((await heat.patch(url, { parameters: { version: 4 } })).status).toBe(202);
    const patched = await heat.waitStatus(url, 'UPDATE_COMPLETE');
    expect((patched.parameters as Record<string, string>).version).toBe('4');
    expect((patched.parameters as Record<string, string>).mac).toBe('fa:16:3e:21:5b:14');
    expect((await http.get(`${sim.url}/_sim/stacks/${stackName}`)).data.counts).toEqual({
      creates: 1,
      updates: 2,
      deletes: 0,
    });
  });

  it('keeps tags and times as Heat shows them: tags a list (given as one comma-separated string), updated_time from the first update or delete on', async () => {
    const stackName = name();
    const res = await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: params(), tags: 'a,b=c' });
    expect(res.status).toBe(201);
    const url = await heat.canonical(stackName);
    const created = await heat.waitStatus(url, 'CREATE_COMPLETE');
    expect([created.tags, created.updated_time]).toEqual([['a', 'b=c'], null]);
    expect((await heat.get(`${heat.heatUrl}/stacks`)).data.stacks.map((x: { tags: unknown }) => x.tags)).toEqual([
      ['a', 'b=c'],
    ]);

    // PUT replaces the tags; PATCH keeps them unless it names some; a PUT without tags leaves none.
    expect((await heat.put(url, { template: TEMPLATE, parameters: params(), tags: 'd' })).status).toBe(202);
    const updated = await heat.waitStatus(url, 'UPDATE_COMPLETE');
    expect(updated.tags).toEqual(['d']);
    expect(updated.updated_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(updated.updated_time as string)).toBeGreaterThanOrEqual(
      Date.parse(created.creation_time as string),
    );
    expect(updated.creation_time).toBe(created.creation_time);
    expect((await heat.patch(url, { parameters: { version: 4 } })).status).toBe(202);
    expect((await heat.waitStatus(url, 'UPDATE_COMPLETE')).tags).toEqual(['d']);
    expect((await heat.put(url, { template: TEMPLATE, parameters: params() })).status).toBe(202);
    expect((await heat.waitStatus(url, 'UPDATE_COMPLETE')).tags).toBeNull();

    // A tag over 80 characters: 400, as heat-api.
    const long = 'x'.repeat(81);
    const bad = await heat.put(url, { template: TEMPLATE, parameters: params(), tags: `ok,${long}` });
    expect([bad.status, bad.data.error.message]).toEqual([400, `Invalid tag, "${long}" is longer than 80 characters`]);

    // The convergence engine stamps updated_time when a delete starts.
    const before = (await heat.get(url)).data.stack.updated_time as string;
    await waitFor(async () => Date.now() >= Date.parse(before) + 1000, { what: "a later second than the update's" });
    expect((await heat.del(url)).status).toBe(204);
    const deleting = (await heat.get(url)).data.stack;
    expect(deleting.stack_status).toBe('DELETE_IN_PROGRESS');
    expect(Date.parse(deleting.updated_time as string)).toBeGreaterThan(Date.parse(before));
  });

  it('deletes a stack (204 → DELETE_COMPLETE); afterwards look-ups by name give 404 and the name is free again', async () => {
    const stackName = name();
    const { url, id } = await createComplete(stackName);
    const del = await heat.del(url);
    expect(del.status).toBe(204);
    expect((await heat.get(url)).data.stack.stack_status).toBe('DELETE_IN_PROGRESS');
    const gone = await heat.waitStatus(url, 'DELETE_COMPLETE');
    expect(gone.stack_status_reason).toBe('Stack DELETE completed successfully');
    expect(gone.deletion_time).toMatch(/Z$/);
    expect((await heat.lookup(stackName)).status).toBe(404);
    expect((await heat.get(`${url}/outputs`)).status).toBe(404);
    expect((await heat.del(url)).status).toBe(404);
    expect((await heat.put(url, { template: TEMPLATE, parameters: params() })).status).toBe(404);
    expect((await heat.get(`${heat.heatUrl}/stacks`)).data.stacks).toEqual([]);

    const again = await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: params() });
    expect(again.status).toBe(201);
    expect(again.data.stack.id).not.toBe(id);
    expect((await http.get(`${sim.url}/_sim/stacks/${stackName}`)).data.counts).toEqual({
      creates: 2,
      updates: 0,
      deletes: 1,
    });
  });

  it('deleting a stack whose create is still running cancels the create', async () => {
    const stackName = name();
    await heat.create({ stack_name: stackName, template: TEMPLATE, parameters: params() });
    const url = await heat.canonical(stackName);
    expect((await heat.del(url)).status).toBe(204);
    await heat.waitStatus(url, 'DELETE_COMPLETE');
  });

  describe('rejects invalid requests with 400 in Heat’s words, creating nothing', () => {
    const cases: [string, unknown, Record<string, unknown>, string, string][] = [
      [
        'a template that is not a mapping',
        'just string',
        params(),
        'HTTPBadRequest',
        'The template is not a JSON object or YAML mapping.',
      ],
      [
        'YAML text without a version',
        'description: x\nresources: {}\n',
        params(),
        'HTTPBadRequest',
        'Template format version not found.',
      ],
      [
        'an object without heat_template_version',
        { resources: TEMPLATE.resources },
        {},
        'InvalidTemplateVersion',
        'The template version is invalid: Template version was not provided',
      ],
      [
        'an unknown top-level section',
        { ...TEMPLATE, Resources: {} },
        params(),
        'InvalidTemplateSection',
        'The template section is invalid: Resources',
      ],
      [
        'a template without resources',
        { heat_template_version: '2013-05-23', parameters: {} },
        {},
        'StackValidationFailed',
        'The template section is invalid: resources (the simulator requires at least one resource)',
      ],
      [
        'an undeclared parameter',
        TEMPLATE,
        params({ bogus: 1 }),
        'UnknownUserParameter',
        'The Parameter (bogus) was not defined in template.',
      ],
      [
        'a missing parameter',
        TEMPLATE,
        { name: 'x' },
        'UserParameterMissing',
        'The Parameter (uuid) was not provided.',
      ],
      [
        'a number parameter that is not a number',
        TEMPLATE,
        params({ version: 'three' }),
        'StackValidationFailed',
        "Parameter 'version' is invalid: could not convert string to float: 'three'",
      ],
      [
        'a reference to an unknown resource',
        { ...TEMPLATE, outputs: { x: { value: { get_attr: ['nope', 'id'] } } } },
        params(),
        'InvalidTemplateReference',
        'The specified reference "nope" (in outputs.x) is incorrect.',
      ],
    ];
    it.each(cases)('%s', async (_what, template, parameters, type, message) => {
      const res = await heat.create({ stack_name: name(), template, parameters });
      expect(res.status).toBe(400);
      expect(res.data).toEqual({
        explanation:
          'The server could not comply with the request since it is either malformed or otherwise incorrect.',
        code: 400,
        title: 'Bad Request',
        error: { message, traceback: null, type },
      });
      expect((await http.get(`${sim.url}/_sim/stacks`)).data).toEqual({ stacks: [], counts: {} });
    });

    it('an invalid stack name, malformed JSON and an invalid update', async () => {
      expect(
        (await heat.create({ stack_name: '1-starts-with-digit', template: TEMPLATE, parameters: params() })).status,
      ).toBe(400);
      const raw = await http.post(`${heat.heatUrl}/stacks`, '{"stack_name":', {
        headers: { 'X-Auth-Token': (heat as unknown as { token: string }).token, 'Content-Type': 'application/json' },
      });
      expect(raw.status).toBe(400);
      const stackName = name();
      const { url } = await createComplete(stackName);
      const bad = await heat.put(url, { template: TEMPLATE, parameters: params({ extra: 'x' }) });
      expect(bad.status).toBe(400);
      expect(bad.data.error.message).toBe('The Parameter (extra) was not defined in template.');
      // A rejected update leaves the stack as it was and is not counted.
      expect((await heat.get(url)).data.stack.stack_status).toBe('CREATE_COMPLETE');
      expect((await http.get(`${sim.url}/_sim/stacks/${stackName}`)).data.counts).toEqual({
        creates: 1,
        updates: 0,
        deletes: 0,
      });
    });
  });
});
