/** The values stored under the job keys (docs/jobs.md "Keys and values"), and their parsing. Pure. */
import { parseJsonObject } from '../encoding/json-object';
import type { Job, OnFailure } from '../planner/types';

export type { Job, OnFailure };

/** `/jobs/all/<id>`, stored as `[handler, job, attempt]`. */
export type StoredJob = { handler: string; job: Job; attempt: number };

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

export function tryParseStoredJob(key: string, text: string): StoredJob | undefined {
  try {
    return parseStoredJob(key, text);
  } catch (err) {
    if (err instanceof JobValueError) return undefined;
    throw err;
  }
}

export const encodeStoredJob = (s: StoredJob): string => JSON.stringify([s.handler, s.job, s.attempt]);

/** `/jobs/working/<id>`: who holds the claim and since when (for people reading etcd). */
export type WorkingValue = { owner: string; claimed_at: string };

export type JobOutcome = { ok: true } | { ok: false; error: string };

/** `/jobs/finished/<id>`: written once (its compare is "absent"), deleted by clean-up. */
export interface FinishedValue {
  ok: boolean;
  error?: string;
  /** Copied from the job so dependents can be decided from this key alone. */
  on_failure: OnFailure;
  finished_at: string;
  /** The claim that finished it; absent when a failed dependency failed it. */
  claim_revision?: number;
  /** The failed dependency that failed this job (it never ran), and the job whose own failure started it all. */
  failed_by?: string;
  root_cause?: string;
}

/** The finished value of a job a failed dependency failed. */
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
  const v: Partial<FinishedValue> = parseJsonObject(text);
  return typeof v.ok === 'boolean' ? (v as FinishedValue) : undefined;
}

/** A success for its chain and dependents: `on_failure: ignore` covers the job's own failure, not an inherited one. */
export const succeeded = (v: FinishedValue): boolean =>
  v.ok || (v.on_failure === 'ignore' && v.failed_by === undefined);

/** What a dependent sees of a dependency: satisfied (also: ignored failure, cleaned up), failed, or pending. */
export type DependencyStatus =
  { kind: 'satisfied' } | { kind: 'failed'; error: string; rootCause: string } | { kind: 'pending' };

/**
 * A job gone from both keys was cleaned up, which settles dependents first: satisfied. An unreadable finished value
 * counts as a failure: the dependent must not run on a guess.
 */
export function dependencyStatus(id: string, finished: string | undefined, inAll: boolean): DependencyStatus {
  if (finished === undefined) return inAll ? { kind: 'pending' } : { kind: 'satisfied' };
  const v = parseFinished(finished);
  if (!v) return { kind: 'failed', error: 'unreadable finished value', rootCause: id };
  if (succeeded(v)) return { kind: 'satisfied' };
  return { kind: 'failed', error: v.error ?? 'failed', rootCause: v.root_cause ?? id };
}
