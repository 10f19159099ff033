/**
 * The mapping language form by form, with the examples docs/PROTOCOL-NOTES.md §a/§b quotes from the
 * record (ids and values as the notes give them), and every kind of bad input.
 */
import { evaluateParam, evaluateValue, MappingError, type MappingContext } from '../../../shared/planner/mapping';
import { defaultSchemaIndex } from '../../../shared/planner/schema';
import type { JsonObject, Mapping, Param } from '../../../shared/planner/types';
import { MemoryView } from './helpers';

const NETWORK = 'b761b0cd-d7c3-4b7a-b596-cea1cf9cc1e1';
const SUBNET = '215cb166-b0c5-4fbb-ad5f-948cb93119fe';
const PHYS_PORT = '0915a040-2f84-44fc-9083-1e2f719ae2eb';
const DEVICE = '61a05e50-71f9-495d-b1cc-74382dfaec83';
const QOS = '0e6b5c4a-0000-4000-8000-000000000001';
const HA_IF = '16f6aa00-0000-4000-8000-000000000002';
const HA_ROUTER = 'e165bb00-0000-4000-8000-000000000003';
const EDGE = 'f4f5cc00-0000-4000-8000-000000000004';
const GW_IF = 'ce8831fd-0000-4000-8000-000000000005';
const VNF = '398d65ba-0060-456e-b415-5bc954450717';
const POOL = 'cf900000-0000-4000-8000-000000000006';
const CF1 = 'cf100000-0000-4000-8000-000000000007';
const CF2 = 'cf200000-0000-4000-8000-000000000008';
const PORT_A = 'a0000000-0000-4000-8000-00000000000a';
const PORT_B = 'b0000000-0000-4000-8000-00000000000b';

function world(): MemoryView {
  const v = new MemoryView();
  const put = (type: string, id: string, body: JsonObject): void =>
    void v.setConfig(type, id, { body: { id, ...body }, version: 1, markedForDeletion: false });
  put('network', NETWORK, { name: 'sample network' });
  put('subnet', SUBNET, { network_id: NETWORK });
  put('ese_physical_port', PHYS_PORT, { ese_device_id: DEVICE });
  put('ese_device', DEVICE, { management_ip_address: '10.161.0.33' });
  put('qos_option', QOS, { outgoing_policer_name: '10M-GA-DOWN-INET' });
  put('ha_interface', HA_IF, { ha_router_id: HA_ROUTER });
  put('ha_router', HA_ROUTER, { primary_router_id: EDGE });
  put('edge_router', EDGE, { password: 'esiesi0000' });
  put('gw_interface', GW_IF, {});
  put('vnf_instance', VNF, { management_ip: '100.64.193.3' });
  put('common_function_pool', POOL, { vrrp_config: [{ vrid: 41 }, { vrid: 42 }] });
  put('common_function', CF1, { common_function_number: 1 });
  put('common_function', CF2, { common_function_number: 2 });
  put('port', PORT_A, {});
  put('port', PORT_B, {});
  return v;
}

function ctx(type: string, body: JsonObject, version = 1): MappingContext {
  return {
    self: { resource_type: type, resource_id: typeof body.id === 'string' ? body.id : 'self-id' },
    body,
    version,
    view: world(),
    schema: defaultSchemaIndex(),
  };
}

const ref = (resource_type: string, resource_id: string) => ({ resource_type, resource_id });
const param = (name: string, mapping: Mapping, type: string, body: JsonObject, version?: number): Param =>
  evaluateParam(name, mapping, ctx(type, body, version));

