/**
 * The recorded load-balancer scenario played on a local stack with a fault injected while its jobs
 * run, and the recovery measured: from the fault's end (the restart) to the moment every resource
 * reached its recorded /state, no key is left under /jobs/all|waiting|working and no worker key
 * outlives its resource. Writes go on through the fault as Gohan's would: each one is retried
 * until etcd takes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { ResourceCheck } from '../../infra/demo/compare';
import { checkAll, deleteReported, planned } from '../../infra/demo/play';
import { loadScenario, type Scenario } from '../../infra/demo/scenario';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put, type Store } from '../../shared/store/store';
import type { RunningStack } from '../../infra/stack/stack';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
import { publishTemplate } from '../../shared/templates/publish';
import { orphanWorkerKeys, pendingJobKeys } from './chaos';
import { startTestStack } from './stack';
import { waitFor } from './wait';
import { at } from './at';

const TEMPLATES = path.join(__dirname, '..', '..', 'templates', 'heat_templates');

/** A store for the test's own reads and writes that gives up on a call after `timeoutMs` (etcd may be frozen). */
export function chaosStore(endpoints: string): EtcdStore {
  return new EtcdStore({ endpoints: endpoints.split(',') });
}

/** The whole local stack with the deployed defaults and the seeds' Heat outputs, and a store on its etcd. */
export interface ChaosStack {
  stack: RunningStack;
  store: EtcdStore;
}

/**
 * The deployed defaults that bound recovery, read from serverless.yml (params.default): what the
 * chaos stack runs with, since it overrides none of them.
 */
export function deployedRecoverySettings(): {
  jobLeaseSeconds: number;
  reconcileBacklogGraceSeconds: number;
  maxReceiveCount: number;
} {
  const doc = YAML.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'serverless.yml'), 'utf8'));
  const p = doc.params.default;
  return {
    jobLeaseSeconds: Number(p.jobLeaseSeconds),
    reconcileBacklogGraceSeconds: Number(p.reconcileBacklogGraceSeconds),
    maxReceiveCount: Number(p.maxReceiveCount),
  };
}

/** The settings line a chaos case prints beside its figures. */
export const settingsLine = (): string =>
  'deployed defaults (serverless.yml): ' +
  Object.entries(deployedRecoverySettings())
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/**
 * Registers a chaos file's beforeAll/afterAll: the stack named `name` is up before its tests and
 * stopped, its store closed, after them. The returned object is filled in by beforeAll.
 */
export function useChaosStack(name: string): ChaosStack {
  const ctx = {} as ChaosStack;
  beforeAll(async () => {
    ctx.stack = await startTestStack(
      name,
      {},
      { heatFixtures: path.join(__dirname, '../fixtures/e2e/heat-outputs.seeds.json') },
    );
    // Nothing that bounds recovery is set by the test: the functions get serverless.yml's defaults.
    for (const v of ['ESI_JOB_LEASE_SECONDS', 'ESI_RECONCILE_BACKLOG_GRACE_SECONDS', 'ESI_RETRY_MAX_DELAY_SECONDS'])
      expect(ctx.stack.env[v]).toBeUndefined();
    ctx.store = chaosStore(ctx.stack.env.ESI_ETCD_ENDPOINTS);
  });
  afterAll(async () => {
    ctx.store?.close();
    await ctx.stack?.stop();
  });
  return ctx;
}

/** Runs `fn` until it succeeds or `timeoutMs` passes; each try is cut after `tryMs` (a frozen etcd never answers). */
export async function persist<T>(fn: () => Promise<T>, what: string, timeoutMs = 180_000, tryMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`${what}: no answer in ${tryMs} ms`)), tryMs),
        ),
      ]);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Gohan's writes of the scenario (steps `from` to `to`, excluded; the templates first when `from`
 * is 0), each waited for until the worker took it in (as the demo plays it).
 */
export async function playSteps(store: Store, scenario: Scenario, from = 0, to = scenario.steps.length): Promise<void> {
  if (from === 0)
    for (const t of Object.values(loadHeatTemplatesDir(TEMPLATES)))
      await persist(() => publishTemplate(store, t), `publish ${t.id}`);
  for (const step of scenario.steps.slice(from, to)) {
    // Gohan removes a resource only once the worker reported its logical delete (infra/demo/play.ts).
    if ('delete' in step)
      await waitFor(() => persist(() => deleteReported(store, step.delete), 'delete reported?', 5000), {
        timeoutMs: 180_000,
        intervalMs: 100,
        what: `${step.delete}'s logical delete to be reported`,
      });
    const op =
      'delete' in step
        ? del(step.delete)
        : put(step.put, encodeGohanConfigValue(step.body, step.version, step.marked_for_deletion));
    await persist(() => store.txn().then(op).commit(), 'a config write');
    if ('put' in step)
      await waitFor(() => persist(() => planned(store, step.put, step.version), 'planned?', 5000), {
        timeoutMs: 180_000,
        intervalMs: 100,
        what: `${step.put} v${step.version} to be taken in`,
      });
  }
}

