/**
 * The referencing index `/jobs/referencing/<type>/<resource id>/<job id>` = '': the jobs referencing a resource, for
 * its planning to wait for (docs/planner.md). Readers check the job keys and never trust the listing alone.
 */
import type { Job } from '../planner/types';
import { del, delPrefix, put, type Op } from '../store/store';
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
 * The resources a job references (the dependency rule): those its params visited, except its own and those whose stack
 * outputs it reads: it runs after their jobs, so they never wait for it (record 04: the interface and the firewall).
 */
export function referencedResources(job: Pick<Job, 'params' | 'resource_type' | 'resource_id'>) {
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

/** A job's index entries: one per resource it references. */
export const referencingEntryKeys = (
  keys: JobKeys,
  job: Pick<Job, 'params' | 'resource_type' | 'resource_id' | 'id'>,
): string[] => referencedResources(job).map((r) => `${referencingPrefix(keys, r.type, r.id)}${job.id}`);

export const referencingPuts = (keys: JobKeys, jobs: Job[]): Op[] =>
  jobs.flatMap((j) => referencingEntryKeys(keys, j).map((k) => put(k, '')));

export const referencingDeletes = (keys: JobKeys, jobs: Job[]): Op[] =>
  jobs.flatMap((j) => referencingEntryKeys(keys, j).map((k) => del(k)));

/** The entries naming a resource that is forgotten (its /config key gone): nobody plans it again. */
export const referencingOf = (keys: JobKeys, resourceType: string | undefined, resourceId: string): Op[] =>
  resourceType ? [delPrefix(referencingPrefix(keys, resourceType, resourceId))] : [];
