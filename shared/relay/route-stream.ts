/**
 * Streams the etcd events under one route's prefix into SQS without losing any; the relay
 * (relay.ts) runs one per route and keeps their common checkpoint. docs/decisions.md "The relay"
 * says how: resumed from the stream's own position (never the etcd3 watcher's), on whole
 * revisions, a compacted start resynced a page at a time as the send buffer has room, up to
 * `concurrency` batches in flight with the position over finished ones only, and a watch not
 * created within `watchOpenMs` failing the relay (no in-process retry: a late watch of the
 * abandoned attempt could never be cancelled safely).
 */
import { errorMessage } from '../errors';
import { type EtcdEventMessage } from '../events/etcd-event-message';
import type { Logger } from '../log/logger';
import { RANGE_PAGE_SIZE } from '../store/read';
import { CompactedError, type Store, type WatchEvent, type WatchHandle } from '../store/store';
import type { SqsBatchSender } from './sqs-sender';
import { definedOnly } from '../defined-only';

/** Chooses the queue for an event; undefined = not forwarded (still passes the checkpoint). */
export type RouteFn = (event: EtcdEventMessage, value: string) => string | undefined;

export interface RouteStreamOptions {
  /** The relay's name (for logs). */
  name: string;
  prefix: string;
  route: RouteFn;
  logger: Logger;
  /** Messages per SendMessageBatch (1-10). */
  batchSize?: number;
  /** Batches in flight at once. */
  concurrency?: number;
  /** Keys per page of a resync's range reads (default RANGE_PAGE_SIZE). */
  resyncPageSize?: number;
  /** Called when the position moved, with the events forwarded (sent or dead-lettered) up to it. */
  onAdvance(forwarded: number): void;
  /** Called when a batch cannot be sent (SqsSendError) or a watch cannot be created; the position is kept. */
  onFailure(err: Error): void;
  /** How long creating a watch may take before the relay fails (default WATCH_OPEN_MS). */
  watchOpenMs?: number;
}

/** A watch not created within this (the member cut off, a half-open connection) fails the relay. */
export const WATCH_OPEN_MS = 30_000;

/** The watch was not created in time: its member does not answer. */
export class WatchOpenTimeoutError extends Error {}

interface Item {
  message: EtcdEventMessage;
  /** Revision that orders this item for the checkpoint (a sync item counts at the list's revision). */
  position: number;
  /** Undefined: not forwarded (the route chose no queue). */
  queue: string | undefined;
}

interface Batch {
  lastPosition: number;
  /** Events of the batch sent to a queue (accepted or dead-lettered). */
  forwarded: number;
  done: boolean;
  promise: Promise<void>;
}

/** `pendingHighWater`: most events held unsent at once (the send buffer's high-water mark). */
const COUNTERS = [
  'received',
  'forwarded',
  'skipped',
  'deadLettered',
  'resyncs',
  'rewatches',
  'pendingHighWater',
] as const;
export type StreamCounters = Record<(typeof COUNTERS)[number], number>;
export const emptyCounters = (): StreamCounters => Object.fromEntries(COUNTERS.map((k) => [k, 0])) as StreamCounters;

export class RouteStream {
  private pending: Item[] = [];
  private inflight: Batch[] = [];
  private lastEnqueued = 0;
  private watch: WatchHandle | undefined;
  private recovering: Promise<void> | undefined;
  private stopping = false;
  private halted = false;
  private wake: (() => void) | undefined;
  /** A resync waiting for room in the send buffer. */
  private roomWaiter: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  /** Highest revision up to which every event was sent (or passed over); the checkpoint trails it. */
  private safePosition = 0;
  /** When the watch last said anything: created, events, a progress notification. */
  private lastHeard = Date.now();
  readonly counters = emptyCounters();

  constructor(
    private readonly store: Store,
    private readonly sender: SqsBatchSender,
    readonly opts: RouteStreamOptions,
  ) {}

  get prefix(): string {
    return this.opts.prefix;
  }

  /** What every log line of the stream carries. */
  private get where() {
    return { relay: this.opts.name, prefix: this.opts.prefix, etcd_revision: this.lastEnqueued };
  }

  /** Highest revision up to which every event under the prefix was sent or passed over. */
  get position(): number {
    return this.safePosition;
  }

  /**
   * Milliseconds since the watch last said anything (events, progress, a new watch). With etcd's
   * progress notifications on, a healthy watch is never silent for longer than their interval.
   */
  silentMs(now = Date.now()): number {
    return now - this.lastHeard;
  }

  /** Starts after revision `from`: every event under the prefix at or below it was sent. */
  async start(from: number): Promise<void> {
    this.lastEnqueued = from;
    this.safePosition = from;
    this.opts.logger.info('relay route starting', { ...this.where, checkpoint: from });
    // Sending first: a resync at start (its revision compacted) waits for room in the send buffer.
    this.loop = this.sendLoop();
    await this.openWatch();
  }

  /** Cancels the watch; one that cannot be cancelled (its stream already broken) is logged and left. */
  private async cancelWatch(): Promise<void> {
    await this.watch
      ?.cancel()
      .catch((e: unknown) => this.opts.logger.warn('watch not cancelled', { ...this.where, error: errorMessage(e) }));
  }

  /** Stops watching and sends what it already holds. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.makeRoom();
    await this.cancelWatch();
    this.wake?.();
    await this.loop;
  }

  /** Stops sending at once (the relay lost its checkpoint to another instance). */
  halt(): void {
    this.halted = true;
    this.makeRoom();
    this.wake?.();
  }

