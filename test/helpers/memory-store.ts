/**
 * The Store interface in memory, with etcd's semantics: one revision per transaction that writes,
 * compares on value, version-free mod and create revisions (a missing key has revision 0 and fails
 * every value compare), transactions that read their own earlier writes and refuse a key written
 * twice, leases that delete their keys when revoked or expired, reads at an older revision,
 * compaction, and watches that replay from a revision and never split one. For tests of the job,
 * work and reconciler logic without an etcd server; test/integration/store-contract.test.ts runs
 * the same cases against this store and a real etcd.
 */
import { collectTxn, CompactedError, OPS_PER_TXN } from '../../shared/store/store';
import type {
  Compare,
  KeyValue,
  Lease,
  Op,
  RangeOptions,
  RangeResult,
  Store,
  TxnBuilder,
  TxnParts,
  TxnResult,
  WatchEvent,
  WatchHandle,
  WatchHandlers,
} from '../../shared/store/store';

/** One change of a key: its value from `revision` on, or its deletion (`kv` undefined). */
interface Version {
  revision: number;
  kv?: KeyValue;
}

interface MemoryLease {
  keys: Set<string>;
  timer?: NodeJS.Timeout;
}

interface Watcher {
  prefix: string;
  handlers: WatchHandlers;
  pending: WatchEvent[];
  scheduled: boolean;
}

