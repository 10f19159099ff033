import { EtcdStore } from './etcd-store';
import type { Store } from './store';

let store: Store | undefined;

/** One etcd connection per Lambda container (or process), made on first use. */
export function defaultStore(): Store {
  store ??= new EtcdStore();
  return store;
}
