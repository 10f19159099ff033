/**
 * SqsBatchSender's retries, against an SQS client double: transient failures are retried within a
 * budget, anything else fails the send at once, and stop() ends a retry in progress.
 */
import { GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createLogger } from '../../../shared/log/logger';
import { SqsBatchSender, SqsSendError } from '../../../shared/relay/sqs-sender';

const logger = createLogger('sender-test');
logger.setLogLevel('SILENT');
let n = 0;
const message = { key: '/config/v2.0/networks/n1', modRevision: 7, type: 'put' as const };

/** A client whose SendMessageBatch answers with `batch(call)`; GetQueueUrl always answers. */
function client(batch: (call: number) => unknown) {
  const calls: string[] = [];
  const c = {
    send: async (cmd: unknown) => {
      if (cmd instanceof GetQueueUrlCommand) return { QueueUrl: `http://sqs/${cmd.input.QueueName}` };
      calls.push('batch');
      const out = batch(calls.length);
      if (out instanceof Error) throw out;
      return out;
    },
  };
  return { sqs: c as unknown as SQSClient, calls };
}

/** The send's outcome, or 'still retrying' if it has not settled within a bound far above its delays. */
const settled = (p: Promise<number>) =>
  Promise.race([
    p.then(
      (v) => ({ ok: v }),
      (e: unknown) => ({ error: e instanceof SqsSendError ? e.reason : String(e) }),
    ),
    new Promise((r) => setTimeout(() => r('still retrying'), 3000).unref()),
  ]);

const sdkError = (name: string, fault: 'client' | 'server', status: number) =>
  Object.assign(new Error(`${name} happened`), { name, $fault: fault, $metadata: { httpStatusCode: status } });

test('AccessDenied is not retried: the send fails at once', async () => {
  const { sqs, calls } = client(() => sdkError('AccessDenied', 'client', 403));
  const sender = new SqsBatchSender(sqs, logger, { initialDelayMs: 1, maxDelayMs: 1 });
  expect(await settled(sender.send(`q${n++}.fifo`, [message]))).toEqual({ error: 'refused' });
  expect(calls.length).toBe(1);
});

test('a TypeError (a bug, not a fault of SQS) is not retried', async () => {
  const { sqs, calls } = client(() => new TypeError("Cannot read properties of undefined (reading 'Id')"));
  const sender = new SqsBatchSender(sqs, logger, { initialDelayMs: 1, maxDelayMs: 1 });
  expect(await settled(sender.send(`q${n++}.fifo`, [message]))).toEqual({ error: 'refused' });
  expect(calls.length).toBe(1);
});

test('transient failures are retried within the budget, then the send fails', async () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4566'), { code: 'ECONNREFUSED' });
  const { sqs, calls } = client(() => refused);
  const sender = new SqsBatchSender(sqs, logger, { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 4 });
  expect(await settled(sender.send(`q${n++}.fifo`, [message]))).toEqual({ error: 'budget' });
  expect(calls.length).toBe(4);
});

test('throttling and server faults pass: the send completes once SQS answers', async () => {
  const { sqs, calls } = client((call) =>
    call === 1
      ? sdkError('ThrottlingException', 'client', 400)
      : call === 2
        ? sdkError('InternalError', 'server', 500)
        : { Successful: [{ Id: '0' }], Failed: [] },
  );
  const sender = new SqsBatchSender(sqs, logger, { initialDelayMs: 1, maxDelayMs: 1, maxAttempts: 4 });
  expect(await settled(sender.send(`q${n++}.fifo`, [message]))).toEqual({ ok: 0 });
  expect(calls.length).toBe(3);
  expect(sender.stats).toEqual({ messages: 1, retriedEntries: 2, deadLettered: 0 });
});

test('stop() ends a retry waiting out its delay: the send fails as stopped', async () => {
  const { sqs, calls } = client(() => sdkError('ServiceUnavailable', 'server', 503));
  const sender = new SqsBatchSender(sqs, logger, { initialDelayMs: 60_000, maxDelayMs: 60_000 });
  const sending = settled(sender.send(`q${n++}.fifo`, [message]));
  await new Promise((r) => setImmediate(r));
  expect(calls.length).toBe(1);
  sender.stop();
  expect(await sending).toEqual({ error: 'stopped' });
  expect(calls.length).toBe(1);
});
