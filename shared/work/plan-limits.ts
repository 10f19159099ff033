/**
 * A plan etcd can never accept is terminal at the write boundary (docs/planner.md, step 4): the mirror and
 * every job's resource_input each carry the config body, so a body of a few hundred KiB can be too large.
 */
import { numberSetting } from '../config';
import { isRequestTooLarge } from '../store/etcd-store';
import type { Compare, Op, Store } from '../store/store';

class PlanTooLargeError extends Error {
  override name = 'PlanTooLargeError';
  constructor(bytes: number, limit: number, cause?: unknown) {
    super(
      `the plan is too large for etcd: its transaction is ${bytes} bytes, etcd accepts at most ${limit} (--max-request-bytes; ESI_ETCD_MAX_REQUEST_BYTES)`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** Room for the gRPC and protobuf framing around keys and values. */
const FRAMING_BYTES_PER_ITEM = 16;

const maxRequestBytes = (): number =>
  numberSetting('ESI_ETCD_MAX_REQUEST_BYTES', 1.5 * 1024 * 1024, (n) => Number.isInteger(n) && n > 0);

/** About how many bytes a transaction takes on the wire. */
function txnBytes(compares: readonly Compare[], ops: readonly Op[]): number {
  let n = 0;
  for (const c of compares) n += Buffer.byteLength(c.key) + FRAMING_BYTES_PER_ITEM;
  for (const o of ops) {
    n += FRAMING_BYTES_PER_ITEM;
    if (o.kind === 'deletePrefix' || o.kind === 'range') n += Buffer.byteLength(o.prefix);
    else n += Buffer.byteLength(o.key) + (o.kind === 'put' ? Buffer.byteLength(o.value) : 0);
  }
  return n;
}

/** Whether the plan's transaction succeeded, or a PlanTooLargeError (etcd's refusal as cause); else throws. */
export async function commitPlan(store: Store, compares: Compare[], ops: Op[]): Promise<boolean | Error> {
  const bytes = txnBytes(compares, ops);
  if (bytes > maxRequestBytes()) return new PlanTooLargeError(bytes, maxRequestBytes());
  try {
    const res = await store
      .txn()
      .when(...compares)
      .then(...ops)
      .commit();
    return res.succeeded;
  } catch (err) {
    if (isRequestTooLarge(err)) return new PlanTooLargeError(bytes, maxRequestBytes(), err);
    throw err;
  }
}