/** Orders keys as etcd does: by their UTF-8 bytes. */
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class MemoryStore implements Store {
  private current = 1;
  private compactedAt = 0;
  private closed = false;
  private leaseSeq = 0;
  private readonly versions = new Map<string, Version[]>();
  private readonly log: WatchEvent[] = [];
  private readonly leases = new Map<string, MemoryLease>();
  private readonly watchers = new Set<Watcher>();

  get(key: string): Promise<KeyValue | undefined> {
    return this.answer(() => copy(this.at(key, this.current)));
  }

  range(prefix: string, opts: RangeOptions = {}): Promise<RangeResult> {
    return this.answer(() => {
      const at = opts.revision ?? this.current;
      if (at > this.current) throw new Error('etcdserver: mvcc: required revision is a future revision');
      if (at < this.compactedAt) throw new Error('etcdserver: mvcc: required revision has been compacted');
      return this.page(prefix, { ...opts, revision: at });
    });
  }

  revision(): Promise<number> {
    return this.answer(() => this.current);
  }

  txn(): TxnBuilder {
    return collectTxn((parts) => this.answer(() => this.apply(parts)));
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<WatchHandle> {
    return this.answer(() => {
      if (fromRevision < this.compactedAt)
        throw new CompactedError(
          `watch of ${prefix} from revision ${fromRevision}: required revision has been compacted`,
        );
      const w: Watcher = { prefix, handlers, pending: [], scheduled: false };
      this.watchers.add(w);
      this.deliver(
        w,
        this.log.filter((e) => e.modRevision >= fromRevision && e.key.startsWith(prefix)),
      );
      return { cancel: () => this.answer(() => void this.watchers.delete(w)) };
    });
  }

  grantLease(ttlSeconds: number, opts: { keepAlive?: boolean } = {}): Promise<Lease> {
    return this.answer(() => {
      const id = String(7_000_000_000 + ++this.leaseSeq);
      const lease: MemoryLease = { keys: new Set() };
      if (!opts.keepAlive) lease.timer = setTimeout(() => this.endLease(id), ttlSeconds * 1000).unref();
      this.leases.set(id, lease);
      const revoke = () =>
        this.answer(() => {
          if (!this.leases.has(id)) throw new Error('etcdserver: requested lease not found');
          this.endLease(id);
        });
      // A kept-alive lease let go ends its TTL later (etcd: after its last keepalive).
      const release = () => {
        if (opts.keepAlive && this.leases.get(id) === lease && !lease.timer)
          lease.timer = setTimeout(() => this.endLease(id), ttlSeconds * 1000).unref();
      };
      return { id, revoke, release };
    });
  }

  /** Forgets every revision before `revision` (etcd's compaction): older reads and watches fail. */
  compact(revision: number): void {
    if (revision > this.current) throw new Error('etcdserver: mvcc: required revision is a future revision');
    this.compactedAt = Math.max(this.compactedAt, revision);
    for (const [key, list] of this.versions) {
      // The last change at or before the compaction is what a read there sees: kept, older ones dropped.
      const keep = list.slice(
        Math.max(
          0,
          list.findLastIndex((v) => v.revision <= revision),
        ),
      );
      const oldest = keep[0];
      if (oldest && !oldest.kv && oldest.revision <= revision) keep.shift();
      if (keep.length) this.versions.set(key, keep);
      else this.versions.delete(key);
    }
    const first = this.log.findIndex((e) => e.modRevision >= revision);
    this.log.splice(0, first < 0 ? this.log.length : first);
  }

  close(): void {
    this.closed = true;
    for (const lease of this.leases.values()) clearTimeout(lease.timer);
    this.watchers.clear();
  }

  /** Answers as a request does: asynchronously, an error as a rejection; nothing once closed. */
  private answer<T>(fn: () => T): Promise<T> {
    return new Promise((resolve) => {
      if (this.closed) throw new Error('the store is closed');
      resolve(fn());
    });
  }

  /** The key's value at a revision (undefined when absent then). */
  private at(key: string, revision: number): KeyValue | undefined {
    return this.versions.get(key)?.findLast((v) => v.revision <= revision)?.kv;
  }

  private page(prefix: string, opts: RangeOptions & { revision: number }): RangeResult {
    const from = opts.from ?? prefix;
    const keys = [...this.versions.keys()]
      .filter((k) => k.startsWith(prefix) && byBytes(k, from) >= 0)
      .sort(byBytes)
      .filter((k) => this.at(k, opts.revision));
    const limit = opts.limit && opts.limit > 0 ? opts.limit : keys.length;
    const items = keys.slice(0, limit).map((k) => copy(this.at(k, opts.revision)!, opts.keysOnly));
    return { items, revision: this.current, more: keys.length > limit };
  }

  private apply(parts: TxnParts): TxnResult {
    checkRequest(parts);
    const succeeded = parts.when.every((c) => this.holds(c));
    const ops = succeeded ? parts.then : parts.otherwise;
    for (const op of ops)
      if (op.kind === 'put' && op.lease && !this.leases.has(op.lease))
        throw new Error('etcdserver: requested lease not found');
    // Writes are made at the next revision; reads at it see the transaction's own earlier writes.
    const next = this.current + 1;
    const events: WatchEvent[] = [];
    const reads: (KeyValue | undefined)[] = [];
    const ranges: RangeResult[] = [];
    for (const op of ops) {
      if (op.kind === 'put') events.push(this.write(op.key, next, op.value, op.lease));
      else if (op.kind === 'delete') events.push(...this.remove([op.key], next));
      else if (op.kind === 'deletePrefix') events.push(...this.remove(this.liveKeys(op.prefix, next), next));
      else if (op.kind === 'get') reads.push(copy(this.at(op.key, next), op.keysOnly));
      else ranges.push(this.page(op.prefix, { ...op, revision: next }));
    }
    if (events.length) this.commit(events);
    for (const r of ranges) r.revision = this.current;
    return { succeeded, revision: this.current, reads, ranges };
  }

  /** A compare; over a prefix, every key under it must hold (none at all compares as absent, as in etcd). */
  private holds(c: Compare): boolean {
    const keys = c.kind === 'createRevision' && c.prefix ? this.liveKeys(c.key, this.current) : [c.key];
    const kvs = keys.map((k) => this.at(k, this.current));
    return (kvs.length ? kvs : [undefined]).every((kv) => holdsOn(c, kv));
  }

  private liveKeys(prefix: string, revision: number): string[] {
    return [...this.versions.keys()].filter((k) => k.startsWith(prefix) && this.at(k, revision));
  }

  private write(key: string, revision: number, value: string, lease: string | undefined): WatchEvent {
    const prev = this.at(key, revision);
    if (prev?.lease) this.leases.get(prev.lease)?.keys.delete(key);
    if (lease) this.leases.get(lease)!.keys.add(key);
    const kv: KeyValue = {
      key,
      value,
      modRevision: revision,
      createRevision: prev?.createRevision ?? revision,
      version: (prev?.version ?? 0) + 1,
      ...(lease ? { lease } : {}),
    };
    this.push(key, { revision, kv });
    return { type: 'put', key, value, modRevision: revision };
  }

  private remove(keys: string[], revision: number): WatchEvent[] {
    const events: WatchEvent[] = [];
    for (const key of keys) {
      const prev = this.at(key, revision);
      if (!prev) continue;
      if (prev.lease) this.leases.get(prev.lease)?.keys.delete(key);
      this.push(key, { revision });
      events.push({ type: 'delete', key, value: '', modRevision: revision });
    }
    return events;
  }

  private push(key: string, version: Version): void {
    const list = this.versions.get(key) ?? [];
    if (list.at(-1)?.revision === version.revision) list.pop();
    list.push(version);
    this.versions.set(key, list);
  }

  private commit(events: WatchEvent[]): void {
    this.current += 1;
    this.log.push(...events);
    for (const w of this.watchers)
      this.deliver(
        w,
        events.filter((e) => e.key.startsWith(w.prefix)),
      );
  }

  /** Hands events to a watcher after the current call returns, all pending ones in one batch. */
  private deliver(w: Watcher, events: WatchEvent[]): void {
    if (!events.length) return;
    w.pending.push(...events.map((e) => ({ ...e })));
    if (w.scheduled) return;
    w.scheduled = true;
    setImmediate(() => {
      w.scheduled = false;
      const batch = w.pending.splice(0);
      if (this.watchers.has(w)) w.handlers.onEvents(batch);
    });
  }

  /** A lease revoked or expired: its keys deleted in one revision. */
  private endLease(id: string): void {
    const lease = this.leases.get(id);
    if (!lease) return;
    clearTimeout(lease.timer);
    this.leases.delete(id);
    const events = this.remove([...lease.keys].sort(byBytes), this.current + 1);
    if (events.length) this.commit(events);
  }
}

/** etcd's checks of a request: at most OPS_PER_TXN ops per branch, no key written twice in one branch. */
function checkRequest(parts: TxnParts): void {
  if ([parts.when, parts.then, parts.otherwise].some((list) => list.length > OPS_PER_TXN))
    throw new Error('etcdserver: too many operations in txn request');
  for (const ops of [parts.then, parts.otherwise]) {
    const puts = ops.filter((o): o is Extract<Op, { kind: 'put' }> => o.kind === 'put').map((o) => o.key);
    const deleted = (key: string) =>
      ops.some(
        (o) => (o.kind === 'delete' && o.key === key) || (o.kind === 'deletePrefix' && key.startsWith(o.prefix)),
      );
    if (new Set(puts).size < puts.length || puts.some(deleted))
      throw new Error('etcdserver: duplicate key given in txn request');
  }
}

function copy(kv: KeyValue, keysOnly?: boolean): KeyValue;
function copy(kv: KeyValue | undefined, keysOnly?: boolean): KeyValue | undefined;
function copy(kv: KeyValue | undefined, keysOnly = false): KeyValue | undefined {
  return kv && { ...kv, value: keysOnly ? '' : kv.value };
}

function holdsOn(c: Compare, kv: KeyValue | undefined): boolean {
  if (c.kind === 'value') return kv !== undefined && (c.op === '==') === (kv.value === c.value);
  const actual = (c.kind === 'modRevision' ? kv?.modRevision : kv?.createRevision) ?? 0;
  return {
    '==': actual === c.revision,
    '!=': actual !== c.revision,
    '<': actual < c.revision,
    '>': actual > c.revision,
  }[c.op];
}
