/**
 * Exact output of the templates whose Jinja had loops, conditionals or expressions, checked
 * against what the Jinja2 originals produce (expectations derived by hand from the original
 * template text in the record, with Jinja's default whitespace handling), not against our own
 * output. Params are the fixtures' (recorded where the record has a job), with overrides to
 * reach the other branches.
 */
import { mapping, renderWith, resourcesOf } from './helpers';
import { at, get } from '../../helpers/at';

/** Every value stored under `key` anywhere in a parsed document, in document order. */
function valuesOf(node: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) node.forEach((n) => valuesOf(n, key, out));
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === key) out.push(v);
      valuesOf(v, key, out);
    }
  }
  return out;
}

function configs(res: Record<string, unknown>): Array<Record<string, unknown>> {
  return mapping(res.properties).configs as Array<Record<string, unknown>>;
}

describe('port (loop over fixed_ips, monitoring target guarded by device_owner and attached)', () => {
  // Recorded modify port:3 job: attached, device_owner compute:nova, one fixed ip.
  const SUBNET = '6f5f33d6-2cfe-47c1-a91a-3f3d44972b1a';
  const SUBNET_CONTRAIL = 'c5156124-0a8f-5aef-aa6c-c2d70da6ee99';
  const BASE_OUTPUTS = ['id', 'mac_address', 'allowed_address_pairs', 'virtual_network', 'fq_name'];

  it('attached port with an owner: VMI, one instance ip, the vmi monitor and its outputs', () => {
    const doc = renderWith('port');
    const res = resourcesOf(doc);
    expect(Object.keys(res)).toEqual(['virtual_machine_interface', 'instance_ip_0', 'vmi_monitor']);
    expect(res.instance_ip_0).toEqual({
      type: 'OS::Contrail::InstanceIp',
      properties: {
        name: {
          str_replace: {
            template: '%name%_%zone%_%ip%',
            params: { '%name%': { get_param: 'name' }, '%zone%': SUBNET, '%ip%': '10.121.232.3' },
          },
        },
        ip_address: '10.121.232.3',
        subnet_id: SUBNET_CONTRAIL,
        network_id: { get_param: 'virtual_network' },
        virtual_machine_interfaces: [{ get_resource: 'virtual_machine_interface' }],
      },
    });
    expect(res.vmi_monitor).toEqual({
      type: 'ESI::Monitoring::MonitoringTarget',
      properties: {
        type: 'virtual_machine_interface',
        resource_type: 'ports',
        resource_id: { get_param: 'uuid' },
        field_name: 'vmi',
        tenant_id: { get_param: 'tenant_id' },
        version: { get_param: 'version' },
        properties: { fq_name: { get_attr: ['virtual_machine_interface', 'fq_name'] } },
        syncer_properties: {
          etcd: { status: { key: 'vmi' }, hold_options: { positive_status: ['UP', 'DOWN'], time_seconds: 210 } },
          tsdb: {
            'traffic.in': { metric: 'traffic.bps', tags: { resource_id: { get_param: 'uuid' }, direction: 'in' } },
            'traffic.out': { metric: 'traffic.bps', tags: { resource_id: { get_param: 'uuid' }, direction: 'out' } },
          },
        },
      },
      depends_on: 'virtual_machine_interface',
    });
    const outputs = mapping(doc.outputs);
    expect(Object.keys(outputs)).toEqual([...BASE_OUTPUTS, 'monitoring_target_id', 'monitoring_link']);
    expect(outputs.monitoring_target_id).toEqual({
      description: 'Monitoring Target ID',
      value: { get_resource: 'vmi_monitor' },
    });
    expect(outputs.monitoring_link).toEqual({
      description: 'Monitoring Process Link',
      value: { get_attr: ['vmi_monitor', 'link'] },
    });
  });

  it.each([
    ['not attached', { jinja_attached: false }],
    ['empty device_owner (falsy in Jinja, truthy in plain Liquid)', { jinja_device_owner: '' }],
    ['null device_owner', { jinja_device_owner: null }],
  ])('no monitoring target when %s', (_why, overrides) => {
    const doc = renderWith('port', overrides);
    expect(Object.keys(resourcesOf(doc))).toEqual(['virtual_machine_interface', 'instance_ip_0']);
    expect(Object.keys(mapping(doc.outputs))).toEqual(BASE_OUTPUTS);
  });

  it('one InstanceIp per fixed ip, numbered from 0, each with the subnet of the same index', () => {
    const res = resourcesOf(
      renderWith('port', {
        jinja_attached: false,
        jinja_fixed_ips: [
          { subnet_id: 'sub-a', ip_address: '10.0.0.5' },
          { subnet_id: 'sub-b', ip_address: '10.0.1.5' },
        ],
        jinja_subnets: ['contrail-a', 'contrail-b'],
      }),
    );
    expect(Object.keys(res)).toEqual(['virtual_machine_interface', 'instance_ip_0', 'instance_ip_1']);
    expect(valuesOf(res.instance_ip_1, 'subnet_id')).toEqual(['contrail-b']);
    expect(valuesOf(res.instance_ip_1, 'ip_address')).toEqual(['10.0.1.5']);
    expect(valuesOf(res.instance_ip_1, '%zone%')).toEqual(['sub-b']);
  });

  it('no fixed ips: only the VMI', () => {
    const res = resourcesOf(renderWith('port', { jinja_attached: false, jinja_fixed_ips: [], jinja_subnets: [] }));
    expect(Object.keys(res)).toEqual(['virtual_machine_interface']);
  });
});

