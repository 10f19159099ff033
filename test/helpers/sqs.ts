import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsClient } from '../../shared/sqs/client';

export async function createFifoQueue(
  name: string,
  attrs: Record<string, string> = {},
  client: SQSClient = sqsClient(),
): Promise<string> {
  const res = await client.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { FifoQueue: 'true', VisibilityTimeout: '30', ...attrs } }),
  );
  return res.QueueUrl!;
}

export async function queueArn(url: string, client: SQSClient = sqsClient()): Promise<string> {
  const res = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return res.Attributes!.QueueArn!;
}

/** Receives and deletes whatever is on the queue now (one short poll round). */
export async function receiveAll(url: string, client: SQSClient = sqsClient()): Promise<string[]> {
  const res = await client.send(
    new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
  );
  const msgs = res.Messages ?? [];
  if (msgs.length) {
    await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
  return msgs.map((m) => m.Body!);
}
