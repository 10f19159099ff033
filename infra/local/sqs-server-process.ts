/**
 * The local SQS server process: fauxqs (SQS's JSON protocol with FIFO message groups held while
 * one of their messages is in flight, deduplication, visibility, DLQ redrive, and long polls
 * answered as soon as a message arrives), bound to loopback.
 *
 * Where fauxqs differs from AWS, this process makes it behave as AWS does:
 * - fauxqs accepts any MessageGroupId / MessageDeduplicationId; AWS refuses ids outside 1-128
 *   characters of alphanumerics and punctuation, and so does this server;
 * - fauxqs hands out one message per FIFO message group per receive; AWS returns several of a
 *   group in one batch (in order), and holds the group until they are deleted or visible again.
 *   dequeueFifo is wrapped to do the same (fifoManyPerGroup);
 * - fauxqs wakes every waiting long poll of a queue when a message arrives, and those that find
 *   nothing (another poll took it) answer empty at once; an AWS long poll answers empty only
 *   when its wait time is over. Here a long poll woken for a message it cannot have waits on
 *   (longPollsWaitForTheirOwn), so one message costs one answered receive, not one per poller;
 * - fauxqs has no ListDeadLetterSourceQueues (`esi redrive` finds a DLQ's source with it): it is
 *   answered here from the queues' RedrivePolicy.
 *
 * Usage: node --import tsx infra/local/sqs-server-process.ts <port>
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** The part of fauxqs's Fastify app used here (its own typings do not resolve from this package). */
interface Reply {
  status(code: number): Reply;
  header(name: string, value: string): Reply;
  send(payload: object): Reply;
}
interface Request {
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}
interface App {
  addHook(name: 'preHandler', hook: (req: Request, reply: Reply) => Promise<Reply | undefined>): void;
  inject(req: {
    method: string;
    url: string;
    headers: Record<string, string>;
    payload: string;
  }): Promise<{ statusCode: number; json(): unknown }>;
  listen(opts: { port: number; host: string }): Promise<string>;
  close(): Promise<void>;
}

/** What AWS accepts in MessageGroupId and MessageDeduplicationId. */
export const SQS_ID_PATTERN = /^[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]{1,128}$/;

interface SendEntry {
  MessageGroupId?: unknown;
  MessageDeduplicationId?: unknown;
}

/** The first id of a SendMessage(Batch) request that AWS would refuse, as an error message. */
export function refusedId(action: string, body: unknown): string | undefined {
  const entries: SendEntry[] =
    action === 'SendMessage'
      ? [body as SendEntry]
      : action === 'SendMessageBatch'
        ? ((body as { Entries?: SendEntry[] })?.Entries ?? [])
        : [];
  for (const e of entries) {
    for (const field of ['MessageGroupId', 'MessageDeduplicationId'] as const) {
      const v = e?.[field];
      if (v !== undefined && (typeof v !== 'string' || !SQS_ID_PATTERN.test(v)))
        return `Value ${JSON.stringify(v)} for parameter ${field} is invalid. Reason: ${field} can only include alphanumeric and punctuation characters. 1 to 128 in length.`;
    }
  }
  return undefined;
}

const JSON_TYPE = 'application/x-amz-json-1.0';

/** One SQS call to the server itself; throws the server's answer when it is an error. */
async function call(app: App, action: string, body: object): Promise<Record<string, unknown>> {
  const res = await app.inject({
    method: 'POST',
    url: '/',
    headers: { 'content-type': JSON_TYPE, 'x-amz-target': `AmazonSQS.${action}` },
    payload: JSON.stringify(body),
  });
  const doc = res.json() as Record<string, unknown>;
  if (res.statusCode >= 400) throw Object.assign(new Error(String(doc.message)), { status: res.statusCode, doc });
  return doc;
}

