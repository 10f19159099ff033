/**
 * A record that fails for a transient reason comes back in seconds, growing with its receive
 * count, not after the queue's visibility timeout (here 300 s): the result policy shortens the
 * failed records' visibility before it reports them, as Lambda's event source leaves it.
 */
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageCommand, type Message } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { encodeEventMessage } from '../../shared/events/etcd-event-message';
import { createLogger } from '../../shared/log/logger';
import { sqsClient } from '../../shared/sqs/client';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { queueArn } from '../helpers/sqs';
import { lambdaContext } from '../helpers/sqs-event';

jest.setTimeout(60_000);
afterAll(() => sqsClient().destroy());

const asRecord = (m: Message, arn: string): SQSRecord =>
  ({
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body!,
    attributes: m.Attributes ?? {},
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: 'us-east-1',
  }) as SQSRecord;

test('a thrown record is back after 5 s, not after the 300 s visibility timeout', async () => {
  const name = `backoff-${Date.now()}`;
  const url = (
    await sqsClient().send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '300' } }))
  ).QueueUrl!;
  const arn = await queueArn(url);
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: encodeEventMessage({ key: '/config/v2.0/ports/p1', modRevision: 7, type: 'put' }),
    }),
  );
  const handler = sqsConsumer(
    () => {
      throw new Error('etcd unreachable');
    },
    { logger: createLogger('esi-test-backoff') },
  );
  const receive = async (): Promise<Message> => {
    for (;;) {
      const res = await sqsClient().send(
        new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1, AttributeNames: ['All'] }),
      );
      const [first] = res.Messages ?? [];
      if (first) return first;
    }
  };

  const m = await receive();
  expect(m.Attributes?.ApproximateReceiveCount).toBe('1');
  const res = await handler({ Records: [asRecord(m, arn)] }, lambdaContext('esi-test-backoff'));
  expect(res.batchItemFailures).toEqual([{ itemIdentifier: m.MessageId }]);
  const failedAt = Date.now();
  const again = await receive();
  const gap = (Date.now() - failedAt) / 1000;
  console.log(`retry backoff: a failed first receive is back after ${gap.toFixed(1)} s (visibility timeout 300 s)`);
  expect(again.MessageId).toBe(m.MessageId);
  // 5 s (retryDelaySeconds(1); growth per receive: test/unit/foundation/retry-delay.test.ts), give or take the receive's polling.
  expect(gap).toBeGreaterThanOrEqual(4);
  expect(gap).toBeLessThan(8);
});
