/**
 * Heat faults on the whole local stack (the Heat simulator's fault rules, reached by URL as a real
 * Heat would be): a 5xx storm over every stack while the recorded scenario plays, then a stack
 * that hangs past its heat_timeout and a create answered after the HTTP timeout. Every resource
 * ends at its expected /state, nothing is left pending, and each time is printed.
 */
import { compareState } from '../../infra/demo/compare';
import { loadScenario } from '../../infra/demo/scenario';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { put } from '../../shared/store/store';
import { pendingJobKeys } from '../helpers/chaos';
import { playSteps, settled, useChaosStack } from '../helpers/chaos-run';
import { waitFor } from '../helpers/wait';
import { at, get } from '../helpers/at';

jest.setTimeout(600_000);

const chaos = useChaosStack('chaos-heat');

async function sim(pathname: string, init: { method?: string; body?: unknown } = {}): Promise<any> {
  const res = await fetch(`${chaos.stack.heat.url}${pathname}`, {
    method: init.method ?? 'GET',
    headers: { 'content-type': 'application/json' },
    body: init.body === undefined ? null : JSON.stringify(init.body),
  });
  const text = await res.text();
  return text ? JSON.parse(text) : undefined;
}

const counts = async (name: string) =>
  ((await sim('/_sim/stacks')) as { counts: Record<string, { creates: number; updates: number; deletes: number }> })
    .counts[name];

const scenario = loadScenario();
/** A network of the scenario, its body and recorded /state: the model for the fault cases' networks. */
const NETWORK = (() => {
  const step = scenario.steps.find((s) => 'put' in s && s.put.startsWith('/config/v2.0/networks/') && s.version === 1);
  if (!step || !('put' in step)) throw new Error('the scenario has no network');
  return { body: step.body, expected: get(scenario.expected_states, step.put.replace('/config/', '/state/')) };
})();

async function putNetwork(id: string): Promise<void> {
  await chaos.store
    .txn()
    .then(put(`/config/v2.0/networks/${id}`, encodeGohanConfigValue({ ...NETWORK.body, id, name: id }, 1)))
    .commit();
}

const stateOf = async (id: string) => {
  const kv = await chaos.store.get(`/state/v2.0/networks/${id}`);
  return kv ? (JSON.parse(kv.value) as Record<string, unknown>) : undefined;
};

test('a 5xx storm over every stack while the scenario plays: every resource at its recorded /state', async () => {
  const started = Date.now();
  const rule = at(
    (
      (await sim('/_sim/faults', {
        method: 'POST',
        body: { match: '.*', mode: 'http_error', status: 503, times: 12 },
      })) as { faults: { id: string }[] }
    ).faults,
    0,
    'faults',
  );
  await playSteps(chaos.store, scenario);
  const checks = (await waitFor(() => settled(chaos.store, scenario), {
    timeoutMs: 300_000,
    intervalMs: 250,
    what: 'every resource at its recorded /state',
  }))!;
  const fired = ((await sim('/_sim/faults')) as { faults: { id: string; fired: number }[] }).faults.find(
    (f) => f.id === rule.id,
  )?.fired;
  await sim('/_sim/faults', { method: 'DELETE' });
  console.log(
    `chaos Heat 5xx storm: ${fired} answers 503 over every stack; ${checks.length} resources at their recorded /state, ` +
      `no pending job key, no orphan, ${((Date.now() - started) / 1000).toFixed(1)} s for the whole scenario`,
  );
  expect(fired).toBe(12);
  expect(checks.length).toBe(29);
});

test("a stack hanging past its heat_timeout: the resource ends CREATE_FAILED with Heat's reason", async () => {
  const id = `chaos-hang-${Date.now().toString(36)}`;
  // Heat's minute made 1 s: the network's heat_timeout of 3 minutes passes in 3 s.
  await sim('/_sim/config', { method: 'POST', body: { minute_ms: 1000 } });
  await sim('/_sim/faults', { method: 'POST', body: { match: `^network_${id}$`, mode: 'hang', ops: ['create'] } });
  const started = Date.now();
  try {
    await putNetwork(id);
    const state = await waitFor(() => stateOf(id), { timeoutMs: 120_000, what: `/state of ${id}` });
    console.log(
      `chaos Heat hang: ${id} ended ${JSON.stringify(state)} ${((Date.now() - started) / 1000).toFixed(1)} s after its write`,
    );
    expect(state).toEqual({
      error: `stack network_${id} CREATE_FAILED: Timed out`,
      state: { worker_state: 'CREATE_FAILED' },
      version: 1,
    });
    expect(await counts(`network_${id}`)).toEqual({ creates: 1, updates: 0, deletes: 0 });
    await waitFor(async () => (await pendingJobKeys(chaos.store)).length === 0, { what: 'no pending job key' });
  } finally {
    await sim('/_sim/faults', { method: 'DELETE' });
    await sim('/_sim/config', { method: 'POST', body: { minute_ms: 60_000 } });
  }
});

test('a create answered after the HTTP timeout (10 s): one create, no update, CREATE_COMPLETED', async () => {
  const id = `chaos-late-${Date.now().toString(36)}`;
  await sim('/_sim/faults', {
    method: 'POST',
    body: { match: `^network_${id}$`, mode: 'latency', ms: 12_000, committed: true, ops: ['create'], times: 1 },
  });
  const started = Date.now();
  try {
    await putNetwork(id);
    const state = await waitFor(() => stateOf(id), { timeoutMs: 120_000, what: `/state of ${id}` });
    console.log(
      `chaos Heat late create: ${id} ended ${String((state?.state as { worker_state?: string })?.worker_state)} ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s after its write; Heat counted ${JSON.stringify(await counts(`network_${id}`))}`,
    );
    const check = compareState(
      `/state/v2.0/networks/${id}`,
      NETWORK.expected,
      state as unknown as typeof NETWORK.expected,
      {
        outputsByValue: false,
      },
    );
    expect(check).toMatchObject({ ok: true });
    expect(await counts(`network_${id}`)).toEqual({ creates: 1, updates: 0, deletes: 0 });
    await waitFor(async () => (await pendingJobKeys(chaos.store)).length === 0, { what: 'no pending job key' });
  } finally {
    await sim('/_sim/faults', { method: 'DELETE' });
  }
});
