/**
 * One reconciler pass: read a consistent snapshot in pages (scan.ts), decide (decide.ts, pure),
 * then repair by re-sending each stranded key's message through the normal queues (or settling
 * waiting jobs through the job lifecycle), and store the pass's memory (memory.ts). Every repair
 * is logged with its key and why and counted in the `Repairs` metric by kind.
 *
 * Safe with several passes at once (the schedule and `esi reconcile`): a re-sent message is one
 * more delivery of a message the consumers already take at least once, and their fences make a
 * duplicate change nothing; the memory is written with a compare and merged on conflict.
 */
import { errorMessage } from '../errors';
import { createHash } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { JOB_QUEUES, jobQueueName, numberSetting, queueName } from '../config';
import { type EtcdEventMessage, encodeEventMessage, messageGroupId } from '../events/etcd-event-message';
import { defaultJobKeys, settleWaiting, type JobKeys } from '../jobs';
import { RECONCILER_MEMORY_KEY } from '../keys';
import type { Logger } from '../log/logger';
import { recordDeferredRepairs, recordRelayBehind, recordRepair } from '../metrics';
import { queueUrl, sqsClient } from '../sqs/client';
import { put, unchangedSince, type Store } from '../store/store';
import { decidePass, destinationId, relayLags, type Destination, type PassInputs, type Repair } from './decide';
import { graceRevision, memoryWriteDue, mergeMemory, parseMemory, secondsSinceAfter, withMark } from './memory';
import { readSnapshot } from './scan';
import { definedOnly } from '../defined-only';

/** Sends one message to a queue by name (FIFO ids given); the default uses the SQS client. */
export type Sender = (queue: string, message: EtcdEventMessage, ids: { group: string; dedup: string }) => Promise<void>;

/** Messages waiting in a queue by name, visible or in flight; the default asks SQS. */
export type BacklogReader = (queue: string) => Promise<number>;

export interface PassOptions {
  logger: Logger;
  /** List what would be repaired; write nothing, send nothing. */
  dryRun?: boolean;
  /** Seconds a key must stand still before it counts as stranded (ESI_RECONCILE_GRACE_SECONDS, 30). */
  graceSeconds?: number;
  /**
   * Seconds a key must stand still before it counts as stranded when its queue holds messages
   * (ESI_RECONCILE_BACKLOG_GRACE_SECONDS, 10 grace periods); never less than the grace.
   */
  backlogGraceSeconds?: number;
  /** Reads a queue's backlog (tests make it fail); the default asks SQS. */
  backlog?: BacklogReader;
  pageSize?: number;
  now?: () => number;
  send?: Sender;
  jobKeys?: JobKeys;
  /** Metric service dimension (default esi-reconciler). */
  service?: string;
  /** Where the memory lives (tests isolate themselves). */
  memoryKey?: string;
  /** Publish the Repairs and RelayBehindSeconds metrics (EMF on stdout); false for the command line. */
  metrics?: boolean;
}

export interface RelayBehind {
  relay: string;
  prefix: string;
  checkpoint: number;
  /** At least this long behind a change under its prefix; 0 when not behind. */
  seconds: number;
}

export interface PassReport {
  revision: number;
  graceRevision: number;
  keysRead: number;
  /** Made (or, on a dry run, to be made). */
  repairs: Repair[];
  /** Repairs that failed (send refused, etcd error); retried by the next pass. */
  failed: { repair: Repair; error: string }[];
  /** Stranded, but repaired less than a grace period ago. */
  awaiting: Repair[];
  /** Stranded, but left to their queue's backlog, younger than the backlog grace. */
  deferred: Repair[];
  /** Messages waiting per queue read (only the queues a repair would have gone to). */
  backlog: Record<string, number>;
  relay: RelayBehind[];
  /** The pass stored the memory (only when something in it changed meaningfully: memoryWriteDue). */
  memoryWritten: boolean;
  durationMs: number;
}

/**
 * Memory marks older than this are dropped (keeping one to date older keys); twice the backlog
 * grace when that is longer, so the backlog grace is always dated by kept marks.
 */
const KEEP_MARKS_MS = 3_600_000;
/**
 * Marks are stored no closer than this fraction of the pass's grace period (memoryWriteDue): a
 * stranded key is then repaired between one grace period and 1.5 grace periods plus one pass
 * interval after its last change (with a mark every pass: plus one pass interval only).
 */
const MARK_SPACING_OF_GRACE = 0.5;
const MEMORY_ROUNDS = 5;

/** Default backlog grace, in grace periods: why, in docs/reconciler.md ("A queue still draining"). */
export const BACKLOG_GRACE_OF_GRACE = 10;

export function graceSecondsFromEnv(): number {
  return numberSetting('ESI_RECONCILE_GRACE_SECONDS', 30);
}

