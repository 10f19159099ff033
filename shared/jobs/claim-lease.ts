/**
 * One claim lease for the claims a process works on at once (docs/jobs.md, "Lease TTL"): granted
 * by the first, renewed while any of them runs, let go (left to expire, no revoke) when the last
 * one ends. A holder that dies lets its claims go one TTL after its last renewal, as with a lease
 * per claim, for one grant instead of a grant, a renewal and a revoke per job.
 */
import type { Lease, Store } from '../store/store';

interface Shared {
  lease: Promise<Lease>;
  holders: number;
  since: number;
}

export class ClaimLeases {
  private readonly current = new WeakMap<Store, Shared>();

  constructor(private readonly ttlSeconds: number) {}

  /**
   * Runs `fn` with the store's shared claim lease. A lease takes new claims for one TTL after its
   * grant, so a working key a claim left behind is let go at most a TTL plus its holders' work
   * later. An error thrown by `fn` drops the lease for the claims that follow (it may be a lease
   * etcd has lost, or one a failed release left a key on), without ending it for its holders.
   */
  async hold<T>(store: Store, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const held = this.takeable(store) ?? this.grant(store);
    held.holders += 1;
    try {
      return await fn(await held.lease);
    } catch (e) {
      if (this.current.get(store) === held) this.current.delete(store);
      throw e;
    } finally {
      held.holders -= 1;
      if (held.holders === 0) {
        if (this.current.get(store) === held) this.current.delete(store);
        held.lease.then(
          (l) => l.release(),
          () => undefined, // a failed grant was thrown to every claim that waited for it
        );
      }
    }
  }

  private takeable(store: Store): Shared | undefined {
    const cur = this.current.get(store);
    return cur && Date.now() - cur.since < this.ttlSeconds * 1000 ? cur : undefined;
  }

  private grant(store: Store): Shared {
    const shared = { lease: store.grantLease(this.ttlSeconds, { keepAlive: true }), holders: 0, since: Date.now() };
    this.current.set(store, shared);
    return shared;
  }
}
