/**
 * Plays a scenario against a running stack as Gohan would, shows the jobs moving, and checks
 * every resource's final /state against the record. Used by `npm start` and `npm run demo`.
 */
import { etcdSettings } from '../../shared/config';
import { encodeGohanConfigValue, versionOf } from '../../shared/gohan/config-value';
import { parseConfigKey, keys } from '../../shared/keys';
import { EtcdStore } from '../../shared/store/etcd-store';
import type { Store, WatchHandle } from '../../shared/store/store';
import { del, put } from '../../shared/store/store';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
import { publishTemplate } from '../../shared/templates/publish';
import { checkMonitoring, checkState, type StateCheck } from './compare';
import { loadScenario, type Scenario } from './scenario';
import path from 'node:path';

export interface PlayOptions {
  log: (line: string) => void;
  /** Print job and state changes as they happen. */
  live?: boolean;
  /** How long to wait for the whole scenario to settle. */
  timeoutMs?: number;
}

export interface PlayResult {
  ok: boolean;
  checks: StateCheck[];
  monitoring: StateCheck[];
}

const short = (key: string) =>
  key
    .replace(/^\/(config|state|monitoring)\/(v2\.0|common\/v1\.0)\//, '')
    .replace(/([0-9a-f]{8})-[0-9a-f-]{27}/g, '$1…');

export async function playScenario(store: Store, scenario: Scenario, opts: PlayOptions): Promise<PlayResult> {
  const { log } = opts;
  const templates = loadHeatTemplatesDir(path.join(__dirname, '..', '..', 'templates', 'heat_templates'));
  for (const t of Object.values(templates)) await publishTemplate(store, t);
  log(`published ${Object.keys(templates).length} heat templates`);

  const watches: WatchHandle[] = [];
  if (opts.live) watches.push(...(await liveView(store, log)));
  try {
    log(`playing ${scenario.name}: ${scenario.steps.length} config writes`);
    for (const step of scenario.steps) {
      if ('delete' in step) {
        await store.txn().then(del(step.delete)).commit();
        log(`gohan  delete ${short(step.delete)}`);
        continue;
      }
      await store
        .txn()
        .then(put(step.put, encodeGohanConfigValue(step.body, step.version, step.marked_for_deletion)))
        .commit();
      log(
        `gohan  put    ${short(step.put)} v${step.version}${step.marked_for_deletion ? ' (marked for deletion)' : ''}`,
      );
      // Like an operator clicking on: the next change comes once this one was taken in.
      await waitUntil(() => planned(store, step.put, step.version), 60_000);
    }
    const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
    for (;;) {
      const result = await readResult(store, scenario);
      if (result.checks.every((c) => c.ok) || Date.now() > deadline) return result;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await Promise.all(watches.map((w) => w.cancel()));
  }
}

/** What etcd holds now for every resource of the scenario, compared with the record. */
async function readResult(store: Store, scenario: Scenario): Promise<PlayResult> {
  const read = async (key: string): Promise<unknown> => {
    const kv = await store.get(key);
    return kv ? (JSON.parse(kv.value) as unknown) : undefined;
  };
  const checks = await Promise.all(
    Object.entries(scenario.expected_states).map(async ([key, expected]) =>
      checkState(key, expected, (await read(key)) as Parameters<typeof checkState>[2]),
    ),
  );
  const monitoring = await Promise.all(
    Object.entries(scenario.expected_monitoring).map(async ([key, expected]) =>
      checkMonitoring(key, expected, await read(key)),
    ),
  );
  return { ok: checks.every((c) => c.ok), checks, monitoring };
}

/** The scenario was played into this etcd before: one of its resources has a /state. */
async function alreadyPlayed(store: Store, scenario: Scenario): Promise<boolean> {
  const found = await Promise.all(Object.keys(scenario.expected_states).map((key) => store.get(key)));
  return found.some((kv) => kv !== undefined);
}

/** Taken in: the planner mirrored this version, or wrote a /state for it (read-only or failed). */
async function planned(store: Store, configKey: string, version: number): Promise<boolean> {
  const p = parseConfigKey(configKey);
  if (!p) return true;
  const [mirror, state] = await Promise.all([store.get(keys.workerConfig(p)), store.get(keys.state(p))]);
  const v = (kv: typeof mirror) => (kv ? (versionOf(kv.value) ?? 0) : 0);
  return v(mirror) >= version || v(state) >= version;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('the stack did not take in a config change in time; see the logs');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Prints job moves and results as etcd sees them. */
async function liveView(store: Store, log: (line: string) => void): Promise<WatchHandle[]> {
  const from = (await store.revision()) + 1;
  const onError = () => undefined;
  const jobs = await store.watch('/jobs/', from, {
    onError,
    onEvents: (events) => {
      for (const e of events) {
        const m = /^\/jobs\/(ready|working|finished)\/(\w+):(\w+):(\w+):([^:]+):(\d+):/.exec(e.key);
        if (!m || e.type === 'delete') continue;
        const [, where, action, handler, type, id, version] = m;
        let note = '';
        if (where === 'finished') {
          try {
            const f = JSON.parse(e.value) as { ok?: boolean; error?: string };
            note = f.ok ? ' ok' : ` FAILED: ${f.error ?? ''}`;
          } catch {
            /* plain value */
          }
        }
        log(`job    ${where.padEnd(8)} ${type} ${short(id)} v${version}  ${action} (${handler})${note}`);
      }
    },
  });
  const results = await Promise.all(
    ['/state/', '/monitoring/'].map((prefix) =>
      store.watch(prefix, from, {
        onError,
        onEvents: (events) => {
          for (const e of events) {
            if (e.type === 'delete') {
              log(`result ${short(e.key)} removed`);
              continue;
            }
            try {
              const v = JSON.parse(e.value) as {
                state?: { worker_state?: string };
                version?: number;
                error?: string;
              } & Record<string, unknown>;
              const what = v.state ? `${v.state.worker_state}${v.error ? ` (${v.error})` : ''}` : JSON.stringify(v);
              log(`${prefix === '/state/' ? 'state ' : 'monitor'} ${short(e.key)} v${v.version}  ${what}`);
            } catch {
              /* not JSON */
            }
          }
        },
      }),
    ),
  );
  return [jobs, ...results];
}

const row = (c: StateCheck, width: number) =>
  `  ${c.ok ? 'ok  ' : 'DIFF'} ${short(c.key).padEnd(44)} ${c.expected.padEnd(width)} ${c.actual}${c.ok ? '' : `  (${c.why ?? ''})`}`;

export function summary(result: PlayResult): string[] {
  const lines = ['', 'Final /state of every resource (recorded → now):'];
  for (const c of result.checks) lines.push(row(c, 22));
  lines.push('', 'Final /monitoring (recorded → now):');
  for (const m of result.monitoring) lines.push(row(m, 34));
  const bad = result.checks.filter((c) => !c.ok).length;
  const badMonitoring = result.monitoring.filter((c) => !c.ok).length;
  lines.push(
    '',
    bad
      ? `${bad} of ${result.checks.length} resources differ from the record.`
      : `All ${result.checks.length} resources reached their recorded state.`,
    `${result.monitoring.length - badMonitoring} of ${result.monitoring.length} /monitoring values are as recorded.`,
    'A /monitoring value is what the collector says about a resource, not something this system decides:',
    'here the collector is simulated and every new target reports UP after half a second, while in the',
    "recording some ports' agents reported FAIL; such rows show DIFF with the recorded status. A row with",
    '(none) is a resource the monitoring sync has not written a value for (yet). The /state rows are the',
    "system's own result and decide the outcome.",
  );
  return lines;
}

/**
 * Plays the recorded scenario live on the stack at etcdEndpoint and prints the summary. On an etcd
 * that already holds the scenario (a second `npm start` on the same data folder) nothing is played:
 * what etcd holds is compared and the user is told how to start from an empty etcd.
 */
export async function playRecordedScenario(etcdEndpoint: string, log: (line: string) => void): Promise<PlayResult> {
  const store = new EtcdStore({ ...etcdSettings(), endpoints: [etcdEndpoint] });
  try {
    const scenario = loadScenario();
    let result: PlayResult;
    if (await alreadyPlayed(store, scenario)) {
      log('');
      log(`The demo (${scenario.name}) was already played into this data folder, so it is not played again;`);
      log('below is what etcd holds now. To play it again on an empty etcd: npm start -- --fresh');
      result = await readResult(store, scenario);
    } else {
      result = await playScenario(store, scenario, { log, live: true });
    }
    summary(result).forEach((l) => log(l));
    return result;
  } finally {
    store.close();
  }
}
