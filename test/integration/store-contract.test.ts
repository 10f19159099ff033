/**
 * The Store contract, one suite run against a real etcd (its own server, so revisions are exact)
 * and against MemoryStore: what a transaction writes and at which revision, how compares read a
 * missing key, what etcd refuses, paged and historical ranges, leases, compaction and watches.
 * Every expected value is etcd's behaviour, written down here; both stores must show it.
 */
import path from 'node:path';
import { startEtcd, type EtcdServer } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { EtcdStore } from '../../shared/store/etcd-store';
import { MemoryStore } from '../helpers/memory-store';
import {
  absent,
  CompactedError,
  createRevisionIs,
  del,
  delPrefix,
  modRevisionIs,
  noneUnder,
  present,
  put,
  read,
  readKey,
  readPrefix,
  type Compare,
  type Op,
  type Store,
  type WatchEvent,
} from '../../shared/store/store';
import { waitFor } from '../helpers/wait';

interface Subject {
  store: Store;
  compact(revision: number): Promise<void>;
}

let etcd: EtcdServer | undefined;
afterAll(() => etcd?.stop());

async function etcdSubject(): Promise<Subject> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  etcd = await startEtcd({
    clientPort,
    peerPort,
    name: 'store-contract',
    dataDir: path.join(process.env.ESI_TEST_ROOT!, `store-contract-${process.pid}`),
  });
  const store = new EtcdStore({ endpoints: [etcd.clientUrl] });
  return { store, compact: async (revision) => void (await store.client.kv.compact({ revision: String(revision) })) };
}

function memorySubject(): Promise<Subject> {
  const store = new MemoryStore();
  return Promise.resolve({ store, compact: async (revision) => store.compact(revision) });
}

