/** What a kind of work (heat, monitoring) gives the job runner (./job-runner.ts) and gets from it. */
import type { Claim } from '../jobs';
import type { ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import type { Job } from '../planner';
import type { KeyValue, Op, Store } from '../store/store';
import { definedOnly } from '../defined-only';

/** Handler-defined state of a running step, kept in the working value (`step`) between polls. */
export interface StepState {
  /** ISO time after which the job fails with "timed out". */
  deadline_at?: string;
  [k: string]: unknown;
}

type JobStateMerge = (previous: Record<string, unknown> | undefined) => Record<string, unknown> | undefined;

export type WorkResult =
  | { kind: 'succeeded'; jobState?: JobStateMerge; ops?: Op[]; note?: string }
  | { kind: 'failed'; error: string }
  /** `ops` are written with the claim's renewal, under the fence. */
  | { kind: 'poll'; delaySeconds?: number; step?: StepState; note?: string; ops?: Op[] };

export const succeeded = (jobState?: JobStateMerge, ops: Op[] = [], note?: string): WorkResult => ({
  kind: 'succeeded',
  ...definedOnly({ jobState, ops, note }),
});
export const jobFailed = (error: string): WorkResult => ({ kind: 'failed', error });
export const pollLater = (step: StepState, note: string): WorkResult => ({ kind: 'poll', step, note });

export interface WorkContext {
  store: Store;
  claim: Claim;
  job: Job;
  /** Attempts recorded so far (third element of /jobs/all). */
  attempt: number;
  /** What the last poll stored; undefined on start. */
  step: StepState | undefined;
  path: ResourcePath;
  logger: Logger;
  now(): Date;
  /** The work's `alsoRead` keys, read in the claim's transaction (undefined = absent). */
  read?: ReadonlyMap<string, KeyValue | undefined>;
}

export interface JobWork {
  /** The handler this work runs (`heat_worker`); a job of another handler is not claimed. */
  handler: string;
  /** Keys read for every job, in the claim's own transaction (`ctx.read`). */
  alsoRead?: readonly string[];
  start(ctx: WorkContext): Promise<WorkResult>;
  poll(ctx: WorkContext): Promise<WorkResult>;
  /** The step's deadline passed: how the job ends (default: failed, "timed out"). */
  overdue?(ctx: WorkContext): Promise<WorkResult>;
  /** The job's own failures (bad params, no template): it fails at once. A client's TerminalError always is. */
  isJobFailure?(err: unknown): boolean;
}
