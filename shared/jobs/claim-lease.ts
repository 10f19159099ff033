/** One kept-alive lease for a process's concurrent claims: the first grants it, the last lets it go (docs/jobs.md). */
import type { Lease, Store } from '../store/store';

type Shared = { lease: Promise<Lease>; holders: number; since: number };

export class ClaimLeases {
  private readonly current = new WeakMap<Store, Shared>();

  constructor(private readonly ttlSeconds: number) {}

  /**
   * Runs `fn` with the shared lease, taken by new claims for one TTL after its grant. An error of `fn` keeps it
   * from the claims that follow (etcd may have lost it, or a failed release left a key on it), not its holders.
   */
  async hold<T>(store: Store, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const cur = this.current.get(store);
    const held = cur && Date.now() - cur.since < this.ttlSeconds * 1000 ? cur : this.grant(store);
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

  private grant(store: Store): Shared {
    const shared = { lease: store.grantLease(this.ttlSeconds, { keepAlive: true }), holders: 0, since: Date.now() };
    this.current.set(store, shared);
    return shared;
  }
}
