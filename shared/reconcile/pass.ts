/** One reconciler pass (docs/reconciler.md), safe beside others: re-sends are duplicates, the memory is fenced. */
import { errorMessage } from '../errors';
import { createHash } from 'node:crypto';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { jobQueueName, numberSetting, queueName } from '../config';
import { encodeEventMessage, messageGroupId } from '../events/etcd-event-message';
import { settleWaiting } from '../jobs';
import { RECONCILER_MEMORY_KEY } from '../keys';
import type { Logger } from '../log/logger';
import { recordDeferredRepairs, recordRelayBehind, recordRepair } from '../metrics';
import { queueUrl, sqsClient } from '../sqs/client';
import { put, unchangedSince, type Store } from '../store/store';
import { decidePass, destinationId, relayLags, type Destination, type PassDecision, type Repair } from './decide';
import {
  graceRevision,
  memoryWriteDue,
  mergeMemory,
  parseMemory,
  secondsSinceAfter,
  withMark,
  type PassMemory,
} from './memory';
import { readSnapshot } from './scan';
import { definedOnly } from '../defined-only';

/** Messages waiting in a queue by name, visible or in flight. */
type BacklogReader = (queue: string) => Promise<number>;

/** `dryRun`: list the repairs, write and send nothing; `backlog` defaults to asking SQS; `metrics` off in the CLI. */
export interface PassOptions {
  logger: Logger;
  dryRun?: boolean;
  graceSeconds?: number;
  backlogGraceSeconds?: number;
  backlog?: BacklogReader;
  pageSize?: number;
  now?: () => number;
  metrics?: boolean;
}

/** `seconds`: at least this long behind a change under its prefix; 0 when not behind. */
type RelayBehind = { relay: string; prefix: string; checkpoint: number; seconds: number };

/** `repairs` made (on a dry run: to be made), of which `failed` (retried by the next pass); `backlog` by queue read. */
export interface PassReport extends Pick<PassDecision, 'repairs' | 'awaiting' | 'deferred'> {
  revision: number;
  graceRevision: number;
  keysRead: number;
  failed: { repair: Repair; error: string }[];
  backlog: Record<string, number>;
  relay: RelayBehind[];
  memoryWritten: boolean;
  durationMs: number;
}

const SERVICE = 'esi-reconciler';
// docs/reconciler.md, "Time" and "A queue still draining".
const KEEP_MARKS_MS = 3_600_000; // or twice the backlog grace when that is longer
const MARK_SPACING_OF_GRACE = 0.5;
const MEMORY_ROUNDS = 5;
const BACKLOG_GRACE_OF_GRACE = 10; // the default backlog grace

