/** The /state value Gohan reads back: {"error", "state", "version"}, json.dumps with sorted keys. */
import { pyDumps } from '../encoding/pyjson';
import { redactText } from '../log/redact';

export type WorkerState =
  'READ_COMPLETE' | 'PLAN_FAILED' | `${'CREATE' | 'MODIFY' | 'DELETE'}_${'COMPLETED' | 'FAILED'}`;

export interface StateValue {
  error: string;
  state: { worker_state: WorkerState } & Record<string, unknown>;
  /** null when the config value had no readable version. */
  version: number | null;
}

export function encodeState(v: StateValue): string {
  return pyDumps({ error: redactText(v.error), state: v.state, version: v.version }, { sortKeys: true });
}

export function planFailedState(error: string, version: number | null): StateValue {
  return { error, state: { worker_state: 'PLAN_FAILED' }, version };
}
