/**
 * Dry run equals live: `esi plan --snapshot` (SnapshotSource) plans the same jobs as the live
 * planner reading real etcd, for the same content, whoever wrote it. The content is written by
 * the live planner itself (jobs and the referencing index beside them); the snapshot holds the
 * same keys except the index, as a snapshot of the original system's etcd would. The rule checked
 * (docs/planner.md "dependency", record 04): a resource's modify waits for the unfinished jobs of
 * the resources that reference it — a firewall's for its interface's, a VPN gateway's for its
 * VPN interface's.
 */
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { parseJobId } from '../../shared/jobs/job-keys';
import { createLogger } from '../../shared/log/logger';
import type { Job } from '../../shared/planner/types';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import { planConfigKey } from '../../shared/work/planner';
import type { Reader } from '../../shared/store/read';
import { preparePlan, SnapshotSource } from '../../shared/work/planning/inputs';
import { at, only } from '../helpers/at';

const store = new EtcdStore();
afterAll(() => store.close());
const logger = createLogger('esi-test-plan-snapshot');
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const T = 'tenant-snapshot';

type Body = Record<string, unknown>;
const config = (plural: string, body: Body, version = 1) => ({
  key: `/config/v2.0/${plural}/${body.id as string}`,
  body,
  version,
});

/** A firewall on a VNF instance, and its interface, which reads the firewall's body (its vnf_instance_id). */
function firewallCase() {
  const [vt, vi, fw, fwIf] = [uid('vt'), uid('vi'), uid('fw'), uid('fwif')];
  const firewall = (version: number) =>
    config(
      'firewalls',
      {
        id: fw,
        tenant_id: T,
        vnf_instance_id: vi,
        default_gateway: '192.168.0.1',
        admin_username: 'admin',
        admin_password: 'a',
        user_username: 'user',
        user_password: version === 1 ? 'u' : 'u2',
        other_username: 'other',
        other_password: 'o',
        networks: [],
      },
      version,
    );
  return {
    referenced: [
      config('vnf_templates', { id: vt, tenant_id: T, credentials: { username: 'root' } }),
      config('vnf_instances', { id: vi, tenant_id: T, vnf_template_id: vt, management_ip: '10.1.0.5' }),
    ],
    changed: firewall,
    referencing: config('firewall_interfaces', { id: fwIf, tenant_id: T, firewall_id: fw, slot_number: 2 }),
  };
}

/** A VPN gateway with its HA pair of edge routers, and a VPN interface, which reads the gateway's body. */
function vpnGatewayCase() {
  const [r1, r2, e1, e2, ha, hi, svc, qos, gw, vif] = [
    uid('r1'),
    uid('r2'),
    uid('e1'),
    uid('e2'),
    uid('ha'),
    uid('hi'),
    uid('svc'),
    uid('qos'),
    uid('gw'),
    uid('vif'),
  ];
  const router = (id: string, ip: string) =>
    config('edge_routers', { id, tenant_id: T, ip, login: 'esi', password: 'pw', ssh_port: 22 });
  const gateway = (version: number) =>
    config(
      'vpn_gateways',
      {
        id: gw,
        tenant_id: T,
        uplink_interface_id: hi,
        downlink_interface_id: hi,
        vpn_service_id: svc,
        qos_option_id: qos,
        primary_logical_uplink_interface_name: 'ae0.100',
        secondary_logical_uplink_interface_name: 'ae0.100',
        primary_logical_downlink_interface_name: 'ae1.200',
        secondary_logical_downlink_interface_name: 'ae1.200',
        uplink_vlan_id: 100,
        downlink_vlan_id: version === 1 ? 200 : 201,
        vrf_name: 'vrf-vpn',
        local_as_number: 65000,
      },
      version,
    );
  const side = (n: number) => ({ bgp_router_id: `10.9.0.${n}`, bgp_peer_ip: `10.8.0.${n}`, ip_address: `10.7.0.${n}` });
  return {
    referenced: [
      router(r1, '10.0.0.1'),
      router(r2, '10.0.0.2'),
      config('er_physical_interfaces', { id: e1, tenant_id: T, name: 'xe-0/0/1', device_id: r1 }),
      config('er_physical_interfaces', { id: e2, tenant_id: T, name: 'xe-0/0/2', device_id: r2 }),
      config('ha_routers', { id: ha, tenant_id: T, primary_router_id: r1, secondary_router_id: r2 }),
      config('ha_interfaces', {
        id: hi,
        tenant_id: T,
        ha_router_id: ha,
        primary_interface_id: e1,
        secondary_interface_id: e2,
      }),
      config('vpn_services', {
        id: svc,
        tenant_id: T,
        primary_ebgp_config_group: 'ebgp-1',
        secondary_ebgp_config_group: 'ebgp-2',
        primary_downlink_vrrp_config_group: 'vrrp-1',
        secondary_downlink_vrrp_config_group: 'vrrp-2',
      }),
      config('qos_options', {
        id: qos,
        tenant_id: T,
        incoming_policer_name: 'in-10m',
        outgoing_policer_name: 'out-10m',
      }),
    ],
    changed: gateway,
    referencing: config('vpn_interfaces', {
      id: vif,
      tenant_id: T,
      vpn_gw_id: gw,
      bgp_remote_as: 65001,
      bgp_md5: 'md5',
      primary: side(1),
      secondary: side(2),
    }),
  };
}

