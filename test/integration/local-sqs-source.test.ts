/**
 * The local SQS event source behaves as Lambda's does in AWS, on an SQS server of its own (it is
 * restarted here): a message is handed over as soon as it arrives (the long poll is 20 s), a
 * source runs up to its maximumConcurrency invocations at once while a FIFO group stays ordered
 * and is held while one of its messages is in flight, an invocation the host dropped is retried while
 * its records stay in flight, a long poll answers empty only when its wait is over, and the queues
 * come back as declared when the SQS server restarts empty.
 */
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { freePort } from '../../infra/local/ports';
import { type LocalSqsServer, startSqsServer } from '../../infra/local/sqs-server';
import {
  type FunctionStub,
  type LocalSqsPluginClass,
  startFunctionStub,
  type StubRecord,
  workerService,
} from '../helpers/function-stub';
import { createFifoQueue } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';
import { at, get, only } from '../helpers/at';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the plugin is CommonJS without type declarations; `import` would need allowJs for the whole project
const LocalSqsPlugin = require('../../infra/serverless-local-sqs') as LocalSqsPluginClass;

jest.setTimeout(90_000);

let server: LocalSqsServer;
let client: SQSClient;
let fn: FunctionStub;
let plugin: { hooks: Record<'offline:start:init' | 'offline:start:end', () => Promise<void>> };

/** What the function saw: every record, and how many invocations ran at once at most. */
const seen: StubRecord[] = [];
let running = 0;
let maxRunning = 0;
/** Invocations wait for this while it is set (to hold several in flight at once). */
let gate: Promise<void> | undefined;
let openGate: () => void = () => undefined;
const groupsInFlight = new Map<string, number>();
let groupOverlap = 0;

const WORK = 'work.fifo';
const DLQ = 'work-dlq.fifo';

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
    for (const r of records) {
      const g = get(r.attributes, 'MessageGroupId', 'record attributes');
      groupsInFlight.set(g, (groupsInFlight.get(g) ?? 0) + 1);
      if (groupsInFlight.get(g)! > 1) groupOverlap++;
    }
    seen.push(...records);
    // The first invocation carrying 'drop-once' is dropped by the host, unanswered.
    const drop = records.some((r) => r.body === 'drop-once') && seen.filter((r) => r.body === 'drop-once').length === 1;
    if (!drop) await gate;
    for (const r of records) {
      const g = get(r.attributes, 'MessageGroupId', 'record attributes');
      groupsInFlight.set(g, groupsInFlight.get(g)! - 1);
    }
    running--;
    return drop ? 'reset' : { batchItemFailures: [] };
  });
  plugin = new LocalSqsPlugin(
    workerService({
      endpoint: server.endpoint,
      lambdaPort: fn.port,
      queue: WORK,
      dlq: DLQ,
      visibilityTimeout: 30,
      maxReceiveCount: 3,
      event: { batchSize: 1, maximumConcurrency: 3 },
      fn: { reservedConcurrency: 3 },
    }),
  );
  await plugin.hooks['offline:start:init']();
});

afterAll(async () => {
  openGate();
  await plugin?.hooks['offline:start:end']();
  fn?.close();
  client?.destroy();
  await server?.stop();
});

let n = 0;
async function send(body: string, group: string): Promise<void> {
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: WORK }));
  await client.send(
    new SendMessageCommand({ QueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: `d${n++}` }),
  );
}
const bodies = () => seen.map((r) => r.body);

test('a message reaches the function as soon as it arrives, not when the 20 s long poll ends', async () => {
  await send('first', 'a');
  await waitFor(() => bodies().includes('first'), { timeoutMs: 5000, what: 'the message to reach the function' });
});

