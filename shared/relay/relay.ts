/**
 * Streams the etcd events under one prefix into SQS without losing any.
 *
 * - The relay keeps its own checkpoint in etcd: the highest revision for which every event (of
 *   every lower revision too) was accepted by SQS. It resumes from checkpoint + 1 and ignores
 *   events at or below what it already holds. The etcd3 watcher's internal resume point is never
 *   trusted: on any watch error the watch is re-created from the relay's own position.
 * - A watch response never splits a revision, so the checkpoint only lands on whole revisions.
 * - If the start revision was compacted, the relay lists the prefix, re-emits every key as a
 *   `sync` message, and watches from the list's revision + 1.
 * - Up to `concurrency` batches are in flight; the relay's position advances over the contiguous
 *   prefix of finished batches only.
 * - The checkpoint is written in batches: `checkpointMs` after the first event forwarded since
 *   the last write, or at once after `checkpointEvents` of them, and on stop. Events the relay
 *   does not forward cause no write (unless the stored checkpoint falls `staleRevisions` behind,
 *   so a long run of them does not leave it to be compacted away). A crash re-sends at most what
 *   was forwarded since the last write: duplicates, never loss.
 * - An event SQS refuses for good is dead-lettered by the sender and passed over (SqsBatchSender).
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import { EtcdEventMessage } from '../events/etcd-event-message';
import type { Logger } from '../log/logger';
import { CompactedError, Store, WatchEvent, WatchHandle } from '../store/store';
import { Checkpoint, CheckpointLostError } from './checkpoint';
import { SqsBatchSender } from './sqs-sender';

/** Chooses the queue for an event; undefined = not forwarded (still passes the checkpoint). */
export type RouteFn = (event: EtcdEventMessage, value: string) => string | undefined;

export interface RelayOptions {
  name: string;
  prefix: string;
  checkpointKey: string;
  route: RouteFn;
  logger: Logger;
  /** Messages per SendMessageBatch (1-10). */
  batchSize?: number;
  /** Batches in flight at once. */
  concurrency?: number;
  /** Queue name of the relay's dead-letter queue (events SQS refuses for good). */
  deadLetterQueue?: string;
  /** Longest a forwarded event waits for the checkpoint write (ms). */
  checkpointMs?: number;
  /** Forwarded events that trigger a checkpoint write at once. */
  checkpointEvents?: number;
  /** Revisions the stored checkpoint may fall behind on events not forwarded. */
  staleRevisions?: number;
}

interface Item {
  message: EtcdEventMessage;
  /** Revision that orders this item for the checkpoint (a sync item counts at the list's revision). */
  position: number;
  queue?: string;
}

interface Batch {
  lastPosition: number;
  /** Events of the batch sent to a queue (accepted or dead-lettered). */
  forwarded: number;
  done: boolean;
  promise: Promise<void>;
}

export interface RelayCounters {
  received: number;
  forwarded: number;
  skipped: number;
  deadLettered: number;
  resyncs: number;
  rewatches: number;
  checkpointWrites: number;
}

export class PrefixRelay {
  private readonly checkpoint: Checkpoint;
  private readonly sender: SqsBatchSender;
  private pending: Item[] = [];
  private inflight: Batch[] = [];
  private lastEnqueued = 0;
  private watch?: WatchHandle;
  private recovering?: Promise<void>;
  private stopping = false;
  private fatal?: Error;
  private wake?: () => void;
  private loop?: Promise<void>;
  private checkpointWrite: Promise<void> = Promise.resolve();
  /** Highest revision up to which every event was sent (or passed over); the checkpoint trails it. */
  private safePosition = 0;
  /** Events forwarded since the last checkpoint write. */
  private unsaved = 0;
  private checkpointTimer?: NodeJS.Timeout;
  readonly counters: RelayCounters = {
    received: 0,
    forwarded: 0,
    skipped: 0,
    deadLettered: 0,
    resyncs: 0,
    rewatches: 0,
    checkpointWrites: 0,
  };

