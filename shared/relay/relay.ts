/** One RouteStream per route and one checkpoint for all, written in batches (docs/decisions.md "The relay"). */
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Store } from '../store/store';
import { Checkpoint, CheckpointLostError } from './checkpoint';
import { RouteStream, type StreamOptions } from './route-stream';
import type { RelayRoute } from './routes';
import { SqsBatchSender, SqsSendError } from './sqs-sender';
import { definedOnly } from '../defined-only';

/** A route's stored revision this far behind is written even if nothing was forwarded (before it is compacted). */
const STALE_REVISIONS = 10_000;

/** Checkpoint batching and the stop's send grace: docs/decisions.md "The relay", "Batched checkpoints", "Stop". */
export interface RelayOptions extends StreamOptions {
  routes: RelayRoute[];
  checkpointKey: string;
  deadLetterQueue?: string;
  checkpointMs?: number;
  checkpointEvents?: number;
  stopSendGraceMs?: number;
}

export class Relay {
  private readonly checkpoint: Checkpoint;
  private readonly sender: SqsBatchSender;
  readonly streams: RouteStream[];
  private fatal?: Error;
  private onFatal: (err: Error) => void = () => undefined;
  private readonly failure = new Promise<Error>((resolve) => (this.onFatal = resolve));
  private stopping = false;
  private checkpointWrite: Promise<void> = Promise.resolve();
  private unsaved = 0; // events forwarded since the last checkpoint write
  private checkpointTimer: NodeJS.Timeout | undefined;
  checkpointWrites = 0;

  constructor(
    store: Store,
    sqs: SQSClient,
    private readonly opts: RelayOptions,
  ) {
    this.checkpoint = new Checkpoint(store, opts.checkpointKey);
    this.sender = new SqsBatchSender(sqs, opts.logger, definedOnly({ deadLetterQueue: opts.deadLetterQueue }));
    const events = { onAdvance: (n: number) => this.advance(n), onFailure: (err: Error) => this.fail(err) };
    this.streams = opts.routes.map((r) => new RouteStream(store, this.sender, opts, r, events));
  }

  /** Every event of every route at or below it was sent and checkpointed (trails the routes' positions). */
  get checkpointRevision(): number {
    return this.checkpoint.value.revision;
  }

  async start(): Promise<void> {
    const from = await this.checkpoint.load(this.streams.map((s) => s.prefix));
    await Promise.all(this.streams.map((s) => s.start(from[s.prefix]!))); // a revision for every prefix
  }

  async stop(): Promise<void> {
    this.stopping = true;
    // SQS may be down: past the grace the sends still pending fail and the checkpoint stays before them.
    const grace = setTimeout(() => this.sender.stop(), this.opts.stopSendGraceMs ?? 20_000);
    await Promise.all(this.streams.map((s) => s.stop()));
    clearTimeout(grace);
    this.writeCheckpoint();
    await this.checkpointWrite;
  }

  /** Resolves when the relay fails for good; started again (ECS), it resumes from its checkpoint. */
  failed(): Promise<Error> {
    return this.failure;
  }

  private halt(err: Error, message: string): void {
    this.fatal = err;
    this.opts.logger.error(message, { relay: this.opts.name, error: err.message });
    this.streams.forEach((s) => s.halt());
    this.onFatal(err);
  }

  /** SQS refused a send for good or stayed down past the budget, or a watch was not created in time. */
  private fail(err: Error): void {
    if (this.fatal || (err instanceof SqsSendError && err.reason === 'stopped')) return;
    this.halt(err, err instanceof SqsSendError ? 'relay cannot send to SQS; stopping' : 'relay failed; stopping');
    this.sender.stop();
  }

  private advance(forwarded: number): void {
    this.unsaved += forwarded;
    const stored = this.checkpoint.value.routes;
    const stale = this.streams.some((s) => s.position - (stored[s.prefix] ?? 0) >= STALE_REVISIONS);
    if (this.unsaved >= (this.opts.checkpointEvents ?? 1000)) this.writeCheckpoint();
    else if ((this.unsaved > 0 || stale) && !this.checkpointTimer)
      this.checkpointTimer = setTimeout(() => this.writeCheckpoint(), this.opts.checkpointMs ?? 1000);
  }

  /** Writes the routes' positions (one write at a time; a failed write is tried again later). */
  private writeCheckpoint(): void {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    if (this.fatal) return; // the checkpoint may be another instance's now
    const positions = Object.fromEntries(this.streams.map((s) => [s.prefix, s.position]));
    const covered = this.unsaved;
    this.unsaved = 0;
    this.checkpointWrite = this.checkpointWrite
      .then(async () => {
        if (await this.checkpoint.advance(positions)) this.checkpointWrites++;
      })
      .catch((err: Error) => {
        if (err instanceof CheckpointLostError)
          return this.halt(err, 'relay checkpoint taken by another instance; stopping');
        // etcd unreachable for now: written again on the next round.
        this.opts.logger.warn('relay checkpoint not written yet', {
          relay: this.opts.name,
          etcd_revision: Math.min(...Object.values(positions)),
          error: err.message,
        });
        this.unsaved += covered;
        if (!this.stopping) this.advance(0);
      });
  }
}
