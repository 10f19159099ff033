/** A resource's jobs, ranged under its id prefixes (`JobKeys.jobIdPrefixes`): no scan of /jobs/all, no index. */
import type { KeyValue } from '../store/store';
import { readKeys, type Reader } from '../store/read';
import { type JobKeys, parseJobId } from './job-keys';
import { referencingPrefix } from './referencing-index';
import { definedOnly } from '../defined-only';

type JobOwner = { type: string; id: string; version?: number };

/**
 * Each owner's job ids (sorted; of its chain `version` when given), what is under each extra prefix, and the
 * `alsoRead` keys: ranged and read together, in one request when they fit (`readKeys`).
 */
export async function readJobIds(
  reader: Reader,
  keys: JobKeys,
  owners: readonly JobOwner[],
  opts: { extraPrefixes?: readonly string[]; alsoRead?: readonly string[] } = {},
): Promise<{ ids: string[][]; extra: KeyValue[][]; read: (KeyValue | undefined)[] }> {
  const prefixes = owners.map((o) => keys.jobIdPrefixes(o.type, o.id, o.version));
  const { values, found } = await readKeys(
    reader,
    { keys: opts.alsoRead ?? [], prefixes: [...prefixes.flat(), ...(opts.extraPrefixes ?? [])] },
    { keysOnly: 'prefixes' },
  );
  const owns = (o: JobOwner, id: string) => {
    const p = parseJobId(id);
    return p?.resourceType === o.type && p.resourceId === o.id && (o.version === undefined || p.version === o.version);
  };
  let next = 0;
  const ids = owners.map((o, i) =>
    found
      .slice(next, (next += prefixes[i]!.length))
      .flat()
      .map((kv) => kv.key.slice(keys.prefix('all').length))
      .filter((id) => owns(o, id))
      .sort(),
  );
  return { ids, extra: found.slice(next), read: values };
}

/**
 * What planning asks about jobs, in two requests whatever the number of resources: the id prefixes, the
 * referencing index of `referenced` and `alsoRead`, then the found and listed jobs' keys (keys only).
 */
export async function pendingJobsOf(
  reader: Reader,
  keys: JobKeys,
  resources: { type: string; id: string }[],
  opts: { referenced?: { type: string; id: string }; alsoRead?: readonly string[] } = {},
): Promise<{
  /** The unfinished jobs (under /jobs/all without a finished key) of each resource, by `<type>\0<id>`, sorted. */
  unfinished: Map<string, string[]>;
  /** The unfinished jobs referencing `referenced` (sorted), and its entries whose job is gone (ids are never reused). */
  referencing?: { unfinished: string[]; stale: string[] };
  read: (KeyValue | undefined)[];
}> {
  const refPrefix = opts.referenced && referencingPrefix(keys, opts.referenced.type, opts.referenced.id);
  const found = await readJobIds(
    reader,
    keys,
    resources,
    definedOnly({ extraPrefixes: refPrefix ? [refPrefix] : [], alsoRead: opts.alsoRead }),
  );
  const ids = [...new Set(found.ids.flat())];
  const listed = refPrefix ? found.extra[0]!.map((kv) => kv.key.slice(refPrefix.length)) : [];
  const toRead = [...ids.map((id) => keys.finished(id)), ...listed.flatMap((id) => [keys.all(id), keys.finished(id)])];
  const got = toRead.length ? (await readKeys(reader, { keys: toRead }, { keysOnly: true })).values : [];
  const done = new Set(ids.filter((_, i) => got[i] !== undefined));
  const unfinished = new Map(
    resources.map((r, i) => [`${r.type}\u0000${r.id}`, found.ids[i]!.filter((id) => !done.has(id))]),
  );
  if (!refPrefix) return { unfinished, read: found.read };
  // For each listed id, its all key then its finished key: the listing alone is never trusted.
  const all = (i: number) => got[ids.length + 2 * i];
  const fin = (i: number) => got[ids.length + 2 * i + 1];
  return {
    unfinished,
    referencing: {
      unfinished: listed.filter((_, i) => all(i) !== undefined && fin(i) === undefined).sort(),
      stale: listed.filter((_, i) => all(i) === undefined).map((id) => `${refPrefix}${id}`),
    },
    read: found.read,
  };
}
