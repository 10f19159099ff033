/**
 * State aggregation (level-triggered): a message says a job finished; if that completed its
 * resource's chain, write the chain's outcome to /state and remove the chain — in ONE etcd
 * transaction, so /state, the job keys and the job state move together:
 *
 *   when every job of the chain is still as read (cleanupChain's compares), /state is unchanged
 *   since read, and the job state is unchanged since read,
 *   then put /state (unless a newer version's state is there, or it already says this),
 *        delete the chain's /jobs/all and /jobs/finished keys, delete the job state,
 *        and for a completed delete, delete /monitoring;
 *   or, for a completed teardown of a key Gohan deleted, forget the resource: /state, /monitoring
 *        and the worker's keys go (docs/gohan.md "Deletes").
 *
 * A duplicate or late message finds the chain gone and does nothing; a chain that is not
 * complete yet is left to the message of its last job. The chain's keys, /state and the job
 * state are read in two round trips whatever else etcd holds (the resource's jobs are found by
 * their ids' prefixes, shared/jobs/job-index.ts).
 */
import { CONFLICT, converge } from '../store/converge';
import { parseJsonObject } from '../encoding/json-object';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import {
  cleanupChain,
  completionOf,
  defaultJobKeys,
  type ChainCompletion,
  type ChainRead,
  type Job,
  parseFinished,
  parseJobId,
  parseStoredJob,
  readChain,
} from '../jobs';
import { keys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfSingular } from '../resource-path';
import { done, type Outcome } from '../sqs/consumer';
import { aggregateState, reportedAction, type JobState } from '../state/aggregate';
import type { JobAction } from '../planner/types';
import { versionedPut } from '../state/guarded-write';
import { encodeState } from '../state/state-value';
import { absent, del, unchangedSince, type Compare, type Op, type Store } from '../store/store';
import { versionOf } from '../gohan/config-value';
import { ownedKeys, referencingOps } from './forget';
import { keyDeleteState } from '../config';

export async function aggregateFinishedJob(store: Store, message: EtcdEventMessage, logger: Logger): Promise<Outcome> {
  const id = defaultJobKeys.parse(message.key)?.id;
  if (!id || !parseJobId(id)) return done('not a job key');
  return converge(`chain of job ${id}`, async () => (await aggregateOnce(store, id, logger)) ?? CONFLICT, {
    onConflict: (attempt) => logger.debug('write conflict; re-reading', { attempt }),
  });
}

async function aggregateOnce(store: Store, jobId: string, logger: Logger): Promise<Outcome | undefined> {
  // The job id names its chain, so the chain is read without reading this job first.
  const parts = parseJobId(jobId)!;
  const chainRef = { resource_type: parts.resourceType, resource_id: parts.resourceId, version: parts.version };
  const path = pathOfSingular(parts.resourceType, parts.resourceId);
  const [jobStateKey, stateKey] = extraKeysOf(path);
  const read = await readChain(store, defaultJobKeys, chainRef, extraKeysOf(path), [jobId]);
  const last = lastJobOf(read);
  if (!last) return done('chain already aggregated');
  const { job, completion } = last;
  logger.appendKeys(logKeysOf(jobId, job));
  if (!completion) return done('chain not complete yet');

  const jobStateKv = read.extra.get(jobStateKey);
  const chain = {
    version: job.version,
    lastAction: job.action as JobAction,
    outcome: completion.outcome.ok ? { ok: true as const } : { ok: false as const, error: completion.outcome.error },
  };
  // Read leniently, as the job runner reads it: an unreadable job state counts as empty.
  const jobState = jobStateKv ? (parseJsonObject(jobStateKv.value) as JobState) : {};
  const state = aggregateState(chain, jobState);
  const stateWrite = versionedPut(stateKey, read.extra.get(stateKey), job.version, encodeState(state));
  const removeMonitoring = chain.outcome.ok && reportedAction(chain) === 'DELETE';
  const { extra, forget, dropState } = chainWrites(path, job, read, stateWrite, removeMonitoring);
  const res = await cleanupChain(store, chainRef, { jobs: read, extra });
  if (!res.cleaned)
    return res.reason === 'conflict' ? undefined : done(`chain has unfinished jobs: ${res.unfinished.join(', ')}`);
  if (forget) {
    logger.info('delete aggregated; config key gone, worker keys removed', {
      jobs: res.jobIds.length,
      state: dropState ? 'removed' : stateWrite.result,
    });
    return done(`config key deleted and ${state.state.worker_state}: the resource's keys removed`);
  }
  logger.info('chain aggregated', {
    worker_state: state.state.worker_state,
    state_write: stateWrite.result,
    jobs: res.jobIds.length,
    error: state.error || undefined,
  });
  return done(`state ${state.state.worker_state} (${stateWrite.result})`);
}

