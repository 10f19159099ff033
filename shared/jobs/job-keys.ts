/** Keys of the job lifecycle (docs/jobs.md "Keys and values"); the root is a parameter only for tests. */
import { JOBS_PREFIX } from '../keys';
import { JOB_ACTIONS, JOB_HANDLERS } from '../planner/types';

export const JOB_FOLDERS = ['all', 'waiting', 'working', 'finished'] as const;
export type JobFolder = (typeof JOB_FOLDERS)[number];

export type JobKeys = ReturnType<typeof jobKeys>;

export function jobKeys(root: string = JOBS_PREFIX) {
  const base = root.endsWith('/') ? root : `${root}/`;
  const prefix = (folder: JobFolder) => `${base}${folder}/`;
  return {
    root: base,
    all: (id: string) => `${prefix('all')}${id}`,
    waiting: (id: string) => `${prefix('waiting')}${id}`,
    working: (id: string) => `${prefix('working')}${id}`,
    finished: (id: string) => `${prefix('finished')}${id}`,
    prefix,
    /**
     * The /jobs/all prefixes of a resource's jobs (of one chain, with `version`), one per action and handler.
     * The trailing `:` keeps `net-1` from matching `net-10`; readers still check `parseJobId` (ids may hold `:`).
     */
    jobIdPrefixes: (resourceType: string, resourceId: string, version?: number): string[] => {
      const tail = `${resourceType}:${resourceId}:${version === undefined ? '' : `${version}:`}`;
      return JOB_ACTIONS.flatMap((action) => JOB_HANDLERS.map((h) => `${prefix('all')}${action}:${h}:${tail}`));
    },
    /** The dependents index: the jobs waiting for `dependency`. */
    dependents: (dependency: string) => `${base}dependents/${dependency}/`,
    dependent: (dependency: string, id: string) => `${base}dependents/${dependency}/${id}`,
    /** `/jobs/all/<id>` → {folder: 'all', id}; undefined for any other key. */
    parse(key: string): { folder: JobFolder; id: string } | undefined {
      if (!key.startsWith(base)) return undefined;
      const [folder, id, ...more] = key.slice(base.length).split('/');
      if (!JOB_FOLDERS.includes(folder as JobFolder) || !id || more.length) return undefined;
      return { folder: folder as JobFolder, id };
    },
  };
}

export const defaultJobKeys: JobKeys = jobKeys();

/** Splits a job id `<action>:<handler>:<resource_type>:<resource_id (may hold ':')>:<version>:<suffix>`. */
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
