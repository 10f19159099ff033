/**
 * The reconciler's sense of time, pure. etcd keys carry revisions, not times, so every pass
 * records a mark `(revision, at)`: the store revision it read and the wall-clock time right after
 * reading it. A key whose mod revision is at or below a mark's revision was last changed before
 * that mark's time. So with `graceRevision` = the highest mark revision recorded at least `grace`
 * ago, "modRevision <= graceRevision" means "unchanged for at least the grace period" — true
 * whichever invocation recorded the mark, so concurrent passes agree (docs/reconciler.md).
 *
 * The same memory holds what cannot be dated by a revision: when a pass first saw a job in limbo
 * (its claim expired: no key of it changed), and which repairs were made recently (not repeated
 * within the grace period; repeated after it if the target is still stranded, e.g. its message
 * was lost again).
 */

export interface Mark {
  /** A store revision read by a pass. */
  revision: number;
  /** Milliseconds since the epoch, taken right after reading it. */
  at: number;
}

export interface Memory {
  marks: Mark[];
  /** Job id → revision of the pass that first saw it in limbo. */
  limbo: Record<string, number>;
  /** Repair id → revision of the pass that made it. */
  repaired: Record<string, number>;
}

export const emptyMemory = (): Memory => ({ marks: [], limbo: {}, repaired: {} });

/**
 * Marks kept: enough to date anything up to `keepMs` old, at most this many. Past the cap the
 * marks are thinned where they are densest relative to their age (`thin`), so the recent ones stay
 * as close as they were stored (the grace) and the older ones still reach back to the backlog
 * grace and beyond: 200 marks spread geometrically from a 2.5 s spacing to an hour are ~4% apart.
 */
export const MAX_MARKS = 200;

/** The highest revision known to be at least `graceMs` old at `nowMs`; 0 when none is. */
export function graceRevision(marks: readonly Mark[], nowMs: number, graceMs: number): number {
  let best = 0;
  for (const m of marks) if (m.at <= nowMs - graceMs && m.revision > best) best = m.revision;
  return best;
}

/**
 * How long ago, at least, a change after `revision` happened, from the marks: the earliest mark
 * whose revision is above `revision` was recorded after that change. 0 when no mark dates it.
 */
export function secondsSinceAfter(marks: readonly Mark[], revision: number, nowMs: number): number {
  let earliest: number | undefined;
  for (const m of marks) if (m.revision > revision && (earliest === undefined || m.at < earliest)) earliest = m.at;
  return earliest === undefined ? 0 : Math.max(0, Math.floor((nowMs - earliest) / 1000));
}

/**
 * Adds a mark and drops the ones no longer needed: every mark newer than `keepMs`, plus the
 * newest older one (it still dates keys changed before it), thinned to MAX_MARKS.
 */
export function withMark(marks: readonly Mark[], mark: Mark, nowMs: number, keepMs: number): Mark[] {
  const byRevision = new Map<number, Mark>();
  for (const m of [...marks, mark]) {
    const prev = byRevision.get(m.revision);
    // Two passes that read the same revision: the earlier time is the safe one.
    if (!prev || m.at < prev.at) byRevision.set(m.revision, m);
  }
  const sorted = [...byRevision.values()].sort((a, b) => a.revision - b.revision || a.at - b.at);
  const recent = sorted.filter((m) => m.at > nowMs - keepMs);
  const older = sorted.filter((m) => m.at <= nowMs - keepMs);
  const newestOlder = older.at(-1);
  const kept = newestOlder ? [newestOlder, ...recent] : recent;
  return thin(kept, nowMs);
}

/**
 * At most MAX_MARKS marks (sorted, oldest first): drops, one at a time, the mark whose removal
 * leaves the smallest gap relative to the age of the gap's newer end, never the oldest or the
 * newest. A key is then dated at most that relative gap late, whatever its age: marks kept only
 * newest-first would leave nothing old enough to date a long horizon when passes are frequent.
 */
function thin(marks: Mark[], nowMs: number): Mark[] {
  const kept = [...marks];
  while (kept.length > MAX_MARKS) {
    let drop = 1;
    let smallest = Infinity;
    for (let i = 1; i < kept.length - 1; i++) {
      // 1 <= i < length - 1: both neighbours exist.
      const [before, after] = [kept[i - 1]!, kept[i + 1]!];
      const gap = (after.at - before.at) / Math.max(1, nowMs - after.at);
      if (gap < smallest) [drop, smallest] = [i, gap];
    }
    kept.splice(drop, 1);
  }
  return kept;
}

export interface PassMemory {
  mark: Mark;
  /** Every job this pass saw in limbo, with the revision it was first seen at. */
  limbo: Record<string, number>;
  /** Repairs this pass made (id → this pass's revision). */
  repaired: Record<string, number>;
}

/**
 * The memory to store after a pass, merged with what is stored now (another pass may have written
 * it meanwhile): marks united; limbo as this pass saw it, keeping the earlier first sighting of
 * either; repairs united (the later revision wins), dropping those older than the grace period.
 */
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

/**
 * Whether a pass must store the memory (`next`, merged with `stored` as read just before): only
 * when something in it changes meaningfully.
 * - The pass made repairs, or the jobs in limbo (or their first sightings) changed.
 * - Or a new mark is due: etcd moved past the newest stored mark, other than by the memory's own
 *   write (`storedModRevision`, the memory key's mod revision, right after that mark's revision
 *   and still the store's revision), and that mark is at least `markSpacingMs` old. A pass on an
 *   idle etcd writes nothing; marks are never closer than the spacing, so a key is dated at most
 *   the spacing (plus one pass interval) later than with a mark every pass.
 * Not meaningful: dropping marks or repairs that aged out (the next write drops them; a repair
 * at or below the grace revision no longer holds a repeat back anyway).
 */
export function memoryWriteDue(
  stored: Memory,
  storedModRevision: number,
  next: Memory,
  pass: PassMemory,
  markSpacingMs: number,
): boolean {
  if (Object.keys(pass.repaired).length) return true;
  if (!sameNumbers(stored.limbo, next.limbo)) return true;
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

/** The stored memory value, read leniently: anything unreadable counts as empty (it only delays repairs). */
export function parseMemory(text: string | undefined): Memory {
  if (!text) return emptyMemory();
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
    return emptyMemory();
  }
}
