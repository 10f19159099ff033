/**
 * The small store interface every function and the relay use: get, range, txn, watch, leases.
 * The etcd3 adapter lives in ./etcd-store; tests of pure code never need it.
 *
 * Transactions are built from compares and ops so that they read like sentences:
 *   store.txn().when(modRevisionIs(key, 41), absent(claimKey)).then(put(claimKey, owner)).commit()
 */

export interface KeyValue {
  key: string;
  value: string;
  /** Revision of the last change to this key (etcd mod_revision). */
  modRevision: number;
  createRevision: number;
  /** Number of changes since creation (etcd version). */
  version: number;
  lease?: string;
}

export interface RangeResult {
  items: KeyValue[];
  /** The store revision the range was read at. */
  revision: number;
  /** More keys matched than `limit` returned (read the next page from after the last key). */
  more?: boolean;
}

export interface RangeOptions {
  /** At most this many keys (etcd's limit); `more` tells whether there were more. */
  limit?: number;
  /** Start at this key (inclusive) instead of at the prefix: the next page of a paged read. */
  from?: string;
  /** Keys and revisions only: every `value` is ''. For presence checks and listings. */
  keysOnly?: boolean;
  /** Read at this store revision (a consistent snapshot across pages); default the current one. */
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
  /** Reads the first page (at most `limit` keys) under a prefix, in the transaction. */
  | { kind: 'range'; prefix: string; limit?: number; keysOnly?: boolean };

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the transaction (unchanged when nothing was written). */
  revision: number;
  /** For each `get` op of the branch taken, what it read (in op order). */
  reads: (KeyValue | undefined)[];
  /** For each `range` op of the branch taken, what it read (in op order; `more` = continue it with `range`). */
  ranges: RangeResult[];
}

export interface TxnBuilder {
  when(...compares: Compare[]): TxnBuilder;
  then(...ops: Op[]): TxnBuilder;
  otherwise(...ops: Op[]): TxnBuilder;
  commit(): Promise<TxnResult>;
}

/** What a transaction builder collected: compares, the success ops, the failure ops. */
export interface TxnParts {
  when: Compare[];
  then: Op[];
  otherwise: Op[];
}

/** A TxnBuilder that collects its parts and hands them to `commit` (stores and fenced wrappers build on it). */
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

export type WatchEventType = 'put' | 'delete';

export interface WatchEvent {
  type: WatchEventType;
  key: string;
  value: string;
  modRevision: number;
}

export interface WatchHandlers {
  /** All events of one watch response, in revision order. A response never splits a revision. */
  onEvents(events: WatchEvent[]): void;
  /** The watch ended without being asked to; `compacted` when the start revision is gone. */
  onError(error: Error, info: { compacted: boolean }): void;
  /**
   * Every event up to `revision` under the prefix was delivered (etcd's progress notification,
   * sent to a caught-up watch every `--experimental-watch-progress-notify-interval`).
   */
  onProgress?(revision: number): void;
}

export interface WatchHandle {
  cancel(): Promise<void>;
}

export interface Lease {
  id: string;
  /** Resolves when the lease is revoked; the caller stops writing under it. */
  revoke(): Promise<void>;
  /** Stops keeping a kept-alive lease alive: it then ends its TTL after the last renewal. */
  release(): void;
}

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
export const OPS_PER_TXN = 128;

/** Options of a range op in a transaction: those of `range` that apply there. */
export type RangeManyOptions = Pick<RangeOptions, 'limit' | 'keysOnly'>;

export interface Store {
  get(key: string): Promise<KeyValue | undefined>;
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  /** Current store revision. */
  revision(): Promise<number>;
  txn(): TxnBuilder;
  /** Watches every key under prefix starting at fromRevision (inclusive). */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle>;
  /** A lease that lives ttlSeconds unless kept alive; used for claims. */
  grantLease(ttlSeconds: number, opts?: { keepAlive?: boolean }): Promise<Lease>;
  close(): void;
}

// ---- Compares -------------------------------------------------------------------------------

/** The key does not exist. */
export const absent = (key: string): Compare => ({ kind: 'createRevision', key, op: '==', revision: 0 });
/** No key exists under the prefix. */
export const noneUnder = (prefix: string): Compare => ({
  kind: 'createRevision',
  key: prefix,
  op: '==',
  revision: 0,
  prefix: true,
});
/** The key exists. */
export const present = (key: string): Compare => ({ kind: 'createRevision', key, op: '>', revision: 0 });
/** The key exists and was created at exactly this revision: it is still the same incarnation (a claim). */
export const createRevisionIs = (key: string, revision: number): Compare => ({
  kind: 'createRevision',
  key,
  op: '==',
  revision,
});
/** The key was last changed at exactly this revision (0 = absent): the usual optimistic fence. */
export const modRevisionIs = (key: string, revision: number): Compare => ({
  kind: 'modRevision',
  key,
  op: '==',
  revision,
});
/** Fences on what was read: unchanged since `kv` was read, or still absent when `kv` is undefined. */
export const unchangedSince = (key: string, kv: KeyValue | undefined): Compare =>
  kv ? modRevisionIs(key, kv.modRevision) : absent(key);

// ---- Ops ------------------------------------------------------------------------------------

export const put = (key: string, value: string, opts: { lease?: string } = {}): Op => ({
  kind: 'put',
  key,
  value,
  ...opts,
});
export const del = (key: string): Op => ({ kind: 'delete', key });
export const delPrefix = (prefix: string): Op => ({ kind: 'deletePrefix', prefix });
export const read = (key: string): Op => ({ kind: 'get', key });
/** Reads whether the key exists and its revisions, without its value (the read's `value` is ''). */
export const readKey = (key: string): Op => ({ kind: 'get', key, keysOnly: true });
/** Reads the first page under a prefix (`limit` keys at most): continue it with `continuePages` (read.ts) when `more`. */
export const readPrefix = (prefix: string, opts: RangeManyOptions = {}): Op => ({ kind: 'range', prefix, ...opts });

/** The requested start revision of a watch was compacted away. */
export class CompactedError extends Error {
  override name = 'CompactedError';
}
