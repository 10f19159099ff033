/**
 * Every etcd write: read, decide, write fenced on what was read, and on a conflict read and decide again.
 * A duplicate or late invocation decides "nothing to do" instead of writing twice.
 */
import type { Compare, Op, Store, TxnBuilder } from './store';

/** Returned by an attempt whose fenced write lost to a concurrent writer. */
export const CONFLICT: unique symbol = Symbol('conflict');
export type Conflict = typeof CONFLICT;

/** Conflicts on every round: the keys kept changing. Retryable (a later delivery re-reads). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** Runs `attempt` until it does not report a conflict, at most 5 rounds; `what` names the keys in the error. */
export async function converge<R>(
  what: string,
  attempt: (round: number) => Promise<R | Conflict>,
  opts: { onConflict?: (round: number) => void } = {},
): Promise<R> {
  const rounds = 5;
  for (let round = 1; round <= rounds; round++) {
    const out = await attempt(round);
    if (out !== CONFLICT) return out;
    opts.onConflict?.(round);
  }
  throw new ConflictError(`${what} kept changing under ${rounds} attempts`);
}

/** Commits a decision's ops (none: nothing) under its compares, in `txn` (e.g. jobTxn); CONFLICT when they failed. */
export async function commitDecision<R>(
  store: Store,
  d: { result: R; when?: Compare[]; then?: Op[] },
  txn: () => TxnBuilder = () => store.txn(),
): Promise<R | Conflict> {
  if (!d.then?.length) return d.result;
  const res = await txn()
    .when(...(d.when ?? []))
    .then(...d.then)
    .commit();
  return res.succeeded ? d.result : CONFLICT;
}
