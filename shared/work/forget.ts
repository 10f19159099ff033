/**
 * What goes when the worker forgets a resource whose /config key is gone (docs/keys.md): its own
 * keys (mirror, stack record, job state) and the referencing-index entries naming it (nobody plans
 * it again, so which jobs reference it no longer matters). The planner's clean-up deletes these
 * fenced on each as read; the aggregation of a completed delete whose key is gone deletes them
 * with /monitoring, and with /state only when ESI_KEY_DELETE_STATE=remove (docs/gohan.md "Deletes").
 */
import { defaultJobKeys } from '../jobs/job-keys';
import { referencingPrefix } from '../jobs/referencing-index';
import { keys, type ResourcePath } from '../keys';
import { delPrefix, type Op } from '../store/store';

/** The worker's keys of the resource (the mirror first). */
export function ownedKeys(path: ResourcePath): string[] {
  return [keys.mirror(path), keys.heatStack(path), keys.jobState(path)];
}

/** Deletes the referencing-index entries that name the resource. */
export const referencingOps = (path: ResourcePath, resourceType: string | undefined): Op[] =>
  resourceType ? [delPrefix(referencingPrefix(defaultJobKeys, resourceType, path.id))] : [];
