/**
 * Removing a completed chain's job keys, for the aggregator once it has written /state (the
 * record deletes /jobs/all and /jobs/finished after the state write).
 */
import type { Compare, KeyValue, Op, Store } from '../store/store';
import { absent, del, modRevisionIs, noneUnder, readPrefix } from '../store/store';
import { defaultJobKeys, type JobKeys, parseJobId } from './job-keys';
import { readJobIds } from './job-index';
import { readValues } from '../store/read';
import { settleDependents } from './finish';
import { referencingDeletes } from './referencing-index';
import { dependencyStatus, parseStoredJob } from './values';
import type { Job } from '../planner/types';

/** The job of a /jobs/all value; an unreadable one has no index entries to remove. */
function tryParseStoredJob(kv: KeyValue): Job | undefined {
  try {
    return parseStoredJob(kv.key, kv.value).job;
  } catch {
    return undefined;
  }
}

export interface ChainRef {
  resource_type: string;
  resource_id: string;
  version: number;
}

export type CleanupResult =
  | { cleaned: true; jobIds: string[]; revision: number }
  /** Nothing deleted: some job of the chain is not finished yet, or a compare failed (re-read and retry). */
  | { cleaned: false; reason: 'unfinished'; unfinished: string[] }
  | { cleaned: false; reason: 'conflict' };

/**
 * One transaction:
 *   when every job of the chain still has its /jobs/all key at the revision read and a finished
 *   key at the revision read, none has a working key and no failed one has a dependent left in
 *   the dependents index,
 *   then delete each job's /jobs/all and /jobs/finished keys (plus `extra.ops`, e.g. the /state
 *   write, under `extra.compares`).
 * The chain's jobs are found by their ids' prefixes (`readChain`; `opts.jobs` when the caller has
 * read them already). A job gone from etcd counts as satisfied for a dependent, so a failed job
 * does not go before its dependents have been failed. Its finish settled them (finish.ts); when it
 * did not get to (a crash between its steps), they are settled here and the result is a
 * conflict, for the caller to read the chain again (dependents no settlement can move do not
 * hold the chain).
 */
export async function cleanupChain(
  store: Store,
  chain: ChainRef,
  opts: { keys?: JobKeys; extra?: { compares?: Compare[]; ops?: Op[] }; jobs?: ChainRead } = {},
): Promise<CleanupResult> {
  const keys = opts.keys ?? defaultJobKeys;
  const read = opts.jobs ?? (await readChain(store, keys, chain));
  const present = read.ids.filter((id) => read.all.get(id));
  const unfinished = present.filter((id) => !read.finished.get(id));
  if (unfinished.length) return { cleaned: false, reason: 'unfinished', unfinished };

  // A failed job gone would count as satisfied: it stays until its dependents are settled (failed).
  const failed = present.filter((id) => dependencyStatus(id, read.finished.get(id)!.value, true).kind === 'failed');
  const compares: Compare[] = [...(opts.extra?.compares ?? [])];
  const ops: Op[] = [...(opts.extra?.ops ?? [])];
  for (const id of present) {
    compares.push(
      modRevisionIs(keys.all(id), read.all.get(id)!.modRevision),
      modRevisionIs(keys.finished(id), read.finished.get(id)!.modRevision),
      absent(keys.working(id)),
    );
    ops.push(del(keys.all(id)), del(keys.finished(id)));
    // The job no longer references anything: its entries in the referencing index go with it.
    const stored = tryParseStoredJob(read.all.get(id)!);
    if (stored) ops.push(...referencingDeletes(keys, [stored]));
  }
  const commit = (guarded: string[]) =>
    store
      .txn()
      .when(...compares, ...guarded.map((id) => noneUnder(keys.dependents(id))))
      .then(...ops)
      .otherwise(...guarded.map((id) => readPrefix(keys.dependents(id), { keysOnly: true, limit: 1 })))
      .commit();
  let res = await commit(failed);
  // The failure branch ranged one prefix per failed job, in order.
  const unsettled = res.succeeded ? [] : failed.filter((_, i) => res.ranges[i]!.items.length);
  if (unsettled.length) {
    const settled = await settleDependents(store, unsettled, { keys });
    if (settled.promoted.length || settled.failedDependents.length) return { cleaned: false, reason: 'conflict' };
    // Nothing left a settlement can move (a dependent whose job value is unreadable): no reason to stay.
    res = await commit([]);
  }
  return res.succeeded
    ? { cleaned: true, jobIds: present, revision: res.revision }
    : { cleaned: false, reason: 'conflict' };
}

/** A chain's job keys as read: its ids, and each one's /jobs/all and /jobs/finished key. */
export interface ChainRead {
  ids: string[];
  all: Map<string, KeyValue | undefined>;
  finished: Map<string, KeyValue | undefined>;
}

/**
 * Reads a chain's jobs: the resource's job ids by their prefixes (job-index.ts; every version, so
 * a caller can tell whether another chain of the resource exists), then the chain's all and
 * finished keys in one read. `extraKeys` (the aggregator's /state and job state) and the keys of
 * `knownIds` (jobs known to be of the chain: the one that just finished) are read in the same
 * request as the ranges (`readJobIds`): a single-job chain is read whole in one request.
 */
export async function readChain(
  store: Store,
  keys: JobKeys,
  chain: ChainRef,
  extraKeys: string[] = [],
  knownIds: string[] = [],
): Promise<ChainRead & { resourceIds: string[]; extra: Map<string, KeyValue | undefined> }> {
  const jobKeysOf = (ids: string[]) => ids.flatMap((id) => [keys.all(id), keys.finished(id)]);
  const firstKeys = [...extraKeys, ...jobKeysOf(knownIds)];
  const found = await readJobIds(store, keys, [{ type: chain.resource_type, id: chain.resource_id }], {
    alsoRead: firstKeys,
  });
  const [resourceIds = []] = found.ids;
  const first = new Map(firstKeys.map((k, i) => [k, found.read[i]]));
  const ids = resourceIds.filter((id) => parseJobId(id)!.version === chain.version);
  const rest = await readValues(store, jobKeysOf(ids.filter((id) => !knownIds.includes(id))));
  const kv = (key: string) => (rest.has(key) ? rest.get(key) : first.get(key));
  return {
    ids,
    all: new Map(ids.map((id) => [id, kv(keys.all(id))])),
    finished: new Map(ids.map((id) => [id, kv(keys.finished(id))])),
    resourceIds,
    extra: new Map(extraKeys.map((k) => [k, first.get(k)])),
  };
}
