/**
 * The compares and ops that write newly planned jobs (docs/jobs.md, "Writing jobs"). A dependency outside the batch
 * finishing meanwhile fails the transaction (the planner re-plans) instead of leaving a waiting job nobody promotes.
 */
import { absent, createRevisionIs, put, unchangedSince, type Compare, type Op, type Store } from '../store/store';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { planSettlement } from './resolve';
import { readStatuses } from './settle';
import { encodeStoredJob, failedByDependency, type StoredJob } from './values';

export interface JobWrites {
  compares: Compare[];
  ops: Op[];
  /** Where each job starts: ready (only its `all` key), waiting, or already failed by a failed dependency. */
  placement: Map<string, 'ready' | 'waiting' | 'failed'>;
}

export async function jobWrites(
  store: Store,
  jobs: StoredJob[],
  opts: { keys?: JobKeys; now?: () => Date } = {},
): Promise<JobWrites> {
  const keys = opts.keys ?? defaultJobKeys;
  const batch = new Set(jobs.map((j) => j.job.id));
  const external = [...new Set(jobs.flatMap((j) => j.job.dependency))].filter((d) => !batch.has(d));
  // Jobs of the batch have no status: planSettlement counts them as pending for each other.
  const { kvs, statuses } = await readStatuses(store, keys, external);
  const plan = planSettlement(
    jobs.map((j) => ({ id: j.job.id, handler: j.handler, job: j.job })),
    statuses,
  );
  const promoted = new Set(plan.promote.map((w) => w.id));
  const failed = new Map(plan.fail.map((f) => [f.waiting.id, f]));

  const compares: Compare[] = external.flatMap((id) => [
    unchangedSince(keys.finished(id), kvs.get(keys.finished(id))),
    // The job key only matters as present or absent (0): an attempt counter change must not conflict.
    createRevisionIs(keys.all(id), kvs.get(keys.all(id))?.createRevision ?? 0),
  ]);
  const ops: Op[] = [];
  const placement = new Map<string, 'ready' | 'waiting' | 'failed'>();
  for (const j of jobs) {
    const id = j.job.id;
    compares.push(absent(keys.all(id)));
    ops.push(put(keys.all(id), encodeStoredJob(j)));
    const f = failed.get(id);
    if (f) {
      const finished = failedByDependency(f, j.job.on_failure, opts.now?.() ?? new Date());
      ops.push(put(keys.finished(id), JSON.stringify(finished)));
      placement.set(id, 'failed');
    } else if (promoted.has(id)) {
      // Ready as planned: the `all` put is its only key, and the relay sends it to its handler.
      placement.set(id, 'ready');
    } else {
      ops.push(put(keys.waiting(id), j.handler));
      // Only a dependency that can still finish will look for its dependents.
      for (const dep of new Set(j.job.dependency))
        if (statuses.get(dep)?.kind !== 'satisfied') ops.push(put(keys.dependent(dep, id), ''));
      placement.set(id, 'waiting');
    }
  }
  return { compares, ops, placement };
}