test('up to maximumConcurrency invocations at once; a FIFO group is never in two invocations and keeps its order', async () => {
  gate = new Promise((resolve) => {
    openGate = resolve;
  });
  for (let i = 1; i <= 4; i++) await send(`g${i}`, 'g');
  for (let i = 1; i <= 4; i++) await send(`other${i}`, `o${i}`);
  // Three pollers, so three invocations held at the gate.
  await waitFor(() => running === 3, { what: '3 invocations in flight' });
  openGate();
  gate = undefined;
  await waitFor(() => seen.length === 9, { timeoutMs: 20_000, what: 'every message to be handled' });
  expect(maxRunning).toBe(3);
  expect(groupOverlap).toBe(0);
  expect(bodies().filter((b) => b.startsWith('g'))).toEqual(['g1', 'g2', 'g3', 'g4']);
  expect(new Set(bodies())).toEqual(new Set(['first', 'g1', 'g2', 'g3', 'g4', 'other1', 'other2', 'other3', 'other4']));
});

test('an invocation the host dropped is retried at once while its records stay in flight (not after the visibility timeout)', async () => {
  await send('drop-once', 'd');
  // The visibility timeout is 30 s: a second delivery within 10 s can only be the retried invocation.
  await waitFor(() => bodies().filter((b) => b === 'drop-once').length === 2, {
    timeoutMs: 10_000,
    what: 'the dropped invocation to be retried',
  });
  const tries = seen.filter((r) => r.body === 'drop-once');
  // Both invocations carry the same receive: the message never went back to the queue.
  expect(tries.map((r) => r.attributes.ApproximateReceiveCount)).toEqual(['1', '1']);
  expect(at(tries, 0).messageId).toBe(at(tries, 1).messageId);
});

test('the SQS server holds a FIFO group while one of its messages is in flight, and hands several of a group in one receive', async () => {
  const url = await createFifoQueue('held.fifo', {}, client);
  const put = (body: string, group: string) =>
    client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: body,
        MessageGroupId: group,
        MessageDeduplicationId: `h${n++}`,
      }),
    );
  const receive = async (max: number) =>
    (await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: max, WaitTimeSeconds: 0 })))
      .Messages ?? [];
  await put('a1', 'a');
  await put('a2', 'a');
  await put('b1', 'b');
  const a1 = only(await receive(1), 'messages received');
  expect(a1.Body).toBe('a1');
  // a2 waits behind a1 in flight; b is free.
  expect((await receive(10)).map((m) => m.Body)).toEqual(['b1']);
  await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: a1.ReceiptHandle! }));
  expect((await receive(10)).map((m) => m.Body)).toEqual(['a2']);

  await put('c1', 'c');
  await put('c2', 'c');
  await put('c3', 'c');
  expect((await receive(10)).map((m) => m.Body)).toEqual(['c1', 'c2', 'c3']);
});

test('a long poll woken by a message another poll takes waits on for its own (AWS answers empty only when the wait is over)', async () => {
  const url = await createFifoQueue('woken.fifo', {}, client);
  const receive = async () =>
    (await client.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 20 })))
      .Messages ?? [];
  const put = (body: string) =>
    client.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: body, MessageGroupId: body, MessageDeduplicationId: body }),
    );
  // Two polls wait; the first message wakes both and only one can have it.
  const polls = [receive(), receive()];
  await put('first');
  const first = await Promise.race(polls);
  expect(first.map((m) => m.Body)).toEqual(['first']);
  // The other poll is still waiting (it did not answer empty): the next message is its.
  await put('second');
  const both = await Promise.all(polls);
  expect(both.map((ms) => ms.map((m) => m.Body)).sort()).toEqual([['first'], ['second']]);
});

test('the queues come back as declared when the SQS server restarts empty, and polling goes on', async () => {
  await server.restart();
  await waitFor(async () => (await client.send(new GetQueueUrlCommand({ QueueName: WORK }))).QueueUrl, {
    timeoutMs: 20_000,
    what: 'the event source to re-create its queue',
  });
  const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: WORK }));
  const attrs = (await client.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }))).Attributes!;
  const { QueueUrl: dlqUrl } = await client.send(new GetQueueUrlCommand({ QueueName: DLQ }));
  const dlqArn = (await client.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn;
  expect(attrs.FifoQueue).toBe('true');
  expect(attrs.VisibilityTimeout).toBe('30');
  expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({ deadLetterTargetArn: dlqArn, maxReceiveCount: 3 });

  await send('after-restart', 'r');
  await waitFor(() => bodies().includes('after-restart'), { timeoutMs: 10_000, what: 'delivery after the restart' });
});