/** The queues whose RedrivePolicy names the queue at QueueUrl as their dead-letter queue. */
async function deadLetterSourceQueues(app: App, body: { QueueUrl?: string }): Promise<object> {
  const { Attributes } = (await call(app, 'GetQueueAttributes', {
    QueueUrl: body.QueueUrl,
    AttributeNames: ['QueueArn'],
  })) as { Attributes: { QueueArn: string } };
  const target = (policy: string) => (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn;
  const { QueueUrls = [] } = (await call(app, 'ListQueues', { MaxResults: 1000 })) as { QueueUrls?: string[] };
  const queueUrls: string[] = [];
  for (const url of QueueUrls) {
    const attrs = (await call(app, 'GetQueueAttributes', { QueueUrl: url, AttributeNames: ['RedrivePolicy'] }))
      .Attributes as { RedrivePolicy?: string };
    if (attrs.RedrivePolicy && target(attrs.RedrivePolicy) === Attributes.QueueArn) queueUrls.push(url);
  }
  return { queueUrls };
}

interface Received {
  ReceiptHandle: string;
}
interface FifoQueue {
  fifoLockedGroups: Map<string, number>;
  inflightMessages: Map<string, { message: { messageGroupId?: string } }>;
  dequeueFifo: (this: FifoQueue, maxCount: number, visibility: number | undefined, dlqResolver: unknown) => Received[];
}

/** fauxqs's queue class (dist/sqs/sqsStore.js), loaded by file: the package exports only its app. */
async function queueClass<T>(): Promise<{ prototype: T }> {
  const file = path.join(__dirname, '..', '..', 'node_modules', 'fauxqs', 'dist', 'sqs', 'sqsStore.js');
  return ((await import(pathToFileURL(file).href)) as { SqsQueue: { prototype: T } }).SqsQueue;
}

interface WaitingQueue {
  messages: unknown[];
  fifoMessages: Map<string, unknown[]>;
  fifoLockedGroups: Map<string, number>;
  isFifo(): boolean;
  dequeue: (this: WaitingQueue, maxCount: number, ...rest: unknown[]) => unknown[];
  waitForMessages: (this: WaitingQueue, seconds: number) => Promise<void>;
}

/** Per queue: the batch size of the receive about to wait, and the messages promised to woken polls. */
const waiting = new WeakMap<WaitingQueue, { batch: number; promised: number }>();

/**
 * Whether a receive could take more than `promised` messages now: visible ones; for a FIFO queue,
 * those of groups not held. (What became visible by time is moved by fauxqs's own timer, which
 * then wakes the polls again; calling it from here would wake the other polls from each woken one.)
 */
function moreThan(q: WaitingQueue, promised: number): boolean {
  if (!q.isFifo()) return q.messages.length > promised;
  let n = 0;
  for (const [group, msgs] of q.fifoMessages)
    if (!q.fifoLockedGroups.has(group) && (n += msgs.length) > promised) return true;
  return false;
}

/**
 * A long poll answers empty only when its wait time is over, as in AWS. fauxqs wakes every poll
 * waiting on a queue when a message arrives; each woken poll is promised up to its batch of the
 * messages it could take (the promise lasts until the receives woken with it have dequeued, i.e.
 * the next turn of the event loop), and a poll woken with nothing left to promise waits again for
 * the rest of its time. The receive action calls dequeue (empty) just before it waits, which is
 * where its batch size is learnt.
 */
async function longPollsWaitForTheirOwn(): Promise<void> {
  const { prototype } = await queueClass<WaitingQueue>();
  const { dequeue, waitForMessages } = prototype;
  const stateOf = (q: WaitingQueue) => {
    let s = waiting.get(q);
    if (!s) waiting.set(q, (s = { batch: 10, promised: 0 }));
    return s;
  };
  prototype.dequeue = function (maxCount, ...rest) {
    stateOf(this).batch = Math.min(Math.max(Number(maxCount) || 1, 1), 10);
    return dequeue.call(this, maxCount, ...rest);
  };
  prototype.waitForMessages = async function (seconds) {
    const s = stateOf(this);
    const batch = s.batch;
    const deadline = Date.now() + seconds * 1000;
    for (let left = seconds * 1000; left > 0; left = deadline - Date.now()) {
      await waitForMessages.call(this, left / 1000);
      if (moreThan(this, s.promised)) {
        s.promised += batch;
        setImmediate(() => (s.promised -= batch));
        return;
      }
    }
  };
}

/**
 * Lets one receive take several messages of a message group, as AWS does: the wrapped dequeue is
 * repeated with the groups this receive locked itself unlocked for the next round, so each round
 * takes the next message of every group still free. Groups held by earlier receives stay held.
 * The batch lists each group's messages together, in order, as AWS does.
 */
async function fifoManyPerGroup(): Promise<void> {
  const SqsQueue = await queueClass<FifoQueue>();
  const { dequeueFifo: dequeueOne } = SqsQueue.prototype;
  SqsQueue.prototype.dequeueFifo = function (this: FifoQueue, maxCount, visibility, dlqResolver) {
    const limit = Math.min(maxCount, 10);
    const heldBefore = new Set(this.fifoLockedGroups.keys());
    const out: Received[] = [];
    while (out.length < limit) {
      const mine = [...this.fifoLockedGroups].filter(([g]) => !heldBefore.has(g));
      for (const [g] of mine) this.fifoLockedGroups.delete(g);
      const got = dequeueOne.call(this, limit - out.length, visibility, dlqResolver);
      for (const [g, n] of mine) this.fifoLockedGroups.set(g, (this.fifoLockedGroups.get(g) ?? 0) + n);
      if (!got.length) break;
      out.push(...got);
    }
    const group = (r: Received) => this.inflightMessages.get(r.ReceiptHandle)?.message.messageGroupId ?? '';
    const firstSeen = new Map<string, number>();
    out.forEach((r, i) => firstSeen.set(group(r), firstSeen.get(group(r)) ?? i));
    return out
      .map((r, i) => ({ r, i }))
      .sort((a, b) => firstSeen.get(group(a.r))! - firstSeen.get(group(b.r))! || a.i - b.i)
      .map(({ r }) => r);
  };
}

async function main(): Promise<void> {
  const port = Number(process.argv[2]);
  if (!Number.isInteger(port) || port <= 0) throw new Error('usage: sqs-server-process.ts <port>');
  await fifoManyPerGroup();
  await longPollsWaitForTheirOwn();
  const fauxqs = (await import('fauxqs')) as { buildApp(opts: { logger: boolean; host: string }): unknown };
  const app = fauxqs.buildApp({ logger: false, host: 'localhost' }) as App;
  app.addHook('preHandler', async (req, reply) => {
    const target = req.headers['x-amz-target'];
    if (typeof target !== 'string') return undefined;
    const action = target.replace('AmazonSQS.', '');
    if (action === 'ListDeadLetterSourceQueues') {
      try {
        return reply.header('content-type', JSON_TYPE).send(await deadLetterSourceQueues(app, req.body as object));
      } catch (err) {
        const e = err as { status?: number; doc?: object };
        return reply
          .status(e.status ?? 500)
          .header('content-type', JSON_TYPE)
          .send(e.doc ?? { message: String(err) });
      }
    }
    const message = refusedId(action, req.body);
    if (!message) return undefined;
    return reply
      .status(400)
      .header('content-type', JSON_TYPE)
      .header('x-amzn-query-error', 'InvalidParameterValue;Sender')
      .send({ __type: 'com.amazonaws.sqs#InvalidParameterValue', message });
  });
  await app.listen({ port, host: '127.0.0.1' });
  const stop = () => void app.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`SQS server failed: ${(err as Error).stack}\n`);
    process.exit(1);
  });
}
