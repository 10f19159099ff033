/**
 * Finding "the jobs of this chain" or "the unfinished jobs of this resource" without reading the
 * whole /jobs/all folder and without an index to write: a job id starts with
 * `<action>:<handler>:<resource_type>:<resource_id>:<version>:` (docs/PROTOCOL-NOTES.md §c), so
 * the resource's jobs are under one prefix per (action, handler) pair (`JobKeys.jobIdPrefixes`),
 * all ranged together, keys only and paged: the cost follows the resource's own jobs, never the
 * backlog, and nothing is written for it when a job is planned.
 *
 * The chain index an earlier layout kept (`/jobs/resources/<type>/<id>`) is read by nothing; the
 * planner deletes it when it next plans the resource (docs/jobs.md "Migration").
 */
import { rangePages } from '../store/read-many';
import type { KeyValue, RangeOptions, RangeResult, Store } from '../store/store';
import { readMany } from '../store/read-many';
import { type JobKeys, parseJobId } from './job-keys';

/** Anything that ranges keys: the Store, or a planning snapshot. */
export interface RangeSource {
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
}

/**
 * The ids under /jobs/all of the resource's jobs (of its chain `version`, when given), sorted.
 * One paged keys-only range per (action, handler) prefix, all in flight together (one round trip
 * when each fits a page). A resource id containing `:` may share a prefix with another resource's
 * ids: only ids that parse to this resource are kept.
 */
export async function resourceJobIds(
  source: RangeSource,
  keys: JobKeys,
  resourceType: string,
  resourceId: string,
  version?: number,
): Promise<string[]> {
  const pages = await Promise.all(
    keys.jobIdPrefixes(resourceType, resourceId, version).map(async (prefix) => {
      const ids: string[] = [];
      for await (const page of rangePages(source, prefix, { keysOnly: true }))
        for (const kv of page) if (kv.key.startsWith(prefix)) ids.push(kv.key.slice(keys.prefix('all').length));
      return ids;
    }),
  );
  return pages
    .flat()
    .filter((id) => {
      const parts = parseJobId(id);
      return (
        parts?.resourceType === resourceType &&
        parts.resourceId === resourceId &&
        (version === undefined || parts.version === version)
      );
    })
    .sort();
}

/**
 * The unfinished jobs (under /jobs/all without a finished key) of each resource, by
 * `<type>\0<id>`, sorted like their /jobs/all keys: the resources' id-prefix ranges, then one
 * keys-only read of the found jobs' finished keys. `getMany` reads keys in one go (a Store's
 * readMany, or a snapshot's gets).
 */
export async function unfinishedJobsOf(
  source: RangeSource,
  getMany: (keyList: string[], opts?: { keysOnly?: boolean }) => Promise<(KeyValue | undefined)[]>,
  keys: JobKeys,
  resources: { type: string; id: string }[],
): Promise<Map<string, string[]>> {
  const found = await Promise.all(resources.map((r) => resourceJobIds(source, keys, r.type, r.id)));
  const ids = [...new Set(found.flat())];
  const finished = ids.length
    ? await getMany(
        ids.map((id) => keys.finished(id)),
        { keysOnly: true },
      )
    : [];
  const done = new Set(ids.filter((_, i) => finished[i] !== undefined));
  const out = new Map<string, string[]>();
  resources.forEach((r, i) =>
    out.set(
      `${r.type}\u0000${r.id}`,
      found[i].filter((id) => !done.has(id)),
    ),
  );
  return out;
}

/**
 * The `ready` key of the earlier layout (`/jobs/ready/<id>`, a job's "runnable" mark): nothing
 * writes or reads it any more; the clean-up deletes what is left of it with the job's other keys.
 */
export const legacyReadyKey = (keys: JobKeys, id: string): string => `${keys.root}ready/${id}`;

/** The chain index key of the earlier layout, only so the planner can delete what is left of it. */
export const legacyChainIndexKey = (keys: JobKeys, resourceType: string, resourceId: string): string =>
  `${keys.root}resources/${resourceType}/${resourceId}`;

/** Keys-only presence of many keys, for a Store. */
export const storeGetMany =
  (store: Store) =>
  async (keyList: string[], opts: { keysOnly?: boolean } = {}): Promise<(KeyValue | undefined)[]> => {
    const got = await readMany(store, keyList, opts);
    return keyList.map((k) => got.get(k));
  };
