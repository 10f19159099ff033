/**
 * The one read API against real etcd (shared/store/read.ts): keys and the first page of each
 * prefix in one transaction, the pages of a prefix that had more after it, more than one
 * transaction may hold answered in order, and a read at a past revision.
 */
import { EtcdStore } from '../../shared/store/etcd-store';
import { readKeys } from '../../shared/store/read';
import { del, put, type RangeOptions } from '../../shared/store/store';
import { at } from '../helpers/at';

const store = new EtcdStore();
afterAll(() => store.close());

let n = 0;
const rootOf = (name: string) => `/it-read/${name}-${process.pid}-${Date.now()}-${++n}/`;

async function seed(entries: Record<string, string>): Promise<number> {
  const res = await store
    .txn()
    .then(...Object.entries(entries).map(([k, v]) => put(k, v)))
    .commit();
  expect(res.succeeded).toBe(true);
  return res.revision;
}

test('keys and the first pages in one transaction, then the pages of a prefix that had more', async () => {
  const root = rootOf('mixed');
  const many = Array.from({ length: 502 }, (_, i) => `${root}a/${String(i).padStart(4, '0')}`);
  // etcd takes at most 128 operations a transaction.
  for (let i = 0; i < many.length; i += 100)
    await seed(Object.fromEntries(many.slice(i, i + 100).map((k) => [k, 'x'])));
  await seed({ [`${root}ab/1`]: 'not under a/', [`${root}b/1`]: 'y', [`${root}k1`]: 'value one' });
  const calls = { txn: 0, range: [] as RangeOptions[] };
  const reader = {
    txn: () => (calls.txn++, store.txn()),
    range: (prefix: string, opts?: RangeOptions) => (calls.range.push(opts ?? {}), store.range(prefix, opts)),
  };
  const { values, found } = await readKeys(
    reader,
    { keys: [`${root}k1`, `${root}k2`], prefixes: [`${root}a/`, `${root}b/`, `${root}c/`] },
    { keysOnly: 'prefixes' },
  );
  expect(values.map((kv) => kv && [kv.key, kv.value])).toEqual([[`${root}k1`, 'value one'], undefined]);
  expect(found.map((kvs) => kvs.map((kv) => kv.key))).toEqual([many, [`${root}b/1`], []]);
  expect(at(found, 0).every((kv) => kv.value === '')).toBe(true);
  // 502 keys at 500 a page: the first page in the transaction, the last 2 keys in one paged range.
  expect(calls).toEqual({ txn: 1, range: [{ limit: 500, keysOnly: true, from: `${many[499]}\0` }] });
});

test('more prefixes and keys than one transaction may hold are answered in order', async () => {
  const root = rootOf('chunks');
  const prefixes = Array.from({ length: 130 }, (_, i) => `${root}p${String(i).padStart(3, '0')}/`);
  // A key under every third prefix only.
  await seed(Object.fromEntries(prefixes.filter((_, i) => i % 3 === 0).map((p) => [`${p}k`, 'v'])));
  const keys = prefixes.map((p) => `${p}k`);
  const { values, found } = await readKeys(store, { keys, prefixes }, { pageSize: 5 });
  expect(found.map((kvs) => kvs.map((kv) => kv.key))).toEqual(prefixes.map((p, i) => (i % 3 === 0 ? [`${p}k`] : [])));
  expect(values.map((kv) => kv?.key)).toEqual(keys.map((k, i) => (i % 3 === 0 ? k : undefined)));
});

test('at a revision: every key and prefix as it was then, whatever changed since', async () => {
  const root = rootOf('revision');
  const then = await seed({ [`${root}k`]: 'old', [`${root}p/1`]: 'one' });
  await seed({ [`${root}k`]: 'new', [`${root}p/2`]: 'two' });
  await store
    .txn()
    .then(del(`${root}p/1`))
    .commit();
  const { values, found } = await readKeys(
    store,
    { keys: [`${root}k`, `${root}k2`], prefixes: [`${root}p/`] },
    { revision: then },
  );
  expect(values.map((kv) => kv && [kv.key, kv.value])).toEqual([[`${root}k`, 'old'], undefined]);
  expect(found.map((kvs) => kvs.map((kv) => [kv.key, kv.value]))).toEqual([[[`${root}p/1`, 'one']]]);
});
