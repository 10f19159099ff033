/**
 * Operator commands for dead letters: `esi dlq <queue>` lists what a dead-letter queue holds
 * without consuming it, `esi redrive <queue>` moves it back to the queue it came from.
 * Both talk to the SQS named by ESI_SQS_ENDPOINT (locally) or AWS (credentials from the usual
 * AWS environment / profile).
 */
import { randomUUID } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListDeadLetterSourceQueuesCommand,
  ListQueuesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Command } from 'commander';
import { queueName, stage } from '../../shared/config';
import { decodeEventMessage } from '../../shared/events/etcd-event-message';
import { redactText } from '../../shared/log/redact';
import { sqsClient } from '../../shared/sqs/client';
import { definedOnly } from '../../shared/defined-only';

export interface ResolvedQueue {
  name: string;
  url: string;
  arn: string;
  fifo: boolean;
}

const nameOfUrl = (url: string) => url.slice(url.lastIndexOf('/') + 1);

/**
 * A queue by URL, by full name, or by the short name serverless.yml uses, FIFO or standard
 * (`config-dlq` → `esi-<stage>-config-dlq.fifo`, `heat-poll-dlq` → `esi-<stage>-heat-poll-dlq`;
 * stage from ESI_STAGE or --stage). A short name is tried as FIFO first, then as standard.
 */
export async function resolveQueue(client: SQSClient, arg: string, stageName?: string): Promise<ResolvedQueue> {
  const candidates = /^https?:\/\//.test(arg)
    ? []
    : [
        ...new Set([
          arg,
          queueName(arg.replace(/\.fifo$/, ''), stageName),
          queueName(arg.replace(/\.fifo$/, ''), stageName, { fifo: false }),
        ]),
      ];
  let url = /^https?:\/\//.test(arg) ? arg : undefined;
  for (const name of candidates) {
    if (url) break;
    try {
      url = (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
    } catch (err) {
      if (
        !/NonExistentQueue|QueueDoesNotExist|does not exist/i.test(`${(err as Error).name} ${(err as Error).message}`)
      )
        throw err;
    }
  }
  if (!url) throw new Error(`no queue named ${candidates.map((c) => `"${c}"`).join(' or ')}`);
  const attrs =
    (await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'FifoQueue'] })))
      .Attributes ?? {};
  return { name: nameOfUrl(url), url, arn: attrs.QueueArn ?? '', fifo: attrs.FifoQueue === 'true' };
}

/** The queues whose RedrivePolicy names dlq as their dead-letter queue. */
async function sourceQueuesOf(client: SQSClient, dlq: ResolvedQueue): Promise<string[]> {
  const urls: string[] = [];
  let NextToken: string | undefined;
  do {
    const res = await client.send(
      new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlq.url, NextToken, MaxResults: 1000 }),
    );
    urls.push(...(res.queueUrls ?? []));
    NextToken = res.NextToken;
  } while (NextToken);
  return urls;
}

export interface DeadLetter {
  messageId: string;
  receiveCount: number;
  firstReceived?: string;
  sent?: string;
  group?: string;
  /** The event message (key, revision, type), or undefined when the body is not one. */
  event?: { key: string; modRevision: number; type: string };
  /** The body when it is not an event message (secrets masked, cut at 200 characters). */
  body?: string;
}

const iso = (ms: string | undefined) => (ms && Number(ms) > 0 ? new Date(Number(ms)).toISOString() : undefined);

function describe(m: Message): DeadLetter {
  const a = m.Attributes ?? {};
  const d: DeadLetter = definedOnly({
    messageId: m.MessageId ?? '',
    receiveCount: Number(a.ApproximateReceiveCount ?? 0),
    firstReceived: iso(a.ApproximateFirstReceiveTimestamp),
    sent: iso(a.SentTimestamp),
    group: a.MessageGroupId,
  });
  try {
    d.event = decodeEventMessage(m.Body ?? '');
  } catch {
    const text = redactText(m.Body ?? '');
    d.body = text.length > 200 ? `${text.slice(0, 200)}…` : text;
  }
  return d;
}

const receive = (client: SQSClient, url: string, visibility: number, waitSeconds: number, max = 10) =>
  client
    .send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(Math.max(max, 1), 10),
        VisibilityTimeout: visibility,
        WaitTimeSeconds: waitSeconds,
        AttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    )
    .then((r) => r.Messages ?? []);

/** Makes messages visible again at once (they were only looked at). */
async function release(client: SQSClient, url: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
      }),
    );
  }
}

async function approximateCount(client: SQSClient, url: string): Promise<number> {
  const a =
    (
      await client.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
      )
    ).Attributes ?? {};
  return Number(a.ApproximateNumberOfMessages ?? 0);
}

/**
 * Lists the messages on a queue without consuming them: each is received with a short
 * visibility timeout (so the next receive returns the next ones), then made visible again.
 */