export function backlogGraceSecondsFromEnv(graceSeconds: number): number {
  return numberSetting('ESI_RECONCILE_BACKLOG_GRACE_SECONDS', BACKLOG_GRACE_OF_GRACE * graceSeconds);
}

export async function reconcilePass(store: Store, opts: PassOptions): Promise<PassReport> {
  const now = opts.now ?? Date.now;
  const started = now();
  const graceSeconds = opts.graceSeconds ?? graceSecondsFromEnv();
  const graceMs = graceSeconds * 1000;
  const backlogGraceMs = Math.max(
    graceMs,
    (opts.backlogGraceSeconds ?? backlogGraceSecondsFromEnv(graceSeconds)) * 1000,
  );
  const keepMs = Math.max(KEEP_MARKS_MS, 2 * backlogGraceMs);
  const memoryKey = opts.memoryKey ?? RECONCILER_MEMORY_KEY;
  const service = opts.service ?? 'esi-reconciler';
  const { logger } = opts;

  const stored = await store.get(memoryKey);
  const memory = parseMemory(stored?.value);
  const revision = await store.revision();
  const mark = { revision, at: now() };
  // This pass's own mark counts too: with a zero grace everything read is old enough.
  const marks = withMark(memory.marks, mark, mark.at, keepMs);
  const g = graceRevision(marks, mark.at, graceMs);
  const snap = await readSnapshot(store, definedOnly({ revision, pageSize: opts.pageSize, jobKeys: opts.jobKeys }));
  const inputs: PassInputs = {
    ...snap,
    graceRevision: g,
    limboSince: memory.limbo,
    repairedAt: memory.repaired,
    backlog: {},
    backlogGraceRevision: graceRevision(marks, mark.at, backlogGraceMs),
  };
  let decision = decidePass(inputs);
  // Only the queues a repair would go to are asked (none on a quiet pass); the same rules then
  // decide again with their backlog (decide.ts is pure and cheap beside the read).
  const backlog = await readBacklog(decision.repairs, opts.backlog ?? sqsBacklog, logger);
  if (Object.values(backlog).some((n) => n > 0)) decision = decidePass({ ...inputs, backlog: byDestination(backlog) });
  const relay = relayLags(snap.positions).map((p) => ({
    relay: p.relay,
    prefix: p.prefix,
    checkpoint: p.checkpoint,
    seconds: p.behind ? secondsSinceAfter(marks, p.checkpoint, mark.at) : 0,
  }));

  const report: PassReport = {
    revision,
    graceRevision: g,
    keysRead: snap.keysRead,
    repairs: decision.repairs,
    failed: [],
    awaiting: decision.awaiting,
    deferred: decision.deferred,
    backlog,
    relay,
    memoryWritten: false,
    durationMs: 0,
  };
  if (opts.dryRun) {
    report.durationMs = now() - started;
    return report;
  }

  const made = await makeRepairs(store, opts, revision, report);
  if (opts.metrics !== false) recordDeferredRepairs(service, countByKind(decision.deferred));
  reportRelay(opts, service, relay);

  report.memoryWritten = await storeMemory(
    store,
    memoryKey,
    { mark, limbo: decision.limbo, repaired: made },
    { graceMs, keepMs },
    now,
  );
  report.durationMs = now() - started;
  logger.info('reconcile pass done', {
    etcd_revision: revision,
    grace_revision: g,
    keys_read: snap.keysRead,
    repairs: report.repairs.length,
    failed: report.failed.length,
    awaiting: report.awaiting.length,
    deferred: report.deferred.length,
    backlog,
    memory_written: report.memoryWritten,
    duration_ms: report.durationMs,
  });
  return report;
}

async function storeMemory(
  store: Store,
  key: string,
  pass: Parameters<typeof mergeMemory>[1],
  { graceMs, keepMs }: { graceMs: number; keepMs: number },
  now: () => number,
): Promise<boolean> {
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    const current = await store.get(key);
    const stored = parseMemory(current?.value);
    const next = mergeMemory(stored, pass, { nowMs: now(), graceMs, keepMs });
    if (!memoryWriteDue(stored, current?.modRevision ?? 0, next, pass, graceMs * MARK_SPACING_OF_GRACE)) return false;
    const res = await store
      .txn()
      .when(unchangedSince(key, current))
      .then(put(key, JSON.stringify(next)))
      .commit();
    if (res.succeeded) return true;
  }
  // Another pass keeps writing it: its marks serve as well; this pass's repairs may repeat once.
  return false;
}

function destinationQueue(to: Destination): string {
  if (to.queue !== 'jobs') return queueName(to.queue);
  const name = jobQueueName(to.handler);
  if (!name) throw new Error(`no queue for handler ${to.handler}`);
  return name;
}