const mirrorOf = (c: { key: string; body: Body; version: number }) => ({
  key: c.key.replace('/config/', '/esi-worker/config/'),
  value: JSON.stringify({ body: c.body, deleted: false, version: c.version }),
});
const suffix = () => 'dryrn';

async function plan(source: Reader, key: string): Promise<Job[]> {
  const prepared = await preparePlan(source, key, { replan: true, randomSuffix: suffix });
  if (prepared.kind !== 'planned' || prepared.result.kind !== 'jobs')
    throw new Error(`${key}: not planned: ${JSON.stringify(prepared)}`);
  return prepared.result.jobs.map((j) => j.job);
}

describe.each([
  ['a firewall', firewallCase],
  ['a VPN gateway', vpnGatewayCase],
])("%s: the dry run plans the live planner's jobs", (_name, make) => {
  test('from a snapshot with /jobs/all and no index, as from the live store with it; the modify waits for the interface', async () => {
    const c = make();
    const v1 = c.changed(1);
    // Version 1 of the changed resource and what it references are planned (mirrors), their jobs done.
    const written = [...c.referenced, v1];
    await store
      .txn()
      .then(
        ...written.flatMap((w) => [
          put(w.key, encodeGohanConfigValue(w.body, w.version)),
          put(mirrorOf(w).key, mirrorOf(w).value),
        ]),
      )
      .commit();
    // The interface is planned live: its job (unfinished) and its index entries are in etcd.
    const ref = c.referencing;
    await store
      .txn()
      .then(put(ref.key, encodeGohanConfigValue(ref.body, 1)))
      .commit();
    await planConfigKey(store, { key: ref.key }, logger);
    const refType = at(ref.key.split('/'), 3, ref.key).replace(/s$/, '');
    const refJobs = (await store.range('/jobs/all/')).items.filter(
      (kv) => parseJobId(kv.key.slice('/jobs/all/'.length))?.resourceId === ref.body.id,
    );
    expect(refJobs.map((kv) => parseJobId(kv.key.slice('/jobs/all/'.length))?.resourceType)).toEqual([refType]);
    const changedType = at(v1.key.split('/'), 3, v1.key).replace(/s$/, '');
    const indexed = await store.range(`/jobs/referencing/${changedType}/${v1.body.id as string}/`);
    expect(indexed.items.map((kv) => kv.key.split('/').pop())).toEqual(refJobs.map((kv) => kv.key.split('/').pop()));

    // Gohan writes version 2 of the changed resource.
    const v2 = c.changed(2);
    await store
      .txn()
      .then(put(v2.key, encodeGohanConfigValue(v2.body, 2)))
      .commit();

    // The snapshot: every key the live store holds for these resources, jobs included, no index.
    const ownKeys = [...written, ref, v2].flatMap((w) => [w.key, mirrorOf(w).key]);
    const snapshot: Record<string, unknown> = {};
    for (const k of ownKeys) {
      const kv = await store.get(k);
      if (kv) snapshot[k] = kv.value;
    }
    for (const kv of refJobs) snapshot[kv.key] = kv.value;
    expect(Object.keys(snapshot).filter((k) => k.startsWith('/jobs/') && !k.startsWith('/jobs/all/'))).toEqual([]);

    const live = await plan(store, v2.key);
    const dry = await plan(new SnapshotSource(snapshot), v2.key);
    expect(dry).toEqual(live);
    // The rule, independently of either: the modify waits for the interface's unfinished job.
    expect(live.map((j) => [j.action, j.resource_type])).toEqual([['modify', changedType]]);
    expect(only(live).dependency).toEqual(refJobs.map((kv) => kv.key.slice('/jobs/all/'.length)));
  });
});
