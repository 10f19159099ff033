/** The stack outputs a job's `output_key` params refer to, from the referenced heat_stacks records (one read). */
import { parseStackRecord, type HeatOutput } from '../heat';
import { outputTargets } from '../jobs/referencing-index';
import { keys } from '../keys';
import type { Job } from '../planner';
import { pathOfSingular } from '../resource-path';
import { readValues } from '../store/read';
import type { Store } from '../store/store';

/** undefined when a resource has no stack record, [] when its stack was deleted. */
export async function outputsResolver(
  store: Store,
  job: Job,
): Promise<(type: string, id: string) => HeatOutput[] | undefined> {
  const stackKeyOf = (type: string, id: string) => keys.heatStack(pathOfSingular(type, id));
  const records = await readValues(
    store,
    outputTargets(job).map((r) => stackKeyOf(r.type, r.id)),
  );
  return (type, id) => {
    const kv = records.get(stackKeyOf(type, id));
    const rec = kv ? parseStackRecord(kv.value) : undefined;
    return rec && rec.stack_status !== 'DELETE_COMPLETE' ? rec.output : rec ? [] : undefined;
  };
}