  constructor(
    private readonly store: Store,
    sqs: SQSClient,
    private readonly opts: RelayOptions,
  ) {
    this.checkpoint = new Checkpoint(store, opts.checkpointKey);
    this.sender = new SqsBatchSender(sqs, opts.logger, { deadLetterQueue: opts.deadLetterQueue });
  }

  /** The stored checkpoint (trails the position by up to checkpointMs). */
  get checkpointRevision(): number {
    return this.checkpoint.revision;
  }

  /** Highest revision up to which every event under the prefix was sent or passed over. */
  get position(): number {
    return this.safePosition;
  }

  async start(): Promise<void> {
    const from = await this.checkpoint.load();
    this.lastEnqueued = from;
    this.safePosition = from;
    this.opts.logger.info('relay starting', { relay: this.opts.name, prefix: this.opts.prefix, checkpoint: from });
    await this.openWatch();
    this.loop = this.sendLoop();
  }

  /** Stops watching, sends what it already holds, writes the checkpoint. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.watch?.cancel().catch(() => undefined);
    this.wake?.();
    await this.loop;
    clearTimeout(this.checkpointTimer);
    this.writeCheckpoint();
    await this.checkpointWrite;
  }

  /** Resolves when the relay fails for good (lost its checkpoint to another instance). */
  failed(): Promise<Error> {
    return new Promise((resolve) => {
      const check = () => (this.fatal ? resolve(this.fatal) : setTimeout(check, 200).unref());
      check();
    });
  }