describe('string forms', () => {
  it('P reads a field of the resource, JSON type kept', () => {
    expect(param('admin_state_up', 'Padmin_state_up', 'network', { admin_state_up: true })).toEqual({
      resources: [],
      type: 'value',
      value: true,
      param: 'admin_state_up',
    });
  });

  it('C is always a string', () => {
    expect(param('heat_timeout', 'C6', 'ese_device', {}).value).toBe('6');
    expect(param('vnc_managed', 'CFalse', 'ese_device', {}).value).toBe('False');
  });

  it('V is the version being planned', () => {
    expect(param('version', 'Vauto_filled', 'network', {}, 1).value).toBe(1);
    expect(param('version', 'Vauto_filled', 'network', {}, 3).value).toBe(3);
  });

  it('F follows foreign keys and lists every hop', () => {
    const p = param(
      'device_ip',
      'Fese_physical_port+ese_physical_port_id:ese_device+ese_device_id:management_ip_address',
      'ese_logical_port',
      { ese_physical_port_id: PHYS_PORT },
    );
    expect(p).toEqual({
      resources: [ref('ese_physical_port', PHYS_PORT), ref('ese_device', DEVICE)],
      type: 'value',
      value: '10.161.0.33',
      param: 'device_ip',
    });
  });

  it('M is a deferred Heat output of another resource', () => {
    expect(param('network_id', 'Mnetwork:network_id:id', 'subnet', { network_id: NETWORK })).toEqual({
      resources: [ref('network', NETWORK)],
      type: 'output_key',
      value: { output_key: 'id', resource_type: 'network', resource_id: NETWORK },
      param: 'network_id',
    });
  });

  it('O reads a key of an object field', () => {
    expect(
      param('primary_peer_ip', 'Oprimary:bgp_peer_ip', 'vpn_interface', {
        primary: { bgp_peer_ip: '192.168.8.1', ip_address: '192.168.8.2' },
      }).value,
    ).toBe('192.168.8.1');
  });

  it('A concatenates sub-expressions as strings and collects their resources', () => {
    expect(
      param('counter_name_out', 'APvrf_name&C_OUT', 'internet_gateway', {
        vrf_name: 'vrf_gw_sample-ha-router-downlink_1025',
      }).value,
    ).toBe('vrf_gw_sample-ha-router-downlink_1025_OUT');
    expect(
      param('output_filter_name', 'ACFILTER_&Fqos_option+qos_option_id:outgoing_policer_name', 'internet_gateway', {
        qos_option_id: QOS,
      }),
    ).toEqual({
      resources: [ref('qos_option', QOS)],
      type: 'value',
      value: 'FILTER_10M-GA-DOWN-INET',
      param: 'output_filter_name',
    });
  });
});

