/**
 * The planner function's handler on real etcd, invoked with SQS events as Lambda would:
 * level-triggered reads, fenced writes, the mirror, and the result policy for unreadable values.
 * (Job planning itself: planner.test.ts.)
 */
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { put } from '../../shared/store/store';
import { EtcdStore } from '../../shared/store/etcd-store';
import { handler } from '../../functions/planner/handler';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/sqs-event';

const store = new EtcdStore();
afterAll(() => store.close());

const id = () => `n-${Date.now()}-${Math.random().toString(36).slice(2, 7)}`;
const write = async (key: string, value: string) => (await store.txn().then(put(key, value)).commit()).revision;
const invoke = (...records: ReturnType<typeof sqsRecord>[]) =>
  handler(sqsEvent(...records), lambdaContext('esi-test-planner'));
const json = async (key: string) => {
  const kv = await store.get(key);
  return kv ? JSON.parse(kv.value) : undefined;
};

test('a Gohan wire value is mirrored decoded; a redelivery changes nothing', async () => {
  const rid = id();
  const key = `/config/v2.0/networks/${rid}`;
  const rev = await write(key, encodeGohanConfigValue({ id: rid, name: 'net', admin_state_up: true }, 1));
  expect(await invoke(sqsRecord({ key, modRevision: rev, type: 'put' }))).toEqual({ batchItemFailures: [] });
  const mirrorKey = `/esi-worker/config/v2.0/networks/${rid}`;
  const first = await store.get(mirrorKey);
  expect(JSON.parse(first!.value)).toEqual({
    body: { admin_state_up: true, id: rid, name: 'net' },
    deleted: false,
    version: 1,
  });

  await invoke(sqsRecord({ key, modRevision: rev, type: 'put' }, 2));
  expect((await store.get(mirrorKey))!.modRevision).toBe(first!.modRevision);
  const jobs = (await store.range('/jobs/all/')).items.filter((kv) => kv.key.includes(`:network:${rid}:`));
  expect(jobs.map((kv) => kv.key)).toEqual([
    expect.stringMatching(new RegExp(`^/jobs/all/create:heat_worker:network:${rid}:1:[a-z0-9]{5}$`)),
  ]);
});

test('a late message for an old revision converges to the current value', async () => {
  const rid = id();
  const key = `/config/v2.0/networks/${rid}`;
  const oldRev = await write(key, encodeGohanConfigValue({ id: rid, name: 'v1', admin_state_up: true }, 1));
  await write(
    key,
    JSON.stringify({ body: { id: rid, name: 'v2', admin_state_up: false }, version: 2, marked_for_deletion: true }),
  );
  await invoke(sqsRecord({ key, modRevision: oldRev, type: 'put' }));
  expect(await json(`/esi-worker/config/v2.0/networks/${rid}`)).toEqual({
    body: { admin_state_up: false, id: rid, name: 'v2' },
    deleted: true,
    version: 2,
  });
});

test('bad values get a readable error in /state, are acknowledged, and do not block the batch', async () => {
  const [bad1, bad2, good] = [id(), id(), id()];
  const r1 = await write(`/config/v2.0/networks/${bad1}`, 'this is not json');
  const r2 = await write(`/config/v2.0/networks/${bad2}`, JSON.stringify({ body: { id: bad2 } }));
  const r3 = await write(
    `/config/v2.0/networks/${good}`,
    encodeGohanConfigValue({ id: good, admin_state_up: true }, 1),
  );
  const res = await invoke(
    sqsRecord({ key: `/config/v2.0/networks/${bad1}`, modRevision: r1, type: 'put' }),
    sqsRecord({ key: `/config/v2.0/networks/${bad2}`, modRevision: r2, type: 'put' }),
    sqsRecord({ key: `/config/v2.0/networks/${good}`, modRevision: r3, type: 'put' }),
    sqsRecord('{"not": "an event message"}'),
  );
  expect(res).toEqual({ batchItemFailures: [] });
  expect(await json(`/state/v2.0/networks/${bad1}`)).toEqual({
    error: `config value is not JSON (16 bytes) at /config/v2.0/networks/${bad1} (revision ${r1})`,
    state: { worker_state: 'PLAN_FAILED' },
    version: null,
  });
  expect(await json(`/state/v2.0/networks/${bad2}`)).toMatchObject({
    error: expect.stringMatching(/no valid "version"/),
    state: { worker_state: 'PLAN_FAILED' },
  });
  expect(await json(`/esi-worker/config/v2.0/networks/${good}`)).toEqual({
    body: { admin_state_up: true, id: good },
    deleted: false,
    version: 1,
  });
  expect(await store.get(`/esi-worker/config/v2.0/networks/${bad1}`)).toBeUndefined();
});

test('an unreachable etcd is an error the planner raises (the consumer then reports the record for redelivery)', async () => {
  const { EtcdStore: Store } = await import('../../shared/store/etcd-store');
  const unreachable = new Store({ endpoints: ['http://127.0.0.1:1'] });
  const { planConfigKey } = await import('../../shared/work/planner');
  const { createLogger } = await import('../../shared/log/logger');
  await expect(
    planConfigKey(unreachable, { key: '/config/v2.0/networks/x', modRevision: 1, type: 'put' }, createLogger('t')),
  ).rejects.toThrow();
  unreachable.close();
});