  private async openWatch(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        this.watch = await this.store.watch(this.opts.prefix, this.lastEnqueued + 1, {
          onEvents: (events) => this.enqueue(events),
          onError: (err, info) => this.recover(err, info.compacted),
        });
        return;
      } catch (err) {
        if (err instanceof CompactedError) {
          await this.resync();
          continue;
        }
        this.opts.logger.warn('watch could not be created; retrying', {
          relay: this.opts.name,
          attempt,
          error: String(err),
        });
        await delay(Math.min(100 * 2 ** attempt, 5000));
      }
    }
  }

  private recover(err: Error, compacted: boolean): void {
    if (this.recovering || this.stopping) return;
    this.counters.rewatches++;
    this.opts.logger.warn('watch ended; re-creating it from the relay position', {
      relay: this.opts.name,
      etcd_revision: this.lastEnqueued,
      compacted,
      error: err.message,
    });
    this.recovering = (async () => {
      await this.watch?.cancel().catch(() => undefined);
      if (compacted) await this.resync();
      else await delay(200); // a watch that keeps failing must not spin
      await this.openWatch();
    })().finally(() => {
      this.recovering = undefined;
    });
  }

  /** The start revision is gone: re-emit every key under the prefix as it is now. */
  private async resync(): Promise<void> {
    this.counters.resyncs++;
    const { items, revision } = await this.store.range(this.opts.prefix);
    this.opts.logger.warn('start revision compacted; re-emitting every key under the prefix', {
      relay: this.opts.name,
      keys: items.length,
      etcd_revision: revision,
    });
    for (const kv of items) {
      const message: EtcdEventMessage = { key: kv.key, modRevision: kv.modRevision, type: 'sync' };
      this.pending.push({ message, position: revision, queue: this.opts.route(message, kv.value) });
    }
    this.counters.received += items.length;
    this.lastEnqueued = Math.max(this.lastEnqueued, revision);
    this.wake?.();
  }

  private enqueue(events: WatchEvent[]): void {
    for (const ev of events) {
      // Duplicates after a re-watch: whole revisions we already hold.
      if (ev.modRevision <= this.lastEnqueued) continue;
      const message: EtcdEventMessage = { key: ev.key, modRevision: ev.modRevision, type: ev.type };
      this.pending.push({ message, position: ev.modRevision, queue: this.opts.route(message, ev.value) });
      this.counters.received++;
    }
    const last = events[events.length - 1];
    if (last && last.modRevision > this.lastEnqueued) this.lastEnqueued = last.modRevision;
    this.wake?.();
  }

  private async sendLoop(): Promise<void> {
    const batchSize = Math.min(Math.max(this.opts.batchSize ?? 10, 1), 10);
    const concurrency = Math.max(this.opts.concurrency ?? 4, 1);
    while (!this.fatal) {
      // Finished batches wait in `inflight` behind an unfinished one until the checkpoint can pass
      // them; only unfinished ones count against the concurrency and can wake the loop.
      const running = this.inflight.filter((b) => !b.done);
      if (this.pending.length === 0 || running.length >= concurrency) {
        if (this.stopping && this.pending.length === 0) break;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
          if (running.length) Promise.race(running.map((b) => b.promise)).then(resolve, resolve);
        });
        this.wake = undefined;
        continue;
      }
      this.startBatch(this.pending.splice(0, batchSize));
    }
    await Promise.allSettled(this.inflight.map((b) => b.promise));
  }

  private startBatch(items: Item[]): void {
    // The checkpoint may only cover whole revisions: if the next pending item shares the batch's
    // last revision, this batch completes only the revisions before it.
    const last = items[items.length - 1].position;
    const next = this.pending[0];
    const batch: Batch = {
      lastPosition: next && next.position === last ? last - 1 : last,
      forwarded: 0,
      done: false,
      promise: Promise.resolve(),
    };
    const byQueue = new Map<string, EtcdEventMessage[]>();
    for (const item of items) {
      if (!item.queue) {
        this.counters.skipped++;
        continue;
      }
      byQueue.set(item.queue, [...(byQueue.get(item.queue) ?? []), item.message]);
    }
    batch.promise = Promise.all(
      [...byQueue].map(([queue, msgs]) =>
        this.sender.send(queue, msgs).then((deadLettered) => {
          this.counters.forwarded += msgs.length - deadLettered;
          this.counters.deadLettered += deadLettered;
          batch.forwarded += msgs.length;
        }),
      ),
    ).then(() => {
      batch.done = true;
      this.advance();
    });
    this.inflight.push(batch);
  }

  /** Moves the position over finished batches and schedules the checkpoint write. */
  private advance(): void {
    while (this.inflight.length && this.inflight[0].done) {
      const batch = this.inflight.shift()!;
      this.safePosition = Math.max(this.safePosition, batch.lastPosition);
      this.unsaved += batch.forwarded;
    }
    const stale = this.safePosition - this.checkpoint.revision >= (this.opts.staleRevisions ?? 10_000);
    if (this.unsaved >= (this.opts.checkpointEvents ?? 1000)) this.writeCheckpoint();
    else if ((this.unsaved > 0 || stale) && !this.checkpointTimer)
      this.checkpointTimer = setTimeout(() => this.writeCheckpoint(), this.opts.checkpointMs ?? 1000);
  }

  /** Writes the position as the checkpoint (one write at a time; a failed write is tried again later). */
  private writeCheckpoint(): void {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    const upto = this.safePosition;
    const covered = this.unsaved;
    if (upto <= this.checkpoint.revision) return;
    this.unsaved = 0;
    this.checkpointWrite = this.checkpointWrite
      .then(async () => {
        await this.checkpoint.advance(upto);
        this.counters.checkpointWrites++;
      })
      .catch((err: Error) => {
        if (!(err instanceof CheckpointLostError)) {
          // etcd unreachable for now: written again on the next round.
          this.opts.logger.warn('relay checkpoint not written yet', {
            relay: this.opts.name,
            etcd_revision: upto,
            error: err.message,
          });
          this.unsaved += covered;
          if (!this.stopping) this.advance();
          return;
        }
        this.fatal = err;
        this.opts.logger.error('relay checkpoint taken by another instance; stopping', {
          relay: this.opts.name,
          error: err.message,
        });
        this.wake?.();
      });
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
