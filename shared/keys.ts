// Every etcd key but the job keys (jobs/job-keys.ts), docs/keys.md. A resource's path is `<scope>/<plural>/<id>`,
// scope being Gohan's API version path (`v2.0`, `common/v1.0` for tenants).
import { outputPrefixes } from './config';

export const CONFIG_PREFIX = '/config/';
export const ESI_WORKER_PREFIX = '/esi-worker/';
/** The worker's per-resource folders: each key belongs to, and goes with, the same path under /config. */
export const WORKER_FOLDERS = ['config', 'heat_stacks', 'job_state'] as const;
export const JOBS_PREFIX = '/jobs/';
export const RELAY_CHECKPOINT_PREFIX = '/esi-relay/checkpoints/';
/** The reconciler's memory: revision→time marks, jobs seen in limbo, recent repairs (docs/reconciler.md). */
export const RECONCILER_MEMORY_KEY = '/esi-reconciler/memory';
/** Heat templates as Gohan stores them (not planned themselves). */
export const HEAT_TEMPLATES_PREFIX = `${CONFIG_PREFIX}v2.0/heat_templates/`;
/** Operator override of the shipped template_mappings.yaml (JSON or YAML text). */
export const TEMPLATE_MAPPINGS_KEY = `${ESI_WORKER_PREFIX}template_mappings`;

export type ResourcePath = { scope: string; plural: string; id: string };

/** `/config/v2.0/ports/<id>` → {scope: 'v2.0', plural: 'ports', id}; anything else → undefined. */
export function parseConfigKey(key: string): ResourcePath | undefined {
  if (!key.startsWith(CONFIG_PREFIX)) return undefined;
  const parts = key.slice(CONFIG_PREFIX.length).split('/');
  if (parts.length < 3 || parts.some((p) => p === '')) return undefined;
  const id = parts.pop()!;
  const plural = parts.pop()!;
  return { scope: parts.join('/'), plural, id };
}

export const resourcePath = (r: ResourcePath): string => `${r.scope}/${r.plural}/${r.id}`;

export const keys = {
  config: (r: ResourcePath) => `${CONFIG_PREFIX}${resourcePath(r)}`,
  /** The worker's mirror of the config value it last acted on. */
  mirror: (r: ResourcePath) => `${ESI_WORKER_PREFIX}config/${resourcePath(r)}`,
  heatTemplate: (id: string) => `${HEAT_TEMPLATES_PREFIX}${id}`,
  heatStack: (r: ResourcePath) => `${ESI_WORKER_PREFIX}heat_stacks/${resourcePath(r)}`,
  jobState: (r: ResourcePath) => `${ESI_WORKER_PREFIX}job_state/${resourcePath(r)}`,
  state: (r: ResourcePath) => `${outputPrefixes().state}/${resourcePath(r)}`,
  monitoring: (r: ResourcePath) => `${outputPrefixes().monitoring}/${resourcePath(r)}`,
  /** Every key the worker owns for a resource, one per WORKER_FOLDERS (the mirror first). */
  owned: (r: ResourcePath) => WORKER_FOLDERS.map((f) => `${ESI_WORKER_PREFIX}${f}/${resourcePath(r)}`),
  /** One relay's checkpoint, for all its routes (shared/relay/checkpoint.ts). */
  relayCheckpoint: (relayName: string) => `${RELAY_CHECKPOINT_PREFIX}${relayName}`,
};
