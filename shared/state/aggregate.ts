/** Pure: (a finished chain, its job state) → the /state value; the action is its last job's (docs/decisions.md). */
import { pyDumps } from '../encoding/pyjson';
import { stateHeatOutputsText } from '../heat/records';
import type { HeatOutput } from '../heat/types';
import type { JobAction } from '../planner/types';
import type { JobOutcome } from '../jobs/values';
import type { StateValue, WorkerState } from './state-value';

export type ChainSummary = { version: number; lastAction: JobAction; outcome: JobOutcome };

/** /esi-worker/job_state/<path>: what the chain's jobs reported. */
export interface JobState {
  heat_outputs?: HeatOutput[];
  orchestration_state?: string;
  state_monitoring?: Record<string, unknown>;
}

export function reportedAction(chain: Pick<ChainSummary, 'lastAction'>): 'CREATE' | 'MODIFY' | 'DELETE' {
  return chain.lastAction === 'create' ? 'CREATE' : chain.lastAction === 'modify' ? 'MODIFY' : 'DELETE';
}

export function aggregateState(chain: ChainSummary, jobState: JobState = {}): StateValue {
  const worker_state: WorkerState = `${reportedAction(chain)}_${chain.outcome.ok ? 'COMPLETED' : 'FAILED'}`;
  const state: StateValue['state'] = { worker_state };
  if (jobState.heat_outputs) state.heat_outputs = stateHeatOutputsText(jobState.heat_outputs);
  if (jobState.orchestration_state) state.orchestration_state = jobState.orchestration_state;
  if (jobState.state_monitoring) state.state_monitoring = pyDumps(jobState.state_monitoring);
  return { error: chain.outcome.ok ? '' : chain.outcome.error, state, version: chain.version };
}
