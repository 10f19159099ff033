/**
 * The reconciler's read side: everything a pass decides from, read in pages at one store
 * revision (a consistent snapshot; O(N) reads for N keys, never one unbounded range), reduced to
 * the plain values of decide.ts. Job keys are read only through the job lifecycle's reader.
 */
import { parseJsonObject } from '../encoding/json-object';
import { parseConfigValue, versionOf } from '../gohan/config-value';
import { defaultJobKeys, JOB_FOLDERS, readJobTable, type JobKeys } from '../jobs';
import {
  CONFIG_PREFIX,
  ESI_WORKER_PREFIX,
  HEAT_TEMPLATES_PREFIX,
  parseConfigKey,
  RELAY_CHECKPOINT_PREFIX,
  resourcePath,
  WORKER_FOLDERS,
} from '../keys';
import { outputPrefixes } from '../config';
import { pathOfSingular } from '../resource-path';
import { parseCheckpoint } from '../relay/checkpoint';
import { collectPages } from '../store/read';
import type { KeyValue, Store } from '../store/store';
import type { ConfigEntry, EtcdPicture, MirrorEntry, RelayPosition, StateEntry, WorkerKey } from './decide';

export interface Snapshot extends EtcdPicture {
  positions: RelayPosition[];
  /** Keys read, all prefixes together. */
  keysRead: number;
}

export async function readSnapshot(
  store: Store,
  opts: { pageSize?: number; jobKeys?: JobKeys; revision?: number } = {},
): Promise<Snapshot> {
  const revision = opts.revision ?? (await store.revision());
  const paged = { pageSize: opts.pageSize, revision };
  const jobKeys = opts.jobKeys ?? defaultJobKeys;
  let keysRead = 0;
  const newest = new Map<string, number>();
  const seen = (prefix: string, kv: KeyValue) => {
    keysRead++;
    newest.set(prefix, Math.max(newest.get(prefix) ?? 0, kv.modRevision));
  };

  const configs = await collectPages(
    store,
    CONFIG_PREFIX,
    (kv): ConfigEntry | undefined => {
      seen(CONFIG_PREFIX, kv);
      const path = parseConfigKey(kv.key);
      if (!path || kv.key.startsWith(HEAT_TEMPLATES_PREFIX)) return undefined;
      const parsed = parseConfigValue(kv.value);
      return {
        key: kv.key,
        path: resourcePath(path),
        modRevision: kv.modRevision,
        version: parsed.ok ? parsed.value.version : (versionOf(kv.value) ?? null),
        deleted: parsed.ok && parsed.value.markedForDeletion,
      };
    },
    paged,
  );

  const mirrors = new Map<string, MirrorEntry>();
  const workerKeys: WorkerKey[] = [];
  for (const folder of WORKER_FOLDERS) {
    const prefix = `${ESI_WORKER_PREFIX}${folder}/`;
    await collectPages(
      store,
      prefix,
      (kv) => {
        seen(prefix, kv);
        const path = kv.key.slice(prefix.length);
        if (!parseConfigKey(`${CONFIG_PREFIX}${path}`)) return undefined;
        workerKeys.push({ key: kv.key, path, configKey: `${CONFIG_PREFIX}${path}`, modRevision: kv.modRevision });
        if (folder === 'config') {
          const v = parseJsonObject(kv.value);
          mirrors.set(path, {
            version: typeof v.version === 'number' ? v.version : null,
            deleted: v.deleted === true,
          });
        }
        return undefined;
      },
      paged,
    );
  }

  const statePrefix = `${outputPrefixes().state}/`;
  const states = new Map<string, StateEntry>();
  await collectPages(
    store,
    statePrefix,
    (kv) => {
      seen(statePrefix, kv);
      const v = parseJsonObject(kv.value);
      states.set(kv.key.slice(statePrefix.length), {
        version: typeof v.version === 'number' ? v.version : null,
        modRevision: kv.modRevision,
      });
      return undefined;
    },
    paged,
  );

  const jobs = await readJobTable(store, { ...paged, keys: jobKeys });
  const pathsWithJobs = new Set<string>();
  for (const j of jobs) {
    const job = j.all?.job;
    if (job) pathsWithJobs.add(resourcePath(pathOfSingular(job.resource_type, job.resource_id)));
    for (const state of JOB_FOLDERS) {
      const ref = state === 'all' ? j.all : j[state];
      if (ref) seen(jobKeys.prefix(state), { modRevision: ref.modRevision } as KeyValue);
    }
  }

  const positions: RelayPosition[] = [];
  await collectPages(
    store,
    RELAY_CHECKPOINT_PREFIX,
    (kv) => {
      keysRead++;
      // `/esi-relay/checkpoints/<relay>`: each route's revision (shared/relay/checkpoint.ts). A key
      // with a slash after the relay name is the older one-key-per-route layout, gone once the relay
      // writes its own key.
      const relay = kv.key.slice(RELAY_CHECKPOINT_PREFIX.length);
      if (!relay || relay.includes('/')) return undefined;
      for (const [prefix, checkpoint] of Object.entries(parseCheckpoint(kv.value).routes))
        positions.push({ relay, prefix, checkpoint, newest: newest.get(prefix) });
      return undefined;
    },
    paged,
  );

  return { revision, configs, mirrors, states, workerKeys, jobs, pathsWithJobs, positions, keysRead };
}
