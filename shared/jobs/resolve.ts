/**
 * Pure dependency resolution: given the waiting jobs and what their dependencies' keys say,
 * which become ready and which fail because a dependency failed (transitively). The etcd part
 * (settle.ts) reads the inputs, calls this, and applies each decision in its own guarded
 * transaction.
 */
import type { Job } from '../planner/types';
import type { DependencyStatus, FinishedValue } from './values';

export interface WaitingJob {
  id: string;
  /** The handler, i.e. the value of the waiting key. */
  handler: string;
  job: Job;
}

export type Decision =
  | { kind: 'promote' }
  | { kind: 'fail'; dependency: string; error: string; rootCause: string }
  | { kind: 'wait'; pending: string[] };

export const dependencyFailedError = (dependency: string, error: string): string =>
  `dependency ${dependency} failed: ${error}`;

/**
 * One waiting job: it fails as soon as any dependency failed (the first in `dependency` order, so
 * two settlers with the same view write the same error), is promoted when every dependency is
 * satisfied, and waits otherwise. A dependency whose status is unknown counts as pending: a job is
 * never promoted on missing information.
 */
export function decide(job: Pick<Job, 'dependency'>, statusOf: (id: string) => DependencyStatus | undefined): Decision {
  const pending: string[] = [];
  for (const dep of new Set(job.dependency)) {
    const s = statusOf(dep) ?? { kind: 'pending' };
    if (s.kind === 'failed')
      return { kind: 'fail', dependency: dep, error: dependencyFailedError(dep, s.error), rootCause: s.rootCause };
    if (s.kind === 'pending') pending.push(dep);
  }
  return pending.length ? { kind: 'wait', pending } : { kind: 'promote' };
}

export interface Settlement {
  promote: WaitingJob[];
  /** In propagation order: a job comes after the dependency whose failure failed it. */
  fail: { waiting: WaitingJob; dependency: string; error: string; rootCause: string }[];
}

/**
 * Decides every waiting job that can be decided now. A failed job becomes a failed dependency for
 * its own dependents, so a chain fails transitively in one settlement; a promoted job is not
 * finished, so its dependents keep waiting. All waiting jobs are considered, not only the
 * dependents of the job that just finished, so that a settlement interrupted by a crash is
 * completed by the next one, whoever runs it.
 */
export function planSettlement(waiting: WaitingJob[], statuses: ReadonlyMap<string, DependencyStatus>): Settlement {
  const byDep = indexByDependency(waiting);
  const derived = new Map<string, DependencyStatus>();
  const statusOf = (id: string) => derived.get(id) ?? statuses.get(id);
  const decided = new Set<string>();
  const out: Settlement = { promote: [], fail: [] };
  const queue = [...waiting];
  while (queue.length) {
    const w = queue.shift()!;
    if (decided.has(w.id)) continue;
    const d = decide(w.job, statusOf);
    if (d.kind === 'wait') continue;
    decided.add(w.id);
    if (d.kind === 'promote') {
      out.promote.push(w);
    } else {
      out.fail.push({ waiting: w, dependency: d.dependency, error: d.error, rootCause: d.rootCause });
      derived.set(w.id, { kind: 'failed', error: d.error, rootCause: d.rootCause });
      // Its dependents were possibly looked at already, while it still counted as pending.
      queue.push(...(byDep.get(w.id) ?? []));
    }
  }
  return out;
}

function indexByDependency(waiting: WaitingJob[]): Map<string, WaitingJob[]> {
  const byDep = new Map<string, WaitingJob[]>();
  for (const w of waiting) {
    for (const dep of new Set(w.job.dependency)) byDep.set(dep, [...(byDep.get(dep) ?? []), w]);
  }
  return byDep;
}

/** The result of a resource change's chain, reported by its `is_last` job. */
export type ChainOutcome =
  | { ok: true }
  /** failedJobId: the job whose own failure failed the chain (the last job itself, or a root cause upstream). */
  | { ok: false; error: string; failedJobId: string };

export interface ChainCompletion {
  /** The chain's `is_last` job, whose finished key completes the chain. */
  lastJobId: string;
  job_name: string;
  resource_type: string;
  resource_id: string;
  version: number;
  outcome: ChainOutcome;
}

/**
 * The chain outcome once its last job is finished: a failure the chain ignores (the last job's
 * own failure with `on_failure: ignore`) completes it successfully.
 */
export function chainOutcome(lastJobId: string, finished: FinishedValue): ChainOutcome {
  if (finished.ok || (finished.on_failure === 'ignore' && finished.failed_by === undefined)) return { ok: true };
  return { ok: false, error: finished.error ?? 'failed', failedJobId: finished.root_cause ?? lastJobId };
}

/** Undefined unless the job is its chain's last. */
export function completionOf(jobId: string, job: Job, finished: FinishedValue): ChainCompletion | undefined {
  if (!job.is_last) return undefined;
  return {
    lastJobId: jobId,
    job_name: job.job_name,
    resource_type: job.resource_type,
    resource_id: job.resource_id,
    version: job.version,
    outcome: chainOutcome(jobId, finished),
  };
}
