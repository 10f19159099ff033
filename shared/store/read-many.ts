import { read, type KeyValue, type TxnBuilder } from './store';

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const READS_PER_TXN = 128;

/**
 * Reads many keys in as few read-only transactions as etcd allows: one round trip, and one
 * revision, per 128 keys.
 */
export async function readMany(
  store: { txn(): TxnBuilder },
  keys: readonly string[],
): Promise<Map<string, KeyValue | undefined>> {
  const out = new Map<string, KeyValue | undefined>();
  for (let i = 0; i < keys.length; i += READS_PER_TXN) {
    const chunk = keys.slice(i, i + READS_PER_TXN);
    const res = await store
      .txn()
      .then(...chunk.map((k) => read(k)))
      .commit();
    chunk.forEach((k, j) => out.set(k, res.reads[j]));
  }
  return out;
}