describe.each([
  ['etcd', etcdSubject],
  ['memory', memorySubject],
])('%s store', (_name, make) => {
  let s: Subject;
  let store: Store;
  beforeAll(async () => {
    s = await make();
    store = s.store;
  });
  afterAll(() => store.close());

  const write = (...ops: Op[]) =>
    store
      .txn()
      .then(...ops)
      .commit();

  test('a new store is at revision 1 and holds no key', async () => {
    expect(await store.revision()).toBe(1);
    expect(await store.get('/nothing')).toBeUndefined();
    expect(await store.range('/')).toEqual({ items: [], revision: 1, more: false });
  });

  test('a put: mod and create revision are the transaction’s, version counts changes, a delete starts over', async () => {
    const r1 = await write(put('/kv/a', 'one'));
    expect(r1).toEqual({ succeeded: true, revision: 2, reads: [], ranges: [] });
    expect(await store.get('/kv/a')).toEqual({
      key: '/kv/a',
      value: 'one',
      modRevision: 2,
      createRevision: 2,
      version: 1,
      lease: undefined,
    });
    await write(put('/kv/a', 'two'));
    expect(await store.get('/kv/a')).toMatchObject({ value: 'two', modRevision: 3, createRevision: 2, version: 2 });
    await write(del('/kv/a'));
    expect(await store.get('/kv/a')).toBeUndefined();
    expect(await store.revision()).toBe(4);
    await write(put('/kv/a', 'three'));
    expect(await store.get('/kv/a')).toMatchObject({ value: 'three', modRevision: 5, createRevision: 5, version: 1 });
  });

  test('one revision per transaction that writes; none for reads or for deleting a missing key', async () => {
    const before = await store.revision();
    const res = await write(put('/txn/a', '1'), put('/txn/b', '2'), del('/txn/none'));
    expect(res.revision).toBe(before + 1);
    expect((await store.range('/txn/')).items.map((kv) => [kv.key, kv.modRevision])).toEqual([
      ['/txn/a', before + 1],
      ['/txn/b', before + 1],
    ]);
    expect(await write(del('/txn/none'), delPrefix('/txn/nothing/'))).toEqual({
      succeeded: true,
      revision: before + 1,
      reads: [],
      ranges: [],
    });
    expect((await write(read('/txn/a'))).revision).toBe(before + 1);
    expect(await store.revision()).toBe(before + 1);
  });

  test('compares: a missing key has revision 0 and fails every value compare', async () => {
    await write(put('/cmp/k', 'v'));
    const kv = (await store.get('/cmp/k'))!;
    const holds = async (...c: Compare[]) =>
      (
        await store
          .txn()
          .when(...c)
          .commit()
      ).succeeded;
    expect(await holds(modRevisionIs('/cmp/k', kv.modRevision))).toBe(true);
    expect(await holds(modRevisionIs('/cmp/k', kv.modRevision - 1))).toBe(false);
    expect(await holds(createRevisionIs('/cmp/k', kv.createRevision))).toBe(true);
    expect(await holds(present('/cmp/k'), absent('/cmp/missing'))).toBe(true);
    expect(await holds(absent('/cmp/k'))).toBe(false);
    expect(await holds(present('/cmp/missing'))).toBe(false);
    expect(await holds(modRevisionIs('/cmp/missing', 0))).toBe(true);
    expect(await holds({ kind: 'modRevision', key: '/cmp/k', op: '<', revision: kv.modRevision + 1 })).toBe(true);
    expect(await holds({ kind: 'modRevision', key: '/cmp/k', op: '>', revision: kv.modRevision })).toBe(false);
    expect(await holds({ kind: 'modRevision', key: '/cmp/k', op: '!=', revision: kv.modRevision })).toBe(false);
    expect(await holds({ kind: 'createRevision', key: '/cmp/k', op: '<', revision: kv.createRevision })).toBe(false);
    expect(await holds({ kind: 'value', key: '/cmp/k', op: '==', value: 'v' })).toBe(true);
    expect(await holds({ kind: 'value', key: '/cmp/k', op: '!=', value: 'v' })).toBe(false);
    expect(await holds({ kind: 'value', key: '/cmp/k', op: '!=', value: 'w' })).toBe(true);
    expect(await holds({ kind: 'value', key: '/cmp/missing', op: '==', value: '' })).toBe(false);
    expect(await holds({ kind: 'value', key: '/cmp/missing', op: '!=', value: 'v' })).toBe(false);
    expect(await holds(noneUnder('/cmp/'))).toBe(false);
    expect(await holds(noneUnder('/cmp/nothing/'))).toBe(true);
    // Every compare must hold.
    expect(await holds(present('/cmp/k'), present('/cmp/missing'))).toBe(false);
  });

  test('the branch taken: its writes, its reads and ranges in op order; reads see the branch’s own writes', async () => {
    const failed = await store
      .txn()
      .when(absent('/branch/x'), present('/branch/x'))
      .then(put('/branch/then', '1'))
      .otherwise(put('/branch/else', '2'), read('/branch/else'), readPrefix('/branch/'), readKey('/branch/missing'))
      .commit();
    const rev = failed.revision;
    const elseKv = {
      key: '/branch/else',
      value: '2',
      modRevision: rev,
      createRevision: rev,
      version: 1,
      lease: undefined,
    };
    expect(failed).toEqual({
      succeeded: false,
      revision: rev,
      reads: [elseKv, undefined],
      ranges: [{ items: [elseKv], revision: rev, more: false }],
    });
    expect(await store.get('/branch/then')).toBeUndefined();
    const keysOnly = await write(readKey('/branch/else'), readPrefix('/branch/', { keysOnly: true }));
    expect(keysOnly.reads).toEqual([{ ...elseKv, value: '' }]);
    expect(keysOnly.ranges.map((r) => r.items)).toEqual([[{ ...elseKv, value: '' }]]);
  });

  test('etcd’s refusals: a key written twice in a branch, more than 128 ops; nothing is written', async () => {
    const before = await store.revision();
    await expect(write(put('/dup/a', '1'), put('/dup/a', '2'))).rejects.toThrow(/duplicate key/);
    await expect(write(put('/dup/a', '1'), del('/dup/a'))).rejects.toThrow(/duplicate key/);
    await expect(write(delPrefix('/dup/'), put('/dup/b', '1'))).rejects.toThrow(/duplicate key/);
    const many = Array.from({ length: 129 }, (_, i) => put(`/dup/many/${i}`, 'v'));
    await expect(write(...many)).rejects.toThrow(/too many operations/);
    await expect(write(put('/dup/c', '1', { lease: '12345' }))).rejects.toThrow(/lease not found/);
    expect(await store.revision()).toBe(before);
    expect((await store.range('/dup/')).items).toEqual([]);
  });

  test('ranges: under the prefix only, in byte order, paged with limit and from, keys only', async () => {
    await write(put('/r/b', '2'), put('/r/a', '1'), put('/r/c/1', '3'), put('/rr/x', 'no'), put('/r', 'no'));
    const rev = await store.revision();
    const keys = (r: { items: { key: string; value: string }[] }) => r.items.map((kv) => `${kv.key}=${kv.value}`);
    expect(keys(await store.range('/r/'))).toEqual(['/r/a=1', '/r/b=2', '/r/c/1=3']);
    const first = await store.range('/r/', { limit: 2 });
    expect([keys(first), first.more, first.revision]).toEqual([['/r/a=1', '/r/b=2'], true, rev]);
    const next = await store.range('/r/', { limit: 2, from: '/r/b\0' });
    expect([keys(next), next.more]).toEqual([['/r/c/1=3'], false]);
    expect(keys(await store.range('/r/', { keysOnly: true, from: '/r/b' }))).toEqual(['/r/b=', '/r/c/1=']);
    const inTxn = await write(readPrefix('/r/', { limit: 1 }));
    expect(inTxn.ranges.map((r) => [keys(r), r.more])).toEqual([[['/r/a=1'], true]]);
  });

  test('a range at an older revision reads the store as it was then; a future revision is refused', async () => {
    await write(put('/hist/a', 'old'), put('/hist/b', 'gone'));
    const then = await store.revision();
    await write(put('/hist/a', 'new'), del('/hist/b'), put('/hist/c', 'later'));
    const now = await store.revision();
    const old = await store.range('/hist/', { revision: then });
    expect(old.items.map((kv) => [kv.key, kv.value, kv.modRevision])).toEqual([
      ['/hist/a', 'old', then],
      ['/hist/b', 'gone', then],
    ]);
    expect(old.revision).toBe(now);
    expect((await store.range('/hist/')).items.map((kv) => kv.value)).toEqual(['new', 'later']);
    await expect(store.range('/hist/', { revision: now + 5 })).rejects.toThrow(/future revision/);
  });

  test('deletePrefix deletes every key under the prefix at one revision, and no other', async () => {
    await write(put('/dp/a/1', '1'), put('/dp/a/2', '2'), put('/dp/ab', 'stays'));
    const res = await write(delPrefix('/dp/a/'));
    expect(res.revision).toBe(await store.revision());
    expect((await store.range('/dp/')).items.map((kv) => kv.key)).toEqual(['/dp/ab']);
  });

  test('leases: keys written under one carry it; a revoke deletes them at one revision; a later put without it keeps its key', async () => {
    const lease = await store.grantLease(60);
    await write(put('/lease/a', '1', { lease: lease.id }), put('/lease/b', '2', { lease: lease.id }));
    await write(put('/lease/c', '3', { lease: lease.id }));
    expect((await store.get('/lease/a'))?.lease).toBe(lease.id);
    await write(put('/lease/c', 'kept'));
    expect((await store.get('/lease/c'))?.lease).toBeUndefined();
    const before = await store.revision();
    await lease.revoke();
    expect(await store.revision()).toBe(before + 1);
    expect((await store.range('/lease/')).items.map((kv) => [kv.key, kv.value])).toEqual([['/lease/c', 'kept']]);
    await expect(write(put('/lease/d', '4', { lease: lease.id }))).rejects.toThrow(/lease not found/);
  });

  test('a lease not kept alive expires with its keys; one kept alive outlives its TTL', async () => {
    const [short, kept] = [await store.grantLease(1), await store.grantLease(1, { keepAlive: true })];
    await write(put('/ttl/short', 's', { lease: short.id }), put('/ttl/kept', 'k', { lease: kept.id }));
    await waitFor(async () => !(await store.get('/ttl/short')), {
      timeoutMs: 15_000,
      what: 'the short lease to expire',
    });
    expect((await store.range('/ttl/')).items.map((kv) => kv.key)).toEqual(['/ttl/kept']);
    await kept.revoke();
    expect(await store.get('/ttl/kept')).toBeUndefined();
  });

  test('a watch replays from its revision, then follows; a transaction’s events come together; cancel stops it', async () => {
    await write(put('/w/a', '1'));
    const from = await store.revision();
    await write(put('/w/b', '2'), put('/w/c', '3'), put('/wx/no', 'x'));
    const batches: WatchEvent[][] = [];
    const handle = await store.watch('/w/', from, {
      onEvents: (events) => batches.push(events),
      onError: (err) => batches.push([{ type: 'put', key: `error ${err.message}`, value: '', modRevision: 0 }]),
    });
    await write(del('/w/a'), put('/w/d', '4'));
    const last = await store.revision();
    const seen = () => batches.flat().map((e) => `${e.type} ${e.key}=${e.value}@${e.modRevision}`);
    await waitFor(() => batches.flat().some((e) => e.modRevision === last), { what: 'the live events' });
    expect(seen()).toEqual([
      `put /w/a=1@${from}`,
      `put /w/b=2@${from + 1}`,
      `put /w/c=3@${from + 1}`,
      `delete /w/a=@${last}`,
      `put /w/d=4@${last}`,
    ]);
    // A revision is never split across two batches.
    for (const b of batches)
      expect(batches.filter((o) => o !== b && o.some((e) => e.modRevision === b.at(-1)!.modRevision))).toEqual([]);
    await handle.cancel();
    await write(put('/w/e', '5'));
    await write(put('/w/sync', 'x'));
    const probe: WatchEvent[] = [];
    const h2 = await store.watch('/w/sync', await store.revision(), {
      onEvents: (e) => probe.push(...e),
      onError: () => undefined,
    });
    await waitFor(() => probe.length > 0, { what: 'a later watch to see the last write' });
    await h2.cancel();
    expect(seen().filter((line) => line.includes('/w/e'))).toEqual([]);
  });

  test('after a compaction, reads and watches before it are refused; from it on they work', async () => {
    await write(put('/cp/a', '1'));
    const old = await store.revision();
    await write(put('/cp/a', '2'));
    const at = await store.revision();
    await write(put('/cp/a', '3'));
    await s.compact(at);
    await expect(store.range('/cp/', { revision: old })).rejects.toThrow(/compacted/);
    await expect(store.watch('/cp/', old, { onEvents: () => undefined, onError: () => undefined })).rejects.toThrow(
      CompactedError,
    );
    expect((await store.range('/cp/', { revision: at })).items.map((kv) => kv.value)).toEqual(['2']);
    const events: WatchEvent[] = [];
    const h = await store.watch('/cp/', at + 1, { onEvents: (e) => events.push(...e), onError: () => undefined });
    await waitFor(() => events.length > 0, { what: 'the event after the compaction' });
    await h.cancel();
    expect(events.map((e) => e.value)).toEqual(['3']);
  });
});
