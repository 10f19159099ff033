/** Removing a completed chain's job keys, for the aggregator once it has written /state. */
import type { Compare, KeyValue, Op, Store } from '../store/store';
import type { Job } from '../planner/types';
import { absent, del, modRevisionIs, noneUnder, readPrefix } from '../store/store';
import { defaultJobKeys, type JobKeys, parseJobId } from './job-keys';
import { readJobIds } from './job-index';
import { readValues } from '../store/read';
import { settleWaiting } from './settle';
import { referencingDeletes } from './referencing-index';
import { dependencyStatus, tryParseStoredJob } from './values';

export type ChainRef = Pick<Job, 'resource_type' | 'resource_id' | 'version'>;

export type CleanupResult =
  | { cleaned: true; jobIds: string[]; revision: number }
  /** Nothing deleted: some job of the chain is not finished yet, or a compare failed (re-read and retry). */
  | { cleaned: false; reason: 'unfinished'; unfinished: string[] }
  | { cleaned: false; reason: 'conflict' };

/**
 * Deletes the chain's jobs and `extra` in one transaction (docs/jobs.md, "Clean-up"). A job gone counts as satisfied,
 * so a failed one stays while it has dependents: unsettled ones (a finish crashed) are settled, answering a conflict.
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

  const failed = present.filter((id) => dependencyStatus(id, read.finished.get(id)!.value, true).kind === 'failed');
  const compares: Compare[] = [...(opts.extra?.compares ?? [])];
  const ops: Op[] = [...(opts.extra?.ops ?? [])];
  for (const id of present) {
    const all = read.all.get(id)!;
    compares.push(
      modRevisionIs(keys.all(id), all.modRevision),
      modRevisionIs(keys.finished(id), read.finished.get(id)!.modRevision),
      absent(keys.working(id)),
    );
    ops.push(del(keys.all(id)), del(keys.finished(id)));
    // An unreadable job value has no index entries to remove.
    const stored = tryParseStoredJob(all.key, all.value);
    if (stored) ops.push(...referencingDeletes(keys, [stored.job]));
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
    const settled = await settleWaiting(store, { keys, of: unsettled });
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
 * Reads a chain's jobs: the resource's job ids (of every version: `resourceIds`), then the chain's all and finished
 * keys. `extraKeys` and the keys of `knownIds` are read with the ranges: a one-job chain is read in one request.
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
