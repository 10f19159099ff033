/**
 * Plans one /config key (level-triggered; docs/planner.md "Wired to etcd"): the message only says
 * which key changed; this reads the key as it is now (./planning/inputs.ts), runs the pure planner,
 * and writes everything of that resource change in one etcd transaction: the jobs (enqueue.ts) and
 * the mirror; or /state READ_COMPLETE and the mirror (no template); or /state PLAN_FAILED, also
 * for a transaction too large for etcd (./plan-limits.ts; the message is acknowledged, `failed`);
 * or, for a deleted key with nothing to tear down, the removal of the worker's own keys.
 *
 * The mirror marks a change as planned. Every write is fenced on the config key's mod revision
 * (the value read is still current), on the mirror (nobody planned this resource since we read
 * it; a redelivery racing the first delivery loses here) and on every referenced /config key (the
 * params were computed from current values). A failed fence re-reads and re-plans, a few times,
 * then throws so SQS redelivers.
 */
import { CONFLICT, converge } from '../store/converge';
import { jobWrites } from '../jobs/enqueue';
import { defaultJobKeys } from '../jobs/job-keys';
import { outputTargets, referencingPuts } from '../jobs/referencing-index';
import { ownedKeys, referencingOps } from './forget';
import { versionOf } from '../gohan/config-value';
import { pathOfSingular } from '../resource-path';
import { defaultSchemaIndex } from '../planner';
import { readValues } from '../store/read';
import { pyDumps } from '../encoding/pyjson';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { keys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { done, failed, type Outcome } from '../sqs/consumer';
import { encodeState, planFailedState } from '../state/state-value';
import {
  absent,
  del,
  modRevisionIs,
  put,
  unchangedSince,
  type Compare,
  type KeyValue,
  type Op,
  type Store,
} from '../store/store';
import { asTerminal, assertFitsEtcd } from './plan-limits';
import { preparePlan, type PrepareOptions, type Prepared } from './planning/inputs';

/** How deep planning follows output targets that are not planned yet (no output_key cycle exists in Heat). */
const MAX_TARGET_DEPTH = 8;

export async function planConfigKey(
  store: Store,
  message: Pick<EtcdEventMessage, 'key'> & Partial<EtcdEventMessage>,
  logger: Logger,
  opts: PrepareOptions = {},
  depth = 0,
): Promise<Outcome> {
  return converge(
    `config key ${message.key}`,
    async () => (await planOnce(store, message.key, logger, opts, depth)) ?? CONFLICT,
    { onConflict: (attempt) => logger.debug('write conflict; re-reading', { attempt }) },
  );
}

/**
 * The resources whose stack outputs the planned jobs read and whose current config the worker
 * has not taken in yet (its mirror and its /state are older than the config).
 */
async function unplannedOutputTargets(
  store: Store,
  p: Parameters<NonNullable<PrepareOptions['planFirst']>>[0],
): Promise<{ key: string; type: string; id: string }[]> {
  if (p.result.kind !== 'jobs') return [];
  const targets = new Map<string, { key: string; type: string; id: string; path: ResourcePath }>();
  for (const { job } of p.result.jobs)
    for (const t of outputTargets(job)) {
      if (t.type === p.resourceType && t.id === p.path.id) continue;
      const path = pathOfSingular(t.type, t.id);
      const key = keys.config(path);
      if (p.referenced.get(key) !== undefined) targets.set(key, { key, ...t, path });
    }
  if (!targets.size) return [];
  const got = await readValues(
    store,
    [...targets.values()].flatMap(({ path }) => [keys.mirror(path), keys.state(path)]),
  );
  return [...targets.values()].filter(({ key, path }) => {
    const configVersion = versionOf(p.referenced.get(key)!.value) ?? 0;
    const taken = Math.max(
      versionOf(got.get(keys.mirror(path))?.value ?? '') ?? 0,
      versionOf(got.get(keys.state(path))?.value ?? '') ?? 0,
    );
    return taken < configVersion;
  });
}

/** The mirror value: the config value the worker acted on, body decoded (docs/PROTOCOL-NOTES.md §f.3). */
export const encodeMirror = (body: Record<string, unknown>, deleted: boolean, version: number): string =>
  pyDumps({ body, deleted, version }, { sortKeys: true });

/** One read-decide-write round; undefined when a fence failed and the round must be re-read. */
async function planOnce(
  store: Store,
  configKey: string,
  logger: Logger,
  opts: PrepareOptions,
  depth: number,
): Promise<Outcome | undefined> {
  // Gohan's writes of several resources may be planned in any order (one message group per key).
  // A job that reads another resource's stack outputs must wait for that resource's jobs, which
  // exist only once its current config is planned: it is planned first (once, whoever gets there
  // first), and this plan re-evaluated with its jobs, over the inputs already read.
  const planFirst: PrepareOptions['planFirst'] = async (p) => {
    const unplanned = await unplannedOutputTargets(store, p);
    for (const { key } of unplanned) {
      logger.info('planning a referenced resource first', { referenced_key: key });
      await planConfigKey(store, { key }, logger, opts, depth + 1);
    }
    return unplanned;
  };
  // Past the depth limit no referenced resource is planned first, whatever `opts` says.
  const { planFirst: _given, ...rest } = opts;
  const prepared = await preparePlan(store, configKey, depth < MAX_TARGET_DEPTH ? { ...rest, planFirst } : rest);
  switch (prepared.kind) {
    case 'skip':
      return done(prepared.note);
    case 'deleted':
      return forgetResource(store, configKey, prepared.path, prepared.mirror, prepared.busy);
    case 'unreadable':
      return writeFailure(store, prepared.path, prepared.config, prepared.error, prepared.version);
    case 'planned':
      return writePlan(store, prepared, logger);
  }
}

async function writePlan(
  store: Store,
  p: Extract<Prepared, { kind: 'planned' }>,
  logger: Logger,
): Promise<Outcome | undefined> {
  const { path, config, value, result } = p;
  logger.appendKeys({
    resource_type: p.resourceType,
    resource_id: path.id,
    version: value.version,
    config_revision: config?.modRevision,
    ...(config ? {} : { teardown: 'config key deleted' }),
  });
  const configKey = keys.config(path);
  const mirrorKey = keys.mirror(path);
  const fences: Compare[] = [configFence(configKey, config), unchangedSince(mirrorKey, p.mirror)];
  const at = config ? `revision ${config.modRevision}` : 'deleted';
  const mirrorOp = put(mirrorKey, encodeMirror(value.body, value.markedForDeletion, value.version));

  const failPlan = (e: Error) => {
    logger.error('plan cannot be written; PLAN_FAILED', { error: e.message });
    const error = `${e.message} at ${configKey} (${at}, version ${value.version})`;
    return writeFailure(store, path, config, error, value.version);
  };

  switch (result.kind) {
    case 'error': {
      const error = `${result.error.message} at ${configKey} (${at}, version ${value.version})`;
      return writeFailure(store, path, config, error, value.version);
    }
    case 'deleted':
      // A teardown with nothing to run (no template for the version the worker saw).
      return config ? done('nothing to plan') : forgetResource(store, configKey, path, p.mirror, false);
    case 'no_template': {
      const ops = [put(keys.state(path), encodeState(result.state)), mirrorOp];
      const res = await commitPlan(store, fences, ops);
      if (res.kind === 'terminal') return failPlan(res.error);
      return res.succeeded ? done(`no template: READ_COMPLETE version ${value.version}`) : undefined;
    }
    case 'jobs': {
      for (const [key, kv] of p.referenced) fences.push(unchangedSince(key, kv));
      // A referenced resource planned since its unfinished jobs were read may have new jobs this
      // plan's jobs must wait for: its mirror moved, so this plan is read again.
      for (const [key, kv] of p.referencedMirrors) fences.push(unchangedSince(key, kv));
      // The job lifecycle decides ready or waiting, and fences on the dependencies as read: one
      // that finishes meanwhile fails this transaction (re-planned) instead of leaving a job waiting.
      const writes = await jobWrites(
        store,
        result.jobs.map(({ job, stored }) => ({ handler: stored[0], job, attempt: stored[2] })),
      );
      const jobs = result.jobs.map((j) => j.job);
      const res = await commitPlan(
        store,
        [...fences, ...writes.compares],
        [...writes.ops, mirrorOp, ...referencingPuts(defaultJobKeys, jobs), ...p.staleReferencing.map((k) => del(k))],
      );
      if (res.kind === 'terminal') return failPlan(res.error);
      if (!res.succeeded) return undefined;
      const ids = result.jobs.map((j) => j.job.id);
      logger.info('planned', { jobs: ids, waiting: ids.filter((id) => writes.placement.get(id) === 'waiting') });
      return done(`planned ${ids.length} job(s) for version ${value.version}`);
    }
  }
}

/**
 * Commits a plan's transaction, classifying at the boundary: a transaction etcd can never accept
 * (too large) is `terminal` before it is even sent (or when etcd refuses it for its size); any
 * other error is thrown, i.e. retryable (SQS redelivers).
 */
async function commitPlan(
  store: Store,
  compares: Compare[],
  ops: Op[],
): Promise<{ kind: 'committed'; succeeded: boolean } | { kind: 'terminal'; error: Error }> {
  try {
    assertFitsEtcd(compares, ops);
    const res = await store
      .txn()
      .when(...compares)
      .then(...ops)
      .commit();
    return { kind: 'committed', succeeded: res.succeeded };
  } catch (err) {
    const terminal = asTerminal(err, compares, ops);
    if (terminal) return { kind: 'terminal', error: terminal };
    throw err;
  }
}

/** The config key is still as read: the same mod revision, or still absent (a teardown). */
const configFence = (configKey: string, config: KeyValue | undefined): Compare =>
  config ? modRevisionIs(configKey, config.modRevision) : absent(configKey);

/** /state = PLAN_FAILED with the error, fenced on the config key; a no-op when it already says so. */
async function writeFailure(
  store: Store,
  path: ResourcePath,
  config: KeyValue | undefined,
  error: string,
  version: number | null,
): Promise<Outcome | undefined> {
  const configKey = keys.config(path);
  const stateKey = keys.state(path);
  const current = await store.get(stateKey);
  const value = encodeState(planFailedState(error, version));
  if (current?.value === value) return failed(error);
  const res = await store
    .txn()
    .when(configFence(configKey, config), unchangedSince(stateKey, current))
    .then(put(stateKey, value))
    .commit();
  return res.succeeded ? failed(error) : undefined;
}

/**
 * Gohan deleted the /config key and there is nothing to tear down (after a logical delete, or a
 * resource without a stack): the worker's own keys for the resource go — its mirror, stack record
 * and job state — in one transaction fenced on the config key still being absent and on each key
 * as read. /state stays: after a logical delete it is Gohan's to remove, as in the original. While
 * a chain of the resource still runs nothing goes: it is aggregated first (a teardown's aggregation
 * forgets the resource itself; otherwise the reconciler's clean-up sends this key again).
 */
async function forgetResource(
  store: Store,
  configKey: string,
  path: ResourcePath,
  mirror: KeyValue | undefined,
  busy: boolean,
): Promise<Outcome | undefined> {
  if (busy) return done('config key deleted; a chain of the resource is still running, the worker keys stay for it');
  const resourceType = defaultSchemaIndex().singular(path.plural);
  const owned = ownedKeys(path).filter((k) => k !== keys.mirror(path));
  const got = await readValues(store, owned);
  const found = owned.map((k) => got.get(k)).filter((kv): kv is KeyValue => kv !== undefined);
  if (mirror) found.push(mirror);
  if (found.length === 0) return done('config key deleted; nothing left to clean up');
  const res = await store
    .txn()
    .when(absent(configKey), ...found.map((kv) => unchangedSince(kv.key, kv)))
    .then(...found.map((kv) => del(kv.key)), ...referencingOps(path, resourceType))
    .commit();
  return res.succeeded ? done(`config key deleted; removed ${found.map((kv) => kv.key).join(', ')}`) : undefined;
}
