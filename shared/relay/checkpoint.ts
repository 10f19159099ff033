/**
 * A relay's resume point: one key per relay (`/esi-relay/checkpoints/<relay name>`), holding
 * `{"revision": R, "routes": {"<prefix>": Rp, ...}}`. Rp: every event under the route's prefix at
 * or below it was accepted by SQS (or dead-lettered); R = the least of them, so every event of
 * every route at or below R was sent. Each route resumes from its own Rp + 1: a route with no
 * events for a while then neither makes the others re-send on a restart nor looks behind.
 *
 * It is written with a fence on its own last write, so a second relay instance that also writes
 * it makes this one stop instead of both moving it (and neither moves it backwards).
 */
import { absent, modRevisionIs, put, type Store } from '../store/store';

export class CheckpointLostError extends Error {
  override name = 'CheckpointLostError';
}

export interface CheckpointValue {
  /** Every event of every route at or below it was sent. */
  revision: number;
  /** Route prefix → every event under it at or below this revision was sent. */
  routes: Record<string, number>;
}

/** The stored value, read leniently: a route with no readable revision starts over (duplicates, never loss). */
export function parseCheckpoint(text: string): CheckpointValue {
  try {
    const v = JSON.parse(text) as Partial<CheckpointValue>;
    const routes: Record<string, number> = {};
    if (v.routes && typeof v.routes === 'object')
      for (const [prefix, rev] of Object.entries(v.routes)) if (isRevision(rev)) routes[prefix] = rev;
    return { revision: isRevision(v.revision) ? v.revision : 0, routes };
  } catch {
    return { revision: 0, routes: {} };
  }
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
    this.current = kv ? parseCheckpoint(kv.value) : { revision: 0, routes: {} };
    // A route added since the last write: what it would have forwarded before R was never its to send.
    const start = (p: string) => this.current.routes[p] ?? (kv ? this.current.revision : 0);
    return Object.fromEntries(prefixes.map((p) => [p, start(p)]));
  }

  get value(): CheckpointValue {
    return this.current;
  }

  /** Each route's stored revision (0 when none is stored). */
  routeRevision(prefix: string): number {
    return this.current.routes[prefix] ?? 0;
  }

  /**
   * Writes the routes' positions if one of them is ahead of its stored revision (no route moves
   * backwards; a route no longer given is dropped). False when none was ahead (nothing written).
   */
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
