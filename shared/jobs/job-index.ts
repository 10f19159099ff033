/**
 * The per-resource index of job chains, so that finding "the jobs of this chain" or "the
 * unfinished jobs of this resource" reads a few keys instead of the whole /jobs/all folder.
 *
 * `/jobs/resources/<type>/<resource id>` = `{"<job_name>": [job id, ...], ...}`: every chain of
 * the resource that may still have keys, in planning order. Only the planner writes it, in the
 * transaction that writes the chain (`jobWrites`), fenced on the value it read, so the planner's
 * writes of one resource are serialized by it. A chain stays listed after its clean-up until the
 * next plan of the resource rewrites the index without it: readers check the job keys, never
 * trust the list alone, and a listed job whose /jobs/all key is gone is cleaned up.
 *
 * Chains written before the index existed are not listed; `chainJobIds` finds them by a paged
 * keys-only scan of /jobs/all (docs/jobs.md "Migration").
 */
import type { Job } from '../planner/types';
import { readMany, rangePages } from '../store/read-many';
import type { KeyValue, Store } from '../store/store';
import { chainName, type JobKeys, parseJobId } from './job-keys';

/** job_name → job ids, in the order the chains were planned. */
export type ResourceIndex = Record<string, string[]>;

/** The index value; anything unreadable counts as empty (the chains are then found by a scan). */
export function parseResourceIndex(text: string | undefined): ResourceIndex {
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
    const out: ResourceIndex = {};
    for (const [name, ids] of Object.entries(v as Record<string, unknown>))
      if (Array.isArray(ids)) out[name] = ids.filter((id): id is string => typeof id === 'string');
    return out;
  } catch {
    return {};
  }
}

export const encodeResourceIndex = (index: ResourceIndex): string => JSON.stringify(index);

export const indexKeyOf = (keys: JobKeys, job: Pick<Job, 'resource_type' | 'resource_id'>): string =>
  keys.resource(job.resource_type, job.resource_id);

export interface ChainJobIds {
  ids: string[];
  /** False when the chain is not in its resource's index (planned before the index existed). */
  indexed: boolean;
}

/**
 * The ids of the chain `job` belongs to. From the resource index (one get) when it lists the
 * chain; else from a paged, keys-only scan of /jobs/all (job ids name their chain): only chains
 * planned before the index existed take that path.
 */
export async function chainJobIds(
  store: Store,
  keys: JobKeys,
  job: Pick<Job, 'resource_type' | 'resource_id' | 'job_name' | 'id'>,
  indexKv?: KeyValue,
): Promise<ChainJobIds> {
  const kv = indexKv ?? (await store.get(indexKeyOf(keys, job)));
  const listed = parseResourceIndex(kv?.value)[job.job_name];
  if (listed?.includes(job.id)) return { ids: listed, indexed: true };
  return { ids: await scanChainJobIds(store, keys, job.job_name), indexed: false };
}

/** A chain's job ids from a paged, keys-only scan of /jobs/all: for chains the index does not list. */
export async function scanChainJobIds(store: Store, keys: JobKeys, jobName: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const page of rangePages(store, keys.prefix('all'), { keysOnly: true })) {
    for (const item of page) {
      const id = keys.parse(item.key)?.id;
      const parts = id === undefined ? undefined : parseJobId(id);
      if (id && parts && chainName(parts) === jobName) ids.push(id);
    }
  }
  return ids;
}

/**
 * The unfinished jobs (under /jobs/all without a finished key) of each resource, by
 * `<type>\0<id>`, from the resources' index keys: two keys-only reads of the listed jobs, one
 * round trip each. `getMany` reads keys in one go (a Store's readMany, or a snapshot's gets).
 */
export async function unfinishedJobsOf(
  getMany: (keyList: string[], opts?: { keysOnly?: boolean }) => Promise<(KeyValue | undefined)[]>,
  keys: JobKeys,
  resources: { type: string; id: string }[],
): Promise<Map<string, string[]>> {
  const indexes = await getMany(resources.map((r) => keys.resource(r.type, r.id)));
  const listed = resources.map((_, i) => Object.values(parseResourceIndex(indexes[i]?.value)).flat());
  const ids = [...new Set(listed.flat())];
  const got = ids.length
    ? await getMany(
        ids.flatMap((id) => [keys.all(id), keys.finished(id)]),
        { keysOnly: true },
      )
    : [];
  const unfinished = new Set(ids.filter((_, i) => got[2 * i] !== undefined && got[2 * i + 1] === undefined));
  const out = new Map<string, string[]>();
  // Sorted like the /jobs/all keys they stand for, so a dependency list does not depend on the index's order.
  resources.forEach((r, i) => out.set(`${r.type}\u0000${r.id}`, listed[i].filter((id) => unfinished.has(id)).sort()));
  return out;
}

/** Keys-only presence of many keys, for a Store. */
export const storeGetMany =
  (store: Store) =>
  async (keyList: string[], opts: { keysOnly?: boolean } = {}): Promise<(KeyValue | undefined)[]> => {
    const got = await readMany(store, keyList, opts);
    return keyList.map((k) => got.get(k));
  };
