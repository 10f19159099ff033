/**
 * Seed 004's chain through the monitoring and heat handlers: monitoring delete (fails: the port's
 * stack outputs are not recorded yet; ignored) → heat modify (point 3, point 4) → monitoring
 * create (point 5: state_monitoring merged over the heat outputs). Every value job_state takes is
 * captured by a watch, and the seed's (4) and (5) must appear in that order.
 */
import { stackNameOf } from '../../../shared/heat/records';
import { del, put } from '../../../shared/store/store';
import { waitFor } from '../../helpers/wait';
import {
  finishedOf,
  harness,
  notStuck,
  preCreateStack,
  readFixture,
  jobKeysOf,
  referencedStackRecords,
  seedJob,
  type Harness,
} from './helpers';

interface Seed004State {
  job_state_4: unknown;
  job_state_5: unknown;
}

let h: Harness;
beforeAll(async () => {
  h = await harness('seed004');
});
afterAll(async () => h.stop());

it('runs the three jobs in dependency order; heat_stacks (3), job_state (4) then (5) equal the seed', async () => {
  const seed = '004_18d39a09107f9f1f';
  const [delJob, heatJob, createJob] = [seedJob(seed, 0), seedJob(seed, 1), seedJob(seed, 2)];
  const rec = readFixture<{
    records: {
      seed: string;
      heat_stacks: { key: string; value: unknown };
      job_state: { key: string; value: unknown };
    }[];
  }>('heat', 'seed-records.json').records.find((r) => r.seed.startsWith('004'))!;
  const point5 = readFixture<Seed004State>('handlers', 'seed004-point5.json').job_state_5;
  const stackName = stackNameOf(heatJob.resource_type, heatJob.resource_id);

  await h.store
    .txn()
    .then(
      ...referencedStackRecords().map((r) => put(r.key, JSON.stringify(r.value))),
      del(rec.heat_stacks.key),
      del(rec.job_state.key),
    )
    .commit();
  await h.sim('/_sim/fixtures', {
    method: 'PUT',
    body: { [stackName]: (rec.heat_stacks.value as { output: unknown[] }).output },
  });
  await preCreateStack(h, stackName); // version 1 of the port created the stack; no record of it is in etcd
  const seen: unknown[] = [];
  const watch = await h.store.watch(rec.job_state.key, (await h.store.revision()) + 1, {
    onEvents: (evs) => evs.forEach((e) => seen.push(e.type === 'put' ? JSON.parse(e.value) : null)),
    onError: () => undefined,
  });

  for (const j of [delJob, heatJob, createJob]) await h.writeJob(j);
  expect(await jobKeysOf(h, delJob.id)).toEqual(['all']);
  expect(await h.store.get(h.keys.waiting(heatJob.id))).toBeDefined();

  await h.invoke('monitoring', h.jobRecord(delJob.id));
  const delFinished = await finishedOf(h, delJob.id);
  expect(delFinished).toMatchObject({ ok: false, on_failure: 'ignore' });
  expect(delFinished!.error).toMatch(/no Heat stack recorded for port 7abe783f-4837-417d-b76f-771ec4d38b97/);
  // Ignored: the heat job is promoted; the create still waits for it.
  expect(await jobKeysOf(h, heatJob.id)).toEqual(['all']);
  expect(await h.store.get(h.keys.waiting(createJob.id))).toBeDefined();

  await h.invoke('heat', h.jobRecord(heatJob.id));
  await h.drive('heat', async () => Boolean(await finishedOf(h, heatJob.id)));
  expect(await finishedOf(h, heatJob.id)).toMatchObject({ ok: true });
  expect(await h.json(rec.heat_stacks.key)).toEqual(rec.heat_stacks.value);

  expect(await jobKeysOf(h, createJob.id)).toEqual(['all']);
  await h.invoke('monitoring', h.jobRecord(createJob.id));
  expect(await finishedOf(h, createJob.id)).toMatchObject({ ok: true });
  await waitFor(() => seen.length >= 2, { what: 'two job_state writes' });
  await watch.cancel();
  expect(seen).toEqual([rec.job_state.value, point5]);

  const targets = await h.collectorClient.findTargets({ resource_type: 'ports', resource_id: heatJob.resource_id });
  expect(targets.map((t) => [t.type, t.field_name, t.version, (t.properties as { fq_name?: string }).fq_name])).toEqual(
    [['virtual_machine_interface', 'vmi', 2, 'default-domain:admin:7abe783f-4837-417d-b76f-771ec4d38b97']],
  );
  for (const j of [delJob, heatJob, createJob]) expect(await notStuck(h, j.id)).toEqual([]);

  // The create delivered again after a lost answer (job re-planned as a copy): no second target.
  const again = { ...createJob, id: createJob.id.replace(/:[a-z0-9]{5}$/, ':again'), dependency: [] };
  await h.writeJob(again);
  await h.invoke('monitoring', h.jobRecord(again.id));
  expect(await finishedOf(h, again.id)).toMatchObject({ ok: true });
  expect(
    await h.collectorClient.findTargets({ resource_type: 'ports', resource_id: heatJob.resource_id }),
  ).toHaveLength(1);
});
