/**
 * Claiming a job and fencing every write made under the claim (docs/jobs.md).
 *
 * A claim is `/jobs/working/<id>` on a lease. Its create revision identifies it: a key deleted
 * (lease expired, job finished) and created again by another claimer has another create revision,
 * so "the working key's create revision is still mine" is the fence every later write carries.
 */
import { commitDecision, converge } from '../store/converge';
import { parseJsonObject } from '../encoding/json-object';
import type { Compare, KeyValue, Lease, Store, TxnBuilder } from '../store/store';
import { absent, collectTxn, createRevisionIs, del, modRevisionIs, present, put, read } from '../store/store';
import { defaultJobKeys, type JobKeys } from './job-keys';
import { encodeStoredJob, type Job, JobValueError, parseStoredJob, type WorkingValue } from './values';
import { definedOnly } from '../defined-only';

export interface Claim {
  readonly jobId: string;
  readonly owner: string;
  readonly handler: string;
  readonly job: Job;
  /** The attempt counter (third element of the /jobs/all value) when the claim was taken. */
  readonly attempt: number;
  /** Create revision of `/jobs/all/<id>`: the revision the planner's transaction committed the job at. */
  readonly planRevision: number;
  /** Create revision of `/jobs/working/<id>`: the fence. */
  readonly createRevision: number;
  readonly leaseId: string;
  readonly keys: JobKeys;
  /**
   * The lease handle when the claim has a lease of its own; absent on a claim resumed by id in
   * another invocation (resumeClaim) or made on a lease shared with other claims (claim-lease.ts).
   */
  readonly lease?: Lease;
}

/** A write under a claim that no longer holds: the lease expired and/or someone else claimed the job. */
export class ClaimLostError extends Error {
  override name = 'ClaimLostError';
  constructor(
    readonly jobId: string,
    readonly createRevision: number,
    readonly holder: { owner?: string; createRevision: number } | undefined,
  ) {
    super(
      `claim on job ${jobId} (revision ${createRevision}) is lost: ${holder ? `now held by ${holder.owner ?? '?'} (revision ${holder.createRevision})` : 'no working key'}`,
    );
  }
}

export type ClaimRefusal =
  /** No /jobs/all key: never planned, or cleaned up. */
  | { reason: 'missing' }
  /** Still waiting for dependencies. */
  | { reason: 'waiting' }
  /** Another claim holds it (its owner, from the working value). */
  | { reason: 'held'; owner?: string }
  | { reason: 'finished' }
  /** The /jobs/all value cannot be read as [handler, job, attempt]; the claim was given back. */
  | { reason: 'unreadable'; error: string };

/**
 * A claim with what its own transaction read: the working key (what a renewal fences on and the
 * step it holds) and the `alsoRead` keys, so the runner needs no read of its own to start.
 */
export interface HeldClaim {
  claim: Claim;
  working: KeyValue;
  /** The `alsoRead` keys, as read at the claim's revision (undefined = absent). */
  extra: Map<string, KeyValue | undefined>;
}

export type ClaimAttempt = ({ kind: 'claimed' } & HeldClaim) | ({ kind: 'refused' } & ClaimRefusal);

export interface ClaimOptions {
  keys?: JobKeys;
  /**
   * A lease the caller holds and ends (claim-lease.ts), shared with its other claims; by default
   * the claim gets a lease of its own, not kept alive (the TTL outlives the function).
   */
  lease?: Lease;
  /** For tests; defaults to the current time. */
  now?: () => Date;
  /** Keys to read in the claim's own transaction (those the work reads whatever the job). */
  alsoRead?: readonly string[];
}

/** The fence: `/jobs/working/<id>` exists with the create revision of this claim. */
export const claimHeld = (claim: Claim): Compare =>
  createRevisionIs(claim.keys.working(claim.jobId), claim.createRevision);

/**
 * Claims a job in one transaction:
 *   when /jobs/all/<id> exists and /jobs/waiting/<id>, /jobs/working/<id>, /jobs/finished/<id> do not
 *   (the job is ready: job-keys.ts), then put /jobs/working/<id> on a new lease.
 * So a job whose claim expired (working gone with its lease, not finished) is ready again and can
 * be claimed by the next message for it.
 */
