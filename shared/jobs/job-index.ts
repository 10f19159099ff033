/**
 * Finding "the jobs of this chain" or "the unfinished jobs of this resource" without reading the
 * whole /jobs/all folder and without an index to write: a job id starts with
 * `<action>:<handler>:<resource_type>:<resource_id>:<version>:` (docs/PROTOCOL-NOTES.md §c), so
 * the resource's jobs are under one prefix per (action, handler) pair (`JobKeys.jobIdPrefixes`),
 * all ranged together, keys only and paged: the cost follows the resource's own jobs, never the
 * backlog, and nothing is written for it when a job is planned.
 */
import type { KeyValue } from '../store/store';
import { readKeys, type Reader } from '../store/read';
import { type JobKeys, parseJobId } from './job-keys';
import {
  judgeReferencing,
  listedReferencing,
  referencingChecks,
  referencingPrefix,
  type ReferencingJobs,
} from './referencing-index';
import { definedOnly } from '../defined-only';

/** A resource whose jobs are looked up (of its chain `version`, when given). */
export interface JobOwner {
  type: string;
  id: string;
  version?: number;
}

/** The ids of `owner`'s jobs among the keys ranged under its prefixes (`found`, one list per prefix). */
function ownedIds(keys: JobKeys, owner: JobOwner, prefixes: string[], found: KeyValue[][]): string[] {
  const allPrefix = keys.prefix('all');
  return (
    prefixes
      // `found` holds one list per prefix, in order (readKeys).
      .flatMap((prefix, i) => found[i]!.filter((kv) => kv.key.startsWith(prefix)))
      .map((kv) => kv.key.slice(allPrefix.length))
      .filter((id) => {
        const parts = parseJobId(id);
        return (
          parts?.resourceType === owner.type &&
          parts.resourceId === owner.id &&
          (owner.version === undefined || parts.version === owner.version)
        );
      })
      .sort()
  );
}

/**
 * Ranges every owner's (action, handler) prefixes and the `extraPrefixes` keys-only and paged, and
 * reads the `alsoRead` keys, all in one request when they fit one (`readKeys`; one
 * round trip when each prefix fits a page): each owner's job ids, what was found under each extra
 * prefix, and the keys read.
 */
export async function readJobIds(
  reader: Reader,
  keys: JobKeys,
  owners: readonly JobOwner[],
  opts: { extraPrefixes?: readonly string[]; alsoRead?: readonly string[] } = {},
): Promise<{ ids: string[][]; extra: KeyValue[][]; read: (KeyValue | undefined)[] }> {
  const prefixes = owners.map((o) => keys.jobIdPrefixes(o.type, o.id, o.version));
  const { values: kvs, found } = await readKeys(
    reader,
    { keys: opts.alsoRead ?? [], prefixes: [...prefixes.flat(), ...(opts.extraPrefixes ?? [])] },
    { keysOnly: 'prefixes' },
  );
  let next = 0;
  const ids = owners.map((o, r) => {
    const own = prefixes[r]!; // one entry per owner (mapped from `owners` above)
    return ownedIds(keys, o, own, found.slice(next, (next += own.length)));
  });
  return { ids, extra: found.slice(next), read: kvs };
}

/**
 * The ids under /jobs/all of one resource's jobs (of its chain `version`, when given), sorted. A
 * resource id containing `:` may share a prefix with another resource's ids: only ids that parse
 * to the resource are kept.
 */
export async function resourceJobIds(
  reader: Reader,
  keys: JobKeys,
  resourceType: string,
  resourceId: string,
  version?: number,
): Promise<string[]> {
  const [ids = []] = (await readJobIds(reader, keys, [definedOnly({ type: resourceType, id: resourceId, version })]))
    .ids;
  return ids;
}

export interface PendingJobs {
  /** The unfinished jobs (under /jobs/all without a finished key) of each resource, by `<type>\0<id>`, sorted. */
  unfinished: Map<string, string[]>;
  /** The unfinished jobs referencing `referenced`, when it was given. */
  referencing?: ReferencingJobs;
  /** The `alsoRead` keys, as read with the ranges. */
  read: (KeyValue | undefined)[];
}

/**
 * What planning asks about jobs, in two requests whatever the number of resources: the resources'
 * id-prefix ranges, the referencing-index range of `referenced` and the `alsoRead` keys (one
 * request), then one keys-only read of the found jobs' finished keys and of the listed
 * referencing jobs' keys.
 */
export async function pendingJobsOf(
  reader: Reader,
  keys: JobKeys,
  resources: { type: string; id: string }[],
  opts: { referenced?: { type: string; id: string }; alsoRead?: readonly string[] } = {},
): Promise<PendingJobs> {
  const { referenced } = opts;
  const refPrefix = referenced && referencingPrefix(keys, referenced.type, referenced.id);
  const found = await readJobIds(
    reader,
    keys,
    resources,
    definedOnly({ extraPrefixes: refPrefix ? [refPrefix] : [], alsoRead: opts.alsoRead }),
  );
  const ids = [...new Set(found.ids.flat())];
  // With a refPrefix, `extra` holds its one list.
  const listed = refPrefix ? listedReferencing(refPrefix, found.extra[0]!) : [];
  const toRead = [...ids.map((id) => keys.finished(id)), ...referencingChecks(keys, listed)];
  const got = toRead.length ? (await readKeys(reader, { keys: toRead }, { keysOnly: true })).values : [];
  const done = new Set(ids.filter((_, i) => got[i] !== undefined));
  const unfinished = new Map<string, string[]>();
  resources.forEach((r, i) =>
    unfinished.set(
      `${r.type}\u0000${r.id}`,
      found.ids[i]!.filter((id) => !done.has(id)), // one list per resource, in order
    ),
  );
  return {
    unfinished,
    ...(refPrefix ? { referencing: judgeReferencing(refPrefix, listed, got.slice(ids.length)) } : {}),
    read: found.read,
  };
}
