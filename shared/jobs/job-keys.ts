/**
 * Keys of the job lifecycle (docs/jobs.md "Keys and values"). A job id is
 * `<action>:<handler>:<resource_type>:<resource_id>:<version>:<suffix>` (docs/PROTOCOL-NOTES.md §c);
 * every state of a job is one key named by that id under a folder (`all`, `waiting`, `working`,
 * `finished`), and *ready* is a state computed from them, with no key of its own. There is no
 * `failed` folder: a failure is a finished key with `ok: false`, so "is this job done" stays a
 * single-key compare. Reads stay bounded by the change: a resource's jobs are found by their ids'
 * prefixes (`jobIdPrefixes`), a job's dependents by the index `/jobs/dependents/<dep id>/<id>`.
 * The root is a parameter only so tests can isolate themselves (default `JOBS_PREFIX`).
 */
import { JOBS_PREFIX } from '../keys';
import { JOB_ACTIONS, JOB_HANDLERS } from '../planner/types';

export const JOB_FOLDERS = ['all', 'waiting', 'working', 'finished'] as const;
/** The folders of a job's keys (not its state: a job is in one or more of them at a time). */
export type JobFolder = (typeof JOB_FOLDERS)[number];

export interface JobKeys {
  /** The root, ending in `/` (`/jobs/`). */
  readonly root: string;
  all(id: string): string;
  waiting(id: string): string;
  working(id: string): string;
  finished(id: string): string;
  /** One folder, ending in `/`, for ranges and watches. */
  prefix(folder: JobFolder): string;
  /**
   * The /jobs/all prefixes under which the jobs of a resource (of one version of it, i.e. one
   * chain, when `version` is given) are: `<all>/<action>:<handler>:<type>:<id>:[<version>:]` for
   * every action and handler. The trailing `:` keeps `net-1` from matching `net-10`; a resource id
   * containing `:` can still match another's jobs, so readers check `parseJobId` (job-index.ts).
   */
  jobIdPrefixes(resourceType: string, resourceId: string, version?: number): string[];
  /** The folder of the jobs waiting for `dependency`, ending in `/`. */
  dependents(dependency: string): string;
  /** `<id>` waits for `dependency` (the reverse of the job's `dependency` list). */
  dependent(dependency: string, id: string): string;
  /** `/jobs/all/<id>` → {folder: 'all', id}; a key outside the root or a folder → undefined. */
  parse(key: string): { folder: JobFolder; id: string } | undefined;
}

export function jobKeys(root: string = JOBS_PREFIX): JobKeys {
  const base = root.endsWith('/') ? root : `${root}/`;
  const prefix = (folder: JobFolder) => `${base}${folder}/`;
  return {
    root: base,
    all: (id) => `${prefix('all')}${id}`,
    waiting: (id) => `${prefix('waiting')}${id}`,
    working: (id) => `${prefix('working')}${id}`,
    finished: (id) => `${prefix('finished')}${id}`,
    prefix,
    jobIdPrefixes: (resourceType, resourceId, version) =>
      JOB_ACTIONS.flatMap((action) =>
        JOB_HANDLERS.map(
          (handler) =>
            `${prefix('all')}${action}:${handler}:${resourceType}:${resourceId}:${version === undefined ? '' : `${version}:`}`,
        ),
      ),
    dependents: (dependency) => `${base}dependents/${dependency}/`,
    dependent: (dependency, id) => `${base}dependents/${dependency}/${id}`,
    parse(key) {
      if (!key.startsWith(base)) return undefined;
      const rest = key.slice(base.length);
      const slash = rest.indexOf('/');
      if (slash < 0) return undefined;
      const folder = rest.slice(0, slash) as JobFolder;
      const id = rest.slice(slash + 1);
      if (!JOB_FOLDERS.includes(folder) || id === '' || id.includes('/')) return undefined;
      return { folder, id };
    },
  };
}

/** The production layout under `/jobs/`. */
export const defaultJobKeys: JobKeys = jobKeys();

export interface JobIdParts {
  action: string;
  handler: string;
  resourceType: string;
  resourceId: string;
  version: number;
  suffix: string;
}

/**
 * Splits a job id. The resource id is taken as everything between the first three and the last
 * two fields, so an id that itself contains `:` still parses. Undefined when it is not a job id.
 */
export function parseJobId(id: string): JobIdParts | undefined {
  const parts = id.split(':');
  if (parts.length < 6 || parts.some((p) => p === '')) return undefined;
  const [action, handler, resourceType, ...rest] = parts;
  const suffix = rest.pop();
  const version = Number(rest.pop());
  if (action === undefined || handler === undefined || resourceType === undefined || suffix === undefined) {
    return undefined;
  }
  if (!Number.isInteger(version) || version < 1) return undefined;
  return { action, handler, resourceType, resourceId: rest.join(':'), version, suffix };
}

/** The chain a job belongs to: one resource change, i.e. the job's `job_name` `<type>:<id>:<version>`. */
export function chainName(parts: { resourceType: string; resourceId: string; version: number }): string {
  return `${parts.resourceType}:${parts.resourceId}:${parts.version}`;
}
