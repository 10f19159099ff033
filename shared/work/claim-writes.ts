/** The job runner's writes under a claim, both fenced: a success's job-state merge and ops, and a poll's renewal. */
import { commitDecision, converge } from '../store/converge';
import { parseJsonObject } from '../encoding/json-object';
import { encodeEsiValue } from '../heat/records';
import { jobTxn, revokeQuietly, type HeldClaim } from '../jobs';
import { keys as etcdKeys, type ResourcePath } from '../keys';
import { modRevisionIs, put, unchangedSince, type Op, type Store } from '../store/store';
import type { WorkResult } from './job-work';

/** The job-state merge and the work's ops, in one transaction fenced by the claim. */
export async function commitSuccess(
  store: Store,
  held: HeldClaim,
  path: ResourcePath,
  result: Extract<WorkResult, { kind: 'succeeded' }>,
): Promise<void> {
  const { claim } = held;
  const key = etcdKeys.jobState(path);
  await converge(`${key} (job ${claim.jobId} writing its result)`, async (round) => {
    // The first round uses the job state read with the claim; a retry (the fence failed) reads it again.
    const prevKv = round === 1 && held.extra.has(key) ? held.extra.get(key) : await store.get(key);
    const next = result.jobState?.(prevKv ? parseJsonObject(prevKv.value) : undefined);
    const text = next === undefined ? undefined : encodeEsiValue(next);
    const ops = [...(result.ops ?? []), ...(text !== undefined && text !== prevKv?.value ? [put(key, text)] : [])];
    return commitDecision(store, { result: undefined, when: [unchangedSince(key, prevKv)], then: ops }, () =>
      jobTxn(store, claim),
    );
  });
}

/**
 * Puts the working key with `value` on a new lease of `ttl` seconds, with `ops`, when the claim holds and the key is
 * unchanged since read. False when a duplicate poll message renewed it first: one poll chain per claim goes on.
 */
export async function renewClaim(
  store: Store,
  { claim, working }: HeldClaim,
  value: Record<string, unknown>,
  ops: Op[],
  ttl: number,
): Promise<boolean> {
  const lease = await store.grantLease(ttl);
  let ok = false;
  try {
    const res = await jobTxn(store, claim)
      .when(modRevisionIs(working.key, working.modRevision))
      .then(put(working.key, JSON.stringify(value), { lease: lease.id }), ...ops)
      .commit();
    ok = res.succeeded;
  } finally {
    if (!ok) await revokeQuietly(lease);
  }
  return ok;
}
