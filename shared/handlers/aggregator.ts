/**
 * State aggregation (level-triggered): a message says a job finished; if that completed its
 * resource's chain, write the chain's outcome to /state and remove the chain — in ONE etcd
 * transaction, so /state, the job keys and the job state move together:
 *
 *   when every job of the chain is still as read (cleanupChain's compares), /state is unchanged
 *   since read, and the job state is unchanged since read,
 *   then put /state (unless a newer version's state is there, or it already says this),
 *        delete the chain's /jobs/all and /jobs/finished keys, delete the job state,
 *        and for a completed delete, delete /monitoring.
 *
 * A duplicate or late message finds the chain gone and does nothing; a chain that is not
 * complete yet is left to the message of its last job.
 */
import type { EtcdEventMessage } from '../events/etcd-event-message';
import { chainName, chainStatus, cleanupChain, defaultJobKeys, parseJobId, parseStoredJob, type Job } from '../jobs';
import { keys } from '../keys';
import type { Logger } from '../log/logger';
import { pathOfSingular } from '../resource-path';
import { done, type Outcome } from '../sqs/consumer';
import { aggregateState, reportedAction, type ChainAction, type JobState } from '../state/aggregate';
import { versionedPut } from '../state/guarded-write';
import { encodeState } from '../state/state-value';
import { del, unchangedSince, type Store } from '../store/store';

const MAX_CONFLICTS = 5;

export async function aggregateFinishedJob(store: Store, message: EtcdEventMessage, logger: Logger): Promise<Outcome> {
  const id = defaultJobKeys.parse(message.key)?.id;
  if (!id || !parseJobId(id)) return done('not a job key');
  for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
    const outcome = await aggregateOnce(store, id, logger);
    if (outcome) return outcome;
    logger.debug('write conflict; re-reading', { attempt });
  }
  throw new Error(`chain of job ${id} kept changing under ${MAX_CONFLICTS} attempts`);
}

async function aggregateOnce(store: Store, jobId: string, logger: Logger): Promise<Outcome | undefined> {
  const allKv = await store.get(defaultJobKeys.all(jobId));
  if (!allKv) return done('chain already aggregated');
  const { job } = parseStoredJob(allKv.key, allKv.value);
  logger.appendKeys({
    job_id: jobId,
    handler: job.handler,
    resource_type: job.resource_type,
    resource_id: job.resource_id,
    version: job.version,
  });
  const status = await chainStatus(store, defaultJobKeys, job);
  if (!status.complete) return done('chain not complete yet');
  if ('cleanedUp' in status) return done('chain already aggregated');

  const path = pathOfSingular(job.resource_type, job.resource_id);
  const chainJobs = await jobsOfChain(store, job);
  const jobStateKey = keys.jobState(path);
  const jobStateKv = await store.get(jobStateKey);
  const chain = {
    version: job.version,
    lastAction: lastJobOf(chainJobs, job).action as ChainAction,
    outcome: status.completion.outcome.ok
      ? { ok: true as const }
      : { ok: false as const, error: status.completion.outcome.error },
  };
  const state = aggregateState(chain, jobStateKv ? (JSON.parse(jobStateKv.value) as JobState) : {});
  const stateKey = keys.state(path);
  const stateWrite = versionedPut(stateKey, await store.get(stateKey), job.version, encodeState(state));
  const monitoringKey = keys.monitoring(path);
  const removeMonitoring = chain.outcome.ok && reportedAction(chain) === 'DELETE';

  const res = await cleanupChain(
    store,
    { resource_type: job.resource_type, resource_id: job.resource_id, version: job.version },
    {
      extra: {
        compares: [...stateWrite.compares, unchangedSince(jobStateKey, jobStateKv)],
        ops: [
          ...stateWrite.ops,
          ...(jobStateKv ? [del(jobStateKey)] : []),
          ...(removeMonitoring ? [del(monitoringKey)] : []),
        ],
      },
    },
  );
  if (!res.cleaned)
    return res.reason === 'conflict' ? undefined : done(`chain has unfinished jobs: ${res.unfinished.join(', ')}`);
  logger.info('chain aggregated', {
    worker_state: state.state.worker_state,
    state_write: stateWrite.result,
    jobs: res.jobIds.length,
    error: state.error || undefined,
  });
  return done(`state ${state.state.worker_state} (${stateWrite.result})`);
}

/** The chain's `is_last` job; the job at hand when the chain's jobs were read without it. */
const lastJobOf = (chainJobs: Job[], job: Job): Job => chainJobs.find((j) => j.is_last) ?? job;

async function jobsOfChain(store: Store, job: Job): Promise<Job[]> {
  const name = chainName({ resourceType: job.resource_type, resourceId: job.resource_id, version: job.version });
  const all = await store.range(defaultJobKeys.prefix('all'));
  return all.items
    .filter((kv) => {
      const p = parseJobId(defaultJobKeys.parse(kv.key)?.id ?? '');
      return p !== undefined && chainName(p) === name;
    })
    .map((kv) => parseStoredJob(kv.key, kv.value).job);
}
