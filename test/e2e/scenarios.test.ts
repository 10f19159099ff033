/**
 * The recorded scenarios (infra/demo/scenarios, made by `esi scenario from-trace` from the
 * record's traces) through the whole local stack, each on a fresh stack, as `npm run demo --
 * --scenario <file> [--burst]` plays them, with the simulators given the recorded heat outputs
 * and collector statuses. The collector reports each recorded status as settled long before the
 * run (the record's final /monitoring had outlasted any hold, `hold_options.time_seconds`, 210 s
 * for a port's FAIL), so a run does not wait out the hold in real time. Normal mode: every /state
 * and /monitoring matches the record under the strict comparison (differences with a reason
 * aside). Burst mode (writes back to back): the
 * same, nothing stuck, nothing dead-lettered; the fields that differ from normal mode are printed.
 */
import { isDeepStrictEqual } from 'node:util';
import { deadLetters } from '../../infra/demo/dead-letters';
import { playScenario, summary, type PlayResult } from '../../infra/demo/play';
import { loadScenario } from '../../infra/demo/scenario';
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
    const result = await playScenario(store, loadScenario(name), {
      log: () => undefined,
      burst,
      timeoutMs: 300_000,
      simulators: { heatUrl: stack.heat.url, collectorUrl: stack.collector.url },
    });
    console.log(`${name} ${burst ? 'burst' : 'normal'}:\n${summary(result).join('\n')}`);
    return { result, dlq: await deadLetters(stack.env.ESI_SQS_ENDPOINT, stack.env.ESI_STAGE) };
  } finally {
    store.close();
    await stack.stop();
  }
}

/** Every field of the dumps that differs between two runs. */
function dumpDifferences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    const [x, y] = [a[key] as Record<string, unknown> | undefined, b[key] as Record<string, unknown> | undefined];
    if (!x || !y) {
      if (x !== y) out.push(`${key}: ${x ? 'only in normal mode' : 'only in burst mode'}`);
      continue;
    }
    const flat = (v: Record<string, unknown>): Record<string, unknown> => {
      const { state, ...rest } = v;
      return { ...rest, ...((state as Record<string, unknown> | undefined) ?? {}) };
    };
    const [fx, fy] = [flat(x), flat(y)];
    for (const f of [...new Set([...Object.keys(fx), ...Object.keys(fy)])])
      if (!isDeepStrictEqual(fx[f], fy[f]))
        out.push(`${key} ${f}: ${JSON.stringify(fx[f])} → ${JSON.stringify(fy[f])}`);
  }
  return out;
}

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
    if (normal) {
      const diffs = dumpDifferences(normal.dump, result.dump);
      console.log(
        `${name}: fields that differ between normal and burst mode: ${diffs.length ? `\n${diffs.join('\n')}` : 'none'}`,
      );
    }
  });
});