describe('aws_interface (["primary", "secondary"] loops, split of the uplink CIDR)', () => {
  const doc = renderWith('aws_interface'); // primary 192.168.8.2/30, secondary 192.168.8.6/30
  const res = resourcesOf(doc);

  it('one netconf resource and one metric monitor per device, secondary after primary', () => {
    expect(Object.keys(res)).toEqual([
      'netconf_configure_primary',
      'netconf_configure_secondary',
      'bgp_monitor',
      'primary_interface_metric_monitor',
      'secondary_interface_metric_monitor',
    ]);
    const secondary = get(res, 'netconf_configure_secondary', 'rendered resources');
    expect(get(res, 'netconf_configure_primary', 'rendered resources').depends_on).toBeUndefined();
    expect(secondary.depends_on).toBe('netconf_configure_primary');
    expect(mapping(secondary.properties).device_ip).toEqual({ get_param: 'secondary_device_ip' });
  });

  it('per-device address, local-address (CIDR split at "/") and router id', () => {
    for (const [device, cidr, ip] of [
      ['primary', '192.168.8.2/30', '192.168.8.2'],
      ['secondary', '192.168.8.6/30', '192.168.8.6'],
    ]) {
      const c = configs(get(res, `netconf_configure_${device}`, 'rendered resources'));
      const [address, bgp, routerId] = [at(c, 0), at(c, 1), at(c, 2)];
      expect(at(address.path as Array<Record<string, unknown>>, 5)).toEqual({
        config_type: 'named_tag',
        xml_type: 'named_tag',
        tag: 'address',
        name: cidr,
      });
      expect(mapping(mapping(bgp.config).str_replace).template).toBe(
        `apply-groups $APPLY_GROUP;\nlocal-address  ${ip} ;\npeer-as $REMOTE_AS;\nneighbor $NEIGHBOR_IP authentication-key $KEY;\n`,
      );
      expect(mapping(mapping(bgp.config).str_replace).params).toEqual({
        $NEIGHBOR_IP: { get_param: `${device}_peer_ip` },
        $REMOTE_AS: { get_param: 'remote_as' },
        $APPLY_GROUP: { get_param: `${device}_ebgp_config_group` },
        $KEY: { get_param: 'md5' },
      });
      expect(valuesOf(routerId, '$ROUTER_ID')).toEqual([{ get_param: `${device}_router_id` }]);
    }
  });

  it('per-device monitors and outputs', () => {
    const m = mapping(get(res, 'secondary_interface_metric_monitor', 'rendered resources').properties);
    expect(m.field_name).toBe('secondary_router');
    expect(m.properties).toEqual({
      device_ip: { get_param: 'secondary_device_ip' },
      if_name: { get_param: 'secondary_device_logical_interface' },
      community_name: 'EDGE_ROUTER_COMMUNITY',
    });
    expect(valuesOf(m, 'device_index')).toEqual(['secondary', 'secondary']);
    expect(mapping(doc.outputs)).toEqual({
      monitoring_target_id: { description: 'Monitoring Target ID', value: { get_resource: 'bgp_monitor' } },
      monitoring_link: { description: 'Monitoring Process Link', value: { get_attr: ['bgp_monitor', 'link'] } },
      primary_interface_monitoring_target_id: {
        description: 'Monitoring Target ID',
        value: { get_resource: 'primary_interface_metric_monitor' },
      },
      primary_interface_monitoring_link: {
        description: 'Monitoring Process Link',
        value: { get_attr: ['primary_interface_metric_monitor', 'link'] },
      },
      secondary_interface_monitoring_target_id: {
        description: 'Monitoring Target ID',
        value: { get_resource: 'secondary_interface_metric_monitor' },
      },
      secondary_interface_monitoring_link: {
        description: 'Monitoring Process Link',
        value: { get_attr: ['secondary_interface_metric_monitor', 'link'] },
      },
    });
  });
});

