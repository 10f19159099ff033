/**
 * Many prefixes ranged in one request against real etcd: `rangeMany` answers the first page of
 * each prefix in order, and `rangeEach` continues the prefixes that had more, page by page, so
 * every key comes back exactly once and no read is unbounded.
 */
import { EtcdStore } from '../../shared/store/etcd-store';
import { rangeEach, readKeysAndPrefixes } from '../../shared/store/read-many';
import { put, type RangeManyOptions, type RangeOptions, type Store } from '../../shared/store/store';

const store = new EtcdStore();
afterAll(() => store.close());

let n = 0;
const rootOf = (name: string) => `/it-range-many/${name}-${process.pid}-${Date.now()}-${++n}/`;

async function seed(entries: Record<string, string>): Promise<void> {
  const res = await store
    .txn()
    .then(...Object.entries(entries).map(([k, v]) => put(k, v)))
    .commit();
  expect(res.succeeded).toBe(true);
}

/** The store, counting the requests `rangeEach` makes. */
function counting(inner: Store) {
  const calls = { range: [] as { prefix: string; opts?: RangeOptions }[], rangeMany: 0 };
  const source = {
    range: (prefix: string, opts?: RangeOptions) => {
      calls.range.push({ prefix, opts });
      return inner.range(prefix, opts);
    },
    rangeMany: (prefixes: readonly string[], opts?: RangeManyOptions) => {
      calls.rangeMany++;
      return inner.rangeMany(prefixes, opts);
    },
  };
  return { source, calls };
}

test('rangeMany: the first page of each prefix, in order, at one revision; keys only when asked', async () => {
  const root = rootOf('pages');
  await seed({
    [`${root}a/1`]: 'v1',
    [`${root}a/2`]: 'v2',
    [`${root}a/3`]: 'v3',
    [`${root}a/4`]: 'v4',
    [`${root}ab/1`]: 'not under a/',
    [`${root}b/1`]: 'w1',
  });
  const [a, b, c] = await store.rangeMany([`${root}a/`, `${root}b/`, `${root}c/`], { limit: 3, keysOnly: true });
  expect(a.items.map((kv) => [kv.key, kv.value])).toEqual([
    [`${root}a/1`, ''],
    [`${root}a/2`, ''],
    [`${root}a/3`, ''],
  ]);
  expect(a.more).toBe(true);
  expect(b.items.map((kv) => [kv.key, kv.value])).toEqual([[`${root}b/1`, '']]);
  expect(b.more).toBe(false);
  expect(c.items).toEqual([]);
  expect(c.more).toBe(false);
  expect(new Set([a.revision, b.revision, c.revision]).size).toBe(1);

  const [withValues] = await store.rangeMany([`${root}b/`]);
  expect(withValues.items.map((kv) => [kv.key, kv.value])).toEqual([[`${root}b/1`, 'w1']]);
  expect(await store.rangeMany([])).toEqual([]);
});

test('rangeEach: one request for every first page, then the pages of a prefix that had more', async () => {
  const root = rootOf('each');
  const many = Array.from({ length: 7 }, (_, i) => `${root}a/${String(i).padStart(2, '0')}`);
  await seed({
    ...Object.fromEntries(many.map((k) => [k, 'x'])),
    [`${root}ab/1`]: 'not under a/',
    [`${root}b/1`]: 'y',
    [`${root}b/2`]: 'y',
  });
  const { source, calls } = counting(store);
  const found = await rangeEach(source, [`${root}a/`, `${root}b/`, `${root}c/`], { pageSize: 3, keysOnly: true });
  expect(found.map((kvs) => kvs.map((kv) => kv.key))).toEqual([
    [`${root}a/00`, `${root}a/01`, `${root}a/02`, `${root}a/03`, `${root}a/04`, `${root}a/05`, `${root}a/06`],
    [`${root}b/1`, `${root}b/2`],
    [],
  ]);
  // 7 keys at 3 a page: the first page in the one rangeMany request, then two paged ranges of a/.
  expect(calls.rangeMany).toBe(1);
  expect(calls.range).toEqual([
    { prefix: `${root}a/`, opts: { limit: 3, from: `${root}a/02\0`, keysOnly: true, revision: undefined } },
    { prefix: `${root}a/`, opts: { limit: 3, from: `${root}a/05\0`, keysOnly: true, revision: undefined } },
  ]);
});

test('rangeMany: more prefixes than one transaction may hold are answered in order', async () => {
  const root = rootOf('chunks');
  const prefixes = Array.from({ length: 130 }, (_, i) => `${root}p${String(i).padStart(3, '0')}/`);
  // A key under every third prefix only.
  await seed(Object.fromEntries(prefixes.filter((_, i) => i % 3 === 0).map((p) => [`${p}k`, 'v'])));
  const got = await store.rangeMany(prefixes, { limit: 5 });
  expect(got.map((r) => r.items.map((kv) => kv.key))).toEqual(prefixes.map((p, i) => (i % 3 === 0 ? [`${p}k`] : [])));
  expect(got.every((r) => r.more === false)).toBe(true);
});

test('readKeysAndPrefixes: keys and the first pages in one transaction, then the pages of a prefix that had more', async () => {
  const root = rootOf('mixed');
  const many = Array.from({ length: 502 }, (_, i) => `${root}a/${String(i).padStart(4, '0')}`);
  // etcd takes at most 128 operations a transaction.
  for (let i = 0; i < many.length; i += 100)
    await seed(Object.fromEntries(many.slice(i, i + 100).map((k) => [k, 'x'])));
  await seed({ [`${root}b/1`]: 'y', [`${root}k1`]: 'value one' });
  const calls = { txn: 0, range: 0 };
  const source = {
    txn: () => (calls.txn++, store.txn()),
    range: (prefix: string, opts?: RangeOptions) => (calls.range++, store.range(prefix, opts)),
  };
  const { kvs, found } = await readKeysAndPrefixes(
    source,
    [`${root}k1`, `${root}k2`],
    [`${root}a/`, `${root}b/`, `${root}c/`],
    { keysOnly: true },
  );
  expect(kvs.map((kv) => kv && [kv.key, kv.value])).toEqual([[`${root}k1`, 'value one'], undefined]);
  expect(found.map((kvs) => kvs.map((kv) => kv.key))).toEqual([many, [`${root}b/1`], []]);
  expect(found[0].every((kv) => kv.value === '')).toBe(true);
  // 502 keys at 500 a page: the first page in the transaction, the last 2 keys in one paged range.
  expect(calls).toEqual({ txn: 1, range: 1 });
});