export async function tryClaimJob(
  store: Store,
  jobId: string,
  owner: string,
  leaseTtlSeconds: number,
  opts: ClaimOptions = {},
): Promise<ClaimAttempt> {
  const keys = opts.keys ?? defaultJobKeys;
  const alsoRead = opts.alsoRead ?? [];
  const lease = opts.lease ?? (await store.grantLease(leaseTtlSeconds));
  const own = opts.lease ? undefined : lease;
  const working: WorkingValue = { owner, claimed_at: (opts.now?.() ?? new Date()).toISOString() };
  const res = await store
    .txn()
    .when(
      present(keys.all(jobId)),
      absent(keys.waiting(jobId)),
      absent(keys.working(jobId)),
      absent(keys.finished(jobId)),
    )
    .then(
      put(keys.working(jobId), JSON.stringify(working), { lease: lease.id }),
      read(keys.working(jobId)),
      read(keys.all(jobId)),
      ...alsoRead.map((k) => read(k)),
    )
    .otherwise(read(keys.all(jobId)), read(keys.waiting(jobId)), read(keys.working(jobId)), read(keys.finished(jobId)))
    .commit();

  if (!res.succeeded) {
    if (own) await revokeQuietly(own);
    const [all, waiting, held, finished] = res.reads;
    if (!all) return { kind: 'refused', reason: 'missing' };
    if (finished) return { kind: 'refused', reason: 'finished' };
    if (held) {
      const owner = ownerOf(held.value);
      return { kind: 'refused', reason: 'held', ...(owner === undefined ? {} : { owner }) };
    }
    if (waiting) return { kind: 'refused', reason: 'waiting' };
    // Unreachable unless the keys changed between the compare and the reads of one txn (they cannot).
    return { kind: 'refused', reason: 'held' };
  }

  const [workingKv, allKv, ...extra] = res.reads;
  try {
    const stored = parseStoredJob(keys.all(jobId), allKv!.value);
    return {
      kind: 'claimed',
      working: workingKv!,
      extra: new Map(alsoRead.map((k, i) => [k, extra[i]])),
      claim: {
        jobId,
        owner,
        handler: stored.handler,
        job: stored.job,
        attempt: stored.attempt,
        planRevision: allKv!.createRevision,
        createRevision: workingKv!.createRevision,
        leaseId: lease.id,
        keys,
        ...(own ? { lease: own } : {}),
      },
    };
  } catch (err) {
    if (!(err instanceof JobValueError)) throw err;
    // Give the claim back rather than hold a job nobody can run; docs/jobs.md "unreadable jobs".
    await store
      .txn()
      .when(createRevisionIs(keys.working(jobId), workingKv!.createRevision))
      .then(del(keys.working(jobId)))
      .commit();
    if (own) await revokeQuietly(own);
    return { kind: 'refused', reason: 'unreadable', error: err.message };
  }
}

/**
 * A transaction fenced by the claim: `jobTxn(store, claim).when(...).then(put(k, v)).commit()`.
 * commit() throws ClaimLostError when the claim no longer holds (nothing was written); when the
 * claim holds but one of the caller's own compares failed it resolves with `succeeded: false`,
 * as store.txn() would, and `reads` holds only the caller's own reads.
 */
export function jobTxn(store: Store, claim: Claim): TxnBuilder {
  return collectTxn(async (parts) => {
    // The working key is read last on failure, to tell a lost claim from a failed compare of the caller's.
    const res = await store
      .txn()
      .when(claimHeld(claim), ...parts.when)
      .then(...parts.then)
      .otherwise(...parts.otherwise, read(claim.keys.working(claim.jobId)))
      .commit();
    if (res.succeeded) return res;
    const w = res.reads[res.reads.length - 1];
    if (!w || w.createRevision !== claim.createRevision) throw lostError(claim, w);
    return { ...res, reads: res.reads.slice(0, -1) };
  });
}

