/**
 * Applying dependency resolution to etcd: read the waiting jobs and their dependencies' keys,
 * decide (resolve.ts), and move each decided job in its own transaction guarded by
 * "its waiting key is still the one I read", so that whoever settles concurrently, each waiting
 * job is promoted or failed exactly once.
 */
import type { KeyValue, Store } from '../store/store';
import { absent, del, modRevisionIs, present, put } from '../store/store';
import { readMany } from '../store/read-many';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { planSettlement, type WaitingJob } from './resolve';
import { dependencyStatus, type DependencyStatus, type FinishedValue, JobValueError, parseStoredJob } from './values';

/** A round only repeats when a guard failed, i.e. another settler moved a job meanwhile. */
const MAX_ROUNDS = 10;

export interface SettledJob {
  id: string;
  job: WaitingJob['job'];
  finished: FinishedValue;
}

export interface SettleResult {
  /** Jobs this call moved from waiting to ready. */
  promoted: string[];
  /** Jobs this call failed because a dependency failed (in propagation order). */
  failed: SettledJob[];
}

export interface SettleOptions {
  keys?: JobKeys;
  now?: () => Date;
}

/** The waiting jobs as they are now, with the waiting key's mod revision (the guard). */
async function readWaiting(store: Store, keys: JobKeys): Promise<{ job: WaitingJob; waitingRevision: number }[]> {
  const waiting = await store.range(keys.prefix('waiting'));
  const ids = waiting.items.map((kv) => keys.parse(kv.key)?.id).filter((id): id is string => id !== undefined);
  const alls = await readMany(store, ids.map(keys.all));
  const out: { job: WaitingJob; waitingRevision: number }[] = [];
  for (const kv of waiting.items) {
    const id = keys.parse(kv.key)?.id;
    const all = id === undefined ? undefined : alls.get(keys.all(id));
    // A waiting key without its job cannot be decided; clean-up and the planner never leave one.
    if (id === undefined || !all) continue;
    try {
      const stored = parseStoredJob(all.key, all.value);
      out.push({ job: { id, handler: kv.value, job: stored.job }, waitingRevision: kv.modRevision });
    } catch (err) {
      if (!(err instanceof JobValueError)) throw err;
    }
  }
  return out;
}

/** Status of each job id from its finished and all keys (values.ts dependencyStatus). */
export async function readStatuses(store: Store, keys: JobKeys, ids: string[]): Promise<Map<string, DependencyStatus>> {
  const kvs = await readMany(
    store,
    ids.flatMap((id) => [keys.finished(id), keys.all(id)]),
  );
  return new Map(
    ids.map((id) => [id, dependencyStatus(id, kvs.get(keys.finished(id))?.value, kvs.get(keys.all(id)) !== undefined)]),
  );
}

/**
 * Settles every waiting job that can be decided: promotes those whose dependencies are all
 * satisfied and fails (transitively) those with a failed dependency. Idempotent; safe to run
 * concurrently with itself, with finishes and with the planner.
 */
export async function settleWaiting(store: Store, opts: SettleOptions = {}): Promise<SettleResult> {
  const keys = opts.keys ?? defaultJobKeys;
  const result: SettleResult = { promoted: [], failed: [] };
  // Jobs whose move another settler won in the last round. Only they justify another round: a
  // lost race means someone else moved the job, or its waiting key changed under us.
  let contested: Set<string> | undefined;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const waiting = await readWaiting(store, keys);
    if (contested && !waiting.some((w) => contested!.has(w.job.id))) return result;
    if (!waiting.length) return result;
    const revisionOf = new Map(waiting.map((w) => [w.job.id, w.waitingRevision]));
    const jobs = waiting.map((w) => w.job);
    const statuses = await readStatuses(store, keys, [...new Set(jobs.flatMap((w) => w.job.dependency))]);
    const plan = planSettlement(jobs, statuses);
    const raced = new Set<string>();

    // Failures first, in propagation order: a crash part-way leaves no job failed whose cause is not.
    for (const f of plan.fail) {
      const id = f.waiting.id;
      const finished: FinishedValue = {
        ok: false,
        error: f.error,
        on_failure: f.waiting.job.on_failure,
        finished_at: (opts.now?.() ?? new Date()).toISOString(),
        failed_by: f.dependency,
        root_cause: f.rootCause,
      };
      const res = await store
        .txn()
        .when(modRevisionIs(keys.waiting(id), revisionOf.get(id)!), absent(keys.finished(id)))
        .then(del(keys.waiting(id)), put(keys.finished(id), JSON.stringify(finished)))
        .commit();
      if (res.succeeded) result.failed.push({ id, job: f.waiting.job, finished });
      else raced.add(id);
    }
    for (const w of plan.promote) {
      const res = await store
        .txn()
        .when(
          modRevisionIs(keys.waiting(w.id), revisionOf.get(w.id)!),
          present(keys.all(w.id)),
          absent(keys.ready(w.id)),
          absent(keys.finished(w.id)),
        )
        .then(del(keys.waiting(w.id)), put(keys.ready(w.id), w.handler))
        .commit();
      if (res.succeeded) result.promoted.push(w.id);
      else raced.add(w.id);
    }
    if (!raced.size) return result;
    contested = raced;
  }
  // Still contested after every round: the settlers racing us keep deciding these jobs, and every
  // finish settles again after its own commit, so nothing is left undecided by stopping here.
  return result;
}
