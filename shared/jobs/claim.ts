/** Claiming a job; every write under the claim compares its working key's create revision (docs/jobs.md, "Fence"). */
import { CONFLICT, converge } from '../store/converge';
import { parseJsonObject } from '../encoding/json-object';
import type { Compare, KeyValue, Lease, Store, TxnBuilder } from '../store/store';
import { absent, createRevisionIs, del, modRevisionIs, present, put, read } from '../store/store';
import { collectTxn, withParts } from '../store/store';
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
  /** Create revision of `/jobs/all/<id>`. */
  readonly planRevision: number;
  /** Create revision of `/jobs/working/<id>`: the fence. */
  readonly createRevision: number;
  readonly leaseId: string;
  readonly keys: JobKeys;
  /** Only on a claim with a lease of its own (not resumed, not on a shared claim lease). */
  readonly lease?: Lease;
}

/** A write under a claim that no longer holds: the lease expired and/or someone else claimed the job. */
export class ClaimLostError extends Error {
  override name = 'ClaimLostError';
  constructor(claim: Claim, current: { value: string; createRevision: number } | undefined) {
    const holder = current && `now held by ${ownerOf(current.value) ?? '?'} (revision ${current.createRevision})`;
    super(`claim on job ${claim.jobId} (revision ${claim.createRevision}) is lost: ${holder ?? 'no working key'}`);
  }
}

/** A claim with what its own transaction read: the working key and the `alsoRead` keys (undefined = absent). */
export type HeldClaim = { claim: Claim; working: KeyValue; extra: Map<string, KeyValue | undefined> };

export type ClaimAttempt =
  | ({ kind: 'claimed' } & HeldClaim)
  | { kind: 'refused'; reason: 'missing' | 'waiting' | 'finished' }
  | { kind: 'refused'; reason: 'held'; owner?: string }
  | { kind: 'refused'; reason: 'unreadable'; error: string };

export interface ClaimOptions {
  keys?: JobKeys;
  /** A lease the caller holds and ends (claim-lease.ts); by default a lease of the claim's own. */
  lease?: Lease;
  /** Keys to read in the claim's own transaction. */
  alsoRead?: readonly string[];
}

/** The fence: `/jobs/working/<id>` exists with the create revision of this claim. */
export const claimHeld = (claim: Claim): Compare =>
  createRevisionIs(claim.keys.working(claim.jobId), claim.createRevision);

/** Claims a ready job in one transaction (docs/jobs.md, "Claim"). */
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
  const working: WorkingValue = { owner, claimed_at: new Date().toISOString() };
  const res = await store
    .txn()
    .when(present(keys.all(jobId)), ...[keys.waiting(jobId), keys.working(jobId), keys.finished(jobId)].map(absent))
    .then(
      put(keys.working(jobId), JSON.stringify(working), { lease: lease.id }),
      ...[keys.working(jobId), keys.all(jobId), ...alsoRead].map((k) => read(k)),
    )
    .otherwise(read(keys.all(jobId)), read(keys.waiting(jobId)), read(keys.working(jobId)), read(keys.finished(jobId)))
    .commit();

  if (!res.succeeded) {
    if (own) await revokeQuietly(own);
    const [all, waiting, held, finished] = res.reads;
    if (!all) return { kind: 'refused', reason: 'missing' };
    if (finished) return { kind: 'refused', reason: 'finished' };
    if (waiting && !held) return { kind: 'refused', reason: 'waiting' };
    return { kind: 'refused', reason: 'held', ...definedOnly({ owner: held && ownerOf(held.value) }) };
  }

  const [workingKv, allKv, ...extra] = res.reads;
  try {
    const ref = { jobId, owner, leaseId: lease.id };
    return { kind: 'claimed', ...heldClaim(keys, ref, alsoRead, [workingKv!, allKv!, ...extra], own) };
  } catch (err) {
    if (!(err instanceof JobValueError)) throw err;
    // Give the claim back rather than hold a job nobody can run.
    await store
      .txn()
      .when(createRevisionIs(keys.working(jobId), workingKv!.createRevision))
      .then(del(keys.working(jobId)))
      .commit();
    if (own) await revokeQuietly(own);
    return { kind: 'refused', reason: 'unreadable', error: err.message };
  }
}

