/**
 * Keys SQS would refuse as a message group id (a space, a non-ASCII letter, longer than 128
 * characters) or in a message body (U+FFFF) go through the real relay, SQS server and planner
 * like any other: written first, they hold back none of the 50 normal keys written after them,
 * and each reaches a readable /state.
 */
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { put } from '../../shared/store/store';
import { useTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(240_000);

const { store: etcd, json } = useTestStack('refused');
const write = async (key: string, value: string) => (await etcd().txn().then(put(key, value)).commit()).revision;

test('4 keys SQS would refuse, then 50 normal keys: all 50 are planned and the 4 get a readable /state', async () => {
  const ids = ['has space', 'réseau-ü', `long-${'n'.repeat(150)}`, 'odd\uffff'];
  // Unreadable values: the planner answers each with PLAN_FAILED on its first delivery.
  const refused = new Map<string, number>();
  for (const id of ids) refused.set(id, await write(`/config/v2.0/networks/${id}`, '{"body": "{", "version": 1}'));
  const started = Date.now();
  const normal = Array.from({ length: 50 }, (_, i) => `after-refused-${i}`);
  for (const id of normal)
    await write(`/config/v2.0/networks/${id}`, encodeGohanConfigValue({ id, admin_state_up: true }, 1));

  const planned = new Set<string>();
  await waitFor(
    async () => {
      for (const id of normal)
        if (!planned.has(id) && (await etcd().get(`/esi-worker/config/v2.0/networks/${id}`))) planned.add(id);
      return planned.size === normal.length;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: 'all 50 normal keys to be planned' },
  ).catch((err: Error) => {
    throw new Error(`${err.message}: ${planned.size} of ${normal.length} planned`);
  });
  console.log(`refused keys: 50 of 50 normal keys planned ${Date.now() - started} ms after the first was written`);
  for (const id of normal)
    expect(await json(`/esi-worker/config/v2.0/networks/${id}`)).toEqual({
      body: { id, admin_state_up: true },
      deleted: false,
      version: 1,
    });

  for (const [id, revision] of refused) {
    const key = `/config/v2.0/networks/${id}`;
    const state = await waitFor(() => json(`/state/v2.0/networks/${id}`), {
      timeoutMs: 30_000,
      what: `/state of ${JSON.stringify(id)}`,
    });
    expect(state).toEqual({
      error: `config body is a string but not JSON (version 1) at ${key} (revision ${revision})`,
      state: { worker_state: 'PLAN_FAILED' },
      version: 1,
    });
  }
});
