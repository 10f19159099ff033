/**
 * Sends relay messages to SQS in batches of at most 10 and resolves only when SQS accepted every
 * entry: failed entries of SendMessageBatch are retried on their own, transport errors retry the
 * whole batch, with capped exponential backoff and no give-up (the relay must not lose an event;
 * while SQS is down it stops advancing and its lag grows, which is alarmed on).
 */
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { ExponentialBackoff, handleAll, retry } from 'cockatiel';
import { deduplicationId, EtcdEventMessage, encodeEventMessage, messageGroupId } from '../events/etcd-event-message';
import { queueUrl } from '../sqs/client';
import type { Logger } from '../log/logger';

export interface SendStats {
  messages: number;
  retriedEntries: number;
}

export class SqsBatchSender {
  private readonly policy = retry(handleAll, {
    maxAttempts: Number.MAX_SAFE_INTEGER,
    backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 5000 }),
  });
  readonly stats: SendStats = { messages: 0, retriedEntries: 0 };

  constructor(
    private readonly client: SQSClient,
    private readonly logger: Logger,
  ) {
    this.policy.onRetry((e) =>
      this.logger.warn('SQS send failed; retrying', {
        attempt: e.attempt,
        error: 'error' in e ? String(e.error) : undefined,
      }),
    );
  }

  /** Sends up to 10 messages to one queue; resolves when all were accepted. */
  async send(queueName: string, messages: EtcdEventMessage[]): Promise<void> {
    if (messages.length === 0) return;
    if (messages.length > 10) throw new Error('a batch holds at most 10 messages');
    const url = await this.policy.execute(() => queueUrl(queueName, this.client));
    let pending = messages.map((m, i) => ({ id: String(i), m }));
    await this.policy.execute(async () => {
      const res = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: pending.map(({ id, m }) => ({
            Id: id,
            MessageBody: encodeEventMessage(m),
            MessageGroupId: messageGroupId(m),
            MessageDeduplicationId: deduplicationId(m),
          })),
        }),
      );
      const failed = new Set((res.Failed ?? []).map((f) => f.Id));
      this.stats.messages += pending.length - failed.size;
      if (failed.size) {
        this.stats.retriedEntries += failed.size;
        const first = res.Failed![0];
        pending = pending.filter((p) => failed.has(p.id));
        throw new Error(`${failed.size} of the batch's entries failed: ${first.Code} ${first.Message ?? ''}`);
      }
    });
  }
}
