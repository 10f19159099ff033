/** The reconciler's read: pages at one store revision (a consistent snapshot), reduced to decide.ts's values. */
import { parseJsonObject } from '../encoding/json-object';
import { parseConfigValue, versionOf } from '../gohan/config-value';
import { defaultJobKeys, JOB_FOLDERS, readJobTable } from '../jobs';
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
import { pages } from '../store/read';
import type { KeyValue, Store } from '../store/store';
import type { ConfigEntry, MirrorEntry, RelayPosition, StateEntry, WorkerKey } from './decide';

/** What a pass has read so far: how many keys, and the newest change under each prefix. */
type Seen = { keysRead: number; newest: Map<string, number> };

const see = (seen: Seen, prefix: string, kv: Pick<KeyValue, 'modRevision'>): void => {
  seen.keysRead++;
  seen.newest.set(prefix, Math.max(seen.newest.get(prefix) ?? 0, kv.modRevision));
};

type Paged = { pageSize?: number; revision: number };

/** Every key under the prefix, a page at a time at the pass's revision, counted as seen. */
async function* keysUnder(store: Store, seen: Seen, paged: Paged, prefix: string): AsyncGenerator<KeyValue> {
  for await (const page of pages(store, prefix, paged))
    for (const kv of page) {
      see(seen, prefix, kv);
      yield kv;
    }
}

const versionIn = (v: Record<string, unknown>): number | null => (typeof v.version === 'number' ? v.version : null);

/** An EtcdPicture (decide.ts), with the relay positions and how many keys were read. */
export async function readSnapshot(store: Store, paged: Paged) {
  const { revision } = paged;
  const seen: Seen = { keysRead: 0, newest: new Map() };
  const configs = await readConfigs(keysUnder(store, seen, paged, CONFIG_PREFIX));
  const { mirrors, workerKeys } = await readWorkerKeys(store, seen, paged);
  const statePrefix = `${outputPrefixes().state}/`;
  const states = new Map<string, StateEntry>();
  for await (const kv of keysUnder(store, seen, paged, statePrefix))
    states.set(kv.key.slice(statePrefix.length), {
      version: versionIn(parseJsonObject(kv.value)),
      modRevision: kv.modRevision,
    });
  const jobs = await readJobTable(store, paged);
  const pathsWithJobs = new Set<string>();
  for (const j of jobs) {
    const job = j.all?.job;
    if (job) pathsWithJobs.add(resourcePath(pathOfSingular(job.resource_type, job.resource_id)));
    for (const folder of JOB_FOLDERS) {
      const ref = j[folder];
      if (ref) see(seen, defaultJobKeys.prefix(folder), ref);
    }
  }
  const positions = await readRelayPositions(store, seen, paged);
  return { revision, configs, mirrors, states, workerKeys, jobs, pathsWithJobs, positions, keysRead: seen.keysRead };
}

async function readConfigs(kvs: AsyncGenerator<KeyValue>): Promise<ConfigEntry[]> {
  const configs: ConfigEntry[] = [];
  for await (const kv of kvs) {
    const path = parseConfigKey(kv.key);
    if (!path || kv.key.startsWith(HEAT_TEMPLATES_PREFIX)) continue;
    const parsed = parseConfigValue(kv.value);
    configs.push({
      key: kv.key,
      path: resourcePath(path),
      modRevision: kv.modRevision,
      version: parsed.ok ? parsed.value.version : (versionOf(kv.value) ?? null),
      deleted: parsed.ok && parsed.value.markedForDeletion,
    });
  }
  return configs;
}

async function readWorkerKeys(store: Store, seen: Seen, paged: Paged) {
  const mirrors = new Map<string, MirrorEntry>();
  const workerKeys: WorkerKey[] = [];
  for (const folder of WORKER_FOLDERS) {
    const prefix = `${ESI_WORKER_PREFIX}${folder}/`;
    for await (const kv of keysUnder(store, seen, paged, prefix)) {
      const path = kv.key.slice(prefix.length);
      const configKey = `${CONFIG_PREFIX}${path}`;
      if (!parseConfigKey(configKey)) continue;
      workerKeys.push({ key: kv.key, path, configKey, modRevision: kv.modRevision });
      if (folder !== 'config') continue;
      const v = parseJsonObject(kv.value);
      mirrors.set(path, { version: versionIn(v), deleted: v.deleted === true });
    }
  }
  return { mirrors, workerKeys };
}

/** Each route's revision in `/esi-relay/checkpoints/<relay>`, beside the newest change seen under it. */
async function readRelayPositions(store: Store, seen: Seen, paged: Paged): Promise<RelayPosition[]> {
  const positions: RelayPosition[] = [];
  for await (const kv of keysUnder(store, seen, paged, RELAY_CHECKPOINT_PREFIX)) {
    const relay = kv.key.slice(RELAY_CHECKPOINT_PREFIX.length);
    if (!relay || relay.includes('/')) continue; // not a relay's checkpoint
    for (const [prefix, checkpoint] of Object.entries(parseCheckpoint(kv.value).routes))
      positions.push({ relay, prefix, checkpoint, newest: seen.newest.get(prefix) });
  }
  return positions;
}
