/** Relay messages to SQS, each accepted or dead-lettered (docs/decisions.md "Batches in flight", "Never stalled"). */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ExponentialBackoff, handleWhen, noJitterGenerator, retry, type RetryPolicy } from 'cockatiel';
import { createHash } from 'node:crypto';
import { addAbortListener } from 'node:events';
import {
  deduplicationId,
  type EtcdEventMessage,
  encodeEventMessage,
  messageGroupId,
  sqsSafeJson,
} from '../events/etcd-event-message';
import { queueUrl } from '../sqs/client';
import type { Logger } from '../log/logger';
import { recordRelayDeadLetter } from '../metrics';

/** No `deadLetterQueue`: refused entries are only logged. Defaults: 200 attempts, 100 ms doubling to 5 s. */
export interface SenderOptions {
  deadLetterQueue?: string;
  maxAttempts?: number;
  initialDelayMs?: number;
  maxDelayMs?: number;
}

/** A send that cannot complete: a non-transient error, the retry budget spent, or the sender stopped. */
export class SqsSendError extends Error {
  override name = 'SqsSendError';
  constructor(
    message: string,
    readonly reason: 'refused' | 'budget' | 'stopped',
    cause?: unknown,
  ) {
    super(message, { cause });
  }
}

const MAX_REFUSALS = 3; // of one entry, before it is dead-lettered

/** Error codes by which SQS says the entry itself is invalid: sending it again cannot help. */
const REFUSALS = new Set([
  'InvalidParameterValue',
  'InvalidMessageContents',
  'MessageTooLong',
  'BatchRequestTooLong',
  'InvalidAttributeValue',
  'InvalidAttributeName',
  'InvalidParameterCombination',
  'MissingParameter',
  'ValidationError',
]);

/** Error codes of faults that pass: throttling, and a queue missing while the SQS server restarts. */
const TRANSIENT_CODES = new Set([
  'ThrottlingException',
  'Throttling',
  'RequestThrottled',
  'TooManyRequestsException',
  'ServiceUnavailable',
  'InternalError',
  'InternalFailure',
  'KmsThrottled',
  'QueueDoesNotExist',
  'NonExistentQueue',
]);
const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|socket hang up|TimeoutError/;

const codeOf = (code: string | undefined) => (code ?? '').replace(/^AWS\.SimpleQueueService\./, '');

/** An SDK error, or a Node.js system error with its `code` (ECONNREFUSED, ...). */
type SdkError = import('@aws-sdk/client-sqs').SQSServiceException & { code?: string };

const isRefusal = (code: string | undefined, senderFault: boolean) => senderFault && REFUSALS.has(codeOf(code));
const isRefusalError = (err: unknown): err is SdkError =>
  isRefusal((err as SdkError).name, (err as SdkError).$fault === 'client');

/** A failure that may pass by itself: transport, 5xx and 429, throttling, a missing queue; never a bug (TypeError). */
function isTransient(err: unknown): boolean {
  if (err instanceof RetryLater) return true;
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return false;
  const e = err as SdkError;
  const status = e.$metadata?.httpStatusCode;
  return (
    Boolean(e.$retryable) ||
    e.$fault === 'server' ||
    (status !== undefined && (status >= 500 || status === 429)) ||
    TRANSIENT_CODES.has(codeOf(e.name)) ||
    TRANSIENT_CODES.has(codeOf(e.code)) ||
    NETWORK.test(`${e.code ?? ''} ${e.name} ${e.message}`)
  );
}

/** `error`: the last send's refusal; undefined once SQS accepted the entry. */
type Entry = { id: string; message: EtcdEventMessage; refusals: number; error?: string | undefined };

class RetryLater extends Error {
  override name = 'RetryLater';
}

export class SqsBatchSender {
  private readonly retries: RetryPolicy;
  private readonly stopping = new AbortController();
  readonly stats = { messages: 0, retriedEntries: 0, deadLettered: 0 };

  constructor(
    private readonly client: SQSClient,
    private readonly logger: Logger,
    private readonly opts: SenderOptions = {},
  ) {
    const backoff = { initialDelay: opts.initialDelayMs ?? 100, maxDelay: opts.maxDelayMs ?? 5000 };
    this.retries = retry(handleWhen(isTransient), {
      maxAttempts: Math.max(1, opts.maxAttempts ?? 200) - 1,
      backoff: new ExponentialBackoff({ ...backoff, generator: noJitterGenerator }),
    }).dangerouslyUnref();
    this.retries.onRetry((r) =>
      logger.warn('SQS send failed; retrying', { attempt: r.attempt, error: 'error' in r ? String(r.error) : '' }),
    );
  }

