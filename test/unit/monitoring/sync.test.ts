/**
 * What reaches /monitoring, from the rule (docs/PROTOCOL-NOTES.md §e): the collector's etcd
 * syncer writes a target's values there, so only a target whose `syncer_properties` name an
 * `etcd` syncer is written, and only the values that syncer maps, under the keys it names. The
 * targets below are shaped as the shipped templates declare them; the expected values are the
 * record's (a VPN interface's /monitoring holds `status` only; an internet gateway has none).
 */
import type { Target } from '../../../shared/clients/collector';
import { monitoringUpdates, monitoringValue } from '../../../shared/monitoring/sync';
import { only } from '../../helpers/at';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const AT = '2025-12-31T23:00:00Z';
const VPN_IF = '2b0c4d7e-5a6f-4f4e-9d3c-0a1b2c3d4e5f';

let seq = 0;
function target(o: Partial<Target> & Pick<Target, 'type' | 'resource_type' | 'field_name'>): Target {
  const id = `t${++seq}`;
  return { id, link: `/targets/${id}`, resource_id: VPN_IF, version: 1, properties: {}, ...o };
}
const reported = (key: string, value: unknown) => ({ key, value, last_changed: AT, last_reported: AT });

/** A VPN interface's targets as vpn_interface.yaml declares them: one BGP target, two traffic targets. */
function vpnInterfaceTargets(): [Target, Target, Target] {
  const bgp = target({
    type: 'bgp_pool',
    resource_type: 'vpn_interfaces',
    field_name: 'status',
    syncer_properties: { etcd: { status: { key: 'status' } } },
    values: [reported('status', { primary: 'ESTABLISHED', secondary: 'ESTABLISHED' })],
  });
  const metric = (device: string) =>
    target({
      type: 'snmp_ports_metric',
      resource_type: 'vpn_interfaces',
      field_name: `${device}_router`,
      syncer_properties: {
        tsdb: {
          'traffic.in': { metric: 'traffic.bytes', tags: { device_index: device, direction: 'in' } },
          'traffic.out': { metric: 'traffic.bytes', tags: { device_index: device, direction: 'out' } },
        },
      },
      // Whatever an agent reports for it, the etcd syncer never sees this target.
      values: [reported('status', 'UP'), reported('traffic.in', 1200), reported('traffic.out', 800)],
    });
  return [bgp, metric('primary'), metric('secondary')];
}

describe('only targets with an etcd syncer are written to /monitoring', () => {
  test("a VPN interface: the BGP target's status only, never its tsdb-only router targets", () => {
    const updates = monitoringUpdates(vpnInterfaceTargets(), NOW);
    expect(updates).toEqual([
      {
        key: `/monitoring/v2.0/vpn_interfaces/${VPN_IF}`,
        version: 1,
        fields: { status: { primary: 'ESTABLISHED', secondary: 'ESTABLISHED' } },
        held: [],
      },
    ]);
    expect(JSON.parse(monitoringValue(only(updates), undefined)!)).toEqual({
      version: 1,
      status: { primary: 'ESTABLISHED', secondary: 'ESTABLISHED' },
    });
  });

  test('a resource whose targets are all tsdb-only (an internet gateway) gets no /monitoring value', () => {
    const counter = (direction: string) =>
      target({
        type: 'igs_counter',
        resource_type: 'internet_gateways',
        field_name: `${direction}_counter`,
        syncer_properties: { tsdb: { bps: { metric: 'traffic.bps', tags: { direction } } } },
        values: [reported('status', 'UP'), reported('bps', 10)],
      });
    expect(monitoringUpdates([counter('in'), counter('out')], NOW)).toEqual([]);
  });

  test('a target without syncer_properties is not written either', () => {
    const bare = target({
      type: 'virtual_machine_interface',
      resource_type: 'ports',
      field_name: 'vmi',
      values: [reported('status', 'UP')],
    });
    expect(monitoringUpdates([bare], NOW)).toEqual([]);
  });

  test('a tsdb-only target of a higher version does not hide the etcd target of its resource', () => {
    const [bgp, primary] = vpnInterfaceTargets();
    const updates = monitoringUpdates([bgp, { ...primary, version: 2 }], NOW);
    expect(updates.map((u) => [u.key, u.version, u.fields])).toEqual([
      [
        `/monitoring/v2.0/vpn_interfaces/${VPN_IF}`,
        1,
        { status: { primary: 'ESTABLISHED', secondary: 'ESTABLISHED' } },
      ],
    ]);
  });
});

describe('exactly the keys the etcd syncer maps', () => {
  test('a mapped value goes to the key the syncer names; values it does not map (traffic) are not written', () => {
    const t = target({
      type: 'snmp_device_lb',
      resource_type: 'load_balancers',
      resource_id: 'b311c470-d878-4fea-8466-a4393938f2d4',
      field_name: 'load_balancer',
      version: 2,
      syncer_properties: {
        etcd: { status: { key: 'load_balancer' } },
        tsdb: { 'traffic.in': { metric: 'traffic.bps' } },
      },
      values: [reported('status', 'UP'), reported('traffic.in', 5000), reported('cpu', 3)],
    });
    const u = only(monitoringUpdates([t], NOW), 'monitoring updates');
    // The record's value for this load balancer (05_load_balancer).
    expect(JSON.parse(monitoringValue(u, undefined)!)).toEqual({ load_balancer: 'UP', version: 2 });
  });

  test("the syncer's key wins over field_name, and an etcd syncer that maps nothing writes nothing", () => {
    const renamed = target({
      type: 'bgp_pool',
      resource_type: 'vpn_interfaces',
      field_name: 'status',
      syncer_properties: { etcd: { status: { key: 'bgp' } } },
      values: [reported('status', 'ESTABLISHED')],
    });
    expect(monitoringUpdates([renamed], NOW).map((u) => u.fields)).toEqual([{ bgp: 'ESTABLISHED' }]);

    const holdOnly = target({
      type: 'virtual_machine_interface',
      resource_type: 'ports',
      field_name: 'vmi',
      syncer_properties: { etcd: { hold_options: { positive_status: ['UP'], time_seconds: 210 } } },
      values: [reported('status', 'UP')],
    });
    expect(monitoringUpdates([holdOnly], NOW)).toEqual([]);
  });
});
