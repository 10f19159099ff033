import { GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import { awsSettings } from '../config';

let shared: SQSClient | undefined;

const LOOPBACK = /^https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?(\/|$)/;

/** One SQS client per process; one on loopback gets placeholder credentials if none are set (the SDK needs some). */
export function sqsClient(): SQSClient {
  if (!shared) {
    const s = awsSettings();
    const placeholder = LOOPBACK.test(s.sqsEndpoint ?? '') && !s.hasCredentials;
    shared = new SQSClient({
      region: s.region,
      ...(s.sqsEndpoint === undefined ? {} : { endpoint: s.sqsEndpoint }),
      maxAttempts: 3,
      ...(placeholder ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
    });
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
