/**
 * A gw-interface port that had a target at version 1 and is changed with seed 004's chain
 * (monitoring delete → heat modify → monitoring create) reports again at version 2, under its own
 * key: /monitoring/v2.0/ports/<port id> = {"version": 2, "vmi": "UP"} (seed 004 point 7). The
 * port stacks report the VMI id the record's Heat reported for every port (05_load_balancer:
 * f68d0924-…), not the port id, and two ports share it: neither the key nor the other port's
 * target may follow that output. The heat modify is not run here (heat-seeds covers it): its
 * stack record is as version 1 left it.
 */
import crypto from 'node:crypto';
import { createLogger } from '../../../shared/log/logger';
import { syncMonitoring } from '../../../shared/monitoring/sync';
import type { Job } from '../../../shared/planner/types';
import { put } from '../../../shared/store/store';
import { cloneJob, finishedOf, harness, seedJob, type Harness } from './helpers';

const RECORDED_VMI_ID = 'f68d0924-ef20-4c1b-ac45-0e6b879af5e7';
const logger = createLogger('monitoring-recreate-test');

let h: Harness;
beforeAll(async () => {
  h = await harness('mon-recreate');
});
afterAll(async () => h.stop());

const [delJob, createJob] = [seedJob('004_18d39a09107f9f1f', 0), seedJob('004_18d39a09107f9f1f', 2)];

/** Seed 004's job for another port at another version (ids, names and bodies follow). */
function jobFor(job: Job, port: string, version: number, attachedBefore?: boolean): Job {
  const j = cloneJob({ ...job, version }, { resourceId: port });
  if (attachedBefore === undefined) return j;
  const params = j.params.map((p) =>
    p.param === 'attached' && p.type === 'value' ? { ...p, value: attachedBefore } : p,
  );
  return { ...j, params };
}

/** The port's stack record as the record's Heat left it: the VMI id is not the port id. */
const stackRecord = (port: string) =>
  put(
    `/esi-worker/heat_stacks/v2.0/ports/${port}`,
    JSON.stringify({
      id: `port:${port}`,
      output: [
        {
          description: 'Fully Qualified Name of the VMI',
          output_key: 'fq_name',
          output_value: `default-domain:admin:${RECORDED_VMI_ID}`,
        },
        {
          description: 'A unique id for the virtual machine interface.',
          output_key: 'id',
          output_value: RECORDED_VMI_ID,
        },
      ],
      stack_id: `port_${port}`,
      stack_status: 'CREATE_COMPLETE',
      status_reason: 'Stack CREATE completed successfully',
      tenant_id: '0b576f6f4cbf414f829cd12f008bf08f',
    }),
  );

async function run(job: Job): Promise<void> {
  await h.writeJob(job);
  await h.invoke('monitoring', h.jobRecord(job.id));
  expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
}

/** Every target reports UP, as the agents would; then one sync run. */
async function reportAndSync(): Promise<void> {
  for (const t of h.collector.targets()) h.collector.setStatus(t.id as string, 'UP');
  await syncMonitoring(h.store, h.collectorClient, logger);
}

const monitoring = async (id: string) => h.json(`/monitoring/v2.0/ports/${id}`);
const targetsOf = async (id: string) =>
  (await h.collectorClient.findTargets({ resource_type: 'ports', resource_id: id })).map((t) => [t.version, t.type]);

test('deleted and re-created in one chain, the target reports at the new version under the port id', async () => {
  const [port, other] = [crypto.randomUUID(), crypto.randomUUID()];
  await h.store.txn().then(stackRecord(port), stackRecord(other)).commit();

  // Version 1 of both ports, attached: each gets its target.
  for (const p of [port, other]) await run(jobFor(createJob, p, 1));
  await reportAndSync();
  expect(await monitoring(port)).toEqual({ version: 1, vmi: 'UP' });
  expect(await monitoring(other)).toEqual({ version: 1, vmi: 'UP' });

  // Version 2 of one port: seed 004's chain (the heat modify in between leaves the record as is).
  await run(jobFor(delJob, port, 2, true));
  expect(await targetsOf(port)).toEqual([]);
  expect(await targetsOf(other)).toEqual([[1, 'virtual_machine_interface']]);
  await run(jobFor(createJob, port, 2));
  await reportAndSync();

  expect(await monitoring(port)).toEqual({ version: 2, vmi: 'UP' });
  expect(await monitoring(other)).toEqual({ version: 1, vmi: 'UP' });
  expect(await monitoring(RECORDED_VMI_ID)).toBeUndefined();
  expect(await targetsOf(port)).toEqual([[2, 'virtual_machine_interface']]);
  expect(await targetsOf(RECORDED_VMI_ID)).toEqual([]);
});
