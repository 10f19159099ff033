/**
 * The local stand-in for EventBridge schedules: invokes scheduled functions through
 * serverless-offline's Lambda endpoint every `periodMs` (faster than AWS's one-minute minimum, so
 * the local stack shows monitoring changes within seconds).
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import fs from 'node:fs';

export interface LocalSchedule {
  stop(): Promise<void>;
}

export function scheduleInvocations(opts: {
  lambdaEndpoint: string;
  region: string;
  functionNames: string[];
  periodMs: number;
  logFile: string;
}): LocalSchedule {
  const client = new LambdaClient({
    region: opts.region,
    endpoint: opts.lambdaEndpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const name of opts.functionNames) {
        try {
          const out = await client.send(
            new InvokeCommand({
              FunctionName: name,
              Payload: Buffer.from(JSON.stringify({ source: 'local.scheduler' })),
            }),
          );
          if (out.FunctionError)
            fs.appendFileSync(
              opts.logFile,
              `${new Date().toISOString()} ${name} failed: ${Buffer.from(out.Payload ?? []).toString()}\n`,
            );
        } catch (err) {
          fs.appendFileSync(
            opts.logFile,
            `${new Date().toISOString()} ${name} not invoked: ${(err as Error).message}\n`,
          );
        }
      }
      await new Promise((r) => setTimeout(r, opts.periodMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      client.destroy();
    },
  };
}
