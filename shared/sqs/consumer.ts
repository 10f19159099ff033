/** The one result policy (docs/decisions.md); each record logs through its own child logger, never another's keys. */
import { numberSetting } from '../config';
import { errorMessage } from '../errors';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { ChangeMessageVisibilityBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { TaskCancelledError, timeout, TimeoutStrategy } from 'cockatiel';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { decodeEventMessage, encodeEventMessage, MalformedMessageError } from '../events/etcd-event-message';
import type { EtcdEventMessage } from '../events/etcd-event-message';
import type { Logger } from '../log/logger';
import { flushMetrics, recordOutcome, serviceOf } from '../metrics';
import { loadSecrets } from '../secrets';
import { tracingMiddleware } from '../tracing';
import { queueUrl, sqsClient } from './client';
import { definedOnly } from '../defined-only';

export type Outcome =
  | { kind: 'done'; note?: string }
  | { kind: 'failed'; error: string }
  | { kind: 'retryLater'; delaySeconds: number; reason: string; message?: EtcdEventMessage };

export const done = (note?: string): Outcome => definedOnly({ kind: 'done' as const, note });
export const failed = (error: string): Outcome => ({ kind: 'failed', error });
/** Acknowledged, and `message` (default: the same) sent to the function's retry queue with a delay. */
export const retryLater = (delaySeconds: number, reason: string, message?: EtcdEventMessage): Outcome =>
  definedOnly({ kind: 'retryLater' as const, delaySeconds, reason, message });

export type RecordHandler = (message: EtcdEventMessage, ctx: { record: SQSRecord; logger: Logger }) => Promise<Outcome>;

async function applyOutcome(outcome: Outcome, message: EtcdEventMessage, logger: Logger, retryQueueName?: string) {
  switch (outcome.kind) {
    case 'done':
      logger.debug('record done', outcome.note ? { note: outcome.note } : {});
      return;
    case 'failed':
      logger.error('record failed for good; failure recorded, message acknowledged', { error: outcome.error });
      return;
    case 'retryLater': {
      if (!retryQueueName) throw new Error(`retry requested (${outcome.reason}) but the function has no retry queue`);
      await sqsClient().send(
        new SendMessageCommand({
          QueueUrl: await queueUrl(retryQueueName),
          MessageBody: encodeEventMessage(outcome.message ?? message),
          DelaySeconds: Math.min(Math.max(Math.round(outcome.delaySeconds), 0), 900),
        }),
      );
      logger.info('record will be retried later', { delay_seconds: outcome.delaySeconds, reason: outcome.reason });
    }
  }
}

/** `retryQueueName`: a standard queue for delayed retries (FIFO queues have no per-message delay). */
export function sqsConsumer(handle: RecordHandler, opts: { logger: Logger; retryQueueName?: string }) {
  const service = serviceOf(opts.logger);
  let invocations = 0;

  const recordHandler = async (record: SQSRecord, logger: Logger): Promise<void> => {
    let message: EtcdEventMessage;
    try {
      message = decodeEventMessage(record.body);
    } catch (err) {
      // Redelivery cannot make the message readable; any other error is not the message's and is thrown.
      if (!(err instanceof MalformedMessageError)) throw err;
      logger.error('unreadable message acknowledged', { message_id: record.messageId, error: err.message });
      recordOutcome(service, 'failed');
      return;
    }
    logger.appendKeys({
      resource_key: message.key,
      etcd_revision: message.modRevision,
      event_type: message.type,
      attempt: Number(record.attributes.ApproximateReceiveCount ?? 1),
    });
    try {
      const outcome = await handle(message, { record, logger });
      await applyOutcome(outcome, message, logger, opts.retryQueueName);
      recordOutcome(service, outcome.kind);
    } catch (err) {
      recordOutcome(service, 'error');
      logger.error('record failed; SQS will redeliver it', err as Error);
      throw err;
    }
  };

  return (
    middy<SQSEvent, SQSBatchResponse, Error, Context>()
      .use(injectLambdaContext(opts.logger))
      .use(tracingMiddleware())
      // Before any etcd client exists (shared/secrets.ts).
      .before(() => loadSecrets().then(() => undefined))
      .handler((event, context) => {
        const coldStart = invocations++ === 0;
        const finished = new Set<string>();
        const handleRecord = (record: SQSRecord) => {
          const logger = opts.logger.createChild();
          // createChild marks the child's first context as a cold start; a warm invocation says so again.
          if (!coldStart) logger.addContext(context);
          return recordHandler(record, logger).then(() => void finished.add(record.messageId));
        };
        const processed = processGroups(event, handleRecord, context);
        return beforeDeadline(processed, event, finished, context, opts.logger)
          .then((res) => comeBackSoon(event, res, opts.logger))
          .finally(() => flushMetrics(service));
      })
  );
}

/** Every group at once, each in order (Powertools' FIFO processor); a standard batch's records are groups of one. */
async function processGroups(event: SQSEvent, handleRecord: (record: SQSRecord) => Promise<void>, context: Context) {
  const fifo = event.Records[0]?.eventSourceARN?.endsWith('.fifo') ?? false;
  const groups = new Map<string, SQSRecord[]>();
  for (const r of event.Records) {
    const group = fifo ? (r.attributes.MessageGroupId ?? '') : r.messageId;
    groups.set(group, [...(groups.get(group) ?? []), r]);
  }
  const results = await Promise.all(
    [...groups.values()].map((Records) =>
      processPartialResponse({ Records }, handleRecord, new SqsFifoPartialProcessorAsync(), {
        context,
        throwOnFullBatchFailure: false,
        skipGroupOnError: true,
      }),
    ),
  );
  return { batchItemFailures: results.flatMap((r) => r.batchItemFailures) };
}

/** Time kept before the invocation's deadline to hand its unfinished records back (an SQS call). */
export const DEADLINE_MARGIN_MS = 3000;

/** Near the deadline every unfinished record fails, freeing its FIFO group; what it still writes is fenced. */
async function beforeDeadline(
  processed: Promise<SQSBatchResponse>,
  event: SQSEvent,
  finished: ReadonlySet<string>,
  context: Context,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const left = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : NaN;
  if (!Number.isFinite(left) || left <= DEADLINE_MARGIN_MS) return processed;
  try {
    return await timeout(left - DEADLINE_MARGIN_MS, TimeoutStrategy.Aggressive).execute(() => processed);
  } catch (err) {
    if (!(err instanceof TaskCancelledError)) throw err;
    const unfinished = event.Records.filter((r) => !finished.has(r.messageId));
    logger.warn('invocation deadline near; unfinished records handed back to their queue', {
      records: unfinished.length,
    });
    return { batchItemFailures: unfinished.map((r) => ({ itemIdentifier: r.messageId })) };
  }
}

/** Seconds before a failed record comes back: 5 s doubled per receive, at most `maxSeconds` (docs/operations.md). */
export function retryDelaySeconds(receiveCount: number, maxSeconds = retryMaxDelaySeconds()): number {
  const n = Number.isFinite(receiveCount) && receiveCount >= 1 ? Math.floor(receiveCount) : 1;
  return Math.min(maxSeconds, 5 * 2 ** Math.min(n - 1, 14));
}

export const retryMaxDelaySeconds = (): number =>
  numberSetting('ESI_RETRY_MAX_DELAY_SECONDS', 60, (s) => s >= 5 && s <= 43_200);

/** The failed records come back after retryDelaySeconds, not the visibility timeout (best effort). */
async function comeBackSoon(event: SQSEvent, res: SQSBatchResponse, logger: Logger): Promise<SQSBatchResponse> {
  const failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
  const records = event.Records.filter((r) => failed.has(r.messageId));
  const queueName = records[0]?.eventSourceARN?.split(':').pop();
  if (!records.length || !queueName) return res;
  const notShortened = (detail: Record<string, string>) =>
    logger.warn('visibility of failed records not shortened; they come back after the visibility timeout', {
      queue: queueName,
      ...detail,
    });
  try {
    const url = await queueUrl(queueName);
    for (let i = 0; i < records.length; i += 10) {
      const out = await sqsClient().send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: records.slice(i, i + 10).map((r, j) => ({
            Id: String(i + j),
            ReceiptHandle: r.receiptHandle,
            VisibilityTimeout: retryDelaySeconds(Number(r.attributes.ApproximateReceiveCount ?? 1)),
          })),
        }),
      );
      if (out.Failed?.length) notShortened({ failed: out.Failed.map((f) => f.Code).join(', ') });
    }
  } catch (err) {
    notShortened({ error: errorMessage(err) });
  }
  return res;
}
