/**
 * Applying dependency resolution to etcd: read the waiting jobs and their dependencies' keys,
 * decide (resolve.ts), and move each decided job in its own transaction guarded by
 * "its waiting key is still the one I read", so that whoever settles concurrently, each waiting
 * job is promoted or failed exactly once.
 */
import { commitDecision, CONFLICT } from '../store/converge';
import type { Store } from '../store/store';
import { absent, del, modRevisionIs, present, put } from '../store/store';
import { pages, readValues } from '../store/read';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { planSettlement, type WaitingJob } from './resolve';
import {
  dependencyStatus,
  type DependencyStatus,
  failedByDependency,
  type FinishedValue,
  JobValueError,
  parseStoredJob,
} from './values';

/** A round only repeats when a guard failed, i.e. another settler moved a job meanwhile. */
const MAX_SETTLE_ROUNDS = 10;

export interface SettledJob {
  id: string;
  job: WaitingJob['job'];
  finished: FinishedValue;
}

export interface SettleResult {
  /** Jobs this call made ready (their waiting key deleted). */
  promoted: string[];
  /** Jobs this call failed because a dependency failed (in propagation order). */
  failedDependents: SettledJob[];
}

export interface SettleOptions {
  keys?: JobKeys;
  now?: () => Date;
  /** Settle only the dependents of these jobs (and, transitively, of those failed meanwhile). */
  of?: Iterable<string>;
  /**
   * The dependents of `of` as the caller already read them (the finish reads them in its own
   * transaction, after its write): they are not ranged again.
   */
  dependents?: string[];
}

/** The given jobs that are waiting now, with the waiting key's mod revision (the guard). */
async function readWaiting(
  store: Store,
  keys: JobKeys,
  ids: string[],
): Promise<{ job: WaitingJob; waitingRevision: number }[]> {
  const kvs = await readValues(
    store,
    ids.flatMap((id) => [keys.waiting(id), keys.all(id)]),
  );
  const out: { job: WaitingJob; waitingRevision: number }[] = [];
  for (const id of ids) {
    const waiting = kvs.get(keys.waiting(id));
    const all = kvs.get(keys.all(id));
    // A waiting key without its job cannot be decided; clean-up and the planner never leave one.
    if (!waiting || !all) continue;
    try {
      const stored = parseStoredJob(all.key, all.value);
      out.push({ job: { id, handler: waiting.value, job: stored.job }, waitingRevision: waiting.modRevision });
    } catch (err) {
      if (!(err instanceof JobValueError)) throw err;
    }
  }
  return out;
}

/** The jobs the dependents index lists as waiting for any of `ids` (keys-only, paged). */
async function dependentsOf(store: Store, keys: JobKeys, ids: Iterable<string>): Promise<string[]> {
  const out = new Set<string>();
  // One paged range per job, all in flight together (one round trip when each fits a page).
  await Promise.all(
    [...new Set(ids)].map(async (dep) => {
      const prefix = keys.dependents(dep);
      for await (const page of pages(store, prefix, { keysOnly: true }))
        for (const kv of page) out.add(kv.key.slice(prefix.length));
    }),
  );
  return [...out].sort();
}

/** Status of each job id from its finished and all keys (values.ts dependencyStatus). */
export async function readStatuses(store: Store, keys: JobKeys, ids: string[]): Promise<Map<string, DependencyStatus>> {
  const kvs = await readValues(
    store,
    ids.flatMap((id) => [keys.finished(id), keys.all(id)]),
  );
  return new Map(
    ids.map((id) => [id, dependencyStatus(id, kvs.get(keys.finished(id))?.value, kvs.get(keys.all(id)) !== undefined)]),
  );
}

/**
 * Settles waiting jobs: promotes those whose dependencies are all satisfied and fails
 * (transitively) those with a failed dependency. With `of`, only the dependents of those jobs
 * (the dependents index), and theirs in turn when they fail: what a finish needs, at a cost that
 * follows the change. Without it, every waiting job, page by page (a sweep, not for a hot path).
 * Idempotent; safe to run concurrently with itself, with finishes and with the planner.
 */