  private async openWatch(): Promise<void> {
    for (let attempt = 0; !this.stopping; attempt++) {
      try {
        this.lastHeard = Date.now();
        this.watch = await this.withinWatchOpen(
          this.store.watch(this.opts.prefix, this.lastEnqueued + 1, {
            onEvents: (events) => this.enqueue(events),
            onProgress: (revision) => this.progress(revision),
            onError: (err, info) => this.recover(err, info.compacted),
          }),
        );
        return;
      } catch (err) {
        if (err instanceof WatchOpenTimeoutError) {
          this.opts.logger.error('watch not created in time; the relay stops', { ...this.where, error: err.message });
          this.halt();
          this.opts.onFailure(err);
          throw err;
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

  private withinWatchOpen<T>(p: Promise<T>): Promise<T> {
    const ms = this.opts.watchOpenMs ?? WATCH_OPEN_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new WatchOpenTimeoutError(`watch of ${this.opts.prefix} not created within ${ms} ms`)),
        ms,
      );
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private recover(err: Error, compacted: boolean): void {
    if (this.recovering || this.stopping) return;
    this.counters.rewatches++;
    this.opts.logger.warn('watch ended; re-creating it from the relay position', {
      ...this.where,
      compacted,
      error: err.message,
    });
    this.recovering = (async () => {
      await this.cancelWatch();
      if (compacted) await this.resyncUntilDone();
      else await delay(200); // a watch that keeps failing must not spin
      await this.openWatch();
    })()
      .catch(() => undefined) // a watch not created in time has failed the relay (onFailure)
      .finally(() => {
        this.recovering = undefined;
      });
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

  /**
   * The start revision is gone: re-emit every key under the prefix as it is at one revision, a
   * page at a time, each page read only once the send buffer has room for it. Keys of the pages
   * before the last keep the position where it is; those of the last one complete the resync.
   */
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
      const page = await this.store.range(this.opts.prefix, definedOnly({ limit: pageSize, from, revision }));
      revision ??= page.revision;
      const lastKey = page.items.at(-1)?.key;
      const last = !page.more || lastKey === undefined;
      for (const kv of page.items) {
        const message: EtcdEventMessage = { key: kv.key, modRevision: kv.modRevision, type: 'sync' };
        this.hold({ message, position: last ? revision : held, queue: this.opts.route(message, kv.value) });
      }
      keys += page.items.length;
      this.counters.received += page.items.length;
      this.wake?.();
      if (last) break;
      from = `${lastKey}\0`;
    }
    this.opts.logger.warn('start revision compacted; re-emitted every key under the prefix', {
      ...this.where,
      keys,
      etcd_revision: revision,
    });
    this.lastEnqueued = Math.max(this.lastEnqueued, revision);
    this.wake?.();
  }

  /** Waits until fewer than `limit` events are held unsent (or the stream stops). */
  private async room(limit: number): Promise<void> {
    while (this.pending.length >= limit && !this.stopping && !this.halted)
      await new Promise<void>((resolve) => (this.roomWaiter = resolve));
  }

  private makeRoom(): void {
    const waiter = this.roomWaiter;
    this.roomWaiter = undefined;
    waiter?.();
  }

  private hold(item: Item): void {
    this.pending.push(item);
    if (this.pending.length > this.counters.pendingHighWater) this.counters.pendingHighWater = this.pending.length;
  }

  /**
   * etcd says every event under the prefix up to `revision` was delivered: nothing more will come at
   * or below it. A route with nothing unsent moves its position there, so a quiet prefix is not
   * counted behind by the writes made elsewhere (RelayLag); a busy one moves with its batches.
   */
  private progress(revision: number): void {
    this.lastHeard = Date.now();
    if (revision <= this.lastEnqueued) return;
    this.lastEnqueued = revision;
    if (this.pending.length || this.inflight.length || revision <= this.safePosition) return;
    this.safePosition = revision;
    this.opts.onAdvance(0);
  }

  private enqueue(events: WatchEvent[]): void {
    this.lastHeard = Date.now();
    for (const ev of events) {
      // Duplicates after a re-watch: whole revisions we already hold.
      if (ev.modRevision <= this.lastEnqueued) continue;
      const message: EtcdEventMessage = { key: ev.key, modRevision: ev.modRevision, type: ev.type };
      this.hold({ message, position: ev.modRevision, queue: this.opts.route(message, ev.value) });
      this.counters.received++;
    }
    const last = events[events.length - 1];
    if (last && last.modRevision > this.lastEnqueued) this.lastEnqueued = last.modRevision;
    this.wake?.();
  }

  private async sendLoop(): Promise<void> {
    const batchSize = Math.min(Math.max(this.opts.batchSize ?? 10, 1), 10);
    const concurrency = Math.max(this.opts.concurrency ?? 4, 1);
    while (!this.halted) {
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
      this.makeRoom();
    }
    await Promise.allSettled(this.inflight.map((b) => b.promise));
  }

  private startBatch(items: Item[]): void {
    // The checkpoint may only cover whole revisions: if the next pending item shares the batch's
    // last revision, this batch completes only the revisions before it.
    const last = items.at(-1)?.position;
    if (last === undefined) return; // nothing to send
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
    ).then(
      () => {
        batch.done = true;
        this.advance();
      },
      (err: Error) => {
        this.halt();
        this.opts.onFailure(err);
      },
    );
    this.inflight.push(batch);
  }

  /** Moves the position over finished batches and tells the relay. */
  private advance(): void {
    let forwarded = 0;
    for (let batch = this.inflight[0]; batch?.done; batch = this.inflight[0]) {
      this.inflight.shift();
      this.safePosition = Math.max(this.safePosition, batch.lastPosition);
      forwarded += batch.forwarded;
    }
    this.opts.onAdvance(forwarded);
  }
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Exponential backoff between attempts: 100 ms doubling, at most 5 s. */
const backoff = (attempt: number) => delay(Math.min(100 * 2 ** attempt, 5000));
