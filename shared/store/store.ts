/**
 * The store every function and the relay use (adapter: ./etcd-store). Transactions read like sentences:
 *   store.txn().when(modRevisionIs(key, 41), absent(claimKey)).then(put(claimKey, owner)).commit()
 */

export interface KeyValue {
  key: string;
  value: string;
  modRevision: number;
  createRevision: number;
  version: number;
  lease?: string;
}

export interface RangeResult {
  items: KeyValue[];
  revision: number;
  /** More keys matched than `limit` returned: read on from after the last key. */
  more?: boolean;
}

export interface RangeOptions {
  limit?: number;
  /** Start at this key (inclusive) instead of at the prefix: the next page of a paged read. */
  from?: string;
  /** Every `value` is '' (presence checks, listings). */
  keysOnly?: boolean;
  /** Read at this store revision (a snapshot across pages). */
  revision?: number;
}

export type Compare =
  | { kind: 'modRevision'; key: string; op: '==' | '<' | '>' | '!='; revision: number }
  /** With `prefix`, every key under `key` (etcd's range compare; none at all compares as absent). */
  | { kind: 'createRevision'; key: string; op: '==' | '<' | '>' | '!='; revision: number; prefix?: true }
  | { kind: 'value'; key: string; op: '==' | '!='; value: string };

export type Op =
  | { kind: 'put'; key: string; value: string; lease?: string }
  | { kind: 'delete'; key: string }
  | { kind: 'deletePrefix'; prefix: string }
  | { kind: 'get'; key: string; keysOnly?: boolean }
  /** The first page (at most `limit` keys) under a prefix. */
  | { kind: 'range'; prefix: string; limit?: number; keysOnly?: boolean };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (unchanged when nothing was written). */
  revision: number;
  /** What each `get` op, then each `range` op, of the branch taken read, in op order. */
  reads: (KeyValue | undefined)[];
  ranges: RangeResult[];
}

export interface TxnBuilder {
  when(...compares: Compare[]): TxnBuilder;
  then(...ops: Op[]): TxnBuilder;
  otherwise(...ops: Op[]): TxnBuilder;
  commit(): Promise<TxnResult>;
}

export type TxnParts = { when: Compare[]; then: Op[]; otherwise: Op[] };

/** A TxnBuilder that collects its parts and hands them to `commit`. */
export function collectTxn(commit: (parts: TxnParts) => Promise<TxnResult>): TxnBuilder {
  const parts: TxnParts = { when: [], then: [], otherwise: [] };
  const builder: TxnBuilder = {
    when: (...c) => (parts.when.push(...c), builder),
    then: (...o) => (parts.then.push(...o), builder),
    otherwise: (...o) => (parts.otherwise.push(...o), builder),
    commit: () => commit(parts),
  };
  return builder;
}

/** `builder` with the parts collected by another (a wrapper's commit). */
export const withParts = (builder: TxnBuilder, parts: TxnParts): TxnBuilder =>
  builder
    .when(...parts.when)
    .then(...parts.then)
    .otherwise(...parts.otherwise);

export type WatchEvent = { type: 'put' | 'delete'; key: string; value: string; modRevision: number };

export interface WatchHandlers {
  /** All events of one watch response, in revision order. A response never splits a revision. */
  onEvents(events: WatchEvent[]): void;
  /** The watch ended without being asked to; `compacted` when the start revision is gone. */
  onError(error: Error, info: { compacted: boolean }): void;
  /** Every event under the prefix up to `revision` was delivered (etcd's progress notification). */
  onProgress?(revision: number): void;
}

export type WatchHandle = { cancel(): Promise<void> };

export interface Lease {
  id: string;
  /** Resolves when the lease is revoked; the caller stops writing under it. */
  revoke(): Promise<void>;
  /** Stops keeping a kept-alive lease alive: it then ends its TTL after the last renewal. */
  release(): void;
}

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
export const OPS_PER_TXN = 128;

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  revision(): Promise<number>;
  txn(): TxnBuilder;
  /** Watches every key under prefix starting at fromRevision (inclusive). */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle>;
  /** A lease that lives ttlSeconds unless kept alive; used for claims. */
  grantLease(ttlSeconds: number, opts?: { keepAlive?: boolean }): Promise<Lease>;
  close(): void;
}

/** Still the same incarnation of the key (a claim); 0 = absent. */
export const createRevisionIs = (key: string, revision: number) =>
  ({ kind: 'createRevision', key, op: '==', revision }) satisfies Compare;
export const absent = (key: string): Compare => createRevisionIs(key, 0);
export const noneUnder = (prefix: string): Compare => ({ ...createRevisionIs(prefix, 0), prefix: true });
export const present = (key: string): Compare => ({ kind: 'createRevision', key, op: '>', revision: 0 });
/** The usual optimistic fence (0 = absent). */
export const modRevisionIs = (key: string, revision: number): Compare => ({
  kind: 'modRevision',
  key,
  op: '==',
  revision,
});
/** Unchanged since `kv` was read, or still absent when `kv` is undefined. */
export const unchangedSince = (key: string, kv: KeyValue | undefined): Compare =>
  kv ? modRevisionIs(key, kv.modRevision) : absent(key);

export const put = (key: string, value: string, opts: { lease?: string } = {}): Op => ({
  kind: 'put',
  key,
  value,
  ...opts,
});
export const del = (key: string): Op => ({ kind: 'delete', key });
export const delPrefix = (prefix: string): Op => ({ kind: 'deletePrefix', prefix });
export const read = (key: string): Op => ({ kind: 'get', key });
export const readKey = (key: string): Op => ({ kind: 'get', key, keysOnly: true });
/** The first page under a prefix: continue it with `continuePages` (read.ts) when `more`. */
export const readPrefix = (prefix: string, opts: { limit?: number; keysOnly?: boolean } = {}): Op => ({
  kind: 'range',
  prefix,
  ...opts,
});

/** The requested start revision of a watch was compacted away. */
export class CompactedError extends Error {
  override name = 'CompactedError';
}