  /** Ends every retry now: sends still pending fail with SqsSendError('stopped'). */
  stop(): void {
    this.stopping.abort();
  }

  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const { signal } = this.stopping;
    const stopped = () => new SqsSendError(`${what}: the sender was stopped`, 'stopped');
    let attempts = 0;
    let listener: Disposable | undefined;
    // The policy's delay does not end on an abort; this does.
    const onStop = new Promise<never>((_, reject) => (listener = addAbortListener(signal, () => reject(stopped()))));
    try {
      return await Promise.race([
        this.retries.execute(() => {
          attempts++;
          return signal.aborted ? Promise.reject(stopped()) : fn();
        }, signal),
        onStop,
      ]);
    } catch (err) {
      if (err instanceof SqsSendError) throw err;
      if (!isTransient(err))
        throw new SqsSendError(`${what}: ${String(err)} (not a transient failure; not retried)`, 'refused', err);
      throw new SqsSendError(`${what}: still failing after ${attempts} attempts: ${String(err)}`, 'budget', err);
    } finally {
      listener?.[Symbol.dispose]();
    }
  }

  /** Sends up to 10 messages to one queue; resolves when each was accepted or dead-lettered (how many). */
  async send(queueName: string, messages: EtcdEventMessage[]): Promise<number> {
    let pending: Entry[] = messages.map((message, i) => ({ id: String(i), message, refusals: 0 }));
    let alone = false;
    let deadLettered = 0;
    await this.retrying(`SendMessageBatch to ${queueName}`, async () => {
      const url = await queueUrl(queueName, this.client);
      let transient: unknown;
      // One request for the batch; one per entry once a whole batch was refused (to find the entry at fault).
      for (const entries of alone ? pending.map((e) => [e]) : [pending]) {
        try {
          if ((await this.attempt(url, entries)) && entries.length > 1) alone = true;
        } catch (err) {
          transient = err;
          for (const e of entries) e.error = String(err);
        }
      }
      for (const e of pending.filter((p) => p.refusals >= MAX_REFUSALS)) {
        await this.deadLetter(queueName, e);
        deadLettered++;
      }
      pending = pending.filter((p) => p.refusals < MAX_REFUSALS && p.error !== undefined);
      if (!pending.length) return;
      this.stats.retriedEntries += pending.length;
      if (transient) throw transient as Error;
      throw new RetryLater(`${pending.length} of the batch's entries not accepted yet: ${pending[0]!.error}`);
    });
    return deadLettered;
  }

  /** One SendMessageBatch, marking each entry accepted or refused; true when SQS refused the whole request. */
  private async attempt(url: string, entries: Entry[]): Promise<boolean> {
    let res;
    try {
      res = await this.client.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: entries.map(({ id, message }) => ({
            Id: id,
            MessageBody: encodeEventMessage(message),
            MessageGroupId: messageGroupId(message),
            MessageDeduplicationId: deduplicationId(message),
          })),
        }),
      );
    } catch (err) {
      if (!isRefusalError(err)) throw err;
      for (const entry of entries) {
        entry.error = `${codeOf(err.name)}: ${err.message}`;
        if (entries.length === 1) entry.refusals++; // only an entry sent alone is known to be at fault
      }
      return true;
    }
    const failed = new Map((res.Failed ?? []).map((f) => [f.Id, f]));
    for (const entry of entries) {
      const f = failed.get(entry.id);
      entry.error = f ? `${codeOf(f.Code)}: ${f.Message ?? ''}` : undefined;
      if (f && isRefusal(f.Code, f.SenderFault ?? false)) entry.refusals++;
      if (!f) this.stats.messages++;
    }
    return false;
  }

  /** Records a refused entry in the relay's dead-letter queue (key, revision, why) and logs it. */
  private async deadLetter(queueName: string, e: Entry): Promise<void> {
    this.stats.deadLettered++;
    const { key, modRevision, type } = e.message;
    // A key too long to be sent is cut in the record; its hash still names it.
    const keyShown = key.length > 1024 ? `${key.slice(0, 1024)}…` : key;
    this.logger.error('SQS refused the event for good; sent to the relay dead-letter queue and passed over', {
      resource_key: keyShown,
      etcd_revision: modRevision,
      queue: queueName,
      error: e.error,
      attempt: e.refusals,
    });
    recordRelayDeadLetter('esi-relay', queueName);
    const dlq = this.opts.deadLetterQueue;
    if (!dlq) return;
    const record = {
      key: keyShown,
      keyLength: key.length,
      keySha256: createHash('sha256').update(key).digest('hex'),
      modRevision,
      type,
      queue: queueName,
      error: e.error,
    };
    await this.retrying(`SendMessage to ${dlq}`, async () => {
      const QueueUrl = await queueUrl(dlq, this.client);
      try {
        await this.client.send(new SendMessageCommand({ QueueUrl, MessageBody: sqsSafeJson(record) }));
      } catch (err) {
        if (!isRefusalError(err)) throw err;
        // Even the record is refused: the log line above is all that is left of it.
        this.logger.error('relay dead-letter queue refused the record', { resource_key: keyShown, error: err.message });
      }
    });
  }
}
