/**
 * Seeds 000–004 through the heat handler: the seed's heat job (from the planner fixture) is
 * claimed from an SQS message, the stack is created/updated/deleted in the Heat simulator (outputs
 * from the seed's point (3) as fixtures), polled to completion through the poll queue, and
 * /esi-worker/heat_stacks (point 3) and /esi-worker/job_state (point 4) equal the seed's values.
 */
import { stackNameOf } from '../../../shared/heat/records';
import { del, put } from '../../../shared/store/store';
import {
  counts,
  finishedOf,
  harness,
  notStuck,
  preCreateStack,
  referencedStackRecords,
  seedJob,
  seedRecords,
  type Harness,
} from './helpers';

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
    // etcd as the earlier versions left it: the referenced stacks' records, no record or job state of this resource.
    await h.store
      .txn()
      .then(
        ...referencedStackRecords().map((r) => put(r.key, JSON.stringify(r.value))),
        del(rec.heat_stacks.key),
        del(rec.job_state.key),
      )
      .commit();
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
