/**
 * Monitoring sync against the collector simulator and real etcd: seed 000's /monitoring goes
 * from UP to FAIL when the collector's status changes, byte for byte as the seed shows it; an
 * unchanged status writes nothing; an old target version never overwrites a newer one.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CollectorClient } from '../../../shared/clients/collector';
import { createLogger } from '../../../shared/log/logger';
import { syncMonitoring } from '../../../shared/monitoring/sync';
import { EtcdStore } from '../../../shared/store/etcd-store';
import { startCollectorSimulator, type CollectorSimulator } from '../../../infra/sim/main';
import { at } from '../../helpers/at';

const store = new EtcdStore();
const logger = createLogger('monitoring-sync-test');
let sim: CollectorSimulator;
let collector: CollectorClient;

beforeAll(async () => {
  sim = await startCollectorSimulator({ port: 0 });
  collector = new CollectorClient({ baseUrl: sim.url });
});
afterAll(async () => {
  store.close();
  await sim.stop();
});

const seed000 = JSON.parse(
  fs.readFileSync(path.join(__dirname, '../../fixtures/state/000_1f9fc31bb326bf67.json'), 'utf8'),
) as { monitoring: { key: string; value: Record<string, unknown> }[] };
const [upPoint, failPoint] = [
  at(seed000.monitoring, 0, 'seed 000 monitoring'),
  at(seed000.monitoring, 1, 'seed 000 monitoring'),
];
const portId = upPoint.key.split('/').pop()!;

async function register(resourceId: string, version: number): Promise<string> {
  const t = await collector.createTarget({
    type: 'virtual_machine_interface',
    resource_type: 'ports',
    resource_id: resourceId,
    field_name: 'vmi',
    version,
    tenant_id: 'fe3a4a1a72c04479bb6c19c2c0ccba4c',
    properties: {},
    // As the port templates declare it: the etcd syncer writes `status` to `vmi`.
    syncer_properties: { etcd: { status: { key: 'vmi' } } },
  });
  return t.id;
}

test('seed 000: /monitoring UP, then FAIL when the collector says so; nothing written when nothing changed', async () => {
  const id = await register(portId, 3);
  expect(await syncMonitoring(store, collector, logger)).toMatchObject({ written: 0 }); // no status reported yet
  expect(await store.get(upPoint.key)).toBeUndefined();

  sim.setStatus(id, 'UP');
  await syncMonitoring(store, collector, logger);
  const up = await store.get(upPoint.key);
  expect(up!.value).toBe('{"version": 3, "vmi": "UP"}');
  expect(JSON.parse(up!.value)).toEqual(upPoint.value);

  await syncMonitoring(store, collector, logger);
  expect((await store.get(upPoint.key))!.modRevision).toBe(up!.modRevision);

  sim.setStatus(id, 'FAIL');
  await syncMonitoring(store, collector, logger);
  expect(JSON.parse((await store.get(failPoint.key))!.value)).toEqual(failPoint.value);
});

test("a target of an older version does not overwrite the newer version's status", async () => {
  const rid = `mon-${Date.now()}`;
  const newer = await register(rid, 3);
  sim.setStatus(newer, 'UP');
  await syncMonitoring(store, collector, logger);
  const older = await register(rid, 2);
  sim.setStatus(older, 'DOWN');
  await syncMonitoring(store, collector, logger);
  expect((await store.get(`/monitoring/v2.0/ports/${rid}`))!.value).toBe('{"version": 3, "vmi": "UP"}');
});

describe('a resource with several targets', () => {
  const rid = `vpn-if-${Date.now()}`;
  const key = `/monitoring/v2.0/vpn_interfaces/${rid}`;
  /** Every sync run over the whole collector; the key's etcd version counts the writes. */
  const runs = async (n: number, now?: () => number) => {
    for (let i = 0; i < n; i++) await syncMonitoring(store, collector, logger, now);
  };
  const writes = async () => (await store.get(key))?.version ?? 0;
  const target = async (field: string, etcd: Record<string, unknown>) =>
    (
      await collector.createTarget({
        type: 'bgp_pool',
        resource_type: 'vpn_interfaces',
        resource_id: rid,
        field_name: field,
        version: 2,
        tenant_id: 't',
        properties: {},
        syncer_properties: { etcd, tsdb: { 'traffic.in': { metric: 'traffic.bps' } } },
      })
    ).id;

  test('merges every target into one value, follows syncer_properties, and writes once per real change', async () => {
    // Three etcd-synced targets of one resource; the third maps its `status` to a field other than its field_name.
    const a = await target('primary', { status: { key: 'primary' } });
    const b = await target('secondary', { status: { key: 'secondary' } });
    const c = await target('status', { status: { key: 'bgp' } });
    await runs(5);
    expect(await writes()).toBe(0); // nothing reported yet

    sim.setStatus(a, 'ESTABLISHED');
    await runs(5);
    expect((await store.get(key))!.value).toBe('{"version": 2, "primary": "ESTABLISHED"}');
    expect(await writes()).toBe(1);

    sim.setStatus(b, 'ESTABLISHED');
    sim.setStatus(c, { primary: 'MASTER', secondary: 'BACKUP' });
    await runs(5);
    expect((await store.get(key))!.value).toBe(
      '{"version": 2, "bgp": {"primary": "MASTER", "secondary": "BACKUP"}, "primary": "ESTABLISHED", "secondary": "ESTABLISHED"}',
    );
    expect(await writes()).toBe(2);

    // Reports that change nothing the syncer maps (same status again; traffic counters, which go
    // to the tsdb, not etcd) write nothing, however many runs.
    for (let i = 0; i < 10; i++) {
      sim.setStatus(a, 'ESTABLISHED');
      sim.setStatus(a, 1000 + i, { key: 'traffic.in' });
      await runs(1);
    }
    expect(await writes()).toBe(2);

    sim.setStatus(b, 'IDLE');
    await runs(5);
    expect(JSON.parse((await store.get(key))!.value)).toEqual({
      version: 2,
      bgp: { primary: 'MASTER', secondary: 'BACKUP' },
      primary: 'ESTABLISHED',
      secondary: 'IDLE',
    });
    expect(await writes()).toBe(3);
  });

  test('hold_options: a status that is not positive is written only once it has lasted time_seconds', async () => {
    const hid = `held-${Date.now()}`;
    const hkey = `/monitoring/v2.0/ese_logical_ports/${hid}`;
    const t = (
      await collector.createTarget({
        type: 'snmp_ports',
        resource_type: 'ese_logical_ports',
        resource_id: hid,
        field_name: 'logical_port',
        version: 1,
        properties: {},
        syncer_properties: {
          etcd: {
            status: { key: 'logical_port' },
            hold_options: { positive_status: ['UP', 'DOWN'], time_seconds: 30 },
          },
        },
      })
    ).id;
    sim.setStatus(t, 'UP');
    await runs(2);
    expect((await store.get(hkey))!.value).toBe('{"version": 1, "logical_port": "UP"}');
    sim.setStatus(t, 'FAIL');
    await runs(3);
    expect((await store.get(hkey))!.value).toBe('{"version": 1, "logical_port": "UP"}');
    await runs(2, () => Date.now() + 31_000);
    expect((await store.get(hkey))!.value).toBe('{"version": 1, "logical_port": "FAIL"}');
    expect((await store.get(hkey))!.version).toBe(2);
  });
});