/** Every expected /state (and /monitoring) reached, compared as the demo does: the checks, or undefined while not there yet. */
export async function statesReached(store: Store, scenario: Scenario): Promise<ResourceCheck[] | undefined> {
  const checks = await checkAll(store, scenario, false, false);
  return checks.every((c) => c.ok) ? checks.filter((c) => c.kind === 'state') : undefined;
}

/** Every expected /state reached, nothing pending, no orphan: the checks, or undefined while not there yet. */
export async function settled(store: Store, scenario: Scenario): Promise<ResourceCheck[] | undefined> {
  const checks = await statesReached(store, scenario);
  if (!checks) return undefined;
  if ((await pendingJobKeys(store)).length) return undefined;
  if ((await orphanWorkerKeys(store)).length) return undefined;
  return checks;
}

export interface Recovery {
  /** Seconds from the fault's end to every resource at its recorded /state with nothing left over. */
  seconds: number;
  /** Seconds from the fault's end to every resource at its recorded /state (leftovers aside). */
  statesSeconds: number;
  checks: ResourceCheck[];
}

/** A fault injected around step `step`'s write: `beforeWrite` runs just before it, the fault right after its commit. */
export interface DuringStep {
  step: number;
  beforeWrite?: () => Promise<void>;
}

/**
 * Plays the scenario; once its last write was taken in and jobs are running (or, with `during`,
 * as soon as that step's write is committed), `fault` runs (it resolves when the fault has ended:
 * the process restarted, the member back); then plays what is left and waits for the scenario to
 * settle, and returns the recovery.
 */
export async function scenarioThroughFault(
  store: Store,
  fault: () => Promise<void>,
  o: { settleTimeoutMs?: number; during?: DuringStep } = {},
): Promise<Recovery> {
  const scenario = loadScenario();
  let endedAt: number;
  if (o.during) {
    const { step, beforeWrite } = o.during;
    const write = at(scenario.steps, step, 'scenario steps');
    if (!('put' in write)) throw new Error(`step ${step} is not a put`);
    await playSteps(store, scenario, 0, step);
    await beforeWrite?.();
    await persist(
      () =>
        store
          .txn()
          .then(put(write.put, encodeGohanConfigValue(write.body, write.version, write.marked_for_deletion)))
          .commit(),
      'a config write',
    );
    await fault();
    endedAt = Date.now();
    await waitFor(() => persist(() => planned(store, write.put, write.version), 'planned?', 5000), {
      timeoutMs: 180_000,
      intervalMs: 100,
      what: `${write.put} v${write.version} to be taken in`,
    });
    await playSteps(store, scenario, step + 1, scenario.steps.length);
  } else {
    await playSteps(store, scenario);
    // Jobs in flight: some job claimed and not finished.
    await waitFor(async () => (await store.range('/jobs/working/', { limit: 1 })).items.length > 0, {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'a job to be running',
    });
    await fault();
    endedAt = Date.now();
  }
  let checks: ResourceCheck[] | undefined;
  let statesAt: number | undefined;
  await waitFor(
    async () => {
      if (!statesAt && (await persist(() => statesReached(store, scenario), 'states?', 10_000, 5000)))
        statesAt = Date.now();
      checks = statesAt ? await persist(() => settled(store, scenario), 'settled?', 10_000, 5000) : undefined;
      return checks;
    },
    { timeoutMs: o.settleTimeoutMs ?? 240_000, intervalMs: 250, what: 'every resource at its recorded /state' },
  ).catch(async (err: Error) => {
    const now = await settledReport(store, scenario);
    const states = statesAt ? `every /state reached ${((statesAt - endedAt) / 1000).toFixed(1)} s after the fault` : '';
    throw new Error(`${err.message}\n${states}\n${now}`);
  });
  return { seconds: (Date.now() - endedAt) / 1000, statesSeconds: (statesAt! - endedAt) / 1000, checks: checks! };
}

/** What is still missing, for a failed case's message. */
async function settledReport(store: Store, scenario: Scenario): Promise<string> {
  const lines: string[] = [];
  for (const c of await checkAll(store, scenario, false, false).catch(() => []))
    if (!c.ok) lines.push(`  ${c.key}: ${c.expected} → ${c.actual} (${c.differences.map((d) => d.field).join(', ')})`);
  lines.push(`  pending job keys: ${(await pendingJobKeys(store).catch(() => [])).join(', ') || 'none'}`);
  lines.push(`  orphan worker keys: ${(await orphanWorkerKeys(store).catch(() => [])).join(', ') || 'none'}`);
  return lines.join('\n');
}