/**
 * The backlog of each queue the repairs would go to, one read per queue. A read that fails counts
 * as no backlog (the repair goes ahead, as without this rule), logged once for the pass.
 */
async function readBacklog(repairs: Repair[], read: BacklogReader, logger: Logger): Promise<Record<string, number>> {
  const queues = [...new Set(repairs.flatMap((r) => (r.send ? [destinationQueue(r.send.to)] : [])))];
  const failed: Record<string, string> = {};
  const counts = await Promise.all(
    queues.map(async (q): Promise<[string, number]> => [
      q,
      await read(q).catch((err: unknown) => {
        failed[q] = errorMessage(err);
        return 0;
      }),
    ]),
  );
  if (Object.keys(failed).length)
    logger.warn('queue backlog unreadable; repairing into those queues as if empty', { queues: failed });
  return Object.fromEntries(counts);
}

/** The decide core's backlog, by destination, from the backlog by queue name. */
function byDestination(byQueue: Record<string, number>): Record<string, number> {
  const destinations: Destination[] = [
    { queue: 'config' },
    { queue: 'finished' },
    ...Object.keys(JOB_QUEUES).map((handler): Destination => ({ queue: 'jobs', handler })),
  ];
  return Object.fromEntries(destinations.map((d) => [destinationId(d), byQueue[destinationQueue(d)] ?? 0]));
}

function countByKind(repairs: Repair[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of repairs) counts[r.kind] = (counts[r.kind] ?? 0) + 1;
  return counts;
}

const sqsBacklog: BacklogReader = async (queue) => {
  const res = await sqsClient().send(
    new GetQueueAttributesCommand({
      QueueUrl: await queueUrl(queue),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  const n = (name: 'ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesNotVisible') =>
    Number(res.Attributes?.[name] ?? 0) || 0;
  return n('ApproximateNumberOfMessages') + n('ApproximateNumberOfMessagesNotVisible');
};

const sqsSend: Sender = async (queue, message, ids) => {
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: await queueUrl(queue),
      MessageBody: encodeEventMessage(message),
      MessageGroupId: ids.group,
      MessageDeduplicationId: ids.dedup,
    }),
  );
};

/** One line per repair, for `esi reconcile`. */
export function describeRepair(r: Repair): string {
  return `${r.kind.padEnd(9)} ${r.key}  ${r.why}`;
}

/** Sends each repair's message (a settlement runs the lifecycle's own); what it made, by repair id. */
async function makeRepairs(
  store: Store,
  opts: PassOptions,
  revision: number,
  report: PassReport,
): Promise<Record<string, number>> {
  const { logger } = opts;
  const service = opts.service ?? 'esi-reconciler';
  const made: Record<string, number> = {};
  const send = opts.send ?? sqsSend;
  let settle = false;
  for (const r of report.repairs) {
    logger.warn('repair', { repair: r.kind, resource_key: r.key, why: r.why, etcd_revision: revision });
    try {
      if (r.send) {
        const dedup = createHash('sha256').update(`reconcile\n${r.id}\n${revision}`).digest('hex');
        // A group of its own: the message the repair replaces may still be in flight in the key's
        // group (its consumer died holding it), and a FIFO group is blocked until that message's
        // visibility timeout ends; every consumer is fenced, so this order is not needed.
        const group = messageGroupId({ ...r.send.message, key: `${r.send.message.key}#reconciler` });
        await send(destinationQueue(r.send.to), r.send.message, { group, dedup });
      } else settle = true;
      made[r.id] = revision;
      if (opts.metrics !== false) recordRepair(service, r.kind);
    } catch (err) {
      logger.error('repair failed; the next pass tries again', {
        repair: r.kind,
        resource_key: r.key,
        error: errorMessage(err),
      });
      report.failed.push({ repair: r, error: errorMessage(err) });
    }
  }
  if (settle) {
    // The lifecycle's own settlement decides and moves every decidable waiting job, fenced.
    const settled = await settleWaiting(store, { keys: opts.jobKeys ?? defaultJobKeys });
    logger.info('settled waiting jobs', {
      promoted: settled.promoted,
      failed: settled.failedDependents.map((f) => f.id),
    });
  }
  return made;
}

/** Each relay position behind is logged; the worst one goes to the metrics. */
function reportRelay(opts: PassOptions, service: string, relay: RelayBehind[]): void {
  for (const b of relay) if (b.seconds > 0) opts.logger.warn('relay behind', { ...b });
  const worst = relay.reduce<RelayBehind | undefined>((w, b) => (!w || b.seconds > w.seconds ? b : w), undefined);
  if (opts.metrics !== false) recordRelayBehind(service, worst?.seconds ?? 0, definedOnly({ prefix: worst?.prefix }));
}
