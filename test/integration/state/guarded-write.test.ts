/** Version guards on real etcd: results never move backwards, duplicates write nothing. */
import { writeVersioned } from '../../../shared/state/guarded-write';
import { encodeState, type StateValue } from '../../../shared/state/state-value';
import { EtcdStore } from '../../../shared/store/etcd-store';

const store = new EtcdStore();
afterAll(() => store.close());
const key = (what: string) => `/it-guard-${Date.now()}-${Math.random().toString(36).slice(2, 7)}/${what}`;
const done = (version: number) => ({ error: '', state: { worker_state: 'MODIFY_COMPLETED' as const }, version });
const writeState = (k: string, state: StateValue & { version: number }) =>
  writeVersioned(store, k, state.version, encodeState(state));
/** The collector syncer's form: {"version": N, "<field>": <status>} (Python spacing). */
const writeMonitoring = (k: string, version: number, field: string, status: string) =>
  writeVersioned(store, k, version, `{"version": ${version}, "${field}": "${status}"}`);

test('a late aggregation for an old version does not overwrite the newer state', async () => {
  const k = key('state');
  expect(await writeState(k, done(3))).toBe('written');
  expect(await writeState(k, done(2))).toBe('older');
  expect(JSON.parse((await store.get(k))!.value)).toEqual({
    error: '',
    state: { worker_state: 'MODIFY_COMPLETED' },
    version: 3,
  });
});

test('a duplicate aggregation writes nothing (no new revision)', async () => {
  const k = key('state');
  await writeState(k, done(4));
  const before = (await store.get(k))!.modRevision;
  expect(await writeState(k, done(4))).toBe('unchanged');
  expect((await store.get(k))!.modRevision).toBe(before);
});

test('a monitoring change for an old version does not overwrite the newer one; the same version moves on', async () => {
  const k = key('monitoring');
  expect(await writeMonitoring(k, 3, 'vmi', 'UP')).toBe('written');
  expect(await writeMonitoring(k, 2, 'vmi', 'FAIL')).toBe('older');
  expect((await store.get(k))!.value).toBe('{"version": 3, "vmi": "UP"}');
  expect(await writeMonitoring(k, 3, 'vmi', 'FAIL')).toBe('written');
  expect((await store.get(k))!.value).toBe('{"version": 3, "vmi": "FAIL"}');
});

test('concurrent writers of different versions end with the newest', async () => {
  const k = key('state');
  await Promise.all([1, 5, 2, 4, 3].map((v) => writeState(k, done(v))));
  expect(JSON.parse((await store.get(k))!.value).version).toBe(5);
});
