/**
 * Keys of the job lifecycle (docs/jobs.md "Keys and values"): each state of a job is one key named
 * by its id under a folder; *ready* has no key of its own, and a failure is a finished key with
 * `ok: false`, so "is this job done" stays a single-key compare. The root is a parameter only so
 * tests can isolate themselves.
 */
import { JOBS_PREFIX } from '../keys';
import { JOB_ACTIONS, JOB_HANDLERS } from '../planner/types';

export const JOB_FOLDERS = ['all', 'waiting', 'working', 'finished'] as const;
/** The folders of a job's keys (not its state: a job is in one or more of them at a time). */
export type JobFolder = (typeof JOB_FOLDERS)[number];

export type JobKeys = ReturnType<typeof jobKeys>;

export function jobKeys(root: string = JOBS_PREFIX) {
  const base = root.endsWith('/') ? root : `${root}/`;
  /** One folder, ending in `/`, for ranges and watches. */
  const prefix = (folder: JobFolder) => `${base}${folder}/`;
  return {
    /** The root, ending in `/`. */
    root: base,
    all: (id: string) => `${prefix('all')}${id}`,
    waiting: (id: string) => `${prefix('waiting')}${id}`,
    working: (id: string) => `${prefix('working')}${id}`,
    finished: (id: string) => `${prefix('finished')}${id}`,
    prefix,
    /**
     * The /jobs/all prefixes of a resource's jobs (of one chain, with `version`), one per action and
     * handler (docs/PROTOCOL-NOTES.md §c). The trailing `:` keeps `net-1` from matching `net-10`; an
     * id containing `:` can still match another resource's, so readers check `parseJobId`.
     */
    jobIdPrefixes: (resourceType: string, resourceId: string, version?: number): string[] =>
      JOB_ACTIONS.flatMap((action) =>
        JOB_HANDLERS.map(
          (handler) =>
            `${prefix('all')}${action}:${handler}:${resourceType}:${resourceId}:${version === undefined ? '' : `${version}:`}`,
        ),
      ),
    /** The dependents index: the folder of the jobs waiting for `dependency`, ending in `/`. */
    dependents: (dependency: string) => `${base}dependents/${dependency}/`,
    dependent: (dependency: string, id: string) => `${base}dependents/${dependency}/${id}`,
    /** `/jobs/all/<id>` → {folder: 'all', id}; a key outside the root or a folder → undefined. */
    parse(key: string): { folder: JobFolder; id: string } | undefined {
      if (!key.startsWith(base)) return undefined;
      const [folder, id, ...more] = key.slice(base.length).split('/');
      if (!JOB_FOLDERS.includes(folder as JobFolder) || !id || more.length) return undefined;
      return { folder: folder as JobFolder, id };
    },
  };
}

/** The production layout under `/jobs/`. */
export const defaultJobKeys: JobKeys = jobKeys();

/**
 * Splits a job id `<action>:<handler>:<resource_type>:<resource_id>:<version>:<suffix>`; the resource
 * id is everything between the first three and the last two fields, so it may contain `:`.
 */
export function parseJobId(id: string) {
  const parts = id.split(':');
  if (parts.length < 6 || parts.some((p) => p === '')) return undefined;
  const [action = '', handler = '', resourceType = '', ...rest] = parts;
  const suffix = rest.pop() ?? '';
  const version = Number(rest.pop());
  if (!Number.isInteger(version) || version < 1) return undefined;
  return { action, handler, resourceType, resourceId: rest.join(':'), version, suffix };
}

/** The chain a job belongs to: one resource change, i.e. the job's `job_name` `<type>:<id>:<version>`. */
export function chainName(parts: { resourceType: string; resourceId: string; version: number }): string {
  return `${parts.resourceType}:${parts.resourceId}:${parts.version}`;
}