/**
 * The writes beside the chain's removal: /state, the job state, /monitoring, and for a forgotten
 * resource the worker's keys.
 */
function chainWrites(
  path: ResourcePath,
  job: Job,
  read: Awaited<ReturnType<typeof readChain>>,
  stateWrite: ReturnType<typeof versionedPut>,
  removeMonitoring: boolean,
): { extra: { compares: Compare[]; ops: Op[] }; forget: boolean; dropState: boolean } {
  const [jobStateKey, stateKey, mirrorKey, configKey] = extraKeysOf(path);
  const monitoringKey = keys.monitoring(path);
  const jobStateKv = read.extra.get(jobStateKey);
  // The job state is the resource's, not the chain's: a later version's chain planned meanwhile
  // may already have written its outputs there, so it stays for that chain's own aggregation.
  // Every plan of the resource rewrites its mirror, so the mirror as read fences "no later chain".
  const laterChain = read.resourceIds.some((id) => parseJobId(id)!.version > job.version);
  const removeJobState = jobStateKv !== undefined && !laterChain;

  // A completed delete whose /config key is gone (upstream Gohan's REST DELETE, or the record's
  // Gohan removing the key before the chain was done) leaves nothing of the worker's: its keys go
  // here, as nothing will plan the resource again. Its /state stays DELETE_COMPLETED, as the
  // record's Gohan expects, unless the deployment says deleted resources are forgotten
  // (ESI_KEY_DELETE_STATE=remove; docs/gohan.md "Deletes").
  const mirrorKv = read.extra.get(mirrorKey);
  const forget =
    removeMonitoring && !laterChain && !read.extra.get(configKey) && versionOf(mirrorKv?.value ?? '') === job.version;
  const dropState = forget && keyDeleteState() === 'remove';
  const stateOps = dropState
    ? { compares: [unchangedSince(stateKey, read.extra.get(stateKey))], ops: [del(stateKey)] }
    : stateWrite;
  const extra = forget
    ? {
        compares: [
          ...stateOps.compares,
          absent(configKey),
          unchangedSince(mirrorKey, mirrorKv),
          unchangedSince(jobStateKey, jobStateKv),
        ],
        ops: [
          ...stateOps.ops,
          ...[monitoringKey, ...ownedKeys(path)].map((k) => del(k)),
          ...referencingOps(path, job.resource_type),
        ],
      }
    : {
        compares: [
          ...stateWrite.compares,
          unchangedSince(jobStateKey, jobStateKv),
          ...(removeJobState ? [unchangedSince(mirrorKey, mirrorKv)] : []),
        ],
        ops: [
          ...stateWrite.ops,
          ...(removeJobState ? [del(jobStateKey)] : []),
          ...(removeMonitoring ? [del(monitoringKey)] : []),
        ],
      };
  return { extra, forget, dropState };
}

/** The keys read with the chain: the job state, /state, the mirror, /config. */
const extraKeysOf = (path: ResourcePath): [jobState: string, state: string, mirror: string, config: string] => [
  keys.jobState(path),
  keys.state(path),
  keys.mirror(path),
  keys.config(path),
];

/** The log keys of an aggregation: the finished job's id, and the chain's last job. */
const logKeysOf = (jobId: string, job: Job) => ({
  job_id: jobId,
  handler: job.handler,
  resource_type: job.resource_type,
  resource_id: job.resource_id,
  version: job.version,
});

/** The chain's last job as read, with the chain's outcome once that job is finished. */
function lastJobOf(read: ChainRead): { job: Job; completion: ChainCompletion | undefined } | undefined {
  const chainJobs = read.ids.flatMap((id) => {
    const kv = read.all.get(id);
    return kv ? [parseStoredJob(kv.key, kv.value).job] : [];
  });
  const job = chainJobs.find((j) => j.is_last);
  if (!job) return undefined;
  const finishedKv = read.finished.get(job.id);
  const finished = finishedKv ? parseFinished(finishedKv.value) : undefined;
  return { job, completion: finished ? completionOf(job.id, job, finished) : undefined };
}
