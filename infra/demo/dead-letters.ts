/** The dead-letter queues of a stage and how many messages each holds (a replay must leave none). */
import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';

export async function deadLetters(sqsEndpoint: string, stage: string): Promise<Record<string, number>> {
  const client = new SQSClient({
    endpoint: sqsEndpoint,
    region: process.env.AWS_REGION ?? 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const urls = (await client.send(new ListQueuesCommand({ QueueNamePrefix: `esi-${stage}-` }))).QueueUrls ?? [];
    const counts: Record<string, number> = {};
    for (const url of urls.filter((u) => /-dlq(\.fifo)?$/.test(u))) {
      const a =
        (
          await client.send(
            new GetQueueAttributesCommand({
              QueueUrl: url,
              AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
            }),
          )
        ).Attributes ?? {};
      counts[url.slice(url.lastIndexOf('/') + 1)] =
        Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
    }
    return counts;
  } finally {
    client.destroy();
  }
}