describe('dict forms', () => {
  it('constant keeps the JSON type', () => {
    expect(param('heat_timeout', { constant: 13 }, 'firewall', {}).value).toBe(13);
    expect(param('x', { constant: null }, 'port', {}).value).toBeNull();
  });

  it('version is the version being planned', () => {
    expect(param('version', { version: 'auto_filled' }, 'firewall', {}, 1).value).toBe(1);
  });

  it('field reads a field; a field the body lacks is null (dict.get, as the record shows)', () => {
    expect(param('jinja_vlan_id', { field: 'vlan_id' }, 'common_function_gateway', { vlan_id: 1025 }).value).toBe(1025);
    expect(param('default_gateway', { field: 'default_gateway' }, 'load_balancer_conf', {}).value).toBeNull();
  });

  it('field + path: hop types come from the schema relation of each id field', () => {
    const p = param(
      'primary_device_password',
      { field: 'password', path: ['downlink_interface_id', 'ha_router_id', 'primary_router_id'] },
      'common_function_gateway',
      { downlink_interface_id: HA_IF },
    );
    expect(p).toEqual({
      resources: [ref('ha_interface', HA_IF), ref('ha_router', HA_ROUTER), ref('edge_router', EDGE)],
      type: 'value',
      value: 'esiesi0000',
      param: 'primary_device_password',
    });
  });

  it('path element {type, id} names the hop type explicitly', () => {
    const p = param(
      'jinja_force_dependency',
      { field: 'id', path: [{ type: 'network', id: 'network_id' }] },
      'gw_interface',
      { network_id: NETWORK },
    );
    expect(p).toEqual({
      resources: [ref('network', NETWORK)],
      type: 'value',
      value: NETWORK,
      param: 'jinja_force_dependency',
    });
  });

  it('ignore_missing yields "" and no resources when the id is unset or the resource absent', () => {
    const m: Mapping = { field: 'id', path: [{ type: 'public_ip', id: 'public_ip_id' }], ignore_missing: true };
    expect(param('jinja_dummy_dependency', m, 'gw_interface', { public_ip_id: null })).toEqual({
      resources: [],
      type: 'value',
      value: '',
      param: 'jinja_dummy_dependency',
    });
    expect(param('jinja_dummy_dependency', m, 'gw_interface', {}).value).toBe('');
    expect(param('jinja_dummy_dependency', m, 'gw_interface', { public_ip_id: 'not-created-yet' })).toEqual({
      resources: [],
      type: 'value',
      value: '',
      param: 'jinja_dummy_dependency',
    });
  });

  it('path + output_key is the dict form of M', () => {
    expect(
      param('server_id', { path: ['vnf_instance_id'], output_key: 'server_id' }, 'load_balancer_conf', {
        vnf_instance_id: VNF,
      }),
    ).toEqual({
      resources: [ref('vnf_instance', VNF)],
      type: 'output_key',
      value: { output_key: 'server_id', resource_type: 'vnf_instance', resource_id: VNF },
      param: 'server_id',
    });
  });

  it('output_key with an empty path refers to the resource itself and visits nothing', () => {
    expect(param('vmi_uuid', { path: [], output_key: 'id' }, 'port', { id: PORT_A })).toEqual({
      resources: [],
      type: 'output_key',
      value: { output_key: 'id', resource_type: 'port', resource_id: PORT_A },
      param: 'vmi_uuid',
    });
  });

  describe('if_mapping', () => {
    const gwDependency: Mapping = {
      else_mapping: { constant: null },
      if_mapping: { equal: [{ field: 'device_owner' }, { constant: 'network:gw_interface' }] },
      then_mapping: { field: 'id', path: [{ type: 'gw_interface', id: 'device_id' }] },
    };

    it('equal picks then_mapping and lists its resources', () => {
      expect(
        param('jinja_force_dependency_gw_interface', gwDependency, 'port', {
          device_owner: 'network:gw_interface',
          device_id: GW_IF,
        }),
      ).toEqual({
        resources: [ref('gw_interface', GW_IF)],
        type: 'value',
        value: GW_IF,
        param: 'jinja_force_dependency_gw_interface',
      });
    });

    it('equal picks else_mapping otherwise', () => {
      expect(
        param('jinja_force_dependency_gw_interface', gwDependency, 'port', {
          device_owner: 'compute:nova',
          device_id: 'vm',
        }),
      ).toEqual({ resources: [], type: 'value', value: null, param: 'jinja_force_dependency_gw_interface' });
    });

    it('regexp matches from the start of the value (template_mappings port rule)', () => {
      const portRule: Mapping = {
        else_mapping: { constant: 'port' },
        if_mapping: { regexp: [{ field: 'device_owner' }, { constant: 'network:dhcp|network:empty' }] },
        then_mapping: { constant: null },
      };
      const choose = (owner: string) => evaluateValue('template', portRule, ctx('port', { device_owner: owner })).value;
      expect(choose('network:dhcp')).toBeNull();
      expect(choose('network:empty')).toBeNull();
      expect(choose('compute:nova')).toBe('port');
      expect(choose('')).toBe('port');
    });
  });

  describe('for_field / for_mapping', () => {
    it('output_key elements give a list of nested params; resources are collected outside', () => {
      const m: Mapping = {
        for_mapping: { path: [{ type: 'subnet', id: 'subnet_id' }], output_key: 'id' },
        for_field: 'fixed_ips',
      };
      expect(
        param('jinja_subnets', m, 'port', { fixed_ips: [{ subnet_id: SUBNET, ip_address: '192.168.200.3' }] }),
      ).toEqual({
        resources: [ref('subnet', SUBNET)],
        type: 'list',
        value: [
          {
            param: 'jinja_subnets',
            type: 'output_key',
            value: { output_key: 'id', resource_type: 'subnet', resource_id: SUBNET },
            resources: [],
          },
        ],
        param: 'jinja_subnets',
      });
    });

    it('"id": "" makes each string element the id', () => {
      const m: Mapping = { for_field: 'port_ids', for_mapping: { path: [{ type: 'port', id: '' }], output_key: 'id' } };
      const p = param('virtual_machine_interface_ids', m, 'ese_logical_port', { port_ids: [PORT_A, PORT_B] });
      expect(p.type).toBe('list');
      expect(p.resources).toEqual([ref('port', PORT_A), ref('port', PORT_B)]);
      expect((p.value as Array<{ value: { resource_id: string } }>).map((e) => e.value.resource_id)).toEqual([
        PORT_A,
        PORT_B,
      ]);
    });

    it('a mapping as for_field, plain for_mapping: a JSON list of values', () => {
      const m: Mapping = {
        for_mapping: { field: 'vrid' },
        for_field: { field: 'vrrp_config', path: ['common_function_pool_id'] },
      };
      expect(param('jinja_vrids', m, 'common_function_gateway', { common_function_pool_id: POOL })).toEqual({
        resources: [ref('common_function_pool', POOL)],
        type: 'value',
        value: [41, 42],
        param: 'jinja_vrids',
      });
    });

    it('hops inside elements list each element resource', () => {
      const m: Mapping = {
        for_mapping: { field: 'common_function_number', path: [{ type: 'common_function', id: 'common_function_id' }] },
        for_field: 'common_functions',
      };
      const p = param('jinja_common_service_numbers', m, 'common_function_gateway', {
        common_functions: [{ common_function_id: CF1 }, { common_function_id: CF2 }],
      });
      expect(p).toEqual({
        resources: [ref('common_function', CF1), ref('common_function', CF2)],
        type: 'value',
        value: [1, 2],
        param: 'jinja_common_service_numbers',
      });
    });

    it('an empty list of an output_key mapping is still a list param', () => {
      const m: Mapping = {
        for_mapping: { path: [{ type: 'subnet', id: 'subnet_id' }], output_key: 'id' },
        for_field: 'fixed_ips',
      };
      expect(param('jinja_subnets', m, 'port', { fixed_ips: [] })).toEqual({
        resources: [],
        type: 'list',
        value: [],
        param: 'jinja_subnets',
      });
    });
  });

  it('template ids built with A (template_mappings)', () => {
    expect(
      evaluateValue('t', 'ACstatic_route_&Pservice_type', ctx('static_route', { service_type: 'internet' })).value,
    ).toBe('static_route_internet');
    expect(evaluateValue('t', 'ACese_device_&Pexisting', ctx('ese_device', { existing: 'existing' })).value).toBe(
      'ese_device_existing',
    );
  });
});

