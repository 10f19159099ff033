/**
 * End to end: a Gohan-format config value written to the stack's etcd travels
 * relay → SQS → local event source → planner (serverless-offline) → jobs and mirror in etcd.
 */
import fs from 'node:fs';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { put } from '../../shared/store/store';
import { useTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(240_000);

const fixture = useTestStack('e2e');
const { json } = fixture;
let store: ReturnType<typeof fixture.store>;
let stack: ReturnType<typeof fixture.stack>;
beforeAll(() => {
  store = fixture.store();
  stack = fixture.stack();
});

test('a config value written as Gohan writes it is planned: its job and the mirror', async () => {
  const body = { id: 'net-e2e', name: 'e2e network', admin_state_up: true, admin_password: 'not-for-logs' };
  await store
    .txn()
    .then(put('/config/v2.0/networks/net-e2e', encodeGohanConfigValue(body, 1)))
    .commit();
  const mirror = await waitFor(() => json('/esi-worker/config/v2.0/networks/net-e2e'), {
    timeoutMs: 60_000,
    what: 'the mirror',
  });
  expect(mirror).toEqual({ body, deleted: false, version: 1 });
  const jobs = (await store.range('/jobs/all/')).items
    .map((kv) => kv.key)
    .filter((k) => k.includes(':network:net-e2e:'));
  expect(jobs).toEqual([expect.stringMatching(/^\/jobs\/all\/create:heat_worker:network:net-e2e:1:[a-z0-9]{5}$/)]);
});

test('an unreadable value is reported in /state and the queue keeps flowing', async () => {
  await store.txn().then(put('/config/v2.0/networks/broken', '{"body": "{", "version": 1}')).commit();
  await store
    .txn()
    .then(
      put(
        '/config/v2.0/networks/after-broken',
        encodeGohanConfigValue({ id: 'after-broken', admin_state_up: true }, 1),
      ),
    )
    .commit();
  const state = await waitFor(() => json('/state/v2.0/networks/broken'), {
    timeoutMs: 60_000,
    what: '/state of the broken value',
  });
  expect(state).toMatchObject({
    state: { worker_state: 'PLAN_FAILED' },
    version: 1,
    error: expect.stringMatching(/body is a string but not JSON/) as string,
  });
  expect(
    await waitFor(() => json('/esi-worker/config/v2.0/networks/after-broken'), {
      timeoutMs: 60_000,
      what: 'the next value',
    }),
  ).toEqual({ body: { admin_state_up: true, id: 'after-broken' }, deleted: false, version: 1 });
});

test('no password reached the logs of this run', () => {
  const logs = stack.processes.map((p) => fs.readFileSync(p.logFile, 'utf8')).join('\n');
  expect(logs).toContain('net-e2e');
  expect(logs).not.toContain('not-for-logs');
});
