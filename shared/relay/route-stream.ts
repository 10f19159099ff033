/** Streams the etcd events under one route's prefix into SQS without losing any (docs/decisions.md "The relay"). */
import { TaskCancelledError, timeout, TimeoutStrategy } from 'cockatiel';
import { errorMessage } from '../errors';
import { type EtcdEventMessage } from '../events/etcd-event-message';
import type { Logger } from '../log/logger';
import { RANGE_PAGE_SIZE } from '../store/read';
import { CompactedError, type KeyValue, type Store, type WatchEvent, type WatchHandle } from '../store/store';
import type { SqsBatchSender } from './sqs-sender';
import type { RelayRoute } from './routes';
import { definedOnly } from '../defined-only';

/** What every route of a relay shares: `batchSize` 1-10, `concurrency` batches in flight, `resyncPageSize` keys. */
export interface StreamOptions {
  name: string;
  logger: Logger;
  batchSize?: number;
  concurrency?: number;
  resyncPageSize?: number;
}

/** A watch not created within this fails the relay (no in-process retry: docs/decisions.md, "Quiet routes"). */
const WATCH_OPEN_MS = 30_000;
const watchOpen = timeout(WATCH_OPEN_MS, TimeoutStrategy.Aggressive).dangerouslyUnref();

/** `position`: where the checkpoint may move once it is sent; no `queue`: not forwarded. */
type Item = { message: EtcdEventMessage; position: number; queue: string | undefined };

/** `forwarded`: events sent to a queue (accepted or dead-lettered). */
type Batch = { lastPosition: number; forwarded: number; done: boolean; promise: Promise<void> };

export const emptyCounters = () => ({
  received: 0,
  forwarded: 0,
  skipped: 0,
  deadLettered: 0,
  resyncs: 0,
  rewatches: 0,
  pendingHighWater: 0,
});
export type StreamCounters = ReturnType<typeof emptyCounters>;

export class RouteStream {
  readonly prefix: string;
  private pending: Item[] = [];
  private inflight: Batch[] = [];
  private lastEnqueued = 0;
  private watch: WatchHandle | undefined;
  private recovering: Promise<void> | undefined;
  private stopping = false;
  private halted = false;
  private readonly waiters = new Set<() => void>();
  private loop: Promise<void> | undefined;
  /** Every event up to it was sent or passed over; the checkpoint trails it. */
  private safePosition = 0;
  private lastHeard = Date.now();
  readonly counters = emptyCounters();

  constructor(
    private readonly store: Store,
    private readonly sender: SqsBatchSender,
    private readonly opts: StreamOptions,
    private readonly route: RelayRoute,
    private readonly relay: { onAdvance(forwarded: number): void; onFailure(err: Error): void },
  ) {
    this.prefix = route.prefix;
  }

  private get where() {
    return { relay: this.opts.name, prefix: this.prefix, etcd_revision: this.lastEnqueued };
  }

  get position(): number {
    return this.safePosition;
  }

  silentMs(): number {
    return Date.now() - this.lastHeard;
  }

  /** Starts after revision `from`: every event under the prefix at or below it was sent. */
  async start(from: number): Promise<void> {
    this.lastEnqueued = from;
    this.safePosition = from;
    this.opts.logger.info('relay route starting', { ...this.where, checkpoint: from });
    // Sending first: a resync at start waits for room in the send buffer.
    this.loop = this.sendLoop();
    await this.openWatch();
  }

  /** A watch that cannot be cancelled (its stream already broken) is logged and left. */
  private async cancelWatch(): Promise<void> {
    await this.watch
      ?.cancel()
      .catch((e: unknown) => this.opts.logger.warn('watch not cancelled', { ...this.where, error: errorMessage(e) }));
  }

  /** Stops watching and sends what it already holds. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.notify();
    await this.cancelWatch();
    this.notify();
    await this.loop;
  }

  halt(): void {
    this.halted = true;
    this.notify();
  }

  private fail(err: Error): void {
    this.halt();
    this.relay.onFailure(err);
  }

  private notify(): void {
    for (const wake of this.waiters) wake();
    this.waiters.clear();
  }

  private changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  private async openWatch(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      this.lastHeard = Date.now();
      try {
        this.watch = await watchOpen.execute(() =>
          this.store.watch(this.prefix, this.lastEnqueued + 1, {
            onEvents: (events) => this.enqueue(events),
            onProgress: (revision) => this.progress(revision),
            onError: (err, info) => this.recover(err, info.compacted),
          }),
        );
        return;
      } catch (err) {
        if (err instanceof TaskCancelledError) {
          const error = `watch of ${this.prefix} not created within ${WATCH_OPEN_MS} ms`;
          this.opts.logger.error('watch not created in time; the relay stops', { ...this.where, error });
          const failure = new Error(error, { cause: err });
          this.fail(failure);
          throw failure;
        }
        if (err instanceof CompactedError) {
          await this.resyncUntilDone();
          continue;
        }
        this.opts.logger.warn('watch could not be created; retrying', { ...this.where, attempt, error: String(err) });
        await backoff(attempt);
      }
    }
  }

  private recover(err: Error, compacted: boolean): void {
    if (this.recovering || this.stopping) return;
    this.counters.rewatches++;
    const fields = { ...this.where, compacted, error: err.message };
    this.opts.logger.warn('watch ended; re-creating it from the relay position', fields);
    this.recovering = (async () => {
      await this.cancelWatch();
      if (compacted) await this.resyncUntilDone();
      else await delay(200); // a watch that keeps failing must not spin
      await this.openWatch();
    })()
      .catch(() => undefined) // a watch not created in time has failed the relay
      .finally(() => (this.recovering = undefined));
  }

  /** Resyncs until one completes (etcd down, or its snapshot compacted too: again, from the start). */
  private async resyncUntilDone(): Promise<void> {
    for (let attempt = 0; !this.stopping && !this.halted; attempt++) {
      try {
        return await this.resync();
      } catch (err) {
        this.opts.logger.warn('resync failed; starting it again', { ...this.where, attempt, error: String(err) });
        await backoff(attempt);
      }
    }
  }

