/** Every job's keys for a whole-store pass (the reconciler), each job reduced to what a pass needs. */
import type { KeyValue, Store } from '../store/store';
import { pages, type ReadOptions } from '../store/read';
import { chainName, defaultJobKeys, JOB_FOLDERS, parseJobId, type JobKeys } from './job-keys';
import { dependencyStatus, tryParseStoredJob, type DependencyStatus, type Job } from './values';

export type JobKeyRef = Pick<KeyValue, 'key' | 'modRevision'>;

export interface JobRow {
  id: string;
  /** The chain (one resource change) the id names, `<type>:<id>:<version>`; undefined for a foreign id. */
  chain: string | undefined;
  /** `/jobs/all/<id>`; absent when only other folders hold the id. */
  all?: JobKeyRef & {
    /** From the stored job; both undefined when the value is unreadable. */
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
  for (const state of JOB_FOLDERS) {
    for await (const page of pages(store, keys.prefix(state), opts))
      for (const kv of page) {
        const id = keys.parse(kv.key)?.id;
        if (id === undefined) continue;
        const ref = { key: kv.key, modRevision: kv.modRevision };
        let r = rows.get(id);
        if (!r) {
          const parts = parseJobId(id);
          rows.set(id, (r = { id, chain: parts && chainName(parts) }));
        }
        if (state === 'all') r.all = { ...ref, ...summary(kv.key, kv.value) };
        else if (state === 'waiting') r.waiting = { ...ref, handler: kv.value };
        else if (state === 'working') r.working = ref;
        else r.finished = { ...ref, status: dependencyStatus(id, kv.value, true) };
      }
  }
  return [...rows.values()];
}

function summary(key: string, value: string): Pick<NonNullable<JobRow['all']>, 'handler' | 'job'> {
  const stored = tryParseStoredJob(key, value);
  if (!stored) return {};
  const { dependency, is_last, resource_type, resource_id, version, on_failure } = stored.job;
  return { handler: stored.handler, job: { dependency, is_last, resource_type, resource_id, version, on_failure } };
}
