/**
 * What the demo still waits for, in one line: the resources not matching yet, the jobs left, and
 * for a /monitoring value a template holds back, the hold and (asked of the collector) when it
 * is released.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ExpectedHold } from './holds';
import type { PlayResult } from './play';

/** A hold still pending, with when its status is released (when the collector says since when it holds). */
export type PendingHold = ExpectedHold & { releaseAt?: number };

/**
 * When each held status is released: its collector target's `last_changed` plus the hold
 * (read once per key). Without a collector to ask, unknown.
 */
export function releases(collectorUrl: string | undefined): (holds: ExpectedHold[]) => Promise<PendingHold[]> {
  const known = new Map<string, number>();
  const since = async (h: ExpectedHold): Promise<number | undefined> => {
    const [plural, id] = h.key.split('/').slice(-2);
    type Listed = { values?: { value?: unknown; last_changed?: string }[] }[];
    const url = `${collectorUrl}/targets?resource_type=${plural}&resource_id=${id}`;
    const targets = await fetch(url)
      .then((res) => (res.ok ? (res.json() as Promise<Listed>) : []))
      .catch((): Listed => []);
    const times = targets.flatMap((t) => t.values ?? []).filter((v) => isDeepStrictEqual(v.value, h.value));
    const at = Math.max(...times.map((v) => Date.parse(v.last_changed ?? '')).filter((n) => !Number.isNaN(n)));
    return Number.isFinite(at) ? at : undefined;
  };
  return async (holds) =>
    Promise.all(
      holds.map(async (h) => {
        if (collectorUrl && !known.has(h.key)) {
          const at = await since(h);
          if (at !== undefined) known.set(h.key, at + h.seconds * 1000);
        }
        const releaseAt = known.get(h.key);
        return releaseAt === undefined ? h : { ...h, releaseAt };
      }),
    );
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * One line: what the demo still waits for and why, e.g. `waiting for 2 /monitoring values (FAIL
 * held 210 s by hold_options, released in about 95 s): 270 s left`.
 */
export function pendingLine(result: PlayResult, holds: PendingHold[], leftMs: number, now = Date.now()): string {
  const pending = (kind: string) => result.checks.filter((c) => c.kind === kind && !c.ok).length;
  // The holds grouped by status and duration.
  const kinds = new Map<string, { value: unknown; seconds: number; same: PendingHold[] }>();
  for (const h of holds) {
    const kind = `${JSON.stringify(h.value)} ${h.seconds}`;
    const group = kinds.get(kind) ?? { value: h.value, seconds: h.seconds, same: [] };
    kinds.set(kind, { ...group, same: [...group.same, h] });
  }
  const why = [...kinds.values()].map(({ value, seconds, same }) => {
    const release = same.filter((x) => x.releaseAt !== undefined).map((x) => x.releaseAt!);
    const left = release.length ? Math.max(0, Math.ceil((Math.max(...release) - now) / 1000)) : undefined;
    const of = same.length < pending('monitoring') ? `${same.length} of them ` : '';
    return `${of}${typeof value === 'string' ? value : JSON.stringify(value)} held ${seconds} s by hold_options${left === undefined ? '' : `, released in about ${left} s`}`;
  });
  const parts = [
    pending('state') ? plural(pending('state'), '/state value') : '',
    pending('monitoring')
      ? `${plural(pending('monitoring'), '/monitoring value')}${why.length ? ` (${why.join('; ')})` : ''}`
      : '',
    result.unfinishedJobs.length ? plural(result.unfinishedJobs.length, 'unfinished job') : '',
  ].filter(Boolean);
  return `waiting for ${parts.join(', ') || 'the results'}: ${Math.max(0, Math.ceil(leftMs / 1000))} s left`;
}
