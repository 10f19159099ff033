/** A relay's resume point, fenced on its own last write (docs/decisions.md "Own checkpoint", "One writer"). */
import { isPlainObject, parseJsonObject } from '../encoding/json-object';
import { absent, modRevisionIs, put, type Store } from '../store/store';

export class CheckpointLostError extends Error {
  override name = 'CheckpointLostError';
}

export type CheckpointValue = { revision: number; routes: Record<string, number> };

/** The stored value, read leniently: a route with no readable revision starts over (duplicates, never loss). */
export function parseCheckpoint(text: string): CheckpointValue {
  const v = parseJsonObject(text);
  const routes = isPlainObject(v.routes)
    ? Object.fromEntries(Object.entries(v.routes).filter((e): e is [string, number] => isRevision(e[1])))
    : {};
  return { revision: isRevision(v.revision) ? v.revision : 0, routes };
}

const isRevision = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0;

export class Checkpoint {
  private modRevision = 0;
  private current: CheckpointValue = { revision: 0, routes: {} };

  constructor(
    private readonly store: Store,
    readonly key: string,
  ) {}

  /** Reads the stored checkpoint: each route's resume point (0 when it never ran). */
  async load(prefixes: readonly string[]): Promise<Record<string, number>> {
    const kv = await this.store.get(this.key);
    this.modRevision = kv?.modRevision ?? 0;
    this.current = parseCheckpoint(kv?.value ?? '');
    // A route added since the last write: what it would have forwarded before R was never its to send.
    return Object.fromEntries(prefixes.map((p) => [p, this.current.routes[p] ?? this.current.revision]));
  }

  get value(): CheckpointValue {
    return this.current;
  }

  /** Writes the positions if one is ahead (none moves back; a route no longer given is dropped); false if none was. */
  async advance(positions: Record<string, number>): Promise<boolean> {
    const stored = this.current.routes;
    const given = Object.entries(positions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (!given.some(([p, at]) => at > (stored[p] ?? 0))) return false;
    const routes = Object.fromEntries(given.map(([p, at]) => [p, Math.max(at, stored[p] ?? 0)]));
    const next: CheckpointValue = { revision: Math.min(...Object.values(routes)), routes };
    const res = await this.store
      .txn()
      .when(this.modRevision ? modRevisionIs(this.key, this.modRevision) : absent(this.key))
      .then(put(this.key, JSON.stringify(next)))
      .commit();
    if (!res.succeeded) throw new CheckpointLostError(`checkpoint ${this.key} was written by another relay; stopping`);
    this.modRevision = res.revision;
    this.current = next;
    return true;
  }
}
