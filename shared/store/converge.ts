/**
 * The one shape every etcd write of this system has: read what the decision needs, decide (pure),
 * write in one transaction fenced on what was read, and when the fence fails (someone else wrote
 * meanwhile) read and decide again. Level-triggered: each round converges on what etcd holds now,
 * so a duplicate or late invocation decides "nothing to do" instead of writing twice.
 */
import type { Compare, Op, Store, TxnBuilder } from './store';

/** Returned by an attempt whose fenced write lost to a concurrent writer. */
export const CONFLICT: unique symbol = Symbol('conflict');
export type Conflict = typeof CONFLICT;

/** Conflicts on every round: the keys kept changing. Retryable (a later delivery re-reads). */
export class ConflictError extends Error {
  override name = 'ConflictError';
}

/** How many rounds before giving up with ConflictError. */
export const CONVERGE_ROUNDS = 5;

/**
 * Runs `attempt` (read → decide → fenced write) until it does not report a conflict, at most
 * `rounds` times. `what` names the keys in the error ("config key /config/…").
 */
export async function converge<R>(
  what: string,
  attempt: (round: number) => Promise<R | Conflict>,
  opts: { rounds?: number; onConflict?: (round: number) => void } = {},
): Promise<R> {
  const rounds = opts.rounds ?? CONVERGE_ROUNDS;
  for (let round = 1; round <= rounds; round++) {
    const out = await attempt(round);
    if (out !== CONFLICT) return out;
    opts.onConflict?.(round);
  }
  throw new ConflictError(`${what} kept changing under ${rounds} attempts`);
}

/** A decided write: the compares that fence it and its ops (none: nothing to write). */
export interface Decision<R> {
  result: R;
  when?: Compare[];
  then?: Op[];
}

/**
 * Commits a decision: nothing when it has no ops, else one transaction (from `txn`, e.g. a job's
 * claim-fenced one; a plain one by default) with its compares; CONFLICT when they failed.
 */
export async function commitDecision<R>(
  store: Store,
  d: Decision<R>,
  txn: () => TxnBuilder = () => store.txn(),
): Promise<R | Conflict> {
  if (!d.then?.length) return d.result;
  const res = await txn()
    .when(...(d.when ?? []))
    .then(...d.then)
    .commit();
  return res.succeeded ? d.result : CONFLICT;
}
