import { createSqsServer } from 'local-aws-sqs';
import type { Server } from 'node:http';

export interface LocalSqsServer {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * Starts the SQS server from npm (local-aws-sqs) on loopback. It speaks the JSON protocol of
 * @aws-sdk/client-sqs v3 with FIFO queues, deduplication, delays, visibility and DLQ redrive.
 */
export async function startSqsServer(port: number): Promise<LocalSqsServer> {
  const server: Server = await createSqsServer({ port, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
