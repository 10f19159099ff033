/**
 * The one way keys are read: some keys and every key under some prefixes, paged. From a Store, read-only
 * transactions carry the keys and each prefix's first page (one round trip per 128); else a key is a one-key range.
 */
import { OPS_PER_TXN, read as readOp, readKey, readPrefix, type KeyValue, type Op, type Store } from './store';
import type { RangeOptions, RangeResult } from './store';
import { definedOnly } from '../defined-only';

/** A Store, or anything that ranges (a snapshot). */
export type Reader = Pick<Store, 'range'> & Partial<Pick<Store, 'txn' | 'get'>>;

/** RangeOptions' `revision` and `keysOnly` (`'prefixes'`: for the prefixes only), and the keys per page. */
export type ReadOptions = Pick<RangeOptions, 'revision'> & { keysOnly?: boolean | 'prefixes'; pageSize?: number };

/** Keys per page of a paged range read: responses stay far below the gRPC receive limit. */
export const RANGE_PAGE_SIZE = 500;

/**
 * Reads `keys` (`values`, undefined = absent) and every key under `prefixes` (`found`, one sorted list each). Keys
 * are read no later than the prefixes: a caller fencing on a key trusts what was written before it is in the ranges.
 */
export async function readKeys(
  reader: Reader,
  { keys = [], prefixes = [] }: { keys?: readonly string[]; prefixes?: readonly string[] },
  opts: ReadOptions = {},
): Promise<{ values: (KeyValue | undefined)[]; found: KeyValue[][] }> {
  const txn = opts.revision === undefined ? reader.txn?.bind(reader) : undefined;
  if (!txn) {
    const values = await Promise.all(keys.map((k) => oneKey(reader, k, opts)));
    return { values, found: await Promise.all(prefixes.map((p) => collectPages(reader, p, (kv) => kv, opts))) };
  }
  const keyOps = keys.map((k) => (opts.keysOnly === true ? readKey(k) : readOp(k)));
  const first = { limit: opts.pageSize ?? RANGE_PAGE_SIZE, keysOnly: Boolean(opts.keysOnly) };
  const rangeOps = prefixes.map((p) => readPrefix(p, first));
  const run = (ops: Op[]) =>
    txn()
      .then(...ops)
      .commit();
  // Chunks are independent reads: sent together, one round trip in all on a pipelined connection.
  const inChunks = (ops: Op[]) =>
    Promise.all(
      Array.from({ length: Math.ceil(ops.length / OPS_PER_TXN) }, (_, i) =>
        run(ops.slice(i * OPS_PER_TXN, (i + 1) * OPS_PER_TXN)),
      ),
    );
  const results =
    keyOps.length + rangeOps.length <= OPS_PER_TXN
      ? [await run([...keyOps, ...rangeOps])]
      : [...(await inChunks(keyOps)), ...(await inChunks(rangeOps))];
  const ranges = results.flatMap((r) => r.ranges);
  return { values: results.flatMap((r) => r.reads), found: await continuePages(reader, prefixes, ranges, opts) };
}

export async function readValues(reader: Reader, keys: readonly string[]): Promise<Map<string, KeyValue | undefined>> {
  const { values } = await readKeys(reader, { keys });
  return new Map(keys.map((k, i) => [k, values[i]]));
}

/** One key, as a one-key range (which starts at the key: its first key is the key when it exists). */
async function oneKey(reader: Reader, key: string, opts: ReadOptions): Promise<KeyValue | undefined> {
  const keysOnly = opts.keysOnly === true;
  if (opts.revision === undefined && !keysOnly && reader.get) return reader.get(key);
  const [kv] = (await reader.range(key, definedOnly({ limit: 1, keysOnly, revision: opts.revision }))).items;
  return kv?.key === key ? kv : undefined;
}

/** Every key under a prefix (from `from` on), a page at a time; at different revisions unless `revision` is given. */
export async function* pages(
  reader: Pick<Store, 'range'>,
  prefix: string,
  opts: ReadOptions & { from?: string } = {},
): AsyncGenerator<KeyValue[]> {
  const range: RangeOptions = { limit: opts.pageSize ?? RANGE_PAGE_SIZE, keysOnly: Boolean(opts.keysOnly) };
  if (opts.revision !== undefined) range.revision = opts.revision;
  let from = opts.from;
  for (;;) {
    const page: RangeResult = await reader.range(prefix, from === undefined ? range : { ...range, from });
    if (page.items.length) yield page.items;
    const last = page.items.at(-1);
    if (!page.more || !last) return;
    from = `${last.key}\0`; // the smallest key after the last one read
  }
}

/** Completes first pages read by `range` ops of a transaction: every key under each prefix. */
export function continuePages(
  reader: Pick<Store, 'range'>,
  prefixes: readonly string[],
  firstPages: readonly RangeResult[],
  opts: ReadOptions = {},
): Promise<KeyValue[][]> {
  return Promise.all(
    firstPages.map(async (page, i) => {
      const last = page.items.at(-1);
      if (!page.more || !last) return page.items;
      const rest = await collectPages(reader, prefixes[i]!, (kv) => kv, { ...opts, from: `${last.key}\0` });
      return [...page.items, ...rest];
    }),
  );
}

/** Every key under prefix, read in pages, each reduced to what `keep` returns. */
export async function collectPages<T>(
  reader: Pick<Store, 'range'>,
  prefix: string,
  keep: (kv: KeyValue) => T,
  opts: ReadOptions & { from?: string } = {},
): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages(reader, prefix, opts)) out.push(...page.map(keep));
  return out;
}
