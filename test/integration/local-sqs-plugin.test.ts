/**
 * The local SQS event source (infra/serverless-local-sqs) against the real SQS server: queues as
 * declared, partial batch failures kept, thrown errors kept, redrive to the DLQ. The function is
 * a stand-in behind Lambda's Invoke API on loopback, so each outcome can be chosen per message.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand, SendMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../../shared/sqs/client';
import { waitFor } from '../helpers/wait';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const LocalSqsPlugin = require('../../infra/serverless-local-sqs');

interface Invocation {
  bodies: string[];
}
const invocations: Invocation[] = [];
let lambda: http.Server;
let plugin: { hooks: Record<string, () => Promise<void>> };

/** Per body: 'ok' succeeds, 'fail' is reported in batchItemFailures, 'throw' fails the invocation. */
function startFunction(): Promise<number> {
  lambda = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const event = JSON.parse(raw) as { Records: { messageId: string; body: string }[] };
      invocations.push({ bodies: event.Records.map((r) => r.body) });
      if (event.Records.some((r) => r.body === 'throw')) {
        res.writeHead(200, { 'X-Amz-Function-Error': 'Unhandled', 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ errorType: 'Error', errorMessage: 'boom' }));
        return;
      }
      const failures = event.Records.filter((r) => r.body === 'fail').map((r) => ({ itemIdentifier: r.messageId }));
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ batchItemFailures: failures }));
    });
  });
  return new Promise((resolve) => lambda.listen(0, '127.0.0.1', () => resolve((lambda.address() as AddressInfo).port)));
}

const run = `plug${Date.now()}`;
const queueName = `${run}.fifo`;
const dlqName = `${run}-dlq.fifo`;

beforeAll(async () => {
  const port = await startFunction();
  plugin = new LocalSqsPlugin({
    service: {
      service: 'esi',
      provider: { stage: 'it', region: 'us-east-1' },
      custom: { localSqs: { endpoint: process.env.ESI_SQS_ENDPOINT, waitTimeSeconds: 1, lambdaPort: port } },
      functions: {
        worker: {
          timeout: 1,
          events: [
            {
              sqs: {
                arn: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
                batchSize: 5,
                functionResponseType: 'ReportBatchItemFailures',
              },
            },
          ],
        },
      },
      resources: {
        Resources: {
          // Visibility above the poll's wait: this SQS server holds a poll for its whole wait.
          WorkQueue: {
            Type: 'AWS::SQS::Queue',
            Properties: {
              QueueName: queueName,
              FifoQueue: true,
              VisibilityTimeout: 3,
              RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': ['WorkDLQ', 'Arn'] }, maxReceiveCount: 2 },
            },
          },
          WorkDLQ: { Type: 'AWS::SQS::Queue', Properties: { QueueName: dlqName, FifoQueue: true } },
        },
      },
    },
  });
  await plugin.hooks['offline:start:init']();
});

afterAll(async () => {
  await plugin.hooks['offline:start:end']();
  lambda.close();
  sqsClient().destroy();
});

const url = async (name: string) => (await sqsClient().send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;
const send = async (body: string, group: string) =>
  sqsClient().send(
    new SendMessageCommand({
      QueueUrl: await url(queueName),
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: `${group}-${body}-${Math.random()}`,
    }),
  );

async function deadLettersUntil(count: number): Promise<string[]> {
  const dlq = await url(dlqName);
  const got: string[] = [];
  await waitFor(
    async () => {
      const res = await sqsClient().send(
        new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      got.push(...(res.Messages ?? []).map((m) => m.Body!));
      return got.length >= count;
    },
    { timeoutMs: 30_000, what: 'dead letters' },
  );
  return got;
}

const deliveries = (body: string) => invocations.flatMap((i) => i.bodies).filter((b) => b === body).length;

test('a success is deleted; a reported failure comes back and is dead-lettered after maxReceiveCount', async () => {
  await send('ok', 'g1');
  await send('fail', 'g2');
  expect(await deadLettersUntil(1)).toEqual(['fail']);
  expect(deliveries('ok')).toBe(1);
  expect(deliveries('fail')).toBe(2);
});

test('a thrown invocation keeps every record of its batch; they are redelivered, then dead-lettered', async () => {
  await send('throw', 'g3');
  expect(await deadLettersUntil(1)).toEqual(['throw']);
  expect(deliveries('throw')).toBe(2);
});
