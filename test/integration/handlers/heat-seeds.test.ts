/**
 * Seeds 000–004 through the heat handler: the seed's heat job (from the planner fixture) is
 * claimed from an SQS message, the stack is created/updated/deleted in the Heat simulator (outputs
 * from the seed's point (3) as fixtures), polled to completion through the poll queue, and
 * /esi-worker/heat_stacks (point 3) and /esi-worker/job_state (point 4) equal the seed's values.
 * Then seed 004's chain through the monitoring and heat handlers: monitoring delete (fails: the
 * port's stack outputs are not recorded yet; ignored) → heat modify (points 3 and 4) → monitoring
 * create (point 5: state_monitoring merged over the heat outputs); every value job_state takes is
 * captured by a watch, and the seed's (4) and (5) must appear in that order. Both write seed 004's
 * own keys, so they share this file: jest runs a file's tests one after the other.
 */
import { stackNameOf } from '../../../shared/heat/records';
import { del, put } from '../../../shared/store/store';
import { waitFor } from '../../helpers/wait';
import {
  counts,
  finishedOf,
  harness,
  jobKeysOf,
  notStuck,
  preCreateStack,
  readFixture,
  referencedStackRecords,
  seedJob,
  seedRecords,
  type Harness,
  type SeedRecord,
} from './helpers';

interface Seed004State {
  job_state_4: unknown;
  job_state_5: unknown;
}

/** etcd as the earlier versions left it: the referenced stacks' records, no record or job state of the seed's resource. */
async function asEarlierVersionsLeftIt(on: Harness, rec: SeedRecord): Promise<void> {
  await on.store
    .txn()
    .then(
      ...referencedStackRecords().map((r) => put(r.key, JSON.stringify(r.value))),
      del(rec.heat_stacks.key),
      del(rec.job_state.key),
    )
    .commit();
}

let h: Harness;
beforeAll(async () => {
  h = await harness('heat-seeds');
});
afterAll(async () => h.stop());

/** The heat job of each seed (seed 004's chain: the second job). */
const JOB_INDEX: Record<string, number> = { '004_18d39a09107f9f1f': 1 };
const matched3: string[] = [];
const matched4: string[] = [];
afterAll(() =>
  console.log(
    `heat handler seeds: point (3) ${matched3.length}/5 (${matched3.join(', ')}); point (4) ${matched4.length}/5 (${matched4.join(', ')})`,
  ),
);

describe.each(seedRecords().map((r) => [r.seed, r] as const))('seed %s', (seed, rec) => {
  it('points (3) and (4) equal the seed', async () => {
    const job = seedJob(seed, JOB_INDEX[seed] ?? 0);
    const stackName = stackNameOf(job.resource_type, job.resource_id);
    await asEarlierVersionsLeftIt(h, rec);
    // Heat as the earlier versions left it: the stack exists (modify → update, logical_delete → delete).
    await h.sim('/_sim/reset', { method: 'POST' });
    await h.sim('/_sim/fixtures', { method: 'PUT', body: { [stackName]: rec.heat_stacks.value.output } });
    await preCreateStack(h, stackName);
    const before = await counts(h, stackName);

    await h.writeJob({ ...job, dependency: [] });
    expect(await h.invoke('heat', h.jobRecord(job.id))).toEqual({ batchItemFailures: [] });
    await h.drive('heat', async () => (await finishedOf(h, job.id)) !== undefined);

    expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
    expect(await notStuck(h, job.id)).toEqual([]);
    const after = await counts(h, stackName);
    const op = rec.action === 'logical_delete' ? 'deletes' : 'updates';
    expect(after[op] - before[op]).toBe(1);

    expect(await h.json(rec.heat_stacks.key)).toEqual(rec.heat_stacks.value);
    matched3.push(seed.slice(0, 3));
    expect(await h.json(rec.job_state.key)).toEqual(rec.job_state.value);
    matched4.push(seed.slice(0, 3));
  });
});

