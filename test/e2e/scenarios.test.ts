/**
 * The recorded scenarios (infra/demo/scenarios, made by `esi scenario from-trace` from the
 * record's traces) through the whole local stack, each on a fresh stack, as `npm run demo --
 * --scenario <file> [--burst]` plays them, with the simulators given the recorded heat outputs
 * and collector statuses. The collector reports each recorded status as settled long before the
 * run (the record's final /monitoring had outlasted any hold, `hold_options.time_seconds`, 210 s
 * for a port's FAIL), so a run does not wait out the hold in real time. Normal mode: every /state
 * and /monitoring matches the record under the strict comparison (differences with a reason
 * aside). Burst mode (writes back to back): the same, nothing stuck, nothing dead-lettered, and
 * the final dumps differ from normal mode's only in the fields BURST_MAY_DIFFER names, each with
 * its reason.
 */
import { isDeepStrictEqual } from 'node:util';
import { deadLetters } from '../../infra/demo/dead-letters';
import { playScenario, summary, type PlayResult } from '../../infra/demo/play';
import { loadScenario, type Scenario } from '../../infra/demo/scenario';
import { EtcdStore } from '../../shared/store/etcd-store';
import { startTestStack } from '../helpers/stack';

jest.setTimeout(900_000);

/** When the recorded statuses last changed, as the collector reports them: long before the run. */
const SETTLED = '2000-01-01T00:00:00Z';

async function play(name: string, burst: boolean): Promise<{ result: PlayResult; dlq: Record<string, number> }> {
  const stage = `${name.slice(0, 2)}${burst ? 'b' : 'n'}`;
  const stack = await startTestStack(`scn${stage}`, {}, { collectorStatusesSince: SETTLED });
  const store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
  try {
    const t0 = Date.now();
    const result = await playScenario(store, loadScenario(name), {
      log: () => undefined,
      burst,
      simulators: { heatUrl: stack.heat.url, collectorUrl: stack.collector.url },
    });
    const played = ((Date.now() - t0) / 1000).toFixed(1);
    console.log(
      `${name} ${burst ? 'burst' : 'normal'} on the simulators: played in ${played} s\n${summary(result).join('\n')}`,
    );
    return { result, dlq: await deadLetters(stack.env.ESI_SQS_ENDPOINT, stack.env.ESI_STAGE) };
  } finally {
    store.close();
    await stack.stop();
  }
}

interface DumpDifference {
  key: string;
  field: string;
  normal: unknown;
  burst: unknown;
}

/** Every field of the dumps that differs between the two runs (a /state's `state` fields flattened). */
function dumpDifferences(normal: Record<string, unknown>, burst: Record<string, unknown>): DumpDifference[] {
  const out: DumpDifference[] = [];
  const flat = (v: Record<string, unknown>): Record<string, unknown> => {
    const { state, ...rest } = v;
    return { ...rest, ...((state as Record<string, unknown> | undefined) ?? {}) };
  };
  for (const key of [...new Set([...Object.keys(normal), ...Object.keys(burst)])].sort()) {
    const [x, y] = [
      normal[key] as Record<string, unknown> | undefined,
      burst[key] as Record<string, unknown> | undefined,
    ];
    if (!x || !y) {
      if (x !== y) out.push({ key, field: '(the key)', normal: x, burst: y });
      continue;
    }
    const [fx, fy] = [flat(x), flat(y)];
    for (const field of [...new Set([...Object.keys(fx), ...Object.keys(fy)])])
      if (!isDeepStrictEqual(fx[field], fy[field])) out.push({ key, field, normal: fx[field], burst: fy[field] });
  }
  return out;
}

/** The /state keys of the resources a scenario writes more than once. */
function writtenMoreThanOnce(scenario: Scenario): Set<string> {
  const counts = new Map<string, number>();
  for (const step of scenario.steps) if ('put' in step) counts.set(step.put, (counts.get(step.put) ?? 0) + 1);
  return new Set([...counts].filter(([, n]) => n > 1).map(([k]) => k.replace(/^\/config\//, '/state/')));
}

/**
 * What may differ between a burst and a normal replay, and why; anything else fails the test.
 * The planner plans what /config holds when a message arrives, so when a resource's versions
 * come back to back its earlier versions may never be planned: its stack is created at the last
 * version instead of created at the first and updated after (Heat's CREATE_COMPLETE where the
 * normal replay's update left UPDATE_COMPLETE). Only a resource the scenario writes more than
 * once can show it; its version, worker_state, error, outputs and /monitoring may not differ.
 */
const BURST_MAY_DIFFER: { why: string; applies(d: DumpDifference, repeated: Set<string>): boolean }[] = [
  {
    why: 'earlier versions never planned: the stack was created at the last version',
    applies: (d, repeated) =>
      repeated.has(d.key) &&
      d.field === 'orchestration_state' &&
      d.normal === 'UPDATE_COMPLETE' &&
      d.burst === 'CREATE_COMPLETE',
  },
];

describe.each([
  ['00_logical_network', 11, 4],
  ['05_load_balancer', 29, 9],
])('scenario %s', (name, states, monitoring) => {
  let normal: PlayResult;

  test('normal mode: every /state and every /monitoring matches the record', async () => {
    const { result, dlq } = await play(name, false);
    normal = result;
    expect(result.checks.filter((c) => c.kind === 'state')).toHaveLength(states);
    expect(result.checks.filter((c) => c.kind === 'monitoring')).toHaveLength(monitoring);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.unfinishedJobs).toEqual([]);
    expect(Object.values(dlq).filter((n) => n > 0)).toEqual([]);
  });

  test('burst mode: every resource at its last version and its recorded result, nothing stuck, no dead letter', async () => {
    const { result, dlq } = await play(name, true);
    expect(result.checks.filter((c) => !c.ok)).toEqual([]);
    expect(result.unfinishedJobs).toEqual([]);
    expect(Object.keys(dlq).length).toBeGreaterThan(0);
    expect(Object.values(dlq).filter((n) => n > 0)).toEqual([]);
    if (!normal) throw new Error('normal mode did not run: nothing to compare the burst with');
    const repeated = writtenMoreThanOnce(loadScenario(name));
    const diffs = dumpDifferences(normal.dump, result.dump).map((d) => ({
      ...d,
      why: BURST_MAY_DIFFER.find((allowed) => allowed.applies(d, repeated))?.why,
    }));
    console.log(
      `${name}: fields that differ between normal and burst mode:\n${diffs
        .map(
          (d) =>
            `${d.key} ${d.field}: ${JSON.stringify(d.normal)} → ${JSON.stringify(d.burst)} (${d.why ?? 'NOT NAMED'})`,
        )
        .join('\n')}`,
    );
    expect(diffs.filter((d) => !d.why)).toEqual([]);
  });
});
