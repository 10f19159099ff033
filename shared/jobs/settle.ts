/**
 * Applying resolve.ts to etcd: each decided job moves in its own transaction guarded by its waiting key's revision
 * as read, so each is promoted or failed exactly once.
 */
import { commitDecision, CONFLICT } from '../store/converge';
import { absent, del, modRevisionIs, present, put, type KeyValue, type Store } from '../store/store';
import { collectPages, pages, readValues } from '../store/read';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { planSettlement, type WaitingJob } from './resolve';
import { dependencyStatus, type DependencyStatus, failedByDependency, type FinishedValue } from './values';
import { tryParseStoredJob } from './values';

/** A round only repeats when a guard failed, i.e. another settler moved a job meanwhile. */
const MAX_SETTLE_ROUNDS = 10;

export interface SettleResult {
  promoted: string[];
  /** In propagation order. */
  failedDependents: { id: string; job: WaitingJob['job']; finished: FinishedValue }[];
}

export interface SettleOptions {
  keys?: JobKeys;
  now?: () => Date;
  /** Settle only the dependents of these jobs (and, transitively, of those failed meanwhile). */
  of?: Iterable<string>;
  /** The dependents of `of` as the caller read them already (the finish, in its own transaction). */
  dependents?: string[];
}

/** The given jobs that are waiting now, and each one's waiting key revision (the guard). */
async function readWaiting(store: Store, keys: JobKeys, ids: string[]) {
  const kvs = await readValues(
    store,
    ids.flatMap((id) => [keys.waiting(id), keys.all(id)]),
  );
  const jobs: (WaitingJob & { revision: number })[] = [];
  for (const id of ids) {
    const waiting = kvs.get(keys.waiting(id));
    const all = kvs.get(keys.all(id));
    // A waiting key without its (readable) job cannot be decided; clean-up and the planner never leave one.
    const stored = all && tryParseStoredJob(all.key, all.value);
    if (!waiting || !stored) continue;
    jobs.push({ id, handler: waiting.value, job: stored.job, revision: waiting.modRevision });
  }
  return jobs;
}

/** The jobs the dependents index lists as waiting for any of `ids` (keys only, paged, all ranges at once). */
async function dependentsOf(store: Store, keys: JobKeys, ids: Iterable<string>): Promise<string[]> {
  const idsUnder = (prefix: string) =>
    collectPages(store, prefix, (kv) => kv.key.slice(prefix.length), { keysOnly: true });
  const lists = await Promise.all([...new Set(ids)].map((dep) => idsUnder(keys.dependents(dep))));
  return [...new Set(lists.flat())].sort();
}

/** Each job's finished and all keys as read, and its status from them (values.ts dependencyStatus). */
export async function readStatuses(
  store: Store,
  keys: JobKeys,
  ids: string[],
): Promise<{ kvs: Map<string, KeyValue | undefined>; statuses: Map<string, DependencyStatus> }> {
  const kvs = await readValues(
    store,
    ids.flatMap((id) => [keys.finished(id), keys.all(id)]),
  );
  const status = (id: string) =>
    dependencyStatus(id, kvs.get(keys.finished(id))?.value, kvs.get(keys.all(id)) !== undefined);
  return { kvs, statuses: new Map(ids.map((id) => [id, status(id)])) };
}

/**
 * Promotes the waiting jobs whose dependencies are all satisfied and fails (transitively) those with a failed one:
 * the dependents of `of`, or every waiting job page by page (a sweep). Idempotent; safe to run concurrently.
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

/** Settles the candidates, then the dependents of those it failed; a round repeats only for jobs lost to a race. */
async function settleFrom(
  store: Store,
  keys: JobKeys,
  candidates: string[],
  result: SettleResult,
  opts: SettleOptions,
): Promise<void> {
  let ids = candidates;
  let contested: Set<string> | undefined;
  for (let round = 0; round < MAX_SETTLE_ROUNDS && ids.length; round++) {
    const jobs = await readWaiting(store, keys, ids);
    if (!jobs.length || (contested && !jobs.some((w) => contested!.has(w.id)))) return;
    const { statuses } = await readStatuses(store, keys, [...new Set(jobs.flatMap((w) => w.job.dependency))]);
    const plan = planSettlement(jobs, statuses);
    const raced = new Set<string>();
    const failedNow: string[] = [];
    // Failures first, in propagation order: a crash part-way leaves no job failed whose cause is not.
    const moves = [
      ...plan.fail.map((f) => ({
        w: f.waiting,
        finished: failedByDependency(f, f.waiting.job.on_failure, opts.now?.() ?? new Date()),
      })),
      ...plan.promote.map((w) => ({ w, finished: undefined })),
    ];
    for (const { w, finished } of moves) {
      const moved = await commitDecision(store, {
        result: true,
        when: [
          modRevisionIs(keys.waiting(w.id), w.revision),
          absent(keys.finished(w.id)),
          ...(finished ? [] : [present(keys.all(w.id))]),
        ],
        // Deleting the waiting key makes a promoted job ready (the relay sends it); its dependents entries go too.
        then: [
          del(keys.waiting(w.id)),
          ...(finished ? [put(keys.finished(w.id), JSON.stringify(finished))] : []),
          ...[...new Set(w.job.dependency)].map((dep) => del(keys.dependent(dep, w.id))),
        ],
      });
      if (moved === CONFLICT) raced.add(w.id);
      else if (!finished) result.promoted.push(w.id);
      else {
        result.failedDependents.push({ id: w.id, job: w.job, finished });
        failedNow.push(w.id);
      }
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
  // Still contested after every round: the racing settlers keep deciding these jobs, and every finish
  // settles again after its own commit, so nothing is left undecided by stopping here without an error.
}
