/**
 * The local SQS event source (infra/serverless-local-sqs) against the real SQS server: queues as
 * declared, partial batch failures kept, thrown errors kept, redrive to the DLQ. The function is
 * a stand-in behind Lambda's Invoke API on loopback, so each outcome can be chosen per message.
 */
import { ReceiveMessageCommand, SendMessageCommand, GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../../shared/sqs/client';
import {
  type FunctionStub,
  type LocalSqsPluginClass,
  startFunctionStub,
  workerService,
} from '../helpers/function-stub';
import { waitFor } from '../helpers/wait';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the plugin is CommonJS without type declarations; `import` would need allowJs for the whole project
const LocalSqsPlugin = require('../../infra/serverless-local-sqs') as LocalSqsPluginClass;

interface Invocation {
  bodies: string[];
}
const invocations: Invocation[] = [];
let lambda: FunctionStub;
let plugin: { hooks: Record<'offline:start:init' | 'offline:start:end', () => Promise<void>> };

/** Per body: 'ok' succeeds, 'fail' is reported in batchItemFailures, 'throw' fails the invocation. */
function startFunction(): Promise<FunctionStub> {
  return startFunctionStub((records) => {
    invocations.push({ bodies: records.map((r) => r.body) });
    if (records.some((r) => r.body === 'throw')) return 'throw';
    return {
      batchItemFailures: records.filter((r) => r.body === 'fail').map((r) => ({ itemIdentifier: r.messageId })),
    };
  });
}

const run = `plug${Date.now()}`;
const queueName = `${run}.fifo`;
const dlqName = `${run}-dlq.fifo`;

beforeAll(async () => {
  lambda = await startFunction();
  plugin = new LocalSqsPlugin(
    workerService({
      endpoint: process.env.ESI_SQS_ENDPOINT!,
      lambdaPort: lambda.port,
      waitTimeSeconds: 1,
      queue: queueName,
      dlq: dlqName,
      visibilityTimeout: 3,
      maxReceiveCount: 2,
      event: { batchSize: 5 },
      fn: { timeout: 1 },
    }),
  );
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
