import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { type EtcdEventMessage, encodeEventMessage } from '../../shared/events/etcd-event-message';

let n = 0;

export const FIFO_QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:test.fifo';
export const STANDARD_QUEUE_ARN = 'arn:aws:sqs:us-east-1:000000000000:test-poll';

/** An SQS record as Lambda delivers it, from a FIFO queue unless another queue's ARN is given. */
export function sqsRecord(body: EtcdEventMessage | string, receiveCount = 1, queueArn = FIFO_QUEUE_ARN): SQSRecord {
  n++;
  const text = typeof body === 'string' ? body : encodeEventMessage(body);
  return {
    messageId: `m-${n}`,
    receiptHandle: `r-${n}`,
    body: text,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(Date.now()),
      SenderId: 'test',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      MessageGroupId: typeof body === 'string' ? 'g' : body.key,
      MessageDeduplicationId: `d-${n}`,
      SequenceNumber: String(n),
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}

export const sqsEvent = (...records: SQSRecord[]): SQSEvent => ({ Records: records });

export const lambdaContext = (functionName = 'test'): Context => ({
  callbackWaitsForEmptyEventLoop: false,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
  memoryLimitInMB: '512',
  awsRequestId: `req-${Date.now()}`,
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: 'local',
  getRemainingTimeInMillis: () => 30_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
