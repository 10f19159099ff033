/**
 * Which unfinished jobs reference a resource, so that planning the resource can wait for them
 * (PROTOCOL-NOTES §a: a job also waits for the unfinished jobs of the resources that reference the
 * planned resource, planned before it) without reading the whole /jobs/all folder.
 *
 * `/jobs/referencing/<type>/<resource id>/<job id>` = '' for every resource a job references
 * (`referencedResources`: visited by its params, not its own, and not read for its stack outputs). Written by the planner in the transaction that
 * writes the job; one key per job and resource, so concurrent plans never contend on it. Removed
 * with the job's chain by the clean-up, and by the referenced resource's own next plan for jobs
 * already gone; all of them when Gohan deletes the referenced resource. Readers check the job keys
 * and never trust the listing alone.
 */
import type { Job } from '../planner/types';
import { del, put, type KeyValue, type Op } from '../store/store';
import type { JobKeys } from './job-keys';

export const referencingPrefix = (keys: JobKeys, resourceType: string, resourceId: string): string =>
  `${keys.root}referencing/${resourceType}/${resourceId}/`;

/** The resources whose Heat stack outputs a job reads (its output_key params, and those of its lists). */
export function outputTargets(job: Pick<Job, 'params'>): { type: string; id: string }[] {
  const out = new Map<string, { type: string; id: string }>();
  const visit = (p: { type: string; value: unknown }) => {
    if (p.type === 'output_key' && p.value && typeof p.value === 'object') {
      const v = p.value as { resource_type: string; resource_id: string };
      out.set(`${v.resource_type}\u0000${v.resource_id}`, { type: v.resource_type, id: v.resource_id });
    } else if (p.type === 'list' && Array.isArray(p.value))
      for (const el of p.value as { type: string; value: unknown }[]) if (el && typeof el === 'object') visit(el);
  };
  job.params.forEach(visit);
  return [...out.values()];
}

/**
 * The resources a job references in the sense of the dependency rule: those its params visited,
 * other than its own, except the ones whose stack outputs it reads. A job that reads a resource's
 * outputs must run after that resource's jobs (it waits for them), so they can never wait for it;
 * the exception is for resources read by value (record 04: the interface reads the firewall's
 * body, and the firewall's modify waits for the interface's).
 */
export function referencedResources(job: Pick<Job, 'params' | 'resource_type' | 'resource_id'>): {
  type: string;
  id: string;
}[] {
  const targets = new Set(outputTargets(job).map((t) => `${t.type}\u0000${t.id}`));
  const seen = new Map<string, { type: string; id: string }>();
  for (const p of job.params)
    for (const r of p.resources ?? []) {
      const k = `${r.resource_type}\u0000${r.resource_id}`;
      if ((r.resource_type === job.resource_type && r.resource_id === job.resource_id) || targets.has(k)) continue;
      seen.set(k, { type: r.resource_type, id: r.resource_id });
    }
  return [...seen.values()];
}

/** A job's index entries: one per resource it references (what the planner writes with the job). */
export const referencingEntryKeys = (
  keys: JobKeys,
  job: Pick<Job, 'params' | 'resource_type' | 'resource_id' | 'id'>,
): string[] => referencedResources(job).map((r) => `${referencingPrefix(keys, r.type, r.id)}${job.id}`);
const entryKeys = referencingEntryKeys;

/** The index entries of newly planned jobs (for the planner's transaction). */
export const referencingPuts = (keys: JobKeys, jobs: Job[]): Op[] =>
  jobs.flatMap((j) => entryKeys(keys, j).map((k) => put(k, '')));

/** The index entries of jobs being removed (for the clean-up's transaction). */
export const referencingDeletes = (keys: JobKeys, jobs: Job[]): Op[] =>
  jobs.flatMap((j) => entryKeys(keys, j).map((k) => del(k)));

export interface ReferencingJobs {
  /** Unfinished jobs that reference the resource (under /jobs/all, without a finished key), sorted. */
  unfinished: string[];
  /** Index entries whose job is gone: safe to delete (job ids are never reused). */
  stale: string[];
}

/** The job ids listed under a resource's referencing prefix, from the keys ranged there. */
export const listedReferencing = (prefix: string, kvs: readonly KeyValue[]): string[] =>
  kvs.filter((kv) => kv.key.startsWith(prefix)).map((kv) => kv.key.slice(prefix.length));

/**
 * What the listed jobs are, from a keys-only read of their all and finished keys (`got`: for each
 * id, its all key then its finished key): the listing alone is never trusted.
 */
export function judgeReferencing(prefix: string, ids: string[], got: (KeyValue | undefined)[]): ReferencingJobs {
  const unfinished = ids.filter((_, i) => got[2 * i] !== undefined && got[2 * i + 1] === undefined).sort();
  const stale = ids.filter((_, i) => got[2 * i] === undefined).map((id) => `${prefix}${id}`);
  return { unfinished, stale };
}

/** The keys `judgeReferencing` needs read, in its order. */
export const referencingChecks = (keys: JobKeys, ids: string[]): string[] =>
  ids.flatMap((id) => [keys.all(id), keys.finished(id)]);
