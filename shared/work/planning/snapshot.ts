import { defaultJobKeys, type JobKeys } from '../../jobs/job-keys';
import { referencingEntryKeys } from '../../jobs/referencing-index';
import { parseStoredJob } from '../../jobs/values';
import type { Job } from '../../planner';
import type { Reader } from '../../store/read';
import type { KeyValue, RangeResult } from '../../store/store';

/**
 * An in-memory Reader: `{ "<etcd key>": <value>, ... }`, each value the etcd value parsed as
 * JSON (written back as JSON text) or a raw string (kept as it is). Every key is at revision 1.
 *
 * Whoever wrote the snapshot, it answers as the live store would: the index the planner keeps
 * beside the jobs and reads when planning (the referencing index, shared/jobs/referencing-index.ts)
 * is a function of the /jobs/all values, so every entry a job of the snapshot would have is added
 * where the snapshot lacks it (a snapshot of the original system's etcd has none), with the same
 * function the planner writes them with.
 */
export class SnapshotSource implements Reader {
  private readonly kvs = new Map<string, KeyValue>();

  constructor(snapshot: Record<string, unknown>, jobKeys: JobKeys = defaultJobKeys) {
    for (const [key, v] of Object.entries(snapshot)) {
      const value = typeof v === 'string' ? v : JSON.stringify(v);
      this.kvs.set(key, { key, value, modRevision: 1, createRevision: 1, version: 1 });
    }
    for (const key of this.derivedIndexKeys(jobKeys))
      if (!this.kvs.has(key)) this.kvs.set(key, { key, value: '', modRevision: 1, createRevision: 1, version: 1 });
  }

  /** The referencing-index entries of every job under /jobs/all whose value is a job with params. */
  private derivedIndexKeys(jobKeys: JobKeys): string[] {
    const allPrefix = jobKeys.prefix('all');
    return [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(allPrefix))
      .flatMap((kv) => {
        let job: Job;
        try {
          job = parseStoredJob(kv.key, kv.value).job;
        } catch {
          return []; // not a job value: the live planner reads no value under /jobs/all either
        }
        return Array.isArray(job.params) ? referencingEntryKeys(jobKeys, job) : [];
      });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return Promise.resolve(this.kvs.get(key));
  }

  range(prefix: string): Promise<RangeResult> {
    const items = [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(prefix))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return Promise.resolve({ items, revision: 1 });
  }
}
