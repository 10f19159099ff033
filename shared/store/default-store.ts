import { traced } from '../tracing';
import { EtcdStore } from './etcd-store';
import { collectTxn, withParts, type Store } from './store';

let store: Store | undefined;

/** One etcd connection per Lambda container (or process), made on first use. */
export function defaultStore(): Store {
  return (store ??= tracedStore(new EtcdStore()));
}

/** The store with an `etcd` subsegment per request (a no-op unless tracing is on: shared/tracing.ts). */
function tracedStore(s: Store): Store {
  return {
    get: (key) => traced('etcd', () => s.get(key)),
    range: (prefix, opts) => traced('etcd', () => s.range(prefix, opts)),
    revision: () => traced('etcd', () => s.revision()),
    txn: () => collectTxn((parts) => traced('etcd', () => withParts(s.txn(), parts).commit())),
    watch: (prefix, from, handlers) => s.watch(prefix, from, handlers),
    grantLease: (ttl, opts) => traced('etcd', () => s.grantLease(ttl, opts)),
    close: () => s.close(),
  };
}
