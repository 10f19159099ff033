import { read, readKey, type KeyValue, type RangeOptions, type RangeResult, type TxnBuilder } from './store';

/** etcd's default limit of operations in one transaction (--max-txn-ops). */
const READS_PER_TXN = 128;

/**
 * Reads many keys in as few read-only transactions as etcd allows: one round trip, and one
 * revision, per 128 keys.
 */
export async function readMany(
  store: { txn(): TxnBuilder },
  keys: readonly string[],
  opts: { keysOnly?: boolean } = {},
): Promise<Map<string, KeyValue | undefined>> {
  const out = new Map<string, KeyValue | undefined>();
  const op = opts.keysOnly ? readKey : read;
  const chunks: string[][] = [];
  for (let i = 0; i < keys.length; i += READS_PER_TXN) chunks.push(keys.slice(i, i + READS_PER_TXN));
  // Chunks are independent reads: sent together, one round trip in all on a pipelined connection.
  const results = await Promise.all(
    chunks.map((chunk) =>
      store
        .txn()
        .then(...chunk.map((k) => op(k)))
        .commit(),
    ),
  );
  chunks.forEach((chunk, c) => chunk.forEach((k, j) => out.set(k, results[c].reads[j])));
  return out;
}

/** Keys per page of a paged range read: responses stay far below the gRPC receive limit. */
export const RANGE_PAGE_SIZE = 500;

/**
 * Every key under a prefix, one page (at most `pageSize` keys, one round trip) at a time, so no
 * read of a folder is unbounded whatever it holds. Pages are read at different revisions (callers
 * fence their writes on what they read, as everywhere), unless `revision` is given: then every
 * page is read at it, one consistent snapshot (a compaction past it fails the read).
 */
export async function* rangePages(
  store: { range(prefix: string, opts?: RangeOptions): Promise<RangeResult> },
  prefix: string,
  opts: { pageSize?: number; keysOnly?: boolean; revision?: number } = {},
): AsyncGenerator<KeyValue[]> {
  const limit = opts.pageSize ?? RANGE_PAGE_SIZE;
  let from: string | undefined;
  for (;;) {
    const page = await store.range(prefix, { limit, from, keysOnly: opts.keysOnly, revision: opts.revision });
    if (page.items.length) yield page.items;
    if (!page.more || !page.items.length) return;
    // The smallest key after the last one read.
    from = `${page.items[page.items.length - 1].key}\0`;
  }
}
