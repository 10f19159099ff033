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
);
const [upPoint, failPoint] = seed000.monitoring as { key: string; value: Record<string, unknown> }[];
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
