/**
 * The stack outputs a job's `output_key` params refer to: the `output` list of each referenced
 * resource's /esi-worker/heat_stacks record, read in one transaction. Used by the heat handler to
 * resolve stack parameters and by the monitoring handler to render target bodies.
 */
import { parseStackRecord, type HeatOutput } from '../heat';
import { outputTargets } from '../jobs/referencing-index';
import { keys } from '../keys';
import type { Job } from '../planner';
import { pathOfSingular } from '../resource-path';
import { readValues } from '../store/read';
import type { Store } from '../store/store';

const refKey = (type: string, id: string) => `${type}\u0000${id}`;

/**
 * A lookup of the referenced stacks' outputs: undefined when a resource has no stack record, []
 * when its stack was deleted.
 */
export async function outputsResolver(
  store: Store,
  job: Job,
): Promise<(type: string, id: string) => HeatOutput[] | undefined> {
  const refs = outputTargets(job);
  const stackKeyOf = (r: (typeof refs)[number]) => keys.heatStack(pathOfSingular(r.type, r.id));
  const records = await readValues(store, refs.map(stackKeyOf));
  const outputs = new Map<string, HeatOutput[] | undefined>();
  refs.forEach((r) => {
    const kv = records.get(stackKeyOf(r));
    const rec = kv ? parseStackRecord(kv.value) : undefined;
    outputs.set(
      refKey(r.type, r.id),
      rec && rec.stack_status !== 'DELETE_COMPLETE' ? rec.output : rec ? [] : undefined,
    );
  });
  return (type, id) => outputs.get(refKey(type, id));
}
