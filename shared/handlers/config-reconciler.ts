/**
 * Reconciles one /config key (level-triggered): the message only says which key changed; this
 * reads the key as it is now and converges the worker's keys to it.
 *
 * Foundation behaviour: mirror a readable config value to /esi-worker/config/<path> (the record's
 * ResourceReader mirror: {"body": {...}, "deleted": bool, "version": N}); report an unreadable one
 * in /state with worker_state PLAN_FAILED. Planning jobs replaces the mirror-only step.
 *
 * Every write is fenced on the config key's mod_revision (the value we read is still current) and
 * on the target key's mod_revision (nobody wrote it since we read it), so a duplicate, a late
 * retry or a stale invocation changes nothing.
 */
import { EtcdEventMessage } from '../events/etcd-event-message';
import { pyDumps } from '../encoding/pyjson';
import { parseConfigValue } from '../gohan/config-value';
import { keys, parseConfigKey, ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { done, failed, Outcome } from '../sqs/consumer';
import { encodeState, planFailedState } from '../state/state-value';
import { modRevisionIs, put, Store, unchangedSince } from '../store/store';

const MAX_CONFLICTS = 5;

export async function reconcileConfigKey(store: Store, message: EtcdEventMessage, logger: Logger): Promise<Outcome> {
  const path = parseConfigKey(message.key);
  if (!path) return done('not a resource key');
  if (path.plural === 'heat_templates') return done('heat template: read when planning');

  for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
    const outcome = await reconcileOnce(store, path, message, logger);
    if (outcome) return outcome;
    logger.debug('write conflict; re-reading', { attempt });
  }
  throw new Error(`config key ${message.key} kept changing under ${MAX_CONFLICTS} attempts`);
}

/** One read-decide-write round; undefined when a fence failed and the round must be re-read. */
async function reconcileOnce(store: Store, path: ResourcePath, message: EtcdEventMessage, logger: Logger): Promise<Outcome | undefined> {
  const configKey = keys.config(path);
  const config = await store.get(configKey);
  if (!config) return done('config key deleted');
  logger.appendKeys({ resource_type: path.plural, resource_id: path.id, config_revision: config.modRevision });

  const parsed = parseConfigValue(config.value);
  if (!parsed.ok) {
    const error = `${parsed.error} at ${configKey} (revision ${config.modRevision})`;
    const stateKey = keys.state(path);
    const current = await store.get(stateKey);
    const value = encodeState(planFailedState(error, versionHint(config.value)));
    if (current?.value === value) return failed(error);
    const res = await store.txn()
      .when(modRevisionIs(configKey, config.modRevision), unchangedSince(stateKey, current))
      .then(put(stateKey, value))
      .commit();
    return res.succeeded ? failed(error) : undefined;
  }

  const { body, version, markedForDeletion } = parsed.value;
  logger.appendKeys({ version });
  const mirrorKey = keys.workerConfig(path);
  const mirror = await store.get(mirrorKey);
  const mirrored = mirror ? mirroredVersion(mirror.value) : 0;
  if (mirrored > version) return done(`older than the mirrored version ${mirrored}`);
  const value = pyDumps({ body, deleted: markedForDeletion, version }, { sortKeys: true });
  if (mirror?.value === value) return done('already mirrored');
  const res = await store.txn()
    .when(modRevisionIs(configKey, config.modRevision), unchangedSince(mirrorKey, mirror))
    .then(put(mirrorKey, value))
    .commit();
  return res.succeeded ? done(`mirrored version ${version}`) : undefined;
}

function mirroredVersion(raw: string): number {
  try {
    const v = JSON.parse(raw) as { version?: unknown };
    return typeof v.version === 'number' ? v.version : 0;
  } catch {
    return 0;
  }
}

/** The version of an otherwise unreadable value, if one can be seen, so Gohan can match it. */
function versionHint(raw: string): number | null {
  try {
    const v = JSON.parse(raw) as { version?: unknown };
    return typeof v.version === 'number' && Number.isInteger(v.version) ? v.version : null;
  } catch {
    return null;
  }
}
