/** Finishing a job: record its outcome under the claim, then settle its dependents (docs/jobs.md, "Finish"). */
import { absent, del, put, read, readPrefix, type Store } from '../store/store';
import { type Claim, claimHeld, ClaimLostError, revokeQuietly } from './claim';
import { continuePages, RANGE_PAGE_SIZE } from '../store/read';
import { settleWaiting } from './settle';
import { type FinishedValue, type JobOutcome, parseFinished } from './values';
import { definedOnly } from '../defined-only';

export interface FinishResult {
  jobId: string;
  /** As recorded (on a duplicate finish: as the first finish recorded it). */
  outcome: JobOutcome;
  duplicate: boolean;
  promoted: string[];
  failedDependents: string[];
}

/** Records the outcome under the claim (a duplicate finish of the same claim writes nothing), then settles. */
export async function finishJob(
  store: Store,
  claim: Claim,
  outcome: JobOutcome,
  opts: { now?: () => Date } = {},
): Promise<FinishResult> {
  const { keys, jobId } = claim;
  const finished: FinishedValue = {
    ...outcome,
    on_failure: claim.job.on_failure,
    finished_at: (opts.now?.() ?? new Date()).toISOString(),
    claim_revision: claim.createRevision,
  };
  // The dependents are read after the put, at its revision: a planner writing a new dependent either
  // committed before (and is seen) or fails on the finished key (enqueue.ts).
  const dependentsPrefix = keys.dependents(jobId);
  const res = await store
    .txn()
    .when(claimHeld(claim), absent(keys.finished(jobId)))
    .then(
      put(keys.finished(jobId), JSON.stringify(finished)),
      del(keys.working(jobId)),
      readPrefix(dependentsPrefix, { keysOnly: true, limit: RANGE_PAGE_SIZE }),
    )
    .otherwise(read(keys.finished(jobId)), read(keys.working(jobId)))
    .commit();

  let recorded = finished;
  if (!res.succeeded) {
    const [fin, working] = res.reads;
    const previous = fin ? parseFinished(fin.value) : undefined;
    if (!previous || previous.claim_revision !== claim.createRevision) throw new ClaimLostError(claim, working);
    recorded = previous;
  }
  const dependents = res.succeeded
    ? (await continuePages(store, [dependentsPrefix], res.ranges, { keysOnly: true }))
        .flat()
        .map((kv) => kv.key.slice(dependentsPrefix.length))
        .sort()
    : undefined;
  // The working key is gone already: the revoke only frees the lease, beside the settlement.
  const [settled] = await Promise.all([
    settleWaiting(store, definedOnly({ keys, now: opts.now, of: [jobId], dependents })),
    claim.lease && revokeQuietly(claim.lease),
  ]);
  return {
    jobId,
    outcome: recorded.ok ? { ok: true } : { ok: false, error: recorded.error ?? 'failed' },
    duplicate: !res.succeeded,
    promoted: settled.promoted,
    failedDependents: settled.failedDependents.map((f) => f.id),
  };
}
