/**
 * A stand-in function behind Lambda's Invoke API on loopback, for the local SQS event source:
 * each invocation's SQSEvent goes to `handle`, whose answer is the function's result.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StubRecord {
  messageId: string;
  body: string;
  attributes: Record<string, string>;
}

/**
 * 'throw' answers as a function that threw; 'reset' drops the connection with no answer (a Lambda
 * host that failed under load); otherwise the object is the function's result.
 */
export type StubResult = 'throw' | 'reset' | object;

export interface FunctionStub {
  port: number;
  close(): void;
}

export function startFunctionStub(
  handle: (records: StubRecord[]) => Promise<StubResult> | StubResult,
): Promise<FunctionStub> {
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => void answer(raw, res));
  });
  const answer = async (raw: string, res: http.ServerResponse) => {
    const event = JSON.parse(raw) as { Records: StubRecord[] };
    const result = await handle(event.Records);
    if (result === 'reset') {
      res.socket?.destroy();
      return;
    }
    if (result === 'throw') {
      res.writeHead(200, { 'X-Amz-Function-Error': 'Unhandled', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ errorType: 'Error', errorMessage: 'boom' }));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(result));
  };
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

/** infra/serverless-local-sqs as the tests construct it (a plain JS serverless plugin). */
export type LocalSqsPluginClass = new (serverless: { service: object }) => {
  hooks: Record<string, () => Promise<void>>;
};

export interface WorkerServiceOptions {
  endpoint: string;
  lambdaPort: number;
  queue: string;
  dlq: string;
  visibilityTimeout: number;
  maxReceiveCount: number;
  /** The event's batchSize and any other of its settings. */
  event: Record<string, unknown>;
  /** The function's settings (timeout, reservedConcurrency …). */
  fn?: Record<string, unknown>;
  waitTimeSeconds?: number;
}

/**
 * A resolved serverless service with one function `worker` fed by a FIFO queue with a DLQ, as the
 * local SQS event source reads it.
 */
export function workerService(o: WorkerServiceOptions): { service: object } {
  return {
    service: {
      service: 'esi',
      provider: { stage: 'it', region: 'us-east-1' },
      custom: { localSqs: { endpoint: o.endpoint, waitTimeSeconds: o.waitTimeSeconds, lambdaPort: o.lambdaPort } },
      functions: {
        worker: {
          ...o.fn,
          events: [
            {
              sqs: {
                arn: { 'Fn::GetAtt': ['WorkQueue', 'Arn'] },
                functionResponseType: 'ReportBatchItemFailures',
                ...o.event,
              },
            },
          ],
        },
      },
      resources: {
        Resources: {
          WorkQueue: {
            Type: 'AWS::SQS::Queue',
            Properties: {
              QueueName: o.queue,
              FifoQueue: true,
              VisibilityTimeout: o.visibilityTimeout,
              RedrivePolicy: {
                deadLetterTargetArn: { 'Fn::GetAtt': ['WorkDLQ', 'Arn'] },
                maxReceiveCount: o.maxReceiveCount,
              },
            },
          },
          WorkDLQ: { Type: 'AWS::SQS::Queue', Properties: { QueueName: o.dlq, FifoQueue: true } },
        },
      },
    },
  };
}
