import { DeleteMessageBatchCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { decodeEventMessage } from '../../shared/events/etcd-event-message';
import { sqsClient } from '../../shared/sqs/client';

const ROOT = path.resolve(__dirname, '..', '..');

/** Starts the real relay process (functions/relay/main.ts) with the given environment. */
export function spawnRelay(env: Record<string, string>, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  // `node --import tsx` runs the relay in this one process; the tsx CLI would run it in a child
  // process, and a SIGKILL of the wrapper would leave the real relay running.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'functions/relay/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
}

export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}

/** What a consumer of the relay's queue received: every (key@revision) and how often. */
export interface Drain {
  seen: Map<string, number>;
  maxSeenRevision(): number;
  stop(): Promise<void>;
}

/**
 * Drains a queue continuously, counting every event message by `key@modRevision`. At least once:
 * a batch whose delete fails comes back and is counted again.
 */
export function drainQueue(url: string): Drain {
  const seen = new Map<string, number>();
  let max = 0;
  let draining = true;
  const loop = (async () => {
    while (draining) {
      const res = await sqsClient()
        .send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }))
        .catch(() => ({ Messages: [] as { Body?: string; ReceiptHandle?: string }[] }));
      const msgs = res.Messages ?? [];
      for (const m of msgs) {
        const e = decodeEventMessage(m.Body!);
        const id = `${e.key}@${e.modRevision}`;
        seen.set(id, (seen.get(id) ?? 0) + 1);
        max = Math.max(max, e.modRevision);
      }
      if (msgs.length)
        await sqsClient()
          .send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
          .catch(() => undefined);
    }
  })();
  return {
    seen,
    maxSeenRevision: () => max,
    async stop() {
      draining = false;
      await loop;
    },
  };
}
