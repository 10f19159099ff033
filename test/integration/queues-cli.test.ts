/**
 * `esi dlq` and `esi redrive` against the real SQS server, run as the operator runs them
 * (node bin/esi.cjs …): a FIFO queue and its dead-letter queue named as serverless.yml names
 * them, messages dead-lettered by the queue's own redrive policy and put there directly.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import {
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { queueName } from '../../shared/config';
import { decodeEventMessage, encodeEventMessage, type EtcdEventMessage } from '../../shared/events/etcd-event-message';
import { sqsClient } from '../../shared/sqs/client';
import { createFifoQueue, queueArn } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

const ROOT = path.resolve(__dirname, '..', '..');
const stage = `q${Date.now()}`;
const client = sqsClient();
afterAll(() => client.destroy());

/** Runs the esi CLI in its own process (asynchronously: the SQS server may live in this process). */
function esi(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/esi.cjs'), ...args],
      { cwd: ROOT, env: { ...process.env, ESI_STAGE: stage }, timeout: 60_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A queue and its DLQ, as serverless.yml declares them (maxReceiveCount 1, short visibility). */
async function queuePair(name: string): Promise<{ url: string; dlqUrl: string; dlqName: string }> {
  const dlqName = queueName(`${name}-dlq`, stage);
  const dlqUrl = await createFifoQueue(dlqName);
  const url = await createFifoQueue(queueName(name, stage), {
    VisibilityTimeout: '1',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlqUrl), maxReceiveCount: 1 }),
  });
  return { url, dlqUrl, dlqName };
}

let n = 0;
const sendTo = (url: string, body: string, group: string) =>
  client.send(
    new SendMessageCommand({
      QueueUrl: url,
      MessageBody: body,
      MessageGroupId: group,
      MessageDeduplicationId: `d${n++}-${Date.now()}`,
    }),
  );
const event = (key: string, modRevision: number, type: EtcdEventMessage['type'] = 'put'): EtcdEventMessage => ({
  key,
  modRevision,
  type,
});

/** Receives (and leaves in flight for visibility seconds) what is visible on a queue, until expected. */
async function drain(url: string, expected: number, visibility = 30): Promise<Message[]> {
  const got: Message[] = [];
  await waitFor(
    async () => {
      const res = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: visibility,
          AttributeNames: ['All'],
          MessageSystemAttributeNames: ['All'],
        }),
      );
      got.push(...(res.Messages ?? []));
      return got.length >= expected;
    },
    { timeoutMs: 15_000, what: `${expected} messages` },
  );
  return got;
}

/** A receive as a consumer polls (the redrive policy acts on it); true when it got nothing. */
async function receiveNone(url: string): Promise<boolean> {
  const res = await client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }));
  return !res.Messages?.length;
}

async function counts(url: string): Promise<{ visible: number; inFlight: number }> {
  const a = (
    await client.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    )
  ).Attributes!;
  return {
    visible: Number(a.ApproximateNumberOfMessages) - Number(a.ApproximateNumberOfMessagesNotVisible),
    inFlight: Number(a.ApproximateNumberOfMessagesNotVisible),
  };
}

