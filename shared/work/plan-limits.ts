/**
 * Planning errors classified at the write boundary: a plan etcd can never accept is terminal (a
 * readable PLAN_FAILED on the first delivery), not an error thrown to SQS for redelivery that
 * could only fail again until the message is dead-lettered.
 *
 * etcd refuses a request larger than its `--max-request-bytes` (1.5 MiB by default): a planner
 * transaction carries the mirror (the config body) and every job (whose resource_input holds the
 * body again), so a config value of a few hundred KiB can already make it too large.
 */
import { numberSetting } from '../config';
import { isRequestTooLarge } from '../store/etcd-store';
import type { Compare, Op } from '../store/store';

/** The planner's transaction would exceed etcd's request size limit: it fails the same way on every delivery. */
export class PlanTooLargeError extends Error {
  override name = 'PlanTooLargeError';
  constructor(
    readonly bytes: number,
    readonly limit: number,
    cause?: unknown,
  ) {
    super(
      `the plan is too large for etcd: its transaction is ${bytes} bytes, etcd accepts at most ${limit} (--max-request-bytes; ESI_ETCD_MAX_REQUEST_BYTES)`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** etcd's default --max-request-bytes. */
const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/** Room for the gRPC and protobuf framing around keys and values. */
const FRAMING_BYTES_PER_ITEM = 16;

export function maxRequestBytes(): number {
  return numberSetting('ESI_ETCD_MAX_REQUEST_BYTES', DEFAULT_MAX_REQUEST_BYTES, (n) => Number.isInteger(n) && n > 0);
}

/** About how many bytes a transaction takes on the wire (keys, values, a little framing each). */
export function txnBytes(compares: readonly Compare[], ops: readonly Op[]): number {
  let n = 0;
  for (const c of compares) n += Buffer.byteLength(c.key) + FRAMING_BYTES_PER_ITEM;
  for (const o of ops) {
    n += FRAMING_BYTES_PER_ITEM;
    if (o.kind === 'deletePrefix' || o.kind === 'range') n += Buffer.byteLength(o.prefix);
    else n += Buffer.byteLength(o.key) + (o.kind === 'put' ? Buffer.byteLength(o.value) : 0);
  }
  return n;
}

/** Throws PlanTooLargeError when etcd would refuse this transaction for its size. */
export function assertFitsEtcd(compares: readonly Compare[], ops: readonly Op[], limit = maxRequestBytes()): void {
  const bytes = txnBytes(compares, ops);
  if (bytes > limit) throw new PlanTooLargeError(bytes, limit);
}

/** etcd's own refusal (a limit set lower than ours): the same terminal error, with etcd's as cause. */
export function asTerminal(
  err: unknown,
  compares: readonly Compare[],
  ops: readonly Op[],
): PlanTooLargeError | undefined {
  if (err instanceof PlanTooLargeError) return err;
  if (isRequestTooLarge(err)) return new PlanTooLargeError(txnBytes(compares, ops), maxRequestBytes(), err);
  return undefined;
}
