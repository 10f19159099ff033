/** What goes when the worker forgets a resource whose /config key is gone (docs/keys.md). */
import { defaultJobKeys } from '../jobs/job-keys';
import { referencingPrefix } from '../jobs/referencing-index';
import { keys, type ResourcePath } from '../keys';
import { delPrefix, type Op } from '../store/store';

/** The worker's keys of the resource (the mirror first). */
export const ownedKeys = (path: ResourcePath): string[] => [
  keys.mirror(path),
  keys.heatStack(path),
  keys.jobState(path),
];

export const referencingOps = (path: ResourcePath, resourceType: string | undefined): Op[] =>
  resourceType ? [delPrefix(referencingPrefix(defaultJobKeys, resourceType, path.id))] : [];
