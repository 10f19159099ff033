// The values the heat handler writes, exactly as the original worker did (docs/heat-handler.md "Values written
// to etcd"). Pure. json.dumps with sort_keys=True, except `/state`'s `heat_outputs`.
import { pyDumps } from '../encoding/pyjson';
import type { HeatOutput } from './types';

type HeatStackRecord = ReturnType<typeof stackRecord>;
type JobStateValue = { heat_outputs?: HeatOutput[]; orchestration_state?: string } & Record<string, unknown>;

export const stackNameOf = (resourceType: string, resourceId: string): string => `${resourceType}_${resourceId}`;

/** Heat's outputs as stored: three fields, in Heat's list order and Python 2's key order (`/state`'s heat_outputs). */
export function normalizeOutputs(raw: unknown): HeatOutput[] {
  if (!Array.isArray(raw)) return [];
  return (raw as unknown[])
    .filter((o): o is Record<string, unknown> => typeof (o as { output_key?: unknown } | null)?.output_key === 'string')
    .map((o) => ({
      output_value: o.output_value === undefined ? null : o.output_value,
      description: typeof o.description === 'string' ? o.description : 'No description given',
      output_key: o.output_key as string,
    }));
}

type StackOwner = { resourceType: string; resourceId: string; tenantId: string };

/** The record of a stack that exists; `tenantId` is the Gohan resource's. */
export function stackRecord(a: StackOwner & { status: string; statusReason: string; outputs: readonly HeatOutput[] }) {
  return {
    id: `${a.resourceType}:${a.resourceId}`,
    output: normalizeOutputs(a.outputs),
    // The stack NAME, not Heat's uuid; "" after a delete.
    stack_id: stackNameOf(a.resourceType, a.resourceId),
    stack_status: a.status,
    status_reason: a.statusReason,
    tenant_id: a.tenantId,
  };
}

/** The record after the stack was deleted (or found absent by a delete). */
export const deletedStackRecord = (a: StackOwner) => ({
  ...stackRecord({ ...a, status: 'DELETE_COMPLETE', statusReason: '', outputs: [] }),
  stack_id: '',
});

// The job state after a stack operation, keeping what other handlers put there (seed 004's `state_monitoring`);
// without `orchestrationState` (seed 004's chain) it is left out.
export function jobStateValue(a: {
  outputs: readonly HeatOutput[];
  orchestrationState?: string;
  previous?: Record<string, unknown>;
}): JobStateValue {
  const v: JobStateValue = { ...(a.previous ?? {}), heat_outputs: normalizeOutputs(a.outputs) };
  if (a.orchestrationState !== undefined) v.orchestration_state = a.orchestrationState;
  else delete v.orchestration_state;
  return v;
}

/** The etcd text of an /esi-worker value: json.dumps(value, sort_keys=True). */
export const encodeEsiValue = (value: unknown): string => pyDumps(value, { sortKeys: true });

/** `/state`'s `heat_outputs` string: json.dumps of the list, not sorted. */
export const stateHeatOutputsText = (outputs: readonly HeatOutput[]): string => pyDumps(normalizeOutputs(outputs));

export const tenantOf = (resourceInput: Record<string, unknown> | undefined): string =>
  typeof resourceInput?.tenant_id === 'string' ? resourceInput.tenant_id : '';

/** A stored heat_stacks value, or undefined if the text is not one. */
export function parseStackRecord(text: string): HeatStackRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<HeatStackRecord> | null;
    return Array.isArray(v?.output) && typeof v.stack_status === 'string' ? (v as HeatStackRecord) : undefined;
  } catch {
    return undefined;
  }
}
