import { collectTxn, type Store, type TxnParts } from '../../shared/store/store';

/** What an observed store shows before each call is made. */
export interface StoreObserver {
  get?(key: string): void;
  range?(prefix: string): void;
  /** The parts of each transaction (its get and range ops are reads too). */
  txn?(parts: TxnParts): void;
}

/** `inner`, each read and transaction shown to `see` first: for tests that count what a call reads or writes. */
export function observedStore(inner: Store, see: StoreObserver): Store {
  return {
    get: (key) => {
      see.get?.(key);
      return inner.get(key);
    },
    range: (prefix, opts) => {
      see.range?.(prefix);
      return inner.range(prefix, opts);
    },
    revision: () => inner.revision(),
    txn: () =>
      collectTxn((parts) => {
        see.txn?.(parts);
        return inner
          .txn()
          .when(...parts.when)
          .then(...parts.then)
          .otherwise(...parts.otherwise)
          .commit();
      }),
    watch: (prefix, from, handlers) => inner.watch(prefix, from, handlers),
    grantLease: (ttl, opts) => inner.grantLease(ttl, opts),
    close: () => undefined,
  };
}