test('esi dlq lists dead letters (key, revision, type, receive count) and leaves them in the queue', async () => {
  const { url, dlqUrl } = await queuePair('config');
  // One message dead-lettered for real: received once, not deleted, visibility expires.
  const failing = event('/config/v2.0/networks/n-failing', 41);
  await sendTo(url, encodeEventMessage(failing), failing.key);
  await drain(url, 1, 1);
  // As in AWS, the move happens when a receive finds the message past maxReceiveCount.
  await waitFor(async () => (await receiveNone(url)) && (await counts(dlqUrl)).visible === 1, {
    timeoutMs: 15_000,
    what: 'the redrive policy to dead-letter the message',
  });
  // Three more put straight on the DLQ, one of them not an event message.
  await sendTo(dlqUrl, encodeEventMessage(event('/config/v2.0/ports/p1', 50)), '/config/v2.0/ports/p1');
  await sendTo(dlqUrl, encodeEventMessage(event('/config/v2.0/ports/p1', 52, 'delete')), '/config/v2.0/ports/p1');
  await sendTo(dlqUrl, '{"admin_password": "hunter2-secret"}', 'odd');

  const first = await esi('dlq', 'config-dlq', '--json', '--wait', '0');
  expect(first.code).toBe(0);
  const listed = first.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(listed.map((d) => d.event ?? null)).toEqual([
    failing,
    event('/config/v2.0/ports/p1', 50),
    event('/config/v2.0/ports/p1', 52, 'delete'),
    null,
  ]);
  for (const d of listed) expect(d.receiveCount).toBeGreaterThanOrEqual(1);
  expect(listed[0].group).toBe(failing.key);
  expect(listed[0].firstReceived).toMatch(/^\d{4}-\d\d-\d\dT/);
  expect(listed[3].body).not.toContain('hunter2-secret');
  expect(first.stderr).toContain(`4 message(s) in ${queueName('config-dlq', stage)}`);

  // Nothing consumed: all four are visible again at once, and a second listing sees them again.
  expect(await counts(dlqUrl)).toEqual({ visible: 4, inFlight: 0 });
  const second = (await esi('dlq', 'config-dlq', '--json', '--wait', '0')).stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  // The same messages (SQS keeps no order across message groups).
  type Listed = { messageId: string; receiveCount: number };
  const ids = (ls: Listed[]) => ls.map((d) => d.messageId).sort();
  expect(ids(second as Listed[])).toEqual(ids(listed as Listed[]));
  // A listing counts as a receive of each message (said in the help text).
  const before = new Map((listed as Listed[]).map((d) => [d.messageId, d.receiveCount]));
  for (const d of second as Listed[]) expect(d.receiveCount).toBeGreaterThan(before.get(d.messageId)!);
  const human = await esi('dlq', queueName('config-dlq', stage), '--wait', '0');
  expect(human.stdout).toMatch(/received \d+x {2}first received \S+ {2}put \/config\/v2\.0\/networks\/n-failing @41/);
  expect(human.stdout).toContain('delete /config/v2.0/ports/p1 @52');
  expect(human.stdout.trim().split('\n')).toHaveLength(4);
  expect(await counts(dlqUrl)).toEqual({ visible: 4, inFlight: 0 });
});

test('esi redrive moves every dead letter back to the queue that names the DLQ, keeping message groups', async () => {
  const { url, dlqUrl, dlqName } = await queuePair('work');
  const sent = [
    event('/config/v2.0/ports/a', 10),
    event('/config/v2.0/ports/b', 11),
    event('/config/v2.0/ports/a', 12),
    event('/config/v2.0/ports/a', 13, 'delete'),
  ];
  for (let i = 0; i < 4; i++) sent.push(event(`/config/v2.0/networks/n${i}`, 20 + i));
  // The relay's deduplication ids (key + revision): a redrive must not reuse them.
  for (const m of sent)
    await client.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: encodeEventMessage(m),
        MessageGroupId: m.key,
        MessageDeduplicationId: `${m.key}:${m.modRevision}`.replace(/[^\w-]/g, '_'),
      }),
    );
  // The same changes were already on the source queue minutes ago (same dedup ids): with the
  // original ids SQS would drop the redriven copies; consume them first.
  for (const m of sent.slice(0, 2))
    await client.send(
      new SendMessageCommand({
        QueueUrl: url,
        MessageBody: encodeEventMessage(m),
        MessageGroupId: m.key,
        MessageDeduplicationId: `${m.key}:${m.modRevision}`.replace(/[^\w-]/g, '_'),
      }),
    );
  const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
  for (const m of await drain(url, 2))
    await client.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));

  const res = await esi('redrive', 'work-dlq', '--wait', '0');
  expect(res.stderr).not.toMatch(/could not|warning: /);
  expect(res.code).toBe(0);
  expect(res.stdout).toBe(`moved 8 message(s) from ${dlqName} to ${queueName('work', stage)}\n`);
  expect(await counts(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });

  const back = await drain(url, 8);
  const got = back.map((m) => ({ ...decodeEventMessage(m.Body!), group: m.Attributes!.MessageGroupId }));
  expect(got).toHaveLength(8);
  expect(new Set(got.map((g) => `${g.key}@${g.modRevision}`))).toEqual(
    new Set(sent.map((m) => `${m.key}@${m.modRevision}`)),
  );
  for (const g of got) expect(g.group).toBe(g.key);
  // Within a message group the order is kept.
  expect(got.filter((g) => g.key === '/config/v2.0/ports/a').map((g) => g.modRevision)).toEqual([10, 12, 13]);

  // A second redrive finds nothing to do.
  const again = await esi('redrive', 'work-dlq', '--wait', '0');
  expect(again.stdout).toBe(`moved 0 message(s) from ${dlqName} to ${queueName('work', stage)}\n`);
});

