/**
 * A read of every job's keys, for a whole-store pass (the reconciler): each state folder is read
 * in pages at one store revision, and each job reduced to what a pass needs. The only reader of
 * the job layout outside the lifecycle itself, so a change of layout is absorbed here.
 */
import type { Store } from '../store/store';
import { collectPages, type ReadOptions } from '../store/read';
import { chainName, defaultJobKeys, JOB_FOLDERS, parseJobId, type JobKeys, type JobFolder } from './job-keys';
import { dependencyStatus, JobValueError, parseStoredJob, type DependencyStatus, type Job } from './values';

/** A key of one job's state folder, as read. */
export interface JobKeyRef {
  key: string;
  modRevision: number;
}

export interface JobRow {
  id: string;
  /** The chain (one resource change) the id names, `<type>:<id>:<version>`; undefined for a foreign id. */
  chain: string | undefined;
  /** `/jobs/all/<id>`; absent when only other folders hold the id. */
  all?: JobKeyRef & {
    /** The handler (from the stored job); undefined when the value is unreadable. */
    handler?: string;
    job?: Pick<Job, 'dependency' | 'is_last' | 'resource_type' | 'resource_id' | 'version' | 'on_failure'>;
  };
  waiting?: JobKeyRef & { handler: string };
  working?: JobKeyRef;
  /** With what a dependent sees of it (values.ts dependencyStatus). */
  finished?: JobKeyRef & { status: DependencyStatus };
}

/** Every job under the job folders, read in pages at one revision. */
export async function readJobTable(
  store: Pick<Store, 'range'>,
  opts: ReadOptions & { keys?: JobKeys } = {},
): Promise<JobRow[]> {
  const keys = opts.keys ?? defaultJobKeys;
  const rows = new Map<string, JobRow>();
  const row = (id: string): JobRow => {
    let r = rows.get(id);
    if (!r) rows.set(id, (r = { id, chain: chainOf(id) }));
    return r;
  };
  const folders: JobFolder[] = [...JOB_FOLDERS];
  for (const state of folders) {
    await collectPages(
      store,
      keys.prefix(state),
      (kv) => {
        const id = keys.parse(kv.key)?.id;
        if (id === undefined) return undefined;
        const ref = { key: kv.key, modRevision: kv.modRevision };
        const r = row(id);
        switch (state) {
          case 'all':
            r.all = { ...ref, ...summary(kv.key, kv.value) };
            break;
          case 'waiting':
            r.waiting = { ...ref, handler: kv.value };
            break;
          case 'working':
            r.working = ref;
            break;
          case 'finished':
            r.finished = { ...ref, status: dependencyStatus(id, kv.value, true) };
            break;
        }
        return undefined;
      },
      opts,
    );
  }
  return [...rows.values()];
}

function summary(key: string, value: string): Pick<NonNullable<JobRow['all']>, 'handler' | 'job'> {
  try {
    const { handler, job } = parseStoredJob(key, value);
    const { dependency, is_last, resource_type, resource_id, version, on_failure } = job;
    return { handler, job: { dependency, is_last, resource_type, resource_id, version, on_failure } };
  } catch (err) {
    if (!(err instanceof JobValueError)) throw err;
    return {};
  }
}

function chainOf(id: string): string | undefined {
  const p = parseJobId(id);
  return p && chainName(p);
}