export async function listDeadLetters(
  client: SQSClient,
  queue: ResolvedQueue,
  opts: { max: number; visibility: number; waitSeconds: number },
): Promise<{ letters: DeadLetter[]; approximate: number }> {
  const approximate = await approximateCount(client, queue.url);
  const held: Message[] = [];
  try {
    while (held.length < opts.max) {
      const batch = await receive(client, queue.url, opts.visibility, opts.waitSeconds, opts.max - held.length);
      if (!batch.length) break;
      held.push(...batch);
    }
  } finally {
    await release(client, queue.url, held);
  }
  return { letters: held.map(describe), approximate };
}

export interface RedriveResult {
  from: string;
  to: string;
  moved: number;
  failed: number;
}

/**
 * Moves every message from a dead-letter queue to target: send first, delete from the DLQ only
 * what the target accepted. FIFO: the message group is kept and the deduplication id is fresh
 * (the original one may still be inside SQS's 5-minute window at the target, which would drop
 * the message silently). A message whose send failed stays in the DLQ and is counted.
 */
export async function redrive(
  client: SQSClient,
  dlq: ResolvedQueue,
  target: ResolvedQueue,
  opts: { max: number; visibility: number; waitSeconds: number },
): Promise<RedriveResult> {
  const result: RedriveResult = { from: dlq.name, to: target.name, moved: 0, failed: 0 };
  while (result.moved + result.failed < opts.max) {
    const batch = await receive(
      client,
      dlq.url,
      opts.visibility,
      opts.waitSeconds,
      opts.max - result.moved - result.failed,
    );
    if (!batch.length) break;
    const sent = await client
      .send(
        new SendMessageBatchCommand({
          QueueUrl: target.url,
          Entries: batch.map((m, i) => ({
            Id: String(i),
            MessageBody: m.Body!,
            MessageAttributes: m.MessageAttributes,
            ...(target.fifo
              ? { MessageGroupId: m.Attributes?.MessageGroupId ?? 'redrive', MessageDeduplicationId: randomUUID() }
              : {}),
          })),
        }),
      )
      .catch((err: Error) => ({
        Successful: [],
        Failed: batch.map((_, i) => ({ Id: String(i), Code: err.name, Message: err.message, SenderFault: false })),
      }));
    const ok = new Set((sent.Successful ?? []).map((s) => s.Id));
    const done = batch.filter((_, i) => ok.has(String(i)));
    if (done.length) {
      const del = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: dlq.url,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      // Sent but still in the DLQ: it will be moved again by the next redrive (consumers are idempotent).
      for (const f of del.Failed ?? [])
        process.stderr.write(
          `warning: ${done[Number(f.Id)]?.MessageId ?? `entry ${f.Id}`} was sent to ${target.name} but could not be deleted from ${dlq.name}: ${f.Message}\n`,
        );
    }
    for (const f of sent.Failed ?? [])
      process.stderr.write(
        `could not send ${batch[Number(f.Id)]?.MessageId ?? `entry ${f.Id}`} to ${target.name}: ${f.Code} ${f.Message ?? ''}\n`,
      );
    result.moved += done.length;
    result.failed += batch.length - done.length;
    // A message that failed stays invisible for the visibility timeout, so this loop ends.
  }
  return result;
}