/**
 * Records one more attempt: the third element of `/jobs/all/<id>` + 1, and the error in the
 * working value (for people reading etcd), under the fence and a compare on the job key's
 * revision. Returns the new attempt count. The claim is kept; see releaseClaim.
 */
export async function retryJob(store: Store, claim: Claim, error: string): Promise<number> {
  const allKey = claim.keys.all(claim.jobId);
  const workingKey = claim.keys.working(claim.jobId);
  return converge(`job ${claim.jobId}: /jobs/all (recording an attempt)`, async () => {
    const [all, current] = (await store.txn().then(read(allKey), read(workingKey)).commit()).reads;
    // The fence decides first: a stale invocation gets ClaimLostError, whatever else changed.
    if (!current || current.createRevision !== claim.createRevision) throw lostError(claim, current);
    if (!all) throw new JobValueError(`${allKey}: gone while its claim is held`);
    const stored = parseStoredJob(allKey, all.value);
    const attempt = stored.attempt + 1;
    const working = { ...parseWorking(current.value), owner: claim.owner, attempt, last_error: error };
    return commitDecision(
      store,
      {
        result: attempt,
        when: [modRevisionIs(allKey, all.modRevision)],
        then: [
          put(allKey, encodeStoredJob({ ...stored, attempt })),
          put(workingKey, JSON.stringify(working), { lease: claim.leaseId }),
        ],
      },
      () => jobTxn(store, claim),
    );
  });
}

/**
 * Gives the claim back without finishing: deletes `/jobs/working/<id>` under the fence and revokes
 * the lease. The job is then claimable again (neither waiting, working nor finished) by whoever
 * holds a message for it, e.g. the delayed retry message the handler sends. Throws ClaimLostError
 * if the claim was already lost.
 */
export async function releaseClaim(store: Store, claim: Claim): Promise<void> {
  await jobTxn(store, claim)
    .then(del(claim.keys.working(claim.jobId)))
    .commit();
  if (claim.lease) await revokeQuietly(claim.lease);
}

/** What a continuation message needs to carry to act under the same claim in another invocation. */
export interface ClaimRef {
  jobId: string;
  owner: string;
  createRevision: number;
}

/**
 * The claim named by a ref, if its working key still exists with that create revision (the lease
 * has not expired), with the working key and the `alsoRead` keys as read in the same transaction.
 * The claim has no lease handle: the lease is left to expire or to be dropped with the working key.
 */
export async function resumeClaim(
  store: Store,
  ref: ClaimRef,
  opts: { keys?: JobKeys; alsoRead?: readonly string[] } = {},
): Promise<HeldClaim | undefined> {
  const keys = opts.keys ?? defaultJobKeys;
  const alsoRead = opts.alsoRead ?? [];
  const res = await store
    .txn()
    .then(read(keys.working(ref.jobId)), read(keys.all(ref.jobId)), ...alsoRead.map((k) => read(k)))
    .commit();
  const [w, all, ...extra] = res.reads;
  if (!w || !all || w.createRevision !== ref.createRevision || !w.lease) return undefined;
  const stored = parseStoredJob(keys.all(ref.jobId), all.value);
  return {
    claim: {
      ...ref,
      handler: stored.handler,
      job: stored.job,
      attempt: stored.attempt,
      planRevision: all.createRevision,
      leaseId: w.lease,
      keys,
    },
    working: w,
    extra: new Map(alsoRead.map((k, i) => [k, extra[i]])),
  };
}

const parseWorking = (value: string): Partial<WorkingValue> => parseJsonObject(value);

const ownerOf = (value: string): string | undefined => parseWorking(value).owner;

export function lostError(
  claim: Claim,
  current: { value: string; createRevision: number } | undefined,
): ClaimLostError {
  return new ClaimLostError(
    claim.jobId,
    claim.createRevision,
    current ? definedOnly({ owner: ownerOf(current.value), createRevision: current.createRevision }) : undefined,
  );
}

export async function revokeQuietly(lease: Lease): Promise<void> {
  try {
    await lease.revoke();
  } catch {
    // An expired or already revoked lease is what we wanted; a transport error leaves it to expire.
  }
}
