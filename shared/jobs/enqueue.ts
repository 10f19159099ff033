/**
 * The compares and ops that write newly planned jobs, for the planner's transaction, so the
 * "waiting vs ready" decision and its race guard live with the rest of the lifecycle (docs/jobs.md
 * "Writing jobs"). The race it closes: the planner lists a dependency as unfinished, the
 * dependency finishes and settles, then the planner writes the dependent as waiting; nobody would
 * ever promote it. Here the transaction compares every dependency outside the batch to its
 * finished and all keys as read, so it fails (the planner re-plans) instead. It also writes the
 * dependents index, `/jobs/dependents/<dep>/<id>`, by which a finishing job finds its dependents.
 */
import type { Compare, Op, Store } from '../store/store';
import { absent, createRevisionIs, put, unchangedSince } from '../store/store';
import type { KeyValue } from '../store/store';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { planSettlement, type WaitingJob } from './resolve';
import { readValues } from '../store/read';
import { dependencyStatus, encodeStoredJob, failedByDependency, type StoredJob } from './values';

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
  const read = await readValues(
    store,
    external.flatMap((id) => [keys.finished(id), keys.all(id)]),
  );
  // Jobs of the batch are pending for each other (no status): planSettlement treats unknown as pending.
  const statuses = new Map(
    external.map((id) => [
      id,
      dependencyStatus(id, read.get(keys.finished(id))?.value, read.get(keys.all(id)) !== undefined),
    ]),
  );
  const asWaiting: WaitingJob[] = jobs.map((j) => ({ id: j.job.id, handler: j.handler, job: j.job }));
  const plan = planSettlement(asWaiting, statuses);
  const promoted = new Set(plan.promote.map((w) => w.id));
  const failed = new Map(plan.fail.map((f) => [f.waiting.id, f]));

  // The job key only matters as present or absent (an attempt counter change must not conflict).
  const sameJob = (key: string, kv: KeyValue | undefined): Compare =>
    kv ? createRevisionIs(key, kv.createRevision) : absent(key);
  const compares: Compare[] = external.flatMap((id) => [
    unchangedSince(keys.finished(id), read.get(keys.finished(id))),
    sameJob(keys.all(id), read.get(keys.all(id))),
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