/** The claim read back: the working key, the job key, then the `alsoRead` keys. Throws JobValueError. */
function heldClaim(
  keys: JobKeys,
  ref: Pick<Claim, 'jobId' | 'owner' | 'leaseId'>,
  alsoRead: readonly string[],
  [working, all, ...extra]: [KeyValue, KeyValue, ...(KeyValue | undefined)[]],
  lease?: Lease,
): HeldClaim {
  const claim: Claim = {
    ...ref,
    ...parseStoredJob(all.key, all.value),
    planRevision: all.createRevision,
    createRevision: working.createRevision,
    keys,
    ...definedOnly({ lease }),
  };
  return { claim, working, extra: new Map(alsoRead.map((k, i) => [k, extra[i]])) };
}

/**
 * A transaction fenced by the claim. commit() throws ClaimLostError when the claim no longer holds;
 * a failed compare of the caller's own resolves with `succeeded: false` and only the caller's reads.
 */
export function jobTxn(store: Store, claim: Claim): TxnBuilder {
  return collectTxn(async (parts) => {
    // The working key is read last on failure, to tell a lost claim from a failed compare of the caller's.
    const res = await withParts(store.txn().when(claimHeld(claim)), parts)
      .otherwise(read(claim.keys.working(claim.jobId)))
      .commit();
    if (res.succeeded) return res;
    const w = res.reads[res.reads.length - 1];
    if (!w || w.createRevision !== claim.createRevision) throw new ClaimLostError(claim, w);
    return { ...res, reads: res.reads.slice(0, -1) };
  });
}

/** Records one more attempt and the error, keeping the claim (docs/jobs.md, "Retry"); returns the new count. */
export async function retryJob(store: Store, claim: Claim, error: string): Promise<number> {
  const allKey = claim.keys.all(claim.jobId);
  const workingKey = claim.keys.working(claim.jobId);
  return converge(`job ${claim.jobId}: /jobs/all (recording an attempt)`, async () => {
    const [all, current] = (await store.txn().then(read(allKey), read(workingKey)).commit()).reads;
    // The fence decides first: a stale invocation gets ClaimLostError, whatever else changed.
    if (!current || current.createRevision !== claim.createRevision) throw new ClaimLostError(claim, current);
    if (!all) throw new JobValueError(`${allKey}: gone while its claim is held`);
    const stored = parseStoredJob(allKey, all.value);
    const attempt = stored.attempt + 1;
    const working = { ...parseWorking(current.value), owner: claim.owner, attempt, last_error: error };
    const res = await jobTxn(store, claim)
      .when(modRevisionIs(allKey, all.modRevision))
      .then(
        put(allKey, encodeStoredJob({ ...stored, attempt })),
        put(workingKey, JSON.stringify(working), { lease: claim.leaseId }),
      )
      .commit();
    return res.succeeded ? attempt : CONFLICT;
  });
}

/** Gives the claim back unfinished (fenced delete of the working key), revoking a lease of its own. */
export async function releaseClaim(store: Store, claim: Claim): Promise<void> {
  await jobTxn(store, claim)
    .then(del(claim.keys.working(claim.jobId)))
    .commit();
  if (claim.lease) await revokeQuietly(claim.lease);
}

/** The claim a poll message names, if its working key still has that create revision; no lease handle. */
export async function resumeClaim(
  store: Store,
  ref: Pick<Claim, 'jobId' | 'owner' | 'createRevision'>,
  opts: Omit<ClaimOptions, 'lease'> = {},
): Promise<HeldClaim | undefined> {
  const keys = opts.keys ?? defaultJobKeys;
  const alsoRead = opts.alsoRead ?? [];
  const res = await store
    .txn()
    .then(...[keys.working(ref.jobId), keys.all(ref.jobId), ...alsoRead].map((k) => read(k)))
    .commit();
  const [w, all, ...extra] = res.reads;
  if (!w || !all || w.createRevision !== ref.createRevision || !w.lease) return undefined;
  return heldClaim(keys, { jobId: ref.jobId, owner: ref.owner, leaseId: w.lease }, alsoRead, [w, all, ...extra]);
}

const parseWorking = (value: string): Partial<WorkingValue> => parseJsonObject(value);
const ownerOf = (value: string): string | undefined => parseWorking(value).owner;

/** An expired or already revoked lease is what we wanted; a transport error leaves it to expire. */
export const revokeQuietly = (lease: Lease): Promise<void> => lease.revoke().catch(() => undefined);
