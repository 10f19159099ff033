/**
 * The relay: streams the etcd events of its routes into SQS without losing any, one RouteStream
 * per route (route-stream.ts), and keeps one checkpoint for all of them (checkpoint.ts): per
 * route, the revision up to which every event was sent, written in batches and fenced on its own
 * last write (docs/decisions.md "The relay": "Own checkpoint", "Batched checkpoints", "One
 * writer"). A crash re-sends at most what was forwarded since the last write: duplicates, never
 * loss. A route whose stored revision falls `staleRevisions` behind is written even when it
 * forwarded nothing, so it is not left to be compacted away.
 */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '../log/logger';
import type { Store } from '../store/store';
import { Checkpoint, CheckpointLostError } from './checkpoint';
import { emptyCounters, RouteStream, type StreamCounters } from './route-stream';
import type { RelayRoute } from './routes';
import { SqsBatchSender, SqsSendError } from './sqs-sender';
import { definedOnly } from '../defined-only';

export type { RouteFn } from './route-stream';

export interface RelayOptions {
  name: string;
  routes: RelayRoute[];
  /** `/esi-relay/checkpoints/<name>` (keys.relayCheckpoint). */
  checkpointKey: string;
  logger: Logger;
  /** Messages per SendMessageBatch (1-10). */
  batchSize?: number;
  /** Batches in flight at once, per route. */
  concurrency?: number;
  /** Keys per page when a route re-reads its prefix after a compaction (default RANGE_PAGE_SIZE). */
  resyncPageSize?: number;
  /** Queue name of the relay's dead-letter queue (events SQS refuses for good). */
  deadLetterQueue?: string;
  /** Longest a forwarded event waits for the checkpoint write (ms). */
  checkpointMs?: number;
  /** Forwarded events that trigger a checkpoint write at once. */
  checkpointEvents?: number;
  /** Revisions a route's stored revision may fall behind on events not forwarded. */
  staleRevisions?: number;
  /** How long a stop may keep sending what the routes hold before it gives up on SQS (ms). */
  stopSendGraceMs?: number;
}

export interface RelayCounters extends StreamCounters {
  checkpointWrites: number;
}

export class Relay {
  private readonly checkpoint: Checkpoint;
  private readonly sender: SqsBatchSender;
  readonly streams: RouteStream[];
  private fatal?: Error;
  private stopping = false;
  private checkpointWrite: Promise<void> = Promise.resolve();
  /** Events forwarded since the last checkpoint write. */
  private unsaved = 0;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private checkpointWrites = 0;

  constructor(
    store: Store,
    sqs: SQSClient,
    private readonly opts: RelayOptions,
  ) {
    this.checkpoint = new Checkpoint(store, opts.checkpointKey);
    const sender = new SqsBatchSender(sqs, opts.logger, definedOnly({ deadLetterQueue: opts.deadLetterQueue }));
    this.sender = sender;
    this.streams = opts.routes.map(
      (r) =>
        new RouteStream(
          store,
          sender,
          definedOnly({
            name: opts.name,
            prefix: r.prefix,
            route: r.route,
            logger: opts.logger,
            batchSize: opts.batchSize,
            concurrency: opts.concurrency,
            resyncPageSize: opts.resyncPageSize,
            onAdvance: (forwarded: number) => this.advance(forwarded),
            onFailure: (err: Error) => this.fail(err),
          }),
        ),
    );
  }

  /** The stored checkpoint's revision: every event of every route at or below it was sent (trails `position`). */
  get checkpointRevision(): number {
    return this.checkpoint.value.revision;
  }

  /** Highest revision up to which every event of every route was sent or passed over. */
  get position(): number {
    return Math.min(...this.streams.map((s) => s.position));
  }

  get counters(): RelayCounters {
    const sum: RelayCounters = { ...emptyCounters(), checkpointWrites: this.checkpointWrites };
    for (const s of this.streams)
      for (const k of Object.keys(s.counters) as (keyof StreamCounters)[]) sum[k] += s.counters[k];
    return sum;
  }

  async start(): Promise<void> {
    const from = await this.checkpoint.load(this.streams.map((s) => s.prefix));
    // `load` answers a revision for every prefix it is given.
    await Promise.all(this.streams.map((s) => s.start(from[s.prefix]!)));
  }

  /** Stops watching, sends what it already holds, writes the checkpoint. */
  async stop(): Promise<void> {
    this.stopping = true;
    // SQS may be down: past the grace the sends still pending fail and the checkpoint stays before them.
    const grace = setTimeout(() => this.sender.stop(), this.opts.stopSendGraceMs ?? 20_000);
    await Promise.all(this.streams.map((s) => s.stop()));
    clearTimeout(grace);
    this.writeCheckpoint();
    await this.checkpointWrite;
  }

  /**
   * SQS refused a send for good (AccessDenied, a bad request) or stayed down past the sender's
   * budget: the relay stops with its checkpoint before the unsent events; started again (ECS), it
   * resumes from there. A send ended by a stop is not a failure. So does a watch not created in
   * time (its member cut off): the new process's etcd client picks a member afresh.
   */
  private fail(err: Error): void {
    if (this.fatal || (err instanceof SqsSendError && err.reason === 'stopped')) return;
    this.fatal = err;
    const what = err instanceof SqsSendError ? 'relay cannot send to SQS; stopping' : 'relay failed; stopping';
    this.opts.logger.error(what, { relay: this.opts.name, error: err.message });
    this.streams.forEach((s) => s.halt());
    this.sender.stop();
  }

  /** Resolves when the relay fails for good (lost its checkpoint to another instance, or SQS refuses it). */
  failed(): Promise<Error> {
    return new Promise((resolve) => {
      const check = () => (this.fatal ? resolve(this.fatal) : setTimeout(check, 200).unref());
      check();
    });
  }

  /** A route moved: schedules the checkpoint write. */
  private advance(forwarded: number): void {
    this.unsaved += forwarded;
    const staleAfter = this.opts.staleRevisions ?? 10_000;
    const stale = this.streams.some((s) => s.position - this.checkpoint.routeRevision(s.prefix) >= staleAfter);
    if (this.unsaved >= (this.opts.checkpointEvents ?? 1000)) this.writeCheckpoint();
    else if ((this.unsaved > 0 || stale) && !this.checkpointTimer)
      this.checkpointTimer = setTimeout(() => this.writeCheckpoint(), this.opts.checkpointMs ?? 1000);
  }

  /** Writes the routes' positions (one write at a time; a failed write is tried again later). */
  private writeCheckpoint(): void {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    if (this.fatal) return; // the checkpoint is another instance's now
    const positions = Object.fromEntries(this.streams.map((s) => [s.prefix, s.position]));
    const covered = this.unsaved;
    this.unsaved = 0;
    this.checkpointWrite = this.checkpointWrite
      .then(async () => {
        if (await this.checkpoint.advance(positions)) this.checkpointWrites++;
      })
      .catch((err: Error) => {
        if (!(err instanceof CheckpointLostError)) {
          // etcd unreachable for now: written again on the next round.
          this.opts.logger.warn('relay checkpoint not written yet', {
            relay: this.opts.name,
            etcd_revision: Math.min(...Object.values(positions)),
            error: err.message,
          });
          this.unsaved += covered;
          if (!this.stopping) this.advance(0);
          return;
        }
        this.fatal = err;
        this.opts.logger.error('relay checkpoint taken by another instance; stopping', {
          relay: this.opts.name,
          error: err.message,
        });
        this.streams.forEach((s) => s.halt());
      });
  }
}
