/**
 * A finished job that completes its chain: ONE transaction fenced on the chain, /state and the job state
 * as read writes /state and removes the chain (docs/gohan.md "Deletes"). A late duplicate finds it gone.
 */
import { CONFLICT, converge, type Conflict } from '../store/converge';
import { parseJsonObject } from '../encoding/json-object';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import {
  cleanupChain,
  completionOf,
  defaultJobKeys,
  parseFinished,
  parseJobId,
  parseStoredJob,
  readChain,
} from '../jobs';
import type { ChainCompletion, ChainRead, Job } from '../jobs';
import { keys, type ResourcePath } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfSingular } from '../resource-path';
import { done, type Outcome } from '../sqs/consumer';
import { aggregateState, reportedAction } from '../state/aggregate';
import type { JobAction } from '../planner/types';
import { versionedPut } from '../state/guarded-write';
import { encodeState } from '../state/state-value';
import { absent, del, unchangedSince, type Compare, type Op, type Store } from '../store/store';
import { referencingOf } from '../jobs/referencing-index';
import { versionOf } from '../gohan/config-value';
import { keyDeleteState } from '../config';

export async function aggregateFinishedJob(store: Store, message: EtcdEventMessage, logger: Logger): Promise<Outcome> {
  const id = defaultJobKeys.parse(message.key)?.id;
  if (!id || !parseJobId(id)) return done('not a job key');
  return converge(`chain of job ${id}`, () => aggregateOnce(store, id, logger), {
    onConflict: (attempt) => logger.debug('write conflict; re-reading', { attempt }),
  });
}

async function aggregateOnce(store: Store, jobId: string, logger: Logger): Promise<Outcome | Conflict> {
  const parts = parseJobId(jobId)!;
  const chainRef = { resource_type: parts.resourceType, resource_id: parts.resourceId, version: parts.version };
  const path = pathOfSingular(parts.resourceType, parts.resourceId);
  const [jobStateKey, stateKey] = extraKeysOf(path);
  const read = await readChain(store, defaultJobKeys, chainRef, extraKeysOf(path), [jobId]);
  const last = lastJobOf(read);
  if (!last) return done('chain already aggregated');
  const { job, completion } = last;
  logger.appendKeys({
    job_id: jobId,
    handler: job.handler,
    resource_type: job.resource_type,
    resource_id: job.resource_id,
    version: job.version,
  });
  if (!completion) return done('chain not complete yet');

  const chain = { version: job.version, lastAction: job.action as JobAction, outcome: completion.outcome };
  // Read leniently, as the job runner does: an unreadable or absent job state counts as empty.
  const state = aggregateState(chain, parseJsonObject(read.extra.get(jobStateKey)?.value ?? ''));
  const stateWrite = versionedPut(stateKey, read.extra.get(stateKey), job.version, encodeState(state));
  const removeMonitoring = chain.outcome.ok && reportedAction(chain) === 'DELETE';
  const { extra, forget, dropState } = chainWrites(path, job, read, stateWrite, removeMonitoring);
  const res = await cleanupChain(store, chainRef, { jobs: read, extra });
  if (!res.cleaned)
    return res.reason === 'conflict' ? CONFLICT : done(`chain has unfinished jobs: ${res.unfinished.join(', ')}`);
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

/** The writes beside the chain's removal. */
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
  // The job state is the resource's: a later chain's outputs may be there already. Every plan
  // rewrites the mirror, so the mirror as read fences "no later chain".
  const laterChain = read.resourceIds.some((id) => parseJobId(id)!.version > job.version);
  const removeJobState = jobStateKv !== undefined && !laterChain;

  // A completed delete whose /config key is gone: nothing plans the resource again, its keys go;
  // /state stays DELETE_COMPLETED unless ESI_KEY_DELETE_STATE=remove (docs/gohan.md "Deletes").
  const mirrorKv = read.extra.get(mirrorKey);
  const forget =
    removeMonitoring && !laterChain && !read.extra.get(configKey) && versionOf(mirrorKv?.value ?? '') === job.version;
  const dropState = forget && keyDeleteState() === 'remove';
  const stateOps = dropState
    ? { compares: [unchangedSince(stateKey, read.extra.get(stateKey))], ops: [del(stateKey)] }
    : stateWrite;
  const compares = [...stateOps.compares, unchangedSince(jobStateKey, jobStateKv)];
  const ops = [...stateOps.ops];
  if (forget) {
    compares.push(absent(configKey), unchangedSince(mirrorKey, mirrorKv));
    ops.push(...[monitoringKey, ...keys.owned(path)].map((k) => del(k)));
    ops.push(...referencingOf(defaultJobKeys, job.resource_type, path.id));
  } else {
    if (removeJobState) {
      compares.push(unchangedSince(mirrorKey, mirrorKv));
      ops.push(del(jobStateKey));
    }
    if (removeMonitoring) ops.push(del(monitoringKey));
  }
  return { extra: { compares, ops }, forget, dropState };
}

const extraKeysOf = (path: ResourcePath): [jobState: string, state: string, mirror: string, config: string] => [
  keys.jobState(path),
  keys.state(path),
  keys.mirror(path),
  keys.config(path),
];

/** The chain's last job as read, with the chain's outcome once that job is finished. */
function lastJobOf(read: ChainRead): { job: Job; completion: ChainCompletion | undefined } | undefined {
  const kvs = read.ids.map((id) => read.all.get(id)).filter((kv) => kv !== undefined);
  const job = kvs.map((kv) => parseStoredJob(kv.key, kv.value).job).find((j) => j.is_last);
  if (!job) return undefined;
  const finishedKv = read.finished.get(job.id);
  const finished = finishedKv ? parseFinished(finishedKv.value) : undefined;
  return { job, completion: finished ? completionOf(job.id, job, finished) : undefined };
}