export async function settleWaiting(store: Store, opts: SettleOptions = {}): Promise<SettleResult> {
  const keys = opts.keys ?? defaultJobKeys;
  const result: SettleResult = { promoted: [], failedDependents: [] };
  if (opts.of) {
    await settleFrom(store, keys, opts.dependents ?? (await dependentsOf(store, keys, opts.of)), result, opts);
    return result;
  }
  for await (const page of pages(store, keys.prefix('waiting'), { keysOnly: true })) {
    const ids = page.map((kv) => keys.parse(kv.key)?.id).filter((id): id is string => id !== undefined);
    await settleFrom(store, keys, ids, result, opts);
  }
  return result;
}

/**
 * Settles the candidates, then the dependents of those it failed, until nothing more fails.
 * A round over the same candidates repeats only when a guard failed, i.e. another settler moved
 * a job meanwhile.
 */
async function settleFrom(
  store: Store,
  keys: JobKeys,
  candidates: string[],
  result: SettleResult,
  opts: SettleOptions,
): Promise<void> {
  let ids = candidates;
  // Jobs whose move another settler won in the last round. Only they justify another round: a
  // lost race means someone else moved the job, or its waiting key changed under us.
  let contested: Set<string> | undefined;
  for (let round = 0; round < MAX_SETTLE_ROUNDS && ids.length; round++) {
    const waiting = await readWaiting(store, keys, ids);
    if (contested && !waiting.some((w) => contested!.has(w.job.id))) return;
    if (!waiting.length) return;
    const revisionOf = new Map(waiting.map((w) => [w.job.id, w.waitingRevision]));
    const jobs = waiting.map((w) => w.job);
    const statuses = await readStatuses(store, keys, [...new Set(jobs.flatMap((w) => w.job.dependency))]);
    const plan = planSettlement(jobs, statuses);
    const raced = new Set<string>();
    const failedNow: string[] = [];
    // The job's entries in the dependents index go with its waiting key.
    const unindex = (w: WaitingJob) => [...new Set(w.job.dependency)].map((dep) => del(keys.dependent(dep, w.id)));

    // Failures first, in propagation order: a crash part-way leaves no job failed whose cause is not.
    for (const f of plan.fail) {
      const id = f.waiting.id;
      const finished = failedByDependency(f, f.waiting.job.on_failure, opts.now?.() ?? new Date());
      const moved = await commitDecision(store, {
        result: true,
        when: [modRevisionIs(keys.waiting(id), revisionOf.get(id)!), absent(keys.finished(id))],
        then: [del(keys.waiting(id)), put(keys.finished(id), JSON.stringify(finished)), ...unindex(f.waiting)],
      });
      if (moved !== CONFLICT) {
        result.failedDependents.push({ id, job: f.waiting.job, finished });
        failedNow.push(id);
      } else raced.add(id);
    }
    for (const w of plan.promote) {
      const moved = await commitDecision(store, {
        result: true,
        when: [
          modRevisionIs(keys.waiting(w.id), revisionOf.get(w.id)!),
          present(keys.all(w.id)),
          absent(keys.finished(w.id)),
        ],
        // Deleting the waiting key makes the job ready; the relay sends that delete to its handler.
        then: [del(keys.waiting(w.id)), ...unindex(w)],
      });
      if (moved !== CONFLICT) result.promoted.push(w.id);
      else raced.add(w.id);
    }
    // A job failed here is a failed dependency for its own dependents, in this chain or another.
    if (failedNow.length) {
      const decided = new Set(plan.fail.map((f) => f.waiting.id));
      const next = (await dependentsOf(store, keys, failedNow)).filter((id) => !decided.has(id));
      if (next.length) await settleFrom(store, keys, next, result, opts);
    }
    if (!raced.size) return;
    contested = raced;
    ids = [...raced];
  }
  // Still contested after every round: the settlers racing us keep deciding these jobs, and every
  // finish settles again after its own commit, so nothing is left undecided by stopping here. (So
  // this loop, unlike converge's, ends without an error; each move is still one commitDecision.)
}