describe("seed 004's chain through both handlers", () => {
  let c: Harness;
  beforeAll(async () => {
    c = await harness('seed004');
  });
  afterAll(async () => c.stop());

  it('runs the three jobs in dependency order; heat_stacks (3), job_state (4) then (5) equal the seed', async () => {
    const seed = '004_18d39a09107f9f1f';
    const [delJob, heatJob, createJob] = [seedJob(seed, 0), seedJob(seed, 1), seedJob(seed, 2)];
    const rec = seedRecords().find((r) => r.seed === seed)!;
    const point5 = readFixture<Seed004State>('handlers', 'seed004-point5.json').job_state_5;
    const stackName = stackNameOf(heatJob.resource_type, heatJob.resource_id);

    await asEarlierVersionsLeftIt(c, rec);
    await c.sim('/_sim/fixtures', {
      method: 'PUT',
      body: { [stackName]: (rec.heat_stacks.value as { output: unknown[] }).output },
    });
    await preCreateStack(c, stackName); // version 1 of the port created the stack; no record of it is in etcd
    const seen: unknown[] = [];
    const watch = await c.store.watch(rec.job_state.key, (await c.store.revision()) + 1, {
      onEvents: (evs) => evs.forEach((e) => seen.push(e.type === 'put' ? JSON.parse(e.value) : null)),
      onError: () => undefined,
    });

    for (const j of [delJob, heatJob, createJob]) await c.writeJob(j);
    expect(await jobKeysOf(c, delJob.id)).toEqual(['all']);
    expect(await c.store.get(c.keys.waiting(heatJob.id))).toBeDefined();

    await c.invoke('monitoring', c.jobRecord(delJob.id));
    const delFinished = await finishedOf(c, delJob.id);
    expect(delFinished).toMatchObject({ ok: false, on_failure: 'ignore' });
    expect(delFinished!.error).toMatch(/no Heat stack recorded for port 7abe783f-4837-417d-b76f-771ec4d38b97/);
    // Ignored: the heat job is promoted; the create still waits for it.
    expect(await jobKeysOf(c, heatJob.id)).toEqual(['all']);
    expect(await c.store.get(c.keys.waiting(createJob.id))).toBeDefined();

    await c.invoke('heat', c.jobRecord(heatJob.id));
    await c.drive('heat', async () => Boolean(await finishedOf(c, heatJob.id)));
    expect(await finishedOf(c, heatJob.id)).toMatchObject({ ok: true });
    expect(await c.json(rec.heat_stacks.key)).toEqual(rec.heat_stacks.value);

    expect(await jobKeysOf(c, createJob.id)).toEqual(['all']);
    await c.invoke('monitoring', c.jobRecord(createJob.id));
    expect(await finishedOf(c, createJob.id)).toMatchObject({ ok: true });
    await waitFor(() => seen.length >= 2, { what: 'two job_state writes' });
    await watch.cancel();
    expect(seen).toEqual([rec.job_state.value, point5]);

    const targets = await c.collectorClient.findTargets({ resource_type: 'ports', resource_id: heatJob.resource_id });
    expect(
      targets.map((t) => [t.type, t.field_name, t.version, (t.properties as { fq_name?: string }).fq_name]),
    ).toEqual([['virtual_machine_interface', 'vmi', 2, 'default-domain:admin:7abe783f-4837-417d-b76f-771ec4d38b97']]);
    for (const j of [delJob, heatJob, createJob]) expect(await notStuck(c, j.id)).toEqual([]);

    // The create delivered again after a lost answer (job re-planned as a copy): no second target.
    const again = { ...createJob, id: createJob.id.replace(/:[a-z0-9]{5}$/, ':again'), dependency: [] };
    await c.writeJob(again);
    await c.invoke('monitoring', c.jobRecord(again.id));
    expect(await finishedOf(c, again.id)).toMatchObject({ ok: true });
    expect(
      await c.collectorClient.findTargets({ resource_type: 'ports', resource_id: heatJob.resource_id }),
    ).toHaveLength(1);
  });
});