  /** Re-emits every key under the prefix at one revision, a page per room in the send buffer; the last ends it. */
  private async resync(): Promise<void> {
    this.counters.resyncs++;
    const pageSize = Math.max(this.opts.resyncPageSize ?? RANGE_PAGE_SIZE, 1);
    const held = this.lastEnqueued;
    let revision: number | undefined;
    let from: string | undefined;
    let keys = 0;
    for (;;) {
      await this.room(pageSize);
      if (this.stopping || this.halted) return;
      const page = await this.store.range(this.prefix, definedOnly({ limit: pageSize, from, revision }));
      revision ??= page.revision;
      const lastKey = page.items.at(-1)?.key;
      const last = !page.more || lastKey === undefined;
      for (const kv of page.items) this.hold(kv, 'sync', last ? revision : held);
      keys += page.items.length;
      this.notify();
      if (last) break;
      from = `${lastKey}\0`;
    }
    const fields = { ...this.where, keys, etcd_revision: revision };
    this.opts.logger.warn('start revision compacted; re-emitted every key under the prefix', fields);
    this.lastEnqueued = Math.max(this.lastEnqueued, revision);
    this.notify();
  }

  private async room(limit: number): Promise<void> {
    while (this.pending.length >= limit && !this.stopping && !this.halted) await this.changed();
  }

  private hold(ev: KeyValue | WatchEvent, type: EtcdEventMessage['type'], position: number): void {
    const message: EtcdEventMessage = { key: ev.key, modRevision: ev.modRevision, type };
    this.pending.push({ message, position, queue: this.route.route(message, ev.value) });
    this.counters.received++;
    this.counters.pendingHighWater = Math.max(this.counters.pendingHighWater, this.pending.length);
  }

  /** Nothing more will come at or below `revision`: with nothing unsent, a quiet prefix moves there too (RelayLag). */
  private progress(revision: number): void {
    this.lastHeard = Date.now();
    if (revision <= this.lastEnqueued) return;
    this.lastEnqueued = revision;
    if (this.pending.length || this.inflight.length || revision <= this.safePosition) return;
    this.safePosition = revision;
    this.relay.onAdvance(0);
  }

  private enqueue(events: WatchEvent[]): void {
    this.lastHeard = Date.now();
    for (const ev of events) {
      // Duplicates after a re-watch: whole revisions we already hold.
      if (ev.modRevision > this.lastEnqueued) this.hold(ev, ev.type, ev.modRevision);
    }
    this.lastEnqueued = Math.max(this.lastEnqueued, events.at(-1)?.modRevision ?? 0);
    this.notify();
  }

  private async sendLoop(): Promise<void> {
    const batchSize = Math.min(Math.max(this.opts.batchSize ?? 10, 1), 10);
    const concurrency = Math.max(this.opts.concurrency ?? 4, 1);
    while (!this.halted) {
      // Finished batches wait in `inflight` behind an unfinished one; only unfinished ones count as in flight.
      const running = this.inflight.filter((b) => !b.done).length;
      if (this.pending.length === 0 || running >= concurrency) {
        if (this.stopping && this.pending.length === 0) break;
        await this.changed();
        continue;
      }
      this.startBatch(this.pending.splice(0, batchSize));
      this.notify();
    }
    await Promise.allSettled(this.inflight.map((b) => b.promise));
  }

  private startBatch(items: Item[]): void {
    // Whole revisions only: a revision the next pending item shares is not complete with this batch.
    const last = items.at(-1)!.position; // never called with no items
    const lastPosition = this.pending[0]?.position === last ? last - 1 : last;
    const batch: Batch = { lastPosition, forwarded: 0, done: false, promise: Promise.resolve() };
    const byQueue = new Map<string, EtcdEventMessage[]>();
    for (const item of items) {
      if (item.queue) byQueue.set(item.queue, [...(byQueue.get(item.queue) ?? []), item.message]);
      else this.counters.skipped++;
    }
    batch.promise = Promise.all(
      [...byQueue].map(async ([queue, msgs]) => {
        const deadLettered = await this.sender.send(queue, msgs);
        this.counters.forwarded += msgs.length - deadLettered;
        this.counters.deadLettered += deadLettered;
        batch.forwarded += msgs.length;
      }),
    ).then(
      () => {
        batch.done = true;
        this.advance();
        this.notify();
      },
      (err: Error) => this.fail(err),
    );
    this.inflight.push(batch);
  }

  private advance(): void {
    let forwarded = 0;
    for (let batch = this.inflight[0]; batch?.done; batch = this.inflight[0]) {
      this.inflight.shift();
      this.safePosition = Math.max(this.safePosition, batch.lastPosition);
      forwarded += batch.forwarded;
    }
    this.relay.onAdvance(forwarded);
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
const backoff = (attempt: number) => delay(Math.min(100 * 2 ** attempt, 5000));
