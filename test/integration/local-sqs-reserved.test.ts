/**
 * The local SQS event source keeps a function within its reserved concurrency, as Lambda does:
 * with more pollers than that (a source's maximumConcurrency above the function's reserved
 * concurrency), the batches received beyond it wait, in flight, for a running invocation to end,
 * so serverless-offline never runs (and starts instances for) more invocations at once.
 */
import { GetQueueAttributesCommand, GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { freePort } from '../../infra/local/ports';
import { type LocalSqsServer, startSqsServer } from '../../infra/local/sqs-server';
import {
  type FunctionStub,
  type LocalSqsPluginClass,
  startFunctionStub,
  workerService,
} from '../helpers/function-stub';
import { waitFor } from '../helpers/wait';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the plugin is CommonJS without type declarations; `import` would need allowJs for the whole project
const LocalSqsPlugin = require('../../infra/serverless-local-sqs') as LocalSqsPluginClass;

jest.setTimeout(90_000);

const WORK = 'reserved.fifo';
let server: LocalSqsServer;
let client: SQSClient;
let fn: FunctionStub;
let plugin: { hooks: Record<'offline:start:init' | 'offline:start:end', () => Promise<void>> } | undefined;
const handled: string[] = [];
let running = 0;
let maxRunning = 0;
let openGate: () => void = () => undefined;
const gate = new Promise<void>((resolve) => {
  openGate = resolve;
});

beforeAll(async () => {
  server = await startSqsServer(await freePort());
  client = new SQSClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  fn = await startFunctionStub(async (records) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await gate;
    handled.push(...records.map((r) => r.body));
    running--;
    return { batchItemFailures: [] };
  });
});

afterAll(async () => {
  openGate();
  await plugin?.hooks['offline:start:end']();
  fn?.close();
  client?.destroy();
  await server?.stop();
});

test('four pollers, reserved concurrency 2: two invocations at once while the other two batches wait in flight', async () => {
  plugin = new LocalSqsPlugin(
    workerService({
      endpoint: server.endpoint,
      lambdaPort: fn.port,
      queue: WORK,
      dlq: 'reserved-dlq.fifo',
      visibilityTimeout: 60,
      maxReceiveCount: 3,
      event: { batchSize: 1, maximumConcurrency: 4 },
      fn: { reservedConcurrency: 2 },
    }),
  );
  await plugin.hooks['offline:start:init']();
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: WORK }));
  const bodies = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'];
  for (const [i, body] of bodies.entries())
    await client.send(
      new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: `g${i}`, MessageDeduplicationId: body }),
    );
  const inFlight = async () =>
    Number(
      (
        await client.send(
          new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }),
        )
      ).Attributes?.ApproximateNumberOfMessagesNotVisible,
    );
  // Every poller holds a batch: two are being handled, two wait for a free slot.
  await waitFor(async () => running === 2 && (await inFlight()) === 4, {
    what: '2 invocations running and 4 messages in flight',
  });
  expect(maxRunning).toBe(2);
  openGate();
  await waitFor(() => handled.length === bodies.length, { timeoutMs: 20_000, what: 'every message to be handled' });
  expect(maxRunning).toBe(2);
  expect([...handled].sort()).toEqual(bodies);
});
