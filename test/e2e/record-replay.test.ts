/**
 * The recorded load-balancer scenario through the whole local stack, as `npm run demo` plays it:
 * every /config write Gohan made, in order. Every resource must end with its recorded /state
 * (heat outputs by structure where the simulator computes its own values), and the seeds that
 * come from this scenario must appear exactly, with the Heat simulator given the seeds' outputs:
 * seed 003 (port v2) and seed 000 (port v3, /monitoring UP then FAIL), seed 001 (the logical
 * delete), seed 002 (the load balancer v2).
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { playScenario, summary } from '../../infra/demo/play';
import { loadScenario } from '../../infra/demo/scenario';
import type { RunningStack } from '../../infra/stack/stack';
import { EtcdStore } from '../../shared/store/etcd-store';
import type { WatchHandle } from '../../shared/store/store';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

jest.setTimeout(600_000);

const fixtures = path.join(__dirname, '../fixtures');
const seedState = (name: string) => JSON.parse(fs.readFileSync(path.join(fixtures, 'state', `${name}.json`), 'utf8'));

let stack: RunningStack;
let store: EtcdStore;
let watch: WatchHandle;
/** Every value each /state and /monitoring key had during the run, in order. */
const history = new Map<string, string[]>();

beforeAll(async () => {
  stack = await startTestStack('replay', {}, { heatFixtures: path.join(fixtures, 'e2e', 'heat-outputs.seeds.json') });
  store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
  const record = {
    onError: () => undefined,
    onEvents: (events: { key: string; value: string; type: string }[]) => {
      for (const e of events) if (e.type === 'put') history.set(e.key, [...(history.get(e.key) ?? []), e.value]);
    },
  };
  watch = await store.watch('/state/', 1, record);
  const mon = await store.watch('/monitoring/', 1, record);
  const states = watch;
  watch = {
    cancel: async () => {
      await states.cancel();
      await mon.cancel();
    },
  };
});

afterAll(async () => {
  await watch?.cancel();
  store?.close();
  await stack?.stop();
});

test('every resource of the recorded scenario ends with its recorded /state; the seeds appear exactly', async () => {
  const lines: string[] = [];
  const result = await playScenario(store, loadScenario(), { log: (l) => lines.push(l), timeoutMs: 240_000 });
  const report = summary(result).join('\n');

  console.log(
    `record replay: ${result.checks.filter((c) => c.ok).length}/${result.checks.length} resources at their recorded /state\n${report}`,
  );
  expect(result.checks.filter((c) => !c.ok)).toEqual([]);

  const seen = (key: string) => (history.get(key) ?? []).map((v) => JSON.parse(v));
  for (const name of ['003_7051ae089b13e2ae', '000_1f9fc31bb326bf67', '001_a522f211d8b88f3c', '002_addf4c9d80b3d0e0']) {
    const s = seedState(name);
    expect(seen(s.state.key)).toContainEqual(s.state.value);
  }

  // Seed 002: the load balancer's monitoring, as the seed shows it.
  const lbMonitoring = at(
    seedState('002_addf4c9d80b3d0e0').monitoring as { key: string; value: Record<string, unknown> }[],
    0,
    'seed 002 monitoring',
  );
  await waitFor(async () => seen(lbMonitoring.key).some((v) => isDeepStrictEqual(v, lbMonitoring.value)) || undefined, {
    timeoutMs: 60_000,
    what: 'seed 002 /monitoring',
  });

  // Seed 000: the port's monitoring target reports UP, then the collector says FAIL.
  const points = seedState('000_1f9fc31bb326bf67').monitoring as { key: string; value: Record<string, unknown> }[];
  const [up, fail] = [at(points, 0, 'seed 000 monitoring'), at(points, 1, 'seed 000 monitoring')];
  await waitFor(
    async () => {
      const kv = await store.get(up.key);
      return kv && isDeepStrictEqual(JSON.parse(kv.value), up.value);
    },
    { timeoutMs: 60_000, what: 'seed 000 /monitoring UP' },
  );
  const target = stack.collector.targets().find((t) => t.resource_id === up.key.split('/').pop() && t.version === 3);
  expect(target).toBeDefined();
  // FAIL as the agent has reported it for 10 minutes: past the port target's hold_options (210 s).
  stack.collector.setStatus(target!.id as string, 'FAIL', {
    lastChanged: new Date(Date.now() - 600_000).toISOString().replace(/\.\d+Z$/, 'Z'),
  });
  await waitFor(
    async () => {
      const kv = await store.get(fail.key);
      return kv && isDeepStrictEqual(JSON.parse(kv.value), fail.value);
    },
    { timeoutMs: 60_000, what: 'seed 000 /monitoring FAIL' },
  );
  expect(seen(up.key)).toEqual(expect.arrayContaining([up.value, fail.value]));
});

test('no password of the scenario appears in any log line of the run (relay, functions, scheduler, simulators)', () => {
  // Gohan bodies carry passwords (the load balancer's admin_password and user_password, among others).
  const secrets = new Set<string>();
  const collect = (v: unknown, name = ''): void => {
    if (Array.isArray(v)) v.forEach((x) => collect(x, name));
    else if (v && typeof v === 'object') Object.entries(v).forEach(([k, x]) => collect(x, k));
    else if (typeof v === 'string' && /pass|secret|token/i.test(name) && v.length >= 8) secrets.add(v);
  };
  for (const step of loadScenario().steps) if ('body' in step) collect(step.body);
  expect(secrets.size).toBeGreaterThanOrEqual(2);

  const dir = path.dirname(at(stack.processes, 0, 'stack processes').logFile);
  const lines = fs.readdirSync(dir).flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n'));
  const leaks = lines.filter((line) => [...secrets].some((secret) => line.includes(secret)));

  console.log(
    `redaction: ${lines.length} log lines of the run checked for ${secrets.size} passwords: ${leaks.length} leaks`,
  );
  // The resources that carry the passwords went through the logged pipeline.
  expect(lines.filter((l) => l.includes('1d2023e1-0cf4-48a1-af42-ab32466b2acb')).length).toBeGreaterThan(0);
  expect(leaks).toEqual([]);
});
