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
import { definedOnly } from '../defined-only';

export interface Snapshot extends EtcdPicture {
  positions: RelayPosition[];
  /** Keys read, all prefixes together. */
  keysRead: number;
}

/** What a pass has read so far: how many keys, and the newest change under each prefix. */
interface Seen {
  keysRead: number;
  newest: Map<string, number>;
}

const see = (seen: Seen, prefix: string, kv: Pick<KeyValue, 'modRevision'>): void => {
  seen.keysRead++;
  seen.newest.set(prefix, Math.max(seen.newest.get(prefix) ?? 0, kv.modRevision));
};

type Paged = { pageSize?: number; revision: number };

export async function readSnapshot(
  store: Store,
  opts: { pageSize?: number; jobKeys?: JobKeys; revision?: number } = {},
): Promise<Snapshot> {
  const revision = opts.revision ?? (await store.revision());
  const paged: Paged = definedOnly({ pageSize: opts.pageSize, revision });
  const jobKeys = opts.jobKeys ?? defaultJobKeys;
  const seen: Seen = { keysRead: 0, newest: new Map() };
  const configs = await readConfigs(store, seen, paged);
  const { mirrors, workerKeys } = await readWorkerKeys(store, seen, paged);
  const states = await readStates(store, seen, paged);
  const jobs = await readJobTable(store, { ...paged, keys: jobKeys });
  const pathsWithJobs = new Set<string>();
  for (const j of jobs) {
    const job = j.all?.job;
    if (job) pathsWithJobs.add(resourcePath(pathOfSingular(job.resource_type, job.resource_id)));
    for (const folder of JOB_FOLDERS) {
      const ref = folder === 'all' ? j.all : j[folder];
      if (ref) see(seen, jobKeys.prefix(folder), ref);
    }
  }
  const positions = await readRelayPositions(store, seen, paged);
  return { revision, configs, mirrors, states, workerKeys, jobs, pathsWithJobs, positions, keysRead: seen.keysRead };
}

function readConfigs(store: Store, seen: Seen, paged: Paged): Promise<ConfigEntry[]> {
  return collectPages(
    store,
    CONFIG_PREFIX,
    (kv): ConfigEntry | undefined => {
      see(seen, CONFIG_PREFIX, kv);
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
}

async function readWorkerKeys(
  store: Store,
  seen: Seen,
  paged: Paged,
): Promise<{ mirrors: Map<string, MirrorEntry>; workerKeys: WorkerKey[] }> {
  const mirrors = new Map<string, MirrorEntry>();
  const workerKeys: WorkerKey[] = [];
  for (const folder of WORKER_FOLDERS) {
    const prefix = `${ESI_WORKER_PREFIX}${folder}/`;
    await collectPages(
      store,
      prefix,
      (kv) => {
        see(seen, prefix, kv);
        const path = kv.key.slice(prefix.length);
        if (!parseConfigKey(`${CONFIG_PREFIX}${path}`)) return undefined;
        workerKeys.push({ key: kv.key, path, configKey: `${CONFIG_PREFIX}${path}`, modRevision: kv.modRevision });
        if (folder === 'config') {
          const v = parseJsonObject(kv.value);
          mirrors.set(path, { version: typeof v.version === 'number' ? v.version : null, deleted: v.deleted === true });
        }
        return undefined;
      },
      paged,
    );
  }
  return { mirrors, workerKeys };
}

async function readStates(store: Store, seen: Seen, paged: Paged): Promise<Map<string, StateEntry>> {
  const statePrefix = `${outputPrefixes().state}/`;
  const states = new Map<string, StateEntry>();
  await collectPages(
    store,
    statePrefix,
    (kv) => {
      see(seen, statePrefix, kv);
      const v = parseJsonObject(kv.value);
      states.set(kv.key.slice(statePrefix.length), {
        version: typeof v.version === 'number' ? v.version : null,
        modRevision: kv.modRevision,
      });
      return undefined;
    },
    paged,
  );
  return states;
}

/** `/esi-relay/checkpoints/<relay>`: each route's revision (shared/relay/checkpoint.ts), beside the newest change seen under it. */
async function readRelayPositions(store: Store, seen: Seen, paged: Paged): Promise<RelayPosition[]> {
  const positions: RelayPosition[] = [];
  await collectPages(
    store,
    RELAY_CHECKPOINT_PREFIX,
    (kv) => {
      seen.keysRead++;
      const relay = kv.key.slice(RELAY_CHECKPOINT_PREFIX.length);
      // A key with a slash after the relay name is not a relay's checkpoint.
      if (!relay || relay.includes('/')) return undefined;
      for (const [prefix, checkpoint] of Object.entries(parseCheckpoint(kv.value).routes))
        positions.push({ relay, prefix, checkpoint, newest: seen.newest.get(prefix) });
      return undefined;
    },
    paged,
  );
  return positions;
}
