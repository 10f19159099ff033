import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureEtcdInstalled, startEtcd } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { startSqsServer } from '../../infra/local/sqs-server';

/**
 * Starts one real etcd and one SQS server for the whole run, on free loopback ports, and
 * publishes their addresses through the environment (jest's workers inherit it).
 * Test files isolate themselves by key prefix and queue name.
 */
export default async function globalSetup(): Promise<void> {
  ensureEtcdInstalled();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-test-'));
  const [clientPort, peerPort, sqsPort] = [await freePort(), await freePort(), await freePort()];
  const etcd = await startEtcd({ clientPort, peerPort, dataDir: path.join(root, 'etcd'), name: 'esi-test' });
  const sqs = await startSqsServer(sqsPort, { logFile: path.join(root, 'sqs-server.log') });
  process.env.ESI_ETCD_ENDPOINTS = etcd.clientUrl;
  process.env.ESI_SQS_ENDPOINT = sqs.endpoint;
  process.env.ESI_TEST_ROOT = root;
  // Tests keep warnings and errors in their output; ESI_LOG_LEVEL=DEBUG shows everything.
  process.env.ESI_LOG_LEVEL = process.env.ESI_LOG_LEVEL ?? 'WARN';
  process.env.AWS_REGION = process.env.AWS_REGION ?? 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = process.env.AWS_ACCESS_KEY_ID ?? 'local';
  process.env.AWS_SECRET_ACCESS_KEY = process.env.AWS_SECRET_ACCESS_KEY ?? 'local';
  (globalThis as Record<string, unknown>).__ESI_TEST__ = { etcd, sqs, root };
  // If jest dies before its teardown, etcd and the SQS server must not outlive it.
  process.once('exit', () => {
    for (const pid of [etcd.pid, sqs.pid]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already stopped */
      }
    }
  });
}
