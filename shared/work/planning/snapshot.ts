import { defaultJobKeys } from '../../jobs/job-keys';
import { referencingEntryKeys } from '../../jobs/referencing-index';
import { parseStoredJob } from '../../jobs/values';
import type { Job } from '../../planner';
import type { Reader } from '../../store/read';
import type { KeyValue, RangeResult } from '../../store/store';

/**
 * An in-memory Reader: `{ "<etcd key>": <value parsed as JSON, or raw text> }`, all at revision 1, with
 * the referencing-index entries of its /jobs/all values added (a snapshot of the original etcd has none).
 */
export class SnapshotSource implements Reader {
  private readonly kvs = new Map<string, KeyValue>();

  constructor(snapshot: Record<string, unknown>) {
    for (const [key, v] of Object.entries(snapshot)) this.set(key, typeof v === 'string' ? v : JSON.stringify(v));
    for (const key of this.derivedIndexKeys()) if (!this.kvs.has(key)) this.set(key, '');
  }

  private set(key: string, value: string): void {
    this.kvs.set(key, { key, value, modRevision: 1, createRevision: 1, version: 1 });
  }

  private derivedIndexKeys(): string[] {
    return [...this.kvs.values()]
      .filter((kv) => kv.key.startsWith(defaultJobKeys.prefix('all')))
      .flatMap((kv) => {
        let job: Job;
        try {
          job = parseStoredJob(kv.key, kv.value).job;
        } catch {
          return []; // not a job value: the live planner reads none either
        }
        return Array.isArray(job.params) ? referencingEntryKeys(defaultJobKeys, job) : [];
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
