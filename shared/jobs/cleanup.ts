/**
 * Removing a completed chain's job keys, for the aggregator once it has written /state (the
 * record deletes /jobs/all and /jobs/finished after the state write).
 */
import type { Compare, Op, Store } from '../store/store';
import { absent, del, modRevisionIs } from '../store/store';
import { chainName, defaultJobKeys, parseJobId, type JobKeys } from './job-keys';
import { readMany } from '../store/read-many';
import { settleWaiting } from './settle';

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
 *   key at the revision read, and none has a working key,
 *   then delete each job's /jobs/all and /jobs/finished keys (plus `extra.ops`, e.g. the /state
 *   write, under `extra.compares`).
 * Settles first, so every dependent in another chain has seen these jobs' outcomes before they
 * disappear (a job gone from etcd counts as satisfied for a dependent).
 */
export async function cleanupChain(
  store: Store,
  chain: ChainRef,
  opts: { keys?: JobKeys; extra?: { compares?: Compare[]; ops?: Op[] } } = {},
): Promise<CleanupResult> {
  const keys = opts.keys ?? defaultJobKeys;
  await settleWaiting(store, { keys });
  const name = chainName({ resourceType: chain.resource_type, resourceId: chain.resource_id, version: chain.version });
  // Job ids name their chain, so the keys alone select the chain's jobs.
  const all = (await store.range(keys.prefix('all'))).items.filter((kv) => {
    const id = keys.parse(kv.key)?.id;
    const parts = id === undefined ? undefined : parseJobId(id);
    return parts !== undefined && chainName(parts) === name;
  });
  const ids = all.map((kv) => keys.parse(kv.key)!.id);
  const fin = await readMany(store, ids.map(keys.finished));
  const unfinished = ids.filter((id) => !fin.get(keys.finished(id)));
  if (unfinished.length) return { cleaned: false, reason: 'unfinished', unfinished };

  const compares: Compare[] = [...(opts.extra?.compares ?? [])];
  const ops: Op[] = [...(opts.extra?.ops ?? [])];
  all.forEach((kv, i) => {
    const id = ids[i];
    compares.push(
      modRevisionIs(kv.key, kv.modRevision),
      modRevisionIs(keys.finished(id), fin.get(keys.finished(id))!.modRevision),
      absent(keys.working(id)),
    );
    ops.push(del(kv.key), del(keys.finished(id)));
  });
  const res = await store
    .txn()
    .when(...compares)
    .then(...ops)
    .commit();
  return res.succeeded
    ? { cleaned: true, jobIds: ids, revision: res.revision }
    : { cleaned: false, reason: 'conflict' };
}
