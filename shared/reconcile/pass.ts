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
import { createHash } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { JOB_QUEUES, numberSetting, queueName } from '../config';
import { type EtcdEventMessage, encodeEventMessage, messageGroupId } from '../events/etcd-event-message';
import { defaultJobKeys, settleWaiting, type JobKeys } from '../jobs';
import { RECONCILER_MEMORY_KEY } from '../keys';
import type { Logger } from '../log/logger';
import { recordRelayBehind, recordRepair } from '../metrics';
import { queueUrl, sqsClient } from '../sqs/client';
import { put, unchangedSince, type Store } from '../store/store';
import { decidePass, relayLags, type Destination, type Repair } from './decide';
import { graceRevision, memoryWriteDue, mergeMemory, parseMemory, secondsSinceAfter, withMark } from './memory';
import { readSnapshot } from './scan';

/** Sends one message to a queue by name (FIFO ids given); the default uses the SQS client. */
export type Sender = (queue: string, message: EtcdEventMessage, ids: { group: string; dedup: string }) => Promise<void>;

export interface PassOptions {
  logger: Logger;
  /** List what would be repaired; write nothing, send nothing. */
  dryRun?: boolean;
  /** Seconds a key must stand still before it counts as stranded (ESI_RECONCILE_GRACE_SECONDS, 30). */
  graceSeconds?: number;
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
  relay: RelayBehind[];
  /** The pass stored the memory (only when something in it changed meaningfully: memoryWriteDue). */
  memoryWritten: boolean;
  durationMs: number;
}

/** Memory marks older than this are dropped (keeping one to date older keys). */
const KEEP_MARKS_MS = 3_600_000;
/**
 * Marks are stored no closer than this fraction of the pass's grace period (memoryWriteDue): a
 * stranded key is then repaired between one grace period and 1.5 grace periods plus one pass
 * interval after its last change (with a mark every pass: plus one pass interval only).
 */
const MARK_SPACING_OF_GRACE = 0.5;
const MEMORY_ROUNDS = 5;

export function graceSecondsFromEnv(): number {
  return numberSetting('ESI_RECONCILE_GRACE_SECONDS', 30);
}

export async function reconcilePass(store: Store, opts: PassOptions): Promise<PassReport> {
  const now = opts.now ?? Date.now;
  const started = now();
  const graceMs = (opts.graceSeconds ?? graceSecondsFromEnv()) * 1000;
  const memoryKey = opts.memoryKey ?? RECONCILER_MEMORY_KEY;
  const service = opts.service ?? 'esi-reconciler';
  const { logger } = opts;

  const stored = await store.get(memoryKey);
  const memory = parseMemory(stored?.value);
  const revision = await store.revision();
  const mark = { revision, at: now() };
  // This pass's own mark counts too: with a zero grace everything read is old enough.
  const marks = withMark(memory.marks, mark, mark.at, KEEP_MARKS_MS);
  const g = graceRevision(marks, mark.at, graceMs);
  const snap = await readSnapshot(store, { revision, pageSize: opts.pageSize, jobKeys: opts.jobKeys });
  const decision = decidePass({ ...snap, graceRevision: g, limboSince: memory.limbo, repairedAt: memory.repaired });
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
    relay,
    memoryWritten: false,
    durationMs: 0,
  };
  if (opts.dryRun) {
    report.durationMs = now() - started;
    return report;
  }

  const made: Record<string, number> = {};
  const send = opts.send ?? sqsSend;
  let settle = false;
  for (const r of decision.repairs) {
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
        error: (err as Error).message,
      });
      report.failed.push({ repair: r, error: (err as Error).message });
    }
  }
  if (settle) {
    // The lifecycle's own settlement decides and moves every decidable waiting job, fenced.
    const settled = await settleWaiting(store, { keys: opts.jobKeys ?? defaultJobKeys });
    logger.info('settled waiting jobs', { promoted: settled.promoted, failed: settled.failed.map((f) => f.id) });
  }
  for (const b of relay) if (b.seconds > 0) logger.warn('relay behind', { ...b });
  const worst = relay.reduce<RelayBehind | undefined>((w, b) => (!w || b.seconds > w.seconds ? b : w), undefined);
  if (opts.metrics !== false) recordRelayBehind(service, worst?.seconds ?? 0, { prefix: worst?.prefix });

  report.memoryWritten = await storeMemory(
    store,
    memoryKey,
    { mark, limbo: decision.limbo, repaired: made },
    graceMs,
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
    memory_written: report.memoryWritten,
    duration_ms: report.durationMs,
  });
  return report;
}

async function storeMemory(
  store: Store,
  key: string,
  pass: Parameters<typeof mergeMemory>[1],
  graceMs: number,
  now: () => number,
): Promise<boolean> {
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    const current = await store.get(key);
    const stored = parseMemory(current?.value);
    const next = mergeMemory(stored, pass, { nowMs: now(), graceMs, keepMs: KEEP_MARKS_MS });
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
  const name = JOB_QUEUES[to.handler];
  if (!name) throw new Error(`no queue for handler ${to.handler}`);
  return queueName(name);
}

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
