/**
 * The one result policy for every SQS-driven function (docs/decisions.md "One result policy"): a
 * record handler returns done, failed (already written to etcd) or retryLater, or throws (its
 * visibility shortened by `retryDelaySeconds`, then reported in batchItemFailures). A message that
 * is not an etcd event message is logged and acknowledged: redelivering it cannot make it readable.
 *
 * A batch comes from one event source mapping, so from one queue: a FIFO queue's batch (its ARN
 * ends in `.fifo`) is processed in order within each message group and a failed record holds back
 * the later records of its group only; the groups of a batch (different keys) are processed at
 * the same time. A standard queue's records are all processed at the same time. A function fed by
 * both kinds (a FIFO jobs queue and a standard poll queue) gets the right processor for each
 * batch. Each record logs through a child logger of its own, so records handled at the same time
 * never log under each other's keys.
 */
import { numberSetting } from '../config';
import { errorMessage } from '../errors';
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import {
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
  BatchProcessor,
  EventType,
} from '@aws-lambda-powertools/batch';
import { ChangeMessageVisibilityBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import {
  decodeEventMessage,
  type EtcdEventMessage,
  encodeEventMessage,
  MalformedMessageError,
} from '../events/etcd-event-message';
import type { Logger } from '../log/logger';
import { flushMetrics, recordOutcome, serviceOf } from '../metrics';
import { loadSecrets } from '../secrets';
import { tracingMiddleware } from '../tracing';
import { queueUrl, sqsClient } from './client';

export type Outcome =
  | { kind: 'done'; note?: string }
  | { kind: 'failed'; error: string }
  | { kind: 'retryLater'; delaySeconds: number; reason: string; message?: EtcdEventMessage };

export const done = (note?: string): Outcome => ({ kind: 'done', ...(note === undefined ? {} : { note }) });
export const failed = (error: string): Outcome => ({ kind: 'failed', error });
/**
 * Come back later: the record is acknowledged and `message` (by default the same one) is sent to
 * the function's retry queue with a delay — e.g. a running job re-read through its working key.
 */
export const retryLater = (delaySeconds: number, reason: string, message?: EtcdEventMessage): Outcome => ({
  kind: 'retryLater',
  delaySeconds,
  reason,
  ...(message === undefined ? {} : { message }),
});

export interface RecordContext {
  record: SQSRecord;
  /** How many times SQS has delivered this record. */
  receiveCount: number;
  logger: Logger;
}

export type RecordHandler = (message: EtcdEventMessage, ctx: RecordContext) => Promise<Outcome>;

export interface ConsumerOptions {
  logger: Logger;
  /** Standard queue for delayed retries (FIFO queues have no per-message delay), named by the handler. */
  retryQueueName?: string;
  /** Service dimension of the outcome metrics (shared/metrics.ts); default: the logger's service name. */
  service?: string;
}

/** What a handler's outcome asks of the consumer: nothing more, a log line, or a delayed retry message. */
async function applyOutcome(
  outcome: Outcome,
  message: EtcdEventMessage,
  logger: Logger,
  retryQueueName: string | undefined,
): Promise<void> {
  switch (outcome.kind) {
    case 'done':
      // What was done is the handler's to say (planned, job succeeded, chain aggregated): one line per step at INFO.
      logger.debug('record done', outcome.note ? { note: outcome.note } : {});
      return;
    case 'failed':
      logger.error('record failed for good; failure recorded, message acknowledged', { error: outcome.error });
      return;
    case 'retryLater': {
      if (!retryQueueName) throw new Error(`retry requested (${outcome.reason}) but the function has no retry queue`);
      const url = await queueUrl(retryQueueName);
      await sqsClient().send(
        new SendMessageCommand({
          QueueUrl: url,
          MessageBody: encodeEventMessage(outcome.message ?? message),
          DelaySeconds: Math.min(Math.max(Math.round(outcome.delaySeconds), 0), 900),
        }),
      );
      logger.info('record will be retried later', { delay_seconds: outcome.delaySeconds, reason: outcome.reason });
    }
  }
}

export function sqsConsumer(handle: RecordHandler, opts: ConsumerOptions) {
  const service = opts.service ?? serviceOf(opts.logger);
  let invocations = 0;

  const recordHandler = async (record: SQSRecord, logger: Logger): Promise<void> => {
    let message: EtcdEventMessage;
    try {
      message = decodeEventMessage(record.body);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      logger.error('unreadable message acknowledged', { message_id: record.messageId, error: err.message });
      recordOutcome(service, 'failed');
      return;
    }
    const fields = {
      resource_key: message.key,
      etcd_revision: message.modRevision,
      event_type: message.type,
      attempt: Number(record.attributes.ApproximateReceiveCount ?? 1),
    };
    logger.appendKeys(fields);
    try {
      const outcome = await handle(message, { record, receiveCount: fields.attempt, logger });
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
      // Secrets from SSM when configured (shared/secrets.ts), once per cold start, before any etcd client exists.
      .before(() => loadSecrets().then(() => undefined))
      .handler((event, context) => {
        const coldStart = invocations++ === 0;
        // The record's own logger: the invocation's context and keys, plus what the record adds.
        const loggerFor = (): Logger => {
          const child = opts.logger.createChild();
          // createChild marks the child's first context as a cold start; a warm invocation says so again.
          if (!coldStart) child.addContext(context);
          return child;
        };
        const finished = new Set<string>();
        const handleRecord = (record: SQSRecord) =>
          recordHandler(record, loggerFor()).then(() => void finished.add(record.messageId));
        const processed = isFifoBatch(event)
          ? processFifoGroups(event, handleRecord, context)
          : processPartialResponse(event, handleRecord, new BatchProcessor(EventType.SQS), {
              context,
              throwOnFullBatchFailure: false,
              processInParallel: true,
            });
        return beforeDeadline(processed, event, finished, context, opts.logger)
          .then((res) => comeBackSoon(event, res, opts.logger))
          .finally(() => flushMetrics(service));
      })
  );
}

/**
 * A FIFO batch, one message group (one key) at a time per group and every group at once: each
 * group's records go through Powertools' FIFO processor in order, and a failed record fails the
 * later records of its group only (they stay on the queue and come back in order).
 */
async function processFifoGroups(
  event: SQSEvent,
  handleRecord: (record: SQSRecord) => Promise<void>,
  context: Context,
): Promise<SQSBatchResponse> {
  const groups = new Map<string, SQSRecord[]>();
  for (const r of event.Records) {
    const group = r.attributes.MessageGroupId ?? '';
    groups.set(group, [...(groups.get(group) ?? []), r]);
  }
  const results = await Promise.all(
    [...groups.values()].map((Records) => processFifoGroup({ Records }, handleRecord, context)),
  );
  return { batchItemFailures: results.flatMap((r) => r.batchItemFailures) };
}

/** FIFO records in order, through Powertools' FIFO processor: a failure skips the later records of its group. */
const processFifoGroup = (
  event: SQSEvent,
  handleRecord: (record: SQSRecord) => Promise<void>,
  context: Context,
): Promise<SQSBatchResponse> =>
  processPartialResponse(event, handleRecord, new SqsFifoPartialProcessorAsync(), {
    context,
    throwOnFullBatchFailure: false,
    skipGroupOnError: true,
  });

/** Whether the batch comes from a FIFO queue (every record of a batch has the same source). */
export const isFifoBatch = (event: SQSEvent): boolean => event.Records[0]?.eventSourceARN?.endsWith('.fifo') ?? false;

/** Time kept before the invocation's deadline to hand its unfinished records back (an SQS call). */
export const DEADLINE_MARGIN_MS = 3000;

/**
 * The batch's response, or, if the invocation's deadline comes first (less DEADLINE_MARGIN_MS),
 * every record not finished by then as a failure (comeBackSoon then shortens its visibility), so a
 * record stuck on an unanswering dependency frees its FIFO message group in seconds instead of
 * holding it for the queue's visibility timeout after Lambda ends the invocation. The records
 * still running go on; whatever they write is fenced like any late invocation's.
 */
async function beforeDeadline(
  processed: Promise<SQSBatchResponse>,
  event: SQSEvent,
  finished: ReadonlySet<string>,
  context: Context,
  logger: Logger,
): Promise<SQSBatchResponse> {
  const left = typeof context.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : NaN;
  if (!Number.isFinite(left) || left <= DEADLINE_MARGIN_MS) return processed;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<SQSBatchResponse>((resolve) => {
    timer = setTimeout(() => {
      const unfinished = event.Records.filter((r) => !finished.has(r.messageId));
      logger.warn('invocation deadline near; unfinished records handed back to their queue', {
        records: unfinished.length,
      });
      resolve({ batchItemFailures: unfinished.map((r) => ({ itemIdentifier: r.messageId })) });
    }, left - DEADLINE_MARGIN_MS);
  });
  try {
    return await Promise.race([processed, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Seconds before a record that failed for a transient reason is delivered again: 5 s doubled per
 * receive, at most `maxSeconds` (ESI_RETRY_MAX_DELAY_SECONDS: 60 by default, the local stack;
 * 300 in AWS, where with maxReceiveCount 20 a record outlives about 70 minutes of a dependency's
 * outage before it is dead-lettered: docs/operations.md, "Retry budget").
 */
export function retryDelaySeconds(receiveCount: number, maxSeconds = retryMaxDelaySeconds()): number {
  const n = Number.isFinite(receiveCount) && receiveCount >= 1 ? Math.floor(receiveCount) : 1;
  return Math.min(maxSeconds, 5 * 2 ** Math.min(n - 1, 14));
}

/** The cap of retryDelaySeconds: ESI_RETRY_MAX_DELAY_SECONDS, 60 by default (the local stack). */
export const retryMaxDelaySeconds = (): number =>
  numberSetting('ESI_RETRY_MAX_DELAY_SECONDS', 60, (s) => s >= 5 && s <= 43_200);

/**
 * How long a record may keep failing before it is dead-lettered: the delays between its
 * `maxReceiveCount` receives (those after receives 1 … maxReceiveCount − 1) with the cap
 * `maxSeconds`. The time each receive itself takes comes on top.
 */
export function retryBudgetSeconds(maxReceiveCount: number, maxSeconds: number): number {
  let total = 0;
  for (let n = 1; n < maxReceiveCount; n++) total += retryDelaySeconds(n, maxSeconds);
  return total;
}

/**
 * The failed records come back after retryDelaySeconds instead of the queue's visibility timeout
 * (Lambda's event source leaves a changed visibility as it is). Best effort: a record whose change
 * is refused keeps the queue's timeout, which is where it would be anyway.
 */
async function comeBackSoon(event: SQSEvent, res: SQSBatchResponse, logger: Logger): Promise<SQSBatchResponse> {
  const failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
  const records = event.Records.filter((r) => failed.has(r.messageId));
  const queueName = records[0]?.eventSourceARN?.split(':').pop();
  if (!records.length || !queueName) return res;
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
      if (out.Failed?.length)
        logger.warn('visibility of failed records not shortened; they come back after the visibility timeout', {
          queue: queueName,
          failed: out.Failed.map((f) => f.Code).join(', '),
        });
    }
  } catch (err) {
    logger.warn('visibility of failed records not shortened; they come back after the visibility timeout', {
      queue: queueName,
      error: errorMessage(err),
    });
  }
  return res;
}