describe('bad input gives a MappingError naming the param and the mapping', () => {
  function errorOf(name: string, mapping: Mapping, type: string, body: JsonObject): MappingError {
    try {
      param(name, mapping, type, body);
    } catch (e) {
      expect(e).toBeInstanceOf(MappingError);
      const err = e as MappingError;
      expect(err.param).toBe(name);
      expect(err.message).toContain(`param "${name}"`);
      expect(err.message).toContain(JSON.stringify(mapping).slice(0, 40));
      return err;
    }
    throw new Error(`no error for ${JSON.stringify(mapping)}`);
  }

  it.each<[string, Mapping, RegExp]>([
    ['string operator', 'Xsomething', /unknown operator "X"/],
    ['dict operator', { lookup: 'name' }, /unknown operator: none of .* \(keys: lookup\)/],
    [
      'condition operator',
      {
        if_mapping: { like: [{ field: 'a' }, { constant: 'b' }] },
        then_mapping: { constant: 1 },
        else_mapping: { constant: 2 },
      },
      /unknown condition operator "like"/,
    ],
    ['stray key', { field: 'a', default: 1 }, /unknown key\(s\) "default" in a "field" mapping/],
    ['number', 42, /unknown mapping form \(a number\)/],
  ])('unknown operator: %s', (_, mapping, message) => {
    expect(errorOf('p', mapping, 'port', { a: 'x' }).message).toMatch(message);
  });

  it.each<[string, Mapping, JsonObject, RegExp]>([
    [
      'M target',
      'Mnetwork:network_id:id',
      { network_id: 'no-such-network' },
      /referenced network no-such-network \(from field "network_id"\) does not exist/,
    ],
    [
      'F hop',
      'Fese_device+ese_device_id:hostname',
      { ese_device_id: 'gone' },
      /referenced ese_device gone .* does not exist/,
    ],
    [
      'path hop',
      { field: 'id', path: [{ type: 'gw_interface', id: 'device_id' }] },
      { device_id: 'gone' },
      /referenced gw_interface gone .* does not exist/,
    ],
    [
      'empty id',
      { field: 'id', path: ['vnf_instance_id'] },
      { vnf_instance_id: null },
      /field "vnf_instance_id" is null, so no vnf_instance can be followed/,
    ],
  ])('missing referenced resource: %s', (_, mapping, body, message) => {
    expect(errorOf('p', mapping, 'load_balancer', body).message).toMatch(message);
  });

  it.each<[string, Mapping, JsonObject, RegExp]>([
    [
      'O on a string',
      'Oprimary:bgp_peer_ip',
      { primary: '192.168.8.1' },
      /field "primary" is string "192.168.8.1", not an object/,
    ],
    [
      'for_field not a list',
      { for_field: 'fixed_ips', for_mapping: { field: 'ip_address' } },
      { fixed_ips: 'x' },
      /for_field "fixed_ips" is string "x", not a list/,
    ],
    [
      'id not a string',
      { field: 'id', path: [{ type: 'network', id: 'network_id' }] },
      { network_id: 7 },
      /field "network_id" is number 7, not a network id/,
    ],
    [
      'regexp on a number',
      {
        if_mapping: { regexp: [{ field: 'n' }, { constant: '1' }] },
        then_mapping: { constant: 1 },
        else_mapping: { constant: 2 },
      },
      { n: 1 },
      /regexp subject is number 1, not a string/,
    ],
    ['concatenating a list', 'APtags&C_x', { tags: [] }, /"Ptags" is a list; only scalars can be concatenated/],
    [
      'output reference where a value is needed',
      {
        if_mapping: { equal: ['Mnetwork:network_id:id', { constant: 1 }] },
        then_mapping: { constant: 1 },
        else_mapping: { constant: 2 },
      },
      { network_id: NETWORK },
      /yields a deferred output_key reference where a plain value is needed/,
    ],
    [
      'unknown id relation',
      { field: 'x', path: ['mystery_ref'] },
      { mystery_ref: 'abc' },
      /cannot tell which resource type id field "mystery_ref"/,
    ],
  ])('wrong field type: %s', (_, mapping, body, message) => {
    expect(errorOf('p', mapping, 'port', body).message).toMatch(message);
  });

  it.each<[string, Mapping, JsonObject, RegExp]>([
    ['P', 'Pvrf_name', {}, /field "vrf_name" is missing in internet_gateway/],
    [
      'F final field',
      'Fqos_option+qos_option_id:incoming_policer_name',
      { qos_option_id: QOS },
      /field "incoming_policer_name" is missing in qos_option/,
    ],
    ['O key', 'Oprimary:bgp_router_id', { primary: {} }, /field "bgp_router_id" is missing in object field "primary"/],
    [
      'for_field',
      { for_field: 'common_functions', for_mapping: { field: 'x' } },
      {},
      /field "common_functions" is missing/,
    ],
    [
      'path id field',
      { field: 'id', path: [{ type: 'public_ip', id: 'public_ip_id' }] },
      {},
      /field "public_ip_id" is missing, so no public_ip can be followed/,
    ],
  ])('missing field: %s', (_, mapping, body, message) => {
    expect(errorOf('p', mapping, 'internet_gateway', body).message).toMatch(message);
  });
});
