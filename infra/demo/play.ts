/**
 * Plays a scenario against a running stack as Gohan would, shows the jobs moving, and checks
 * every resource's final /state against the record. Used by `npm start` and `npm run demo`.
 */
import { encodeGohanConfigValue, versionOf } from '../../shared/gohan/config-value';
import { parseConfigKey, keys } from '../../shared/keys';
import { EtcdStore } from '../../shared/store/etcd-store';
import type { KeyValue, Store, WatchHandle } from '../../shared/store/store';
import { del, put } from '../../shared/store/store';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
import { publishTemplate } from '../../shared/templates/publish';
import { defaultSchemaIndex } from '../../shared/planner/schema';
import { asBurst, compareMonitoring, compareState, type ResourceCheck } from './compare';
import { settleBudget, TEMPLATES_DIR } from './holds';
import { pendingLine, releases } from './pending';
import { loadScenario, type Scenario, type StateDoc } from './scenario';
import { plainDisplay, type WaitDisplay } from './wait-line';
import { definedOnly } from '../../shared/defined-only';

export interface PlayOptions {
  log: (line: string) => void;
  /** Print job and state changes as they happen. */
  live?: boolean;
  /** Write back to back, as Gohan does, without waiting for each change to be planned. */
  burst?: boolean;
  /**
   * How long to wait after the last write for every resource to match; default: the longest
   * hold of a status the scenario expects plus the time its chains get (holds.ts).
   */
  timeoutMs?: number;
  /** Where the pending-wait line goes; default: a log line every 10 s. */
  display?: WaitDisplay;
  /**
   * The stack's simulators: they are given the scenario's recorded heat outputs and collector
   * statuses, and heat_outputs are then compared by value. Without them, by output keys, and
   * every recorded collector status counts as not set.
   */
  simulators?: { heatUrl?: string; collectorUrl: string };
  /** Called after each config write, before waiting for it to be taken in (fault injection). */
  afterWrite?: (index: number, revision: number) => Promise<void>;
}

/** Gives the simulators what the scenario recorded (their control endpoints). */
async function prepareSimulators(scenario: Scenario, sims: NonNullable<PlayOptions['simulators']>): Promise<void> {
  const putJson = async (url: string, body: unknown) => {
    const res = await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`PUT ${url}: ${res.status} ${await res.text()}`);
  };
  // A real Heat (no heatUrl) makes its own outputs.
  if (sims.heatUrl) await putJson(`${sims.heatUrl}/_sim/fixtures`, scenario.heat_outputs ?? {});
  await putJson(`${sims.collectorUrl}/_sim/statuses`, scenario.collector_statuses ?? []);
}

export interface PlayResult {
  /** Every resource matches (differences with a reason aside), and no job is left. */
  ok: boolean;
  checks: ResourceCheck[];
  /** /jobs/all keys still there at the end (a stuck chain). */
  unfinishedJobs: string[];
  /** Every final /state and /monitoring value, by key. */
  dump: Record<string, unknown>;
}

