/**
 * Sends relay messages to SQS in batches of at most 10 and resolves only when every entry was
 * either accepted by SQS or, refused for good, recorded in the relay's dead-letter queue
 * (docs/decisions.md "The relay": "Batches in flight", "Never stalled by one event"). Transient
 * errors (`isTransient`) are retried with capped exponential backoff within `maxAttempts`; any
 * other error, the budget spent or `stop()` fail the send with SqsSendError; an entry SQS refuses
 * as invalid is tried `maxRefusals` times, then dead-lettered, logged, counted and passed over (a
 * whole batch refused is sent again one entry per request to find the entry at fault).
 */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
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

export interface SendStats {
  messages: number;
  retriedEntries: number;
  deadLettered: number;
}

export interface SenderOptions {
  /** Queue name of the relay's dead-letter queue; unset = refused entries are only logged. */
  deadLetterQueue?: string;
  /** Refusals of one entry before it is dead-lettered (at least 1). */
  maxRefusals?: number;
  /** The metrics service name (esi-relay). */
  service?: string;
  /** Attempts of one request while its failures are transient (default 200: ~16 min at the 5 s cap). */
  maxAttempts?: number;
  /** First and longest delay between attempts (ms; default 100 and 5000). */
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
/** Network failures of the request itself. */
const NETWORK = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EAI_AGAIN|ENOTFOUND|EHOSTUNREACH|socket hang up|TimeoutError/;

/** `AWS.SimpleQueueService.MessageTooLong` → `MessageTooLong`. */
const codeOf = (code: string | undefined) => (code ?? '').replace(/^AWS\.SimpleQueueService\./, '');

/** True when SQS refused the request because of what it carries (not a transient fault). */
export function isRefusal(code: string | undefined, senderFault = true): boolean {
  return senderFault && REFUSALS.has(codeOf(code));
}

/**
 * True for a failure that may pass by itself (sending again can help): transport errors, 5xx and
 * 429, SQS's throttling and server faults, a missing queue. AccessDenied, invalid requests and
 * programming errors (a TypeError) are not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof RetryLater) return true;
  if (!(err instanceof Error) || err instanceof TypeError || err instanceof RangeError) return false;
  const e = err as Error & {
    code?: string;
    $fault?: string;
    $retryable?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
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

interface Entry {
  id: string;
  message: EtcdEventMessage;
  refusals: number;
  /** The last send's refusal; cleared (undefined) once SQS accepted the entry. */
  error?: string | undefined;
}

class RetryLater extends Error {
  override name = 'RetryLater';
}

export class SqsBatchSender {
  private readonly maxRefusals: number;
  private readonly maxAttempts: number;
  private stopped = false;
  /** Wakes the retries waiting out a delay (stop). */
  private readonly sleepers = new Set<() => void>();
  readonly stats: SendStats = { messages: 0, retriedEntries: 0, deadLettered: 0 };

  constructor(
    private readonly client: SQSClient,
    private readonly logger: Logger,
    private readonly opts: SenderOptions = {},
  ) {
    this.maxRefusals = Math.max(1, opts.maxRefusals ?? 3);
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 200);
  }

  /** Ends every retry now: sends still pending fail with SqsSendError('stopped'). */
  stop(): void {
    this.stopped = true;
    for (const wake of this.sleepers) wake();
    this.sleepers.clear();
  }

  /** Runs fn until it succeeds, retrying transient failures within the budget. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const initial = this.opts.initialDelayMs ?? 100;
    const max = this.opts.maxDelayMs ?? 5000;
    for (let attempt = 1; ; attempt++) {
      if (this.stopped) throw new SqsSendError(`${what}: the sender was stopped`, 'stopped');
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err))
          throw new SqsSendError(`${what}: ${String(err)} (not a transient failure; not retried)`, 'refused', err);
        if (attempt >= this.maxAttempts)
          throw new SqsSendError(`${what}: still failing after ${attempt} attempts: ${String(err)}`, 'budget', err);
        this.logger.warn('SQS send failed; retrying', { attempt, error: String(err) });
        await this.sleep(Math.min(initial * 2 ** (attempt - 1), max));
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleepers.add(wake);
    });
  }

  /**
   * Sends up to 10 messages to one queue; resolves when each was accepted or dead-lettered, with
   * the number dead-lettered.
   */
  async send(queueName: string, messages: EtcdEventMessage[]): Promise<number> {
    if (messages.length === 0) return 0;
    if (messages.length > 10) throw new Error('a batch holds at most 10 messages');
    const url = await this.retrying(`GetQueueUrl ${queueName}`, () => queueUrl(queueName, this.client));
    let pending: Entry[] = messages.map((message, i) => ({ id: String(i), message, refusals: 0 }));
    let alone = false;
    let deadLettered = 0;
    await this.retrying(`SendMessageBatch to ${queueName}`, async () => {
      let transient: unknown;
      // One request for the batch; one per entry once a whole batch was refused.
      for (const entries of alone ? pending.map((e) => [e]) : [pending]) {
        try {
          const batchRefused = await this.attempt(url, entries);
          if (batchRefused && entries.length > 1) alone = true;
        } catch (err) {
          transient = err;
          for (const e of entries) e.error = String(err);
        }
      }
      for (const e of pending.filter((p) => p.refusals >= this.maxRefusals)) {
        await this.deadLetter(queueName, e);
        deadLettered++;
      }
      pending = pending.filter((p) => p.refusals < this.maxRefusals && p.error !== undefined);
      const [first] = pending;
      if (first) {
        this.stats.retriedEntries += pending.length;
        if (transient) throw transient as Error;
        throw new RetryLater(`${pending.length} of the batch's entries not accepted yet: ${first.error}`);
      }
    });
    return deadLettered;
  }

  /**
   * One SendMessageBatch of entries. Marks each entry done (error undefined) or failed (error set,
   * refusals counted when SQS refused the entry itself). Returns true when SQS refused the whole
   * request as invalid. Transient errors are thrown.
   */
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
      const e = err as Error & { $fault?: string };
      if (!isRefusal(e.name, e.$fault === 'client')) throw err;
      for (const entry of entries) {
        entry.error = `${codeOf(e.name)}: ${e.message}`;
        // Only an entry sent alone is known to be at fault.
        if (entries.length === 1) entry.refusals++;
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
    recordRelayDeadLetter(this.opts.service ?? 'esi-relay', queueName);
    if (!this.opts.deadLetterQueue) return;
    const record = {
      key: keyShown,
      keyLength: key.length,
      keySha256: createHash('sha256').update(key).digest('hex'),
      modRevision,
      type,
      queue: queueName,
      error: e.error,
    };
    const dlq = this.opts.deadLetterQueue;
    const dlqUrl = await this.retrying(`GetQueueUrl ${dlq}`, () => queueUrl(dlq, this.client));
    await this.retrying(`SendMessage to ${dlq}`, async () => {
      try {
        await this.client.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: sqsSafeJson(record) }));
      } catch (err) {
        const x = err as Error & { $fault?: string };
        if (!isRefusal(x.name, x.$fault === 'client')) throw err;
        // Even the record is refused: the log line above is all that is left of it.
        this.logger.error('relay dead-letter queue refused the record', { resource_key: keyShown, error: x.message });
      }
    });
  }
}