/** Runs fn with the SQS client and releases its connections after, so the command exits promptly. */
async function withSqs<T>(fn: (client: SQSClient) => Promise<T>): Promise<T> {
  const client = sqsClient();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

interface CommonOptions {
  stage?: string;
  max: string;
  wait: string;
}
const positive = (v: string, name: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${v}"`);
  return n;
};

/** Every dead-letter queue of the stage with how many messages SQS reports in it. */
export async function deadLetterQueues(
  client: SQSClient,
  stageName = stage(),
): Promise<{ name: string; messages: number }[]> {
  const prefix = `esi-${stageName}-`;
  const urls: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(new ListQueuesCommand({ QueueNamePrefix: prefix, NextToken, MaxResults: 1000 }));
    urls.push(...(page.QueueUrls ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  const dlqs = urls.filter((u) => /-dlq(\.fifo)?$/.test(nameOfUrl(u))).sort();
  return Promise.all(
    dlqs.map(async (url) => {
      const attrs = await client.send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      const n = (k: 'ApproximateNumberOfMessages' | 'ApproximateNumberOfMessagesNotVisible') =>
        Number(attrs.Attributes?.[k] ?? 0);
      return {
        name: nameOfUrl(url),
        messages: n('ApproximateNumberOfMessages') + n('ApproximateNumberOfMessagesNotVisible'),
      };
    }),
  );
}

export function registerQueueCommands(program: Command): void {
  program
    .command('dlq [queue]')
    .description('list the messages in a dead-letter queue without consuming them')
    .option('--stage <stage>', 'stage for short queue names (default: ESI_STAGE or dev)')
    .option('--max <n>', 'list at most n messages', '1000')
    .option('--wait <seconds>', 'long-poll wait per receive', '1')
    .option('--visibility <seconds>', 'how long each message is hidden while the listing runs', '60')
    .option('--json', 'one JSON object per message')
    .addHelpText(
      'after',
      `
Without <queue>: every dead-letter queue of the stage and how many messages each holds.
<queue> is a queue URL, a queue name, or the short name from serverless.yml
(config-dlq -> esi-<stage>-config-dlq.fifo, heat-poll-dlq -> esi-<stage>-heat-poll-dlq).

Each message is received with a short visibility timeout and made visible again at the end, so
nothing is consumed; a listing still counts as one receive of each message. A message says only
which etcd key changed (key, revision, type): why it failed is in the function's logs (filter on
resource_key) and in /state/<path> (esi get /state/...). Fix the cause, then \`esi redrive\`.`,
    )
    .action((arg: string | undefined, opts: DlqOptions) => withSqs((client) => listDlq(client, arg, opts)));

  program
    .command('redrive <queue>')
    .description('move every message from a dead-letter queue back to its source queue')
    .option('--to <queue>', 'the queue to move them to (default: the queue whose redrive policy names this one)')
    .option('--stage <stage>', 'stage for short queue names (default: ESI_STAGE or dev)')
    .option('--max <n>', 'move at most n messages', '100000')
    .option('--wait <seconds>', 'long-poll wait per receive', '1')
    .addHelpText(
      'after',
      `
<queue> and --to take a queue URL, a queue name, or the short name from serverless.yml
(config-dlq -> esi-<stage>-config-dlq.fifo, heat-poll-dlq -> esi-<stage>-heat-poll-dlq).

Run it after fixing what made the messages fail. Each message is sent to the source queue first
and deleted from the dead-letter queue only once the send succeeded; a message that could not be
sent stays in the dead-letter queue and is counted as failed (exit code 1). FIFO queues keep the
message group (the etcd key, so its changes stay in order) with a fresh deduplication id.

Redriving is safe because every consumer is idempotent and level-triggered: a message only names
a key; the function reads the key as it is now, and a change already applied is a no-op. A
message redriven twice, or one whose key has changed since, does no harm.`,
    )
    .action((arg: string, opts: RedriveOptions) => withSqs((client) => redriveDlq(client, arg, opts)));
}

type DlqOptions = CommonOptions & { visibility: string; json?: boolean };
type RedriveOptions = CommonOptions & { to?: string };

/** `esi dlq [queue]`: the stage's dead-letter queues, or one queue's messages, none consumed. */
async function listDlq(client: SQSClient, arg: string | undefined, opts: DlqOptions): Promise<void> {
  if (arg === undefined) {
    const dlqs = await deadLetterQueues(client, opts.stage);
    if (!dlqs.length) throw new Error(`no dead-letter queue named esi-${opts.stage ?? stage()}-*-dlq in this SQS`);
    for (const q of dlqs)
      process.stdout.write(opts.json ? `${JSON.stringify(q)}\n` : `${String(q.messages).padStart(6)}  ${q.name}\n`);
    process.stderr.write('esi dlq <queue> lists the messages of one queue\n');
    return;
  }
  const queue = await resolveQueue(client, arg, opts.stage);
  const { letters, approximate } = await listDeadLetters(client, queue, {
    max: positive(opts.max, '--max'),
    visibility: positive(opts.visibility, '--visibility') || 1,
    waitSeconds: positive(opts.wait, '--wait'),
  });
  for (const d of letters) {
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(d)}\n`);
      continue;
    }
    const what = d.event
      ? `${d.event.type} ${d.event.key} @${d.event.modRevision}`
      : `(not an event message) ${d.body}`;
    process.stdout.write(
      `${d.messageId}  received ${d.receiveCount}x  first received ${d.firstReceived ?? '-'}  ${what}\n`,
    );
  }
  process.stderr.write(
    `${letters.length} message(s) in ${queue.name}${letters.length < approximate ? ` (SQS reports about ${approximate}; the rest were in flight or beyond --max)` : ''}\n`,
  );
}

/** `esi redrive <queue>`: every message back to its source queue (or --to). */
async function redriveDlq(client: SQSClient, arg: string, opts: RedriveOptions): Promise<void> {
  const dlq = await resolveQueue(client, arg, opts.stage);
  let target: ResolvedQueue;
  if (opts.to) {
    target = await resolveQueue(client, opts.to, opts.stage);
  } else {
    const sources = await sourceQueuesOf(client, dlq);
    const [source] = sources;
    if (source === undefined || sources.length !== 1) {
      throw new Error(
        sources.length
          ? `${dlq.name} is the dead-letter queue of ${sources.length} queues (${sources.map(nameOfUrl).join(', ')}): choose one with --to`
          : `no queue names ${dlq.name} as its dead-letter queue: give the target with --to`,
      );
    }
    target = await resolveQueue(client, source);
  }
  if (target.url === dlq.url) throw new Error('the source and the target are the same queue');
  const res = await redrive(client, dlq, target, {
    max: positive(opts.max, '--max'),
    visibility: 60,
    waitSeconds: positive(opts.wait, '--wait'),
  });
  process.stdout.write(
    `moved ${res.moved} message(s) from ${res.from} to ${res.to}${res.failed ? `; ${res.failed} failed and stay in ${res.from}` : ''}\n`,
  );
  if (res.failed) process.exitCode = 1;
}
