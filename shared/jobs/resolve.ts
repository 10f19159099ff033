/** Pure dependency resolution: which waiting jobs become ready, and which fail with a dependency (settle.ts). */
import type { Job } from '../planner/types';
import { type DependencyStatus, type FinishedValue, succeeded } from './values';

export type WaitingJob = { id: string; handler: string; job: Job };

type Failure = { dependency: string; error: string; rootCause: string };

/**
 * One waiting job fails with its first failed dependency (in `dependency` order: two settlers write the same error),
 * is promoted when every dependency is satisfied, else waits. An unknown status counts as pending.
 */
export function decide(
  job: Pick<Job, 'dependency'>,
  statusOf: (id: string) => DependencyStatus | undefined,
): { kind: 'promote' } | ({ kind: 'fail' } & Failure) | { kind: 'wait'; pending: string[] } {
  const pending: string[] = [];
  for (const dep of new Set(job.dependency)) {
    const s = statusOf(dep) ?? { kind: 'pending' };
    if (s.kind === 'failed')
      return { kind: 'fail', dependency: dep, error: `dependency ${dep} failed: ${s.error}`, rootCause: s.rootCause };
    if (s.kind === 'pending') pending.push(dep);
  }
  return pending.length ? { kind: 'wait', pending } : { kind: 'promote' };
}

/**
 * Decides every waiting job that can be decided now. A failed job fails its own dependents in the same settlement
 * (`fail` in propagation order); a promoted one is not finished, so its dependents keep waiting.
 */
export function planSettlement<W extends WaitingJob>(
  waiting: W[],
  statuses: ReadonlyMap<string, DependencyStatus>,
): { promote: W[]; fail: ({ waiting: W } & Failure)[] } {
  const byDep = new Map<string, W[]>();
  for (const w of waiting) for (const dep of new Set(w.job.dependency)) byDep.set(dep, [...(byDep.get(dep) ?? []), w]);
  const derived = new Map<string, DependencyStatus>();
  const decided = new Set<string>();
  const out: ReturnType<typeof planSettlement<W>> = { promote: [], fail: [] };
  const queue = [...waiting];
  while (queue.length) {
    const w = queue.shift()!;
    if (decided.has(w.id)) continue;
    const d = decide(w.job, (id) => derived.get(id) ?? statuses.get(id));
    if (d.kind === 'wait') continue;
    decided.add(w.id);
    if (d.kind === 'promote') out.promote.push(w);
    else {
      out.fail.push({ waiting: w, dependency: d.dependency, error: d.error, rootCause: d.rootCause });
      derived.set(w.id, { kind: 'failed', error: d.error, rootCause: d.rootCause });
      // Its dependents were possibly looked at already, while it still counted as pending.
      queue.push(...(byDep.get(w.id) ?? []));
    }
  }
  return out;
}

/** The result of a resource change's chain; failedJobId: the job whose own failure failed it. */
export type ChainOutcome = { ok: true } | { ok: false; error: string; failedJobId: string };

/** A chain completed by the finished key of its `is_last` job. */
export type ChainCompletion = Pick<Job, 'job_name' | 'resource_type' | 'resource_id' | 'version'> & {
  lastJobId: string;
  outcome: ChainOutcome;
};

/** The chain outcome once its last job is finished (the last job's ignored failure is a success). */
export function chainOutcome(lastJobId: string, finished: FinishedValue): ChainOutcome {
  if (succeeded(finished)) return { ok: true };
  return { ok: false, error: finished.error ?? 'failed', failedJobId: finished.root_cause ?? lastJobId };
}

/** Undefined unless the job is its chain's last. */
export function completionOf(jobId: string, job: Job, finished: FinishedValue): ChainCompletion | undefined {
  if (!job.is_last) return undefined;
  const { job_name, resource_type, resource_id, version } = job;
  return { lastJobId: jobId, job_name, resource_type, resource_id, version, outcome: chainOutcome(jobId, finished) };
}
