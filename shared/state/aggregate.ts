/**
 * State aggregation, pure: (a finished chain, the resource's job state) → the /state value Gohan
 * reads. No I/O; the aggregation function reads etcd and writes the result with version guards.
 *
 * Which of create/modify/delete a chain reports is the action of the chain's last job: create →
 * CREATE, modify → MODIFY, logical_delete (or delete) → DELETE. This one rule fits every seed and
 * every recorded chain: seed 004's chain (monitoring delete, heat modify, monitoring create) ends
 * with the monitoring create and reports CREATE; a one-job modify of a resource Gohan still calls
 * PENDING_CREATE reports MODIFY, as every recorded modify does (docs/decisions.md).
 */
import { pyDumps } from '../encoding/pyjson';
import { stateHeatOutputsText } from '../heat/records';
import type { HeatOutput } from '../heat/types';
import type { JobAction } from '../planner/types';
import type { StateValue, WorkerState } from './state-value';

export interface ChainSummary {
  version: number;
  /** The action of the chain's last job (the one with `is_last`). */
  lastAction: JobAction;
  outcome: { ok: true } | { ok: false; error: string };
}

/** /esi-worker/job_state/<path>: what the chain's jobs reported. */
export interface JobState {
  heat_outputs?: HeatOutput[];
  orchestration_state?: string;
  state_monitoring?: Record<string, unknown>;
}

export function reportedAction(chain: Pick<ChainSummary, 'lastAction'>): 'CREATE' | 'MODIFY' | 'DELETE' {
  switch (chain.lastAction) {
    case 'create':
      return 'CREATE';
    case 'modify':
      return 'MODIFY';
    case 'logical_delete':
    case 'delete':
      return 'DELETE';
  }
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
