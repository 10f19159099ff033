/** The values stored under the job keys (docs/jobs.md "Keys and values"), and their parsing. Pure. */
import type { Job, OnFailure } from '../planner/types';

export type { Job, OnFailure };

/** `/jobs/all/<id>`, stored as `[handler, job, attempt]`. */
export interface StoredJob {
  handler: string;
  job: Job;
  attempt: number;
}

export class JobValueError extends Error {
  override name = 'JobValueError';
}

export function parseStoredJob(key: string, text: string): StoredJob {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new JobValueError(`${key}: not JSON`);
  }
  if (!Array.isArray(v) || v.length !== 3 || typeof v[0] !== 'string' || typeof v[1] !== 'object' || v[1] === null) {
    throw new JobValueError(`${key}: not [handler, job, attempt]`);
  }
  const job = v[1] as Job;
  if (typeof job.id !== 'string' || !Array.isArray(job.dependency))
    throw new JobValueError(`${key}: job has no id or dependency list`);
  const attempt = Number.isInteger(v[2]) && v[2] >= 0 ? (v[2] as number) : 0;
  return { handler: v[0], job, attempt };
}

export const encodeStoredJob = (s: StoredJob): string => JSON.stringify([s.handler, s.job, s.attempt]);

/** `/jobs/working/<id>`: who holds the claim and since when (for people reading etcd). */
export interface WorkingValue {
  owner: string;
  claimed_at: string;
}

/** What a handler reports for its own job. */
export type JobOutcome = { ok: true } | { ok: false; error: string };

/** `/jobs/finished/<id>`: written once (its compare is "absent"), deleted by clean-up. */
export interface FinishedValue {
  ok: boolean;
  error?: string;
  /** Copied from the job so dependents can be decided from this key alone. */
  on_failure: OnFailure;
  finished_at: string;
  /** Create revision of the claim that finished it; absent when a dependency's failure failed it. */
  claim_revision?: number;
  /** The failed dependency that failed this job (it never ran). */
  failed_by?: string;
  /** With failed_by: the job whose own failure started the chain of failures. */
  root_cause?: string;
}

/** The finished value of a job a failed dependency failed (it never ran). */
export function failedByDependency(
  f: { error: string; dependency: string; rootCause: string },
  onFailure: OnFailure,
  now: Date,
): FinishedValue {
  return {
    ok: false,
    error: f.error,
    on_failure: onFailure,
    finished_at: now.toISOString(),
    failed_by: f.dependency,
    root_cause: f.rootCause,
  };
}

export function parseFinished(text: string): FinishedValue | undefined {
  try {
    const v = JSON.parse(text) as FinishedValue;
    return typeof v === 'object' && v !== null && typeof v.ok === 'boolean' ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a finished job counts as a success for its chain and dependents: `on_failure: ignore` applies
 * to the job's own failure only; one inherited from a dependency always propagates.
 */
export const succeeded = (v: FinishedValue): boolean =>
  v.ok || (v.on_failure === 'ignore' && v.failed_by === undefined);

/** What a dependent sees of one of its dependencies. */
export type DependencyStatus =
  /** Finished successfully, failed with `on_failure: ignore`, or already cleaned up. */
  | { kind: 'satisfied' }
  /** Failed with `on_failure: fail` (or failed by its own failed dependency): dependents fail. */
  | { kind: 'failed'; error: string; rootCause: string }
  /** Still in /jobs/all without a finished key. */
  | { kind: 'pending' };

/**
 * The status of a dependency from its two keys. A job gone from both was cleaned up after its chain
 * completed, and clean-up settles dependents before it deletes, so it is satisfied. An unreadable
 * finished value counts as a failure: the dependent must not run on a guess.
 */
export function dependencyStatus(id: string, finished: string | undefined, inAll: boolean): DependencyStatus {
  if (finished === undefined) return inAll ? { kind: 'pending' } : { kind: 'satisfied' };
  const v = parseFinished(finished);
  if (!v) return { kind: 'failed', error: 'unreadable finished value', rootCause: id };
  return succeeded(v)
    ? { kind: 'satisfied' }
    : { kind: 'failed', error: v.error ?? 'failed', rootCause: v.root_cause ?? id };
}
