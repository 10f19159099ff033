/**
 * Plans one /config key as it is now and writes the change in one transaction fenced on the config
 * key, the mirror (a racing redelivery loses) and every referenced key (docs/planner.md "Wired to etcd").
 */
import { commitDecision, converge, type Conflict } from '../store/converge';
import { jobWrites } from '../jobs/enqueue';
import { defaultJobKeys } from '../jobs/job-keys';
import { outputTargets, referencingOf, referencingPuts } from '../jobs/referencing-index';
import { versionOf } from '../gohan/config-value';
import { pathOfSingular } from '../resource-path';
import { defaultSchemaIndex, type PlanResult } from '../planner';
import { readKeys, readValues } from '../store/read';
import { encodeEsiValue } from '../heat/records';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { keys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { done, failed, type Outcome } from '../sqs/consumer';
import { encodeState, planFailedState } from '../state/state-value';
import { absent, del, modRevisionIs, put, unchangedSince } from '../store/store';
import type { Compare, KeyValue, Op, Store } from '../store/store';
import { numberSetting } from '../config';
import { isRequestTooLarge } from '../store/etcd-store';
import { preparePlan, type Planned, type PrepareOptions } from './planning/inputs';

/** How deep planning follows unplanned output targets (no output_key cycle exists in Heat). */
const MAX_TARGET_DEPTH = 8;

export async function planConfigKey(
  store: Store,
  message: Pick<EtcdEventMessage, 'key'> & Partial<EtcdEventMessage>,
  logger: Logger,
  depth = 0,
): Promise<Outcome> {
  return converge(`config key ${message.key}`, () => planOnce(store, message.key, logger, depth), {
    onConflict: (attempt) => logger.debug('write conflict; re-reading', { attempt }),
  });
}

/** The resources whose stack outputs the jobs read and whose mirror and /state are older than their config. */
async function unplannedOutputTargets(store: Store, result: PlanResult, referenced: Planned['referenced']) {
  if (result.kind !== 'jobs') return [];
  const targets = new Map<string, { key: string; type: string; id: string; path: ResourcePath; version: number }>();
  for (const { job } of result.jobs)
    for (const t of outputTargets(job)) {
      const path = pathOfSingular(t.type, t.id);
      const config = referenced.get(keys.config(path));
      if (config) targets.set(config.key, { key: config.key, ...t, path, version: versionOf(config.value) ?? 0 });
    }
  const list = [...targets.values()];
  if (!list.length) return [];
  const read = list.flatMap(({ path }) => [keys.mirror(path), keys.state(path)]);
  const got = await readValues(store, read);
  const taken = (key: string) => versionOf(got.get(key)?.value ?? '') ?? 0;
  return list.filter(({ path, version }) => Math.max(taken(keys.mirror(path)), taken(keys.state(path))) < version);
}

async function planOnce(store: Store, configKey: string, logger: Logger, depth: number): Promise<Outcome | Conflict> {
  // Output targets not planned yet go first: this plan's jobs wait for their jobs (docs/planner.md, step 3).
  const planFirst: PrepareOptions['planFirst'] = async (result, referenced) => {
    const unplanned = await unplannedOutputTargets(store, result, referenced);
    for (const { key } of unplanned) {
      logger.info('planning a referenced resource first', { referenced_key: key });
      await planConfigKey(store, { key }, logger, depth + 1);
    }
    return unplanned;
  };
  const prepared = await preparePlan(store, configKey, depth < MAX_TARGET_DEPTH ? { planFirst } : {});
  switch (prepared.kind) {
    case 'skip':
      return done(prepared.note);
    case 'deleted':
      if (prepared.busy)
        return done('config key deleted; a chain of the resource is still running, the worker keys stay for it');
      return forgetResource(store, prepared.path, prepared.mirror);
    case 'unreadable':
      return writeFailure(store, prepared.path, prepared.config, prepared.error, prepared.version);
    case 'planned':
      return writePlan(store, prepared, logger);
  }
}

async function writePlan(store: Store, p: Planned, logger: Logger): Promise<Outcome | Conflict> {
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
  // The config value the worker acted on, body decoded (docs/PROTOCOL-NOTES.md §f.3).
  const mirrored = { body: value.body, deleted: value.markedForDeletion, version: value.version };
  const mirrorOp = put(mirrorKey, encodeEsiValue(mirrored));

  const fail = (e: Error) =>
    writeFailure(store, path, config, `${e.message} at ${configKey} (${at}, version ${value.version})`, value.version);
  const commit = async (compares: Compare[], ops: Op[]): Promise<true | Outcome | Conflict> => {
    const res = await commitPlan(store, compares, ops);
    if (!(res instanceof Error)) return res;
    logger.error('plan cannot be written; PLAN_FAILED', { error: res.message });
    return fail(res);
  };

  switch (result.kind) {
    case 'error':
      return fail(result.error);
    case 'deleted':
      // A teardown with nothing to run (no template for the version the worker saw).
      return config ? done('nothing to plan') : forgetResource(store, path, p.mirror);
    case 'no_template': {
      const res = await commit(fences, [put(keys.state(path), encodeState(result.state)), mirrorOp]);
      return res === true ? done(`no template: READ_COMPLETE version ${value.version}`) : res;
    }
    case 'jobs': {
      // docs/planner.md "Fences": a referenced resource planned since may have new jobs to wait for.
      for (const [key, kv] of [...p.referenced, ...p.referencedMirrors]) fences.push(unchangedSince(key, kv));
      // Ready or waiting, fenced on the dependencies as read (one finishing meanwhile re-plans).
      const planned = result.jobs.map(({ job, stored }) => ({ handler: stored[0], job, attempt: stored[2] }));
      const writes = await jobWrites(store, planned);
      const jobs = result.jobs.map((j) => j.job);
      const res = await commit(
        [...fences, ...writes.compares],
        [...writes.ops, mirrorOp, ...referencingPuts(defaultJobKeys, jobs), ...p.staleReferencing.map((k) => del(k))],
      );
      if (res !== true) return res;
      const ids = result.jobs.map((j) => j.job.id);
      logger.info('planned', { jobs: ids, waiting: ids.filter((id) => writes.placement.get(id) === 'waiting') });
      return done(`planned ${ids.length} job(s) for version ${value.version}`);
    }
  }
}

const configFence = (configKey: string, config: KeyValue | undefined): Compare =>
  config ? modRevisionIs(configKey, config.modRevision) : absent(configKey);

/** /state = PLAN_FAILED, fenced on the config key; a no-op when it already says so. */
async function writeFailure(
  store: Store,
  path: ResourcePath,
  config: KeyValue | undefined,
  error: string,
  version: number | null,
): Promise<Outcome | Conflict> {
  const stateKey = keys.state(path);
  const current = await store.get(stateKey);
  const value = encodeState(planFailedState(error, version));
  if (current?.value === value) return failed(error);
  const when = [configFence(keys.config(path), config), unchangedSince(stateKey, current)];
  return commitDecision(store, { result: failed(error), when, then: [put(stateKey, value)] });
}

/** The /config key is gone, nothing to tear down: the worker's keys go, fenced on the key absent and each as read. */
async function forgetResource(store: Store, path: ResourcePath, mirror: KeyValue | undefined) {
  const resourceType = defaultSchemaIndex().singular(path.plural);
  const owned = keys.owned(path).filter((k) => k !== keys.mirror(path));
  const found = (await readKeys(store, { keys: owned })).values.filter((kv) => kv !== undefined);
  if (mirror) found.push(mirror);
  if (found.length === 0) return done('config key deleted; nothing left to clean up');
  return commitDecision(store, {
    result: done(`config key deleted; removed ${found.map((kv) => kv.key).join(', ')}`),
    when: [absent(keys.config(path)), ...found.map((kv) => unchangedSince(kv.key, kv))],
    then: [...found.map((kv) => del(kv.key)), ...referencingOf(defaultJobKeys, resourceType, path.id)],
  });
}

// A plan etcd can never accept is terminal here, a readable PLAN_FAILED (docs/planner.md, step 4): the mirror
// and every job's resource_input each carry the config body, so a body of a few hundred KiB can be too large.
class PlanTooLargeError extends Error {
  override name = 'PlanTooLargeError';
  constructor(bytes: number, limit: number, cause?: unknown) {
    super(
      `the plan is too large for etcd: its transaction is ${bytes} bytes, etcd accepts at most ${limit} (--max-request-bytes; ESI_ETCD_MAX_REQUEST_BYTES)`,
      cause === undefined ? undefined : { cause },
    );
  }
}

/** Room for the gRPC and protobuf framing around keys and values. */
const FRAMING_BYTES_PER_ITEM = 16;

const maxRequestBytes = (): number =>
  numberSetting('ESI_ETCD_MAX_REQUEST_BYTES', 1.5 * 1024 * 1024, (n) => Number.isInteger(n) && n > 0);

/** About how many bytes a transaction takes on the wire. */
function txnBytes(compares: readonly Compare[], ops: readonly Op[]): number {
  let n = 0;
  for (const c of compares) n += Buffer.byteLength(c.key) + FRAMING_BYTES_PER_ITEM;
  for (const o of ops) {
    n += FRAMING_BYTES_PER_ITEM;
    if (o.kind === 'deletePrefix' || o.kind === 'range') n += Buffer.byteLength(o.prefix);
    else n += Buffer.byteLength(o.key) + (o.kind === 'put' ? Buffer.byteLength(o.value) : 0);
  }
  return n;
}

/** true when committed, CONFLICT, or a PlanTooLargeError (etcd's own refusal as cause); any other error throws. */
async function commitPlan(store: Store, when: Compare[], then: Op[]): Promise<true | Conflict | Error> {
  const bytes = txnBytes(when, then);
  if (bytes > maxRequestBytes()) return new PlanTooLargeError(bytes, maxRequestBytes());
  try {
    return await commitDecision(store, { result: true, when, then });
  } catch (err) {
    if (isRequestTooLarge(err)) return new PlanTooLargeError(bytes, maxRequestBytes(), err);
    throw err;
  }
}
