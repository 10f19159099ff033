/**
 * The relay's own resume point: the revision up to which every event under its prefix was
 * accepted by SQS. It is written with a fence on its own last write, so a second relay instance
 * that also writes it makes this one stop instead of both moving it.
 */
import { absent, modRevisionIs, put, Store } from '../store/store';

export class CheckpointLostError extends Error {
  override name = 'CheckpointLostError';
}

export class Checkpoint {
  private modRevision = 0;
  private current = 0;

  constructor(
    private readonly store: Store,
    readonly key: string,
  ) {}

  /** Reads the stored checkpoint (0 when the relay never ran). */
  async load(): Promise<number> {
    const kv = await this.store.get(this.key);
    this.modRevision = kv?.modRevision ?? 0;
    const n = kv ? Number(kv.value) : 0;
    this.current = Number.isInteger(n) && n >= 0 ? n : 0;
    return this.current;
  }

  get revision(): number {
    return this.current;
  }

  /** Moves the checkpoint forward to revision; never backwards. */
  async advance(revision: number): Promise<void> {
    if (revision <= this.current) return;
    const res = await this.store
      .txn()
      .when(this.modRevision ? modRevisionIs(this.key, this.modRevision) : absent(this.key))
      .then(put(this.key, String(revision)))
      .commit();
    if (!res.succeeded) throw new CheckpointLostError(`checkpoint ${this.key} was written by another relay; stopping`);
    this.modRevision = res.revision;
    this.current = revision;
  }
}