test('esi redrive needs --to when no queue names the DLQ, and then moves to it', async () => {
  const orphan = queueName('orphan-dlq', stage);
  const orphanUrl = await createFifoQueue(orphan);
  const targetUrl = await createFifoQueue(queueName('target', stage));
  await sendTo(orphanUrl, encodeEventMessage(event('/config/v2.0/lbs/x', 7)), '/config/v2.0/lbs/x');

  const refused = await esi('redrive', 'orphan-dlq', '--wait', '0');
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(
    `esi: no queue names ${orphan} as its dead-letter queue: give the target with --to\n`,
  );
  expect(await counts(orphanUrl)).toEqual({ visible: 1, inFlight: 0 });

  const missing = await esi('dlq', 'no-such-queue', '--wait', '0');
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(`no queue named "no-such-queue" or "${queueName('no-such-queue', stage)}"`);

  const moved = await esi('redrive', 'orphan-dlq', '--to', 'target', '--wait', '0');
  expect(moved.stdout).toBe(`moved 1 message(s) from ${orphan} to ${queueName('target', stage)}\n`);
  const m = at(await drain(targetUrl, 1), 0, 'drained messages');
  expect(decodeEventMessage(m.Body!)).toEqual(event('/config/v2.0/lbs/x', 7));
  expect(await counts(orphanUrl)).toEqual({ visible: 0, inFlight: 0 });
});

test('short names resolve standard queues too: esi dlq and esi redrive on the poll DLQ', async () => {
  // As serverless.yml declares the poll queues: standard (not FIFO), with a standard DLQ.
  const { CreateQueueCommand } = await import('@aws-sdk/client-sqs');
  const create = async (name: string, attrs: Record<string, string> = {}) =>
    (await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attrs }))).QueueUrl!;
  const dlqName = queueName('heat-poll-dlq', stage, { fifo: false });
  const dlqUrl = await create(dlqName);
  const pollUrl = await create(queueName('heat-poll', stage, { fifo: false }), {
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: await queueArn(dlqUrl), maxReceiveCount: 1 }),
  });
  const stuck = event('/jobs/working/create:heat_worker:port:p9:1:abcde', 77);
  await client.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: encodeEventMessage(stuck) }));

  const listed = await esi('dlq', 'heat-poll-dlq', '--json', '--wait', '0');
  expect(listed.code).toBe(0);
  expect(
    listed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).event),
  ).toEqual([stuck]);
  expect(listed.stderr).toContain(`1 message(s) in ${dlqName}`);

  const moved = await esi('redrive', 'heat-poll-dlq', '--wait', '0');
  expect(moved.code).toBe(0);
  expect(moved.stdout).toBe(
    `moved 1 message(s) from ${dlqName} to ${queueName('heat-poll', stage, { fifo: false })}\n`,
  );
  const m = at(await drain(pollUrl, 1), 0, 'drained messages');
  expect(decodeEventMessage(m.Body!)).toEqual(stuck);
  expect(await counts(dlqUrl)).toEqual({ visible: 0, inFlight: 0 });
});
