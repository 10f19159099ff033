import {
  OPS_PER_TXN,
  read,
  readKey,
  readPrefix,
  type KeyValue,
  type RangeManyOptions,
  type RangeOptions,
  type RangeResult,
  type TxnBuilder,
} from './store';

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
  for (let i = 0; i < keys.length; i += OPS_PER_TXN) chunks.push(keys.slice(i, i + OPS_PER_TXN));
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
  opts: { pageSize?: number; keysOnly?: boolean; revision?: number; from?: string } = {},
): AsyncGenerator<KeyValue[]> {
  const limit = opts.pageSize ?? RANGE_PAGE_SIZE;
  let from = opts.from;
  for (;;) {
    const page = await store.range(prefix, { limit, from, keysOnly: opts.keysOnly, revision: opts.revision });
    if (page.items.length) yield page.items;
    if (!page.more || !page.items.length) return;
    // The smallest key after the last one read.
    from = `${page.items[page.items.length - 1].key}\0`;
  }
}

/** Anything that ranges keys (a Store, a snapshot); `rangeMany` when it can read many prefixes in one request. */
export interface RangeSource {
  range(prefix: string, opts?: RangeOptions): Promise<RangeResult>;
  rangeMany?(prefixes: readonly string[], opts?: RangeManyOptions): Promise<RangeResult[]>;
}

/**
 * Every key under each prefix (one list per prefix, in order), paged like `rangePages`: the first
 * page of every prefix in one request (`rangeMany`; one range each on a source without it), then
 * `continuePages`.
 */
export async function rangeEach(
  source: RangeSource,
  prefixes: readonly string[],
  opts: { pageSize?: number; keysOnly?: boolean } = {},
): Promise<KeyValue[][]> {
  const first: RangeManyOptions = { limit: opts.pageSize ?? RANGE_PAGE_SIZE, keysOnly: opts.keysOnly };
  const pages = source.rangeMany
    ? await source.rangeMany(prefixes, first)
    : await Promise.all(prefixes.map((p) => source.range(p, first)));
  return continuePages(source, prefixes, pages, opts);
}

/**
 * Completes first pages read elsewhere (`rangeMany`, `range` ops of a transaction): every key
 * under each prefix, the next pages of a prefix whose first said `more` read one paged range at a
 * time from after its last key.
 */
export async function continuePages(
  source: RangeSource,
  prefixes: readonly string[],
  firstPages: readonly RangeResult[],
  opts: { pageSize?: number; keysOnly?: boolean } = {},
): Promise<KeyValue[][]> {
  return Promise.all(
    firstPages.map(async (page, i) => {
      const items = [...page.items];
      if (!page.more || !items.length) return items;
      const from = `${items[items.length - 1].key}\0`;
      for await (const next of rangePages(source, prefixes[i], { ...opts, from })) items.push(...next);
      return items;
    }),
  );
}

/** A source of keys and prefixes: a Store (transactions), or a snapshot (gets and ranges). */
export interface KeyAndRangeSource extends RangeSource {
  get?(key: string): Promise<KeyValue | undefined>;
  txn?(): TxnBuilder;
}

/**
 * Some keys and every key under some prefixes (`found`: one list per prefix, paged like
 * `rangeEach`), in ONE read-only transaction when they fit one (then `continuePages` for a prefix
 * with more); else, and on a source without transactions, the keys (readMany or gets), then the
 * prefixes (`rangeEach`). Either way the keys are read no later than the prefixes: a caller can
 * fence on a key read here and trust that what was written before it is in the ranges (the
 * planner's mirrors). `keysOnly` applies to the prefixes.
 */
export async function readKeysAndPrefixes(
  source: KeyAndRangeSource,
  keyList: readonly string[],
  prefixes: readonly string[],
  opts: { keysOnly?: boolean } = {},
): Promise<{ kvs: (KeyValue | undefined)[]; found: KeyValue[][] }> {
  const txn = source.txn?.bind(source);
  if (txn && keyList.length && prefixes.length && keyList.length + prefixes.length <= OPS_PER_TXN) {
    const res = await txn()
      .then(
        ...keyList.map((k) => read(k)),
        ...prefixes.map((p) => readPrefix(p, { limit: RANGE_PAGE_SIZE, keysOnly: opts.keysOnly })),
      )
      .commit();
    return { kvs: res.reads, found: await continuePages(source, prefixes, res.ranges, opts) };
  }
  const kvs = keyList.length ? await readKeys(source, keyList) : [];
  const found = prefixes.length ? await rangeEach(source, prefixes, opts) : [];
  return { kvs, found };
}

async function readKeys(source: KeyAndRangeSource, keyList: readonly string[]): Promise<(KeyValue | undefined)[]> {
  if (source.txn) {
    const got = await readMany({ txn: source.txn.bind(source) }, keyList);
    return keyList.map((k) => got.get(k));
  }
  if (!source.get) throw new Error('reading keys needs a source with get or txn');
  return Promise.all(keyList.map((k) => source.get!(k)));
}
