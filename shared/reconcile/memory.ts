/** The reconciler's sense of time, pure (docs/reconciler.md "Time"); also first sightings of limbo, recent repairs. */

/** `at`: milliseconds since the epoch, taken right after reading `revision`. */
export type Mark = { revision: number; at: number };

/** `limbo`: job id → the pass that first saw it in limbo; `repaired`: repair id → the pass that made it. */
export type Memory = { marks: Mark[]; limbo: Record<string, number>; repaired: Record<string, number> };

export const MAX_MARKS = 200;

/** The highest revision known to be at least `graceMs` old at `nowMs`; 0 when none is. */
export function graceRevision(marks: readonly Mark[], nowMs: number, graceMs: number): number {
  return Math.max(0, ...marks.filter((m) => m.at <= nowMs - graceMs).map((m) => m.revision));
}

/** How long ago, at least, a change after `revision` happened: the earliest mark above it came after. 0: undated. */
export function secondsSinceAfter(marks: readonly Mark[], revision: number, nowMs: number): number {
  const after = marks.filter((m) => m.revision > revision).map((m) => m.at);
  return after.length ? Math.max(0, Math.floor((nowMs - Math.min(...after)) / 1000)) : 0;
}

/** Adds a mark; keeps every mark newer than `keepMs` plus the newest older one, thinned to MAX_MARKS. */
export function withMark(marks: readonly Mark[], mark: Mark, nowMs: number, keepMs: number): Mark[] {
  // Two passes that read the same revision: the earlier time is the safe one.
  const sorted = [...marks, mark]
    .sort((a, b) => a.revision - b.revision || a.at - b.at)
    .filter((m, i, all) => m.revision !== all[i - 1]?.revision);
  const cutoff = nowMs - keepMs;
  const newestOlder = sorted.filter((m) => m.at <= cutoff).slice(-1);
  return thin([...newestOlder, ...sorted.filter((m) => m.at > cutoff)], nowMs);
}

/** At most MAX_MARKS marks: drops the inner mark leaving the smallest gap relative to its age, one at a time. */
function thin(kept: Mark[], nowMs: number): Mark[] {
  while (kept.length > MAX_MARKS) {
    let drop = 1;
    let smallest = Infinity;
    for (let i = 1; i < kept.length - 1; i++) {
      const [before, after] = [kept[i - 1]!, kept[i + 1]!];
      const gap = (after.at - before.at) / Math.max(1, nowMs - after.at);
      if (gap < smallest) [drop, smallest] = [i, gap];
    }
    kept.splice(drop, 1);
  }
  return kept;
}

/** One pass's part: its mark, every job it saw in limbo (first sighting), its repairs (id → its revision). */
export type PassMemory = { mark: Mark; limbo: Record<string, number>; repaired: Record<string, number> };

/** Marks and repairs (less those older than the grace) united; limbo as this pass saw it, first sightings kept. */
export function mergeMemory(
  stored: Memory,
  pass: PassMemory,
  opts: { nowMs: number; graceMs: number; keepMs: number },
): Memory {
  const marks = withMark(stored.marks, pass.mark, opts.nowMs, opts.keepMs);
  const limbo: Record<string, number> = {};
  for (const [id, rev] of Object.entries(pass.limbo)) limbo[id] = Math.min(rev, stored.limbo[id] ?? rev);
  const g = graceRevision(marks, opts.nowMs, opts.graceMs);
  const repaired: Record<string, number> = {};
  for (const src of [stored.repaired, pass.repaired])
    for (const [id, rev] of Object.entries(src)) if (rev > g) repaired[id] = Math.max(rev, repaired[id] ?? 0);
  return { marks, limbo, repaired };
}

/** Repairs made, limbo changed, or a mark due (docs/reconciler.md, "Marks are spaced"); aging out is no reason. */
export function memoryWriteDue(
  stored: Memory,
  storedModRevision: number,
  next: Memory,
  pass: PassMemory,
  markSpacingMs: number,
): boolean {
  if (Object.keys(pass.repaired).length || !sameNumbers(stored.limbo, next.limbo)) return true;
  const newest = stored.marks.reduce<Mark | undefined>((n, m) => (!n || m.revision > n.revision ? m : n), undefined);
  if (!newest) return true;
  const onlyOwnWrite = storedModRevision === newest.revision + 1 && pass.mark.revision === storedModRevision;
  const moved = pass.mark.revision > newest.revision && !onlyOwnWrite;
  return moved && pass.mark.at - newest.at >= markSpacingMs;
}

function sameNumbers(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

/** The stored value, read leniently: anything unreadable counts as empty (it only delays repairs). */
export function parseMemory(text: string | undefined): Memory {
  const empty: Memory = { marks: [], limbo: {}, repaired: {} };
  if (!text) return empty;
  try {
    const v = JSON.parse(text) as Partial<Memory>;
    const marks = Array.isArray(v.marks)
      ? v.marks.filter((m): m is Mark => Number.isInteger(m?.revision) && Number.isFinite(m?.at))
      : [];
    const numbers = (o: unknown): Record<string, number> =>
      o && typeof o === 'object'
        ? Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => Number.isInteger(e[1])))
        : {};
    return { marks, limbo: numbers(v.limbo), repaired: numbers(v.repaired) };
  } catch {
    return empty;
  }
}
