/**
 * The stack outputs a job's `output_key` params refer to: the `output` list of each referenced
 * resource's /esi-worker/heat_stacks record, read in one transaction. Used by the heat handler to
 * resolve stack parameters and by the monitoring handler to render target bodies.
 */
import { parseStackRecord, type HeatOutput } from '../heat';
import { keys } from '../keys';
import type { Job } from '../planner';
import { pathOfSingular } from '../resource-path';
import { readValues } from '../store/read';
import type { Store } from '../store/store';

type Ref = { resource_type: string; resource_id: string };
const refKey = (type: string, id: string) => `${type}\u0000${id}`;

/** Every resource an `output_key` param (or list element) of the job names. */
function referencedResources(job: Job): Ref[] {
  const refs = new Map<string, Ref>();
  const walk = (p: { type: string; value: unknown }): void => {
    if (p.type === 'output_key') {
      const v = p.value as Ref;
      refs.set(refKey(v.resource_type, v.resource_id), v);
    } else if (p.type === 'list' && Array.isArray(p.value))
      (p.value as { type: string; value: unknown }[]).forEach(walk);
  };
  job.params.forEach((p) => walk(p));
  return [...refs.values()];
}

/**
 * A lookup of the referenced stacks' outputs: undefined when a resource has no stack record, []
 * when its stack was deleted.
 */
export async function outputsResolver(
  store: Store,
  job: Job,
): Promise<(type: string, id: string) => HeatOutput[] | undefined> {
  const refs = referencedResources(job);
  const stackKeys = refs.map((r) => keys.heatStack(pathOfSingular(r.resource_type, r.resource_id)));
  const records = await readValues(store, stackKeys);
  const outputs = new Map<string, HeatOutput[] | undefined>();
  refs.forEach((r, i) => {
    const kv = records.get(stackKeys[i]);
    const rec = kv ? parseStackRecord(kv.value) : undefined;
    outputs.set(
      refKey(r.resource_type, r.resource_id),
      rec && rec.stack_status !== 'DELETE_COMPLETE' ? rec.output : rec ? [] : undefined,
    );
  });
  return (type, id) => outputs.get(refKey(type, id));
}
