import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { awsSettings } from '../config';

let shared: SQSClient | undefined;

/** One SQS client per process; locally it points at the SQS server on loopback. */
export function sqsClient(): SQSClient {
  if (!shared) {
    const s = awsSettings();
    shared = new SQSClient({ region: s.region, endpoint: s.sqsEndpoint, maxAttempts: 3 });
  }
  return shared;
}

const urls = new Map<string, Promise<string>>();

/** Queue URL by name, looked up once per process. */
export function queueUrl(name: string, client: SQSClient = sqsClient()): Promise<string> {
  let url = urls.get(name);
  if (!url) {
    url = client.send(new GetQueueUrlCommand({ QueueName: name })).then((r) => {
      if (!r.QueueUrl) throw new Error(`queue ${name} has no URL`);
      return r.QueueUrl;
    });
    url.catch(() => urls.delete(name));
    urls.set(name, url);
  }
  return url;
}