const short = (key: string) =>
  key
    .replace(/^\/(config|state|monitoring)\/(v2\.0|common\/v1\.0)\//, '')
    .replace(/([0-9a-f]{8})-[0-9a-f-]{27}/g, '$1…');

const parsed = (kv: KeyValue | undefined): Record<string, unknown> | undefined => {
  if (!kv) return undefined;
  try {
    return JSON.parse(kv.value) as Record<string, unknown>;
  } catch {
    return { unparsable: kv.value };
  }
};

/** The jobs planned for each resource and version while the scenario played (`action:handler`, in order). */
export type PlayedChains = Map<string, string[]>;

const chainKey = (type: string, id: string, version: number) => `${type}:${id}:${version}`;

/** Records every job planned from `from` on, by resource and version. */
async function recordChains(store: Store, from: number): Promise<{ chains: PlayedChains; watch: WatchHandle }> {
  const chains: PlayedChains = new Map();
  const watch = await store.watch('/jobs/all/', from, {
    onError: () => undefined,
    onEvents: (events) => {
      for (const e of events) {
        const m = /^\/jobs\/all\/(\w+):(\w+):(\w+):([^:]+):(\d+):/.exec(e.key);
        if (!m || e.type === 'delete') continue;
        const [, action = '', handler = '', type = '', id = '', version = ''] = m; // groups the pattern requires
        const key = chainKey(type, id, Number(version));
        const jobs = chains.get(key) ?? [];
        if (!jobs.includes(`${action}:${handler}`)) chains.set(key, [...jobs, `${action}:${handler}`]);
      }
    },
  });
  return { chains, watch };
}

export async function checkAll(
  store: Store,
  scenario: Scenario,
  simulated: boolean | { heat: boolean; collector: boolean },
  burst: boolean,
  chains: PlayedChains = new Map(),
): Promise<ResourceCheck[]> {
  const sims = typeof simulated === 'boolean' ? { heat: simulated, collector: simulated } : simulated;
  const writes = new Map<string, number>();
  for (const step of scenario.steps)
    if ('put' in step) {
      const key = step.put.replace(/^\/config\//, '/state/');
      writes.set(key, (writes.get(key) ?? 0) + 1);
    }
  const fixtures = sims.heat ? (scenario.heat_outputs ?? {}) : {};
  const states = Object.entries(scenario.expected_states).map(async ([key, expected]) => {
    const [plural = '', id = ''] = key.split('/').slice(-2);
    const singular = defaultSchemaIndex().singular(plural);
    const stack = `${singular}_${id}`;
    const outputsByValue = `${stack}@version=${expected.version}` in fixtures || stack in fixtures;
    const actual = parsed(await store.get(key)) as StateDoc | undefined;
    const chain = actual && chains.get(chainKey(singular ?? '', id, actual.version));
    const check = compareState(key, expected, actual, definedOnly({ outputsByValue, chain }));
    return burst ? asBurst(check, (writes.get(key) ?? 0) > 1) : check;
  });
  const monitoring = Object.entries(scenario.expected_monitoring).map(async ([key, expected]) =>
    compareMonitoring(
      key,
      expected,
      parsed(await store.get(key)),
      sims.collector ? (scenario.collector_statuses ?? []) : [],
    ),
  );
  return Promise.all([...states, ...monitoring]);
}

export async function playScenario(store: Store, scenario: Scenario, opts: PlayOptions): Promise<PlayResult> {
  const { log } = opts;
  if (opts.simulators) await prepareSimulators(scenario, opts.simulators);
  const templates = loadHeatTemplatesDir(TEMPLATES_DIR);
  for (const t of Object.values(templates)) await publishTemplate(store, t);
  log(`published ${Object.keys(templates).length} heat templates`);

  const { chains, watch } = await recordChains(store, (await store.revision()) + 1);
  const watches: WatchHandle[] = [watch];
  if (opts.live) watches.push(...(await liveView(store, log)));
  try {
    log(`playing ${scenario.name}: ${scenario.steps.length} config writes${opts.burst ? ' (burst)' : ''}`);
    for (const [index, step] of scenario.steps.entries()) {
      if ('delete' in step) {
        // Gohan removes a resource only once the worker reported its logical delete, in a burst too:
        // a /config delete before that is a delete of a live resource, torn down and forgotten.
        await waitUntil(() => deleteReported(store, step.delete), 180_000);
        const { revision } = await store.txn().then(del(step.delete)).commit();
        log(`gohan  delete ${short(step.delete)}`);
        await opts.afterWrite?.(index, revision);
        continue;
      }
      const { revision } = await store
        .txn()
        .then(put(step.put, encodeGohanConfigValue(step.body, step.version, step.marked_for_deletion)))
        .commit();
      log(
        `gohan  put    ${short(step.put)} v${step.version}${step.marked_for_deletion ? ' (marked for deletion)' : ''}`,
      );
      await opts.afterWrite?.(index, revision);
      // Like an operator clicking on: the next change comes once this one was taken in.
      if (!opts.burst) await waitUntil(() => planned(store, step.put, step.version), 60_000);
    }
    return await settle(store, scenario, opts, chains);
  } finally {
    await Promise.all(watches.map((w) => w.cancel()));
  }
}

/**
 * Waits until every resource matches, or the settle budget is spent, saying meanwhile what is
 * pending and why.
 */
async function settle(store: Store, scenario: Scenario, opts: PlayOptions, chains: PlayedChains): Promise<PlayResult> {
  const budget = settleBudget(scenario, loadHeatTemplatesDir(TEMPLATES_DIR));
  const deadline = Date.now() + (opts.timeoutMs ?? budget.ms);
  const display = opts.display ?? plainDisplay(opts.log);
  const released = releases(opts.simulators?.collectorUrl);
  try {
    for (;;) {
      const result = await readResult(store, scenario, opts, chains);
      if (result.ok || Date.now() > deadline) return result;
      const held = await released(budget.holds.filter((h) => result.checks.some((c) => c.key === h.key && !c.ok)));
      display.status(pendingLine(result, held, deadline - Date.now()));
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    display.end();
  }
}

/** What etcd holds now for every resource of the scenario, compared with the record. */
async function readResult(
  store: Store,
  scenario: Scenario,
  opts: Pick<PlayOptions, 'simulators' | 'burst'>,
  chains?: PlayedChains,
): Promise<PlayResult> {
  const checks = await checkAll(
    store,
    scenario,
    { heat: opts.simulators?.heatUrl !== undefined, collector: opts.simulators !== undefined },
    opts.burst === true,
    chains,
  );
  const unfinishedJobs = (await store.range('/jobs/all/')).items.map((kv) => kv.key);
  const dump: Record<string, unknown> = {};
  for (const prefix of ['/state/', '/monitoring/'])
    for (const kv of (await store.range(prefix)).items) dump[kv.key] = parsed(kv);
  return { ok: checks.every((c) => c.ok) && unfinishedJobs.length === 0, checks, unfinishedJobs, dump };
}

/** The scenario was played into this etcd before: one of its resources has a /state. */
async function alreadyPlayed(store: Store, scenario: Scenario): Promise<boolean> {
  const found = await Promise.all(Object.keys(scenario.expected_states).map((key) => store.get(key)));
  return found.some((kv) => kv !== undefined);
}

/** The worker reported the logical delete of a resource (its /state says DELETE_…). */
export async function deleteReported(store: Store, configKey: string): Promise<boolean> {
  const state = parsed(await store.get(configKey.replace(/^\/config\//, '/state/')));
  const ws = (state?.state as { worker_state?: unknown } | undefined)?.worker_state;
  return typeof ws === 'string' && ws.startsWith('DELETE_');
}

/** Taken in: the planner mirrored this version, or wrote a /state for it (read-only or failed). */
export async function planned(store: Store, configKey: string, version: number): Promise<boolean> {
  const p = parseConfigKey(configKey);
  if (!p) return true;
  const [mirror, state] = await Promise.all([store.get(keys.mirror(p)), store.get(keys.state(p))]);
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
        const m = /^\/jobs\/(all|working|finished)\/(\w+):(\w+):(\w+):([^:]+):(\d+):/.exec(e.key);
        if (!m || e.type === 'delete') continue;
        const [, where = '', action, handler, type = '', id = '', version] = m; // groups the pattern requires
        let note = '';
        if (where === 'finished') {
          try {
            const f = JSON.parse(e.value) as { ok?: boolean; error?: string };
            note = f.ok ? ' ok' : ` FAILED: ${f.error ?? ''}`;
          } catch {
            /* plain value */
          }
        }
        log(
          `job    ${(where === 'all' ? 'planned' : where).padEnd(8)} ${type} ${short(id)} v${version}  ${action} (${handler})${note}`,
        );
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

const brief = (v: unknown) => {
  const text = typeof v === 'string' ? v : JSON.stringify(v);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
};

export function summary(result: PlayResult): string[] {
  const lines: string[] = [];
  for (const kind of ['state', 'monitoring'] as const) {
    lines.push('', `Final /${kind} of every resource (recorded → now):`);
    for (const c of result.checks.filter((x) => x.kind === kind)) {
      const mark = !c.ok ? 'DIFF' : c.differences.length ? 'ok* ' : 'ok  ';
      lines.push(`  ${mark} ${short(c.key).padEnd(44)} ${c.expected.padEnd(22)} ${c.actual}`);
      for (const d of c.differences)
        lines.push(
          `         ${d.field}: recorded ${brief(d.expected)}, now ${brief(d.actual)}${d.named ? `  (named: ${d.named})` : ''}`,
        );
    }
  }
  const count = (kind: string) => {
    const all = result.checks.filter((c) => c.kind === kind);
    return `${all.filter((c) => c.ok).length}/${all.length}`;
  };
  const named = result.checks.flatMap((c) => c.differences.filter((d) => d.named)).length;
  lines.push(
    '',
    `/state: ${count('state')} match; /monitoring: ${count('monitoring')} match` +
      `${named ? ` (${named} named difference(s), marked ok*)` : ''}; unfinished jobs: ${result.unfinishedJobs.length}.`,
    result.ok ? 'Every resource reached its recorded result.' : 'Some resources differ from the record (DIFF above).',
  );
  return lines;
}

/**
 * Plays a scenario live on the stack at etcdEndpoint and prints the summary. On an etcd that
 * already holds the scenario (a second `npm start` on the same data folder) nothing is played:
 * what etcd holds is compared and the user is told how to start from an empty etcd.
 */
export async function playRecordedScenario(
  etcdEndpoint: string,
  log: (line: string) => void,
  opts: {
    scenario?: Scenario;
    burst?: boolean;
    simulators?: NonNullable<PlayOptions['simulators']>;
    live?: boolean;
    display?: WaitDisplay;
  } = {},
): Promise<PlayResult> {
  // The stack this demo plays on: plain loopback etcd, whatever ESI_ETCD_* the shell has.
  const store = new EtcdStore({ endpoints: [etcdEndpoint] });
  try {
    const scenario = opts.scenario ?? loadScenario();
    let result: PlayResult;
    if (await alreadyPlayed(store, scenario)) {
      log('');
      log(`The demo (${scenario.name}) was already played into this data folder, so it is not played again;`);
      log('below is what etcd holds now. To play it again on an empty etcd: npm start -- --fresh');
      result = await readResult(store, scenario, opts);
    } else {
      result = await playScenario(store, scenario, {
        log,
        live: opts.live ?? true,
        ...definedOnly({ burst: opts.burst, simulators: opts.simulators, display: opts.display }),
      });
    }
    summary(result).forEach((l) => log(l));
    return result;
  } finally {
    store.close();
  }
}
