/**
 * State aggregation, pure: (a finished chain, the resource's job state) → the /state value Gohan
 * reads. No I/O; the aggregation function reads etcd and writes the result with version guards.
 *
 * Which of create/modify/delete a chain reports follows the seeds: a chain with a logical_delete
 * reports DELETE; otherwise a resource still PENDING_CREATE in Gohan reports CREATE even when its
 * heat job is a modify (seed 004: the gw port was created empty, then attached); a create job
 * reports CREATE; anything else MODIFY.
 */
import { pyDumps } from '../encoding/pyjson';
import { stateHeatOutputsText } from '../heat/records';
import type { HeatOutput } from '../heat/types';
import type { StateValue, WorkerState } from './state-value';

export type ChainAction = 'create' | 'modify' | 'logical_delete' | 'delete';

export interface ChainSummary {
  version: number;
  /** Actions of the chain's heat (resource) jobs; monitoring jobs' create/delete do not count. */
  resourceActions: ChainAction[];
  /** Gohan's `status` of the resource body, e.g. PENDING_CREATE. */
  resourceStatus?: string;
  outcome: { ok: true } | { ok: false; error: string };
}

/** /esi-worker/job_state/<path>: what the chain's jobs reported. */
export interface JobState {
  heat_outputs?: HeatOutput[];
  orchestration_state?: string;
  state_monitoring?: Record<string, unknown>;
}

export function reportedAction(chain: ChainSummary): 'CREATE' | 'MODIFY' | 'DELETE' {
  if (chain.resourceActions.some((a) => a === 'logical_delete' || a === 'delete')) return 'DELETE';
  if (chain.resourceStatus === 'PENDING_CREATE') return 'CREATE';
  if (chain.resourceActions.includes('create')) return 'CREATE';
  return 'MODIFY';
}

export function aggregateState(chain: ChainSummary, jobState: JobState = {}): StateValue {
  const action = reportedAction(chain);
  const worker_state = `${action}_${chain.outcome.ok ? 'COMPLETED' : 'FAILED'}` as WorkerState;
  const state: StateValue['state'] = { worker_state };
  if (jobState.heat_outputs) state.heat_outputs = stateHeatOutputsText(jobState.heat_outputs);
  if (jobState.orchestration_state) state.orchestration_state = jobState.orchestration_state;
  if (jobState.state_monitoring) state.state_monitoring = pyDumps(jobState.state_monitoring);
  return { error: chain.outcome.ok ? '' : chain.outcome.error, state, version: chain.version };
}