export async function reconcilePass(store: Store, opts: PassOptions): Promise<PassReport> {
  const now = opts.now ?? Date.now;
  const started = now();
  const graceSeconds = opts.graceSeconds ?? numberSetting('ESI_RECONCILE_GRACE_SECONDS', 30);
  const backlogGraceSeconds =
    opts.backlogGraceSeconds ??
    numberSetting('ESI_RECONCILE_BACKLOG_GRACE_SECONDS', BACKLOG_GRACE_OF_GRACE * graceSeconds);
  const graceMs = graceSeconds * 1000;
  const backlogGraceMs = Math.max(graceMs, backlogGraceSeconds * 1000);
  const keepMs = Math.max(KEEP_MARKS_MS, 2 * backlogGraceMs);
  const { logger } = opts;

  const memory = parseMemory((await store.get(RECONCILER_MEMORY_KEY))?.value);
  const revision = await store.revision();
  const mark = { revision, at: now() };
  // This pass's own mark counts too: with a zero grace everything read is old enough.
  const marks = withMark(memory.marks, mark, mark.at, keepMs);
  const g = graceRevision(marks, mark.at, graceMs);
  const snap = await readSnapshot(store, definedOnly({ revision, pageSize: opts.pageSize }));
  const inputs = {
    ...snap,
    graceRevision: g,
    limboSince: memory.limbo,
    repairedAt: memory.repaired,
    backlog: {},
    backlogGraceRevision: graceRevision(marks, mark.at, backlogGraceMs),
  };
  let decision = decidePass(inputs);
  // Only the queues a repair would go to are asked (none on a quiet pass); then decide again.
  const { backlog, byDestination } = await readBacklog(decision.repairs, opts.backlog ?? sqsBacklog, logger);
  if (Object.values(backlog).some((n) => n > 0)) decision = decidePass({ ...inputs, backlog: byDestination });
  const relay = relayLags(snap.positions).map(({ behind, ...p }) => ({
    ...p,
    seconds: behind ? secondsSinceAfter(marks, p.checkpoint, mark.at) : 0,
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
  if (opts.dryRun) return { ...report, durationMs: now() - started };

  const made = await makeRepairs(store, opts, revision, report);
  if (opts.metrics !== false) recordMetrics(decision.deferred, relay);
  for (const b of relay) if (b.seconds > 0) logger.warn('relay behind', { ...b });
  const pass: PassMemory = { mark, limbo: decision.limbo, repaired: made };
  report.memoryWritten = await storeMemory(store, pass, { graceMs, keepMs, now });
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

/** Merged with the stored memory and written with a compare, a few rounds; false when not due. */
async function storeMemory(store: Store, pass: PassMemory, t: { graceMs: number; keepMs: number; now: () => number }) {
  const key = RECONCILER_MEMORY_KEY;
  for (let round = 0; round < MEMORY_ROUNDS; round++) {
    const current = await store.get(key);
    const stored = parseMemory(current?.value);
    const next = mergeMemory(stored, pass, { nowMs: t.now(), graceMs: t.graceMs, keepMs: t.keepMs });
    if (!memoryWriteDue(stored, current?.modRevision ?? 0, next, pass, t.graceMs * MARK_SPACING_OF_GRACE)) return false;
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

/** The backlog of each queue the repairs would go to, and by `destinationId`; a read that fails counts as none. */
async function readBacklog(repairs: Repair[], read: BacklogReader, logger: Logger) {
  const queueOf = new Map(
    repairs.flatMap((r) => (r.send ? [[destinationId(r.send.to), destinationQueue(r.send.to)]] : [])),
  );
  const queues = [...new Set(queueOf.values())];
  const failed: Record<string, string> = {};
  const counts = await Promise.all(
    queues.map((q) =>
      read(q).catch((err: unknown) => {
        failed[q] = errorMessage(err);
        return 0;
      }),
    ),
  );
  if (Object.keys(failed).length)
    logger.warn('queue backlog unreadable; repairing into those queues as if empty', { queues: failed });
  const backlog: Record<string, number> = Object.fromEntries(queues.map((q, i) => [q, counts[i]!]));
  return { backlog, byDestination: Object.fromEntries([...queueOf].map(([d, q]) => [d, backlog[q]!])) };
}

const sqsBacklog: BacklogReader = async (queue) => {
  const names = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] as const;
  const res = await sqsClient().send(
    new GetQueueAttributesCommand({ QueueUrl: await queueUrl(queue), AttributeNames: [...names] }),
  );
  return names.reduce((sum, name) => sum + (Number(res.Attributes?.[name] ?? 0) || 0), 0);
};

export const describeRepair = (r: Repair): string => `${r.kind.padEnd(9)} ${r.key}  ${r.why}`;

/** Sends each repair's message (a settlement runs the lifecycle's own); what it made, by repair id. */
async function makeRepairs(store: Store, opts: PassOptions, revision: number, report: PassReport) {
  const { logger } = opts;
  const made: Record<string, number> = {};
  let settle = false;
  for (const r of report.repairs) {
    logger.warn('repair', { repair: r.kind, resource_key: r.key, why: r.why, etcd_revision: revision });
    try {
      if (r.send) await sendRepair(r.id, r.send, revision);
      else settle = true;
      made[r.id] = revision;
      if (opts.metrics !== false) recordRepair(SERVICE, r.kind);
    } catch (err) {
      const error = errorMessage(err);
      logger.error('repair failed; the next pass tries again', { repair: r.kind, resource_key: r.key, error });
      report.failed.push({ repair: r, error });
    }
  }
  if (settle) {
    // The lifecycle's own settlement decides and moves every decidable waiting job, fenced.
    const { promoted, failedDependents } = await settleWaiting(store);
    logger.info('settled waiting jobs', { promoted, failed: failedDependents.map((f) => f.id) });
  }
  return made;
}

/** Its own dedup id and group (docs/reconciler.md, "FIFO deduplication"). */
async function sendRepair(id: string, { to, message }: NonNullable<Repair['send']>, revision: number): Promise<void> {
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: await queueUrl(destinationQueue(to)),
      MessageBody: encodeEventMessage(message),
      // A group of its own: the key's group may be blocked by the lost message's consumer.
      MessageGroupId: messageGroupId({ ...message, key: `${message.key}#reconciler` }),
      MessageDeduplicationId: createHash('sha256').update(`reconcile\n${id}\n${revision}`).digest('hex'),
    }),
  );
}

function recordMetrics(deferred: Repair[], relay: RelayBehind[]): void {
  const byKind: Record<string, number> = {};
  for (const r of deferred) byKind[r.kind] = (byKind[r.kind] ?? 0) + 1;
  recordDeferredRepairs(SERVICE, byKind);
  const worst = relay.reduce<RelayBehind | undefined>((w, b) => (!w || b.seconds > w.seconds ? b : w), undefined);
  recordRelayBehind(SERVICE, worst?.seconds ?? 0, definedOnly({ prefix: worst?.prefix }));
}