describe('common_function_gateway (loops over service numbers and vrids)', () => {
  // Constructed fixture: vrf vrf_gw_sample, dnat pool group DNAT-POOL, services [1, 2], vrids [41, 42].
  const res = resourcesOf(renderWith('common_function_gateway'));

  it('one DNAT pool config per service number and a term per number in the rule config', () => {
    for (const device of ['primary', 'secondary']) {
      const c = configs(get(res, `netconf_configure_${device}`, 'rendered resources'));
      const pools = c.filter((x) => typeof x.config === 'string' && x.config.startsWith('apply-groups DNAT-POOL-'));
      expect(pools.map((x) => x.config)).toEqual(['apply-groups DNAT-POOL-1;\n', 'apply-groups DNAT-POOL-2;\n']);
      expect(pools.map((x) => at(x.path as Array<Record<string, unknown>>, 2).name)).toEqual([
        'vrf_gw_sample-DNAT-POOL-1',
        'vrf_gw_sample-DNAT-POOL-2',
      ]);
      // The {% for %}/{% endfor %} lines stay as blank lines inside the block scalar, as in Jinja.
      expect(c.map((x) => x.config)).toContainEqual(
        'apply-groups DNAT-GROUP;\n\nterm 1 then translated destination-pool vrf_gw_sample-DNAT-POOL-1;\n\nterm 2 then translated destination-pool vrf_gw_sample-DNAT-POOL-2;\n',
      );
    }
  });

  it('the VRRP monitor lists the vrids', () => {
    expect(mapping(mapping(get(res, 'vrrp_monitor', 'rendered resources').properties).properties).vrid).toEqual([
      41, 42,
    ]);
  });
});

describe('slot number expressions', () => {
  const ifName = (id: string, slot: number) =>
    valuesOf(resourcesOf(renderWith(id, { jinja_slot_number: slot })), 'if_name');

  it('load_balancer_interface: slot 0 → 0/1, else 1/<slot>', () => {
    expect(ifName('load_balancer_interface', 0)).toEqual(['0/1']);
    expect(ifName('load_balancer_interface', 2)).toEqual(['1/2']); // the recorded slot
  });

  it('firewall_interface: dp0s<slot + 3>', () => {
    expect(ifName('firewall_interface', 2)).toEqual(['dp0s5']);
    expect(ifName('firewall_interface', 0)).toEqual(['dp0s3']);
  });
});

describe('internet_gateway (optional vrf_config appended to the routing-instance config)', () => {
  const vrTemplates = (overrides: Record<string, unknown>) =>
    valuesOf(resourcesOf(renderWith('internet_gateway', overrides)), 'template').filter(
      (t): t is string => typeof t === 'string' && t.startsWith('instance-type virtual-router;'),
    );
  const BASE =
    'instance-type virtual-router;\ninterface $LIF;\nrouting-options instance-import $IMPORT_POLICY;\nrouting-options instance-export $EXPORT_POLICY;\n';

  it('appends a non-empty vrf_config on its own line, for both devices', () => {
    expect(vrTemplates({ jinja_vrf_config: 'routing-options static route 0.0.0.0/0 discard;' })).toEqual([
      `${BASE}routing-options static route 0.0.0.0/0 discard;\n`,
      `${BASE}routing-options static route 0.0.0.0/0 discard;\n`,
    ]);
  });

  it.each([[''], [null]])('adds nothing for vrf_config %p', (v) => {
    expect(vrTemplates({ jinja_vrf_config: v })).toEqual([BASE, BASE]);
  });
});

describe('qos_option_aws (besteffort vs guaranteed)', () => {
  it.each([
    ['besteffort', 'BE-FC', 'two-rate'],
    ['guarantee', 'GA-FC', 'single-rate'],
  ])('qos_type %s → class %s, %s policer', (type, cls, policer) => {
    const res = resourcesOf(renderWith('qos_option_aws', { jinja_type: type }));
    expect(valuesOf(res, '$CLASS')).toEqual([cls, cls]);
    const texts = valuesOf(res, 'template').filter(
      (t): t is string => typeof t === 'string' && t.includes('three-color-policer'),
    );
    expect(texts).toHaveLength(2);
    for (const t of texts) expect(t).toContain(`three-color-policer {\n            ${policer} $POLICER_NAME;\n`);
  });
});

describe('ese_logical_port (tsdb tags per port id)', () => {
  it('one in and one out tag per port id', () => {
    const res = resourcesOf(renderWith('ese_logical_port', { jinja_port_ids: ['p-1', 'p-2'] }));
    const tsdb = valuesOf(res, 'tsdb')[0] as Record<string, { tags: unknown }>;
    expect(get(tsdb, 'traffic.in', 'tsdb').tags).toEqual([
      { resource_id: { get_param: 'gohan_id' }, port_id: 'p-1', direction: 'in' },
      { resource_id: { get_param: 'gohan_id' }, port_id: 'p-2', direction: 'in' },
    ]);
    expect(get(tsdb, 'traffic.out', 'tsdb').tags).toEqual([
      { resource_id: { get_param: 'gohan_id' }, port_id: 'p-1', direction: 'out' },
      { resource_id: { get_param: 'gohan_id' }, port_id: 'p-2', direction: 'out' },
    ]);
  });
});
