/**
 * The relay stops promptly on SIGTERM even when etcd and SQS are gone (the local stack stops them
 * too, and may stop them first): it does not wait on them past its grace period. It says it is
 * ready in its ready file whatever its log level (here ERROR: no "relay running" line), and
 * removes the file when it stops.
 */
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import fs from 'node:fs';
import path from 'node:path';
import { startEtcd } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { startSqsServer } from '../../infra/local/sqs-server';
import { relayReady } from '../../shared/relay/ready-file';
import { killed, spawnRelay } from '../helpers/relay-process';
import { createFifoQueue } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';

jest.setTimeout(120_000);

test('SIGTERM ends a running relay within its grace period after its etcd and SQS server were killed', async () => {
  const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT!, 'relay-stop-'));
  const etcd = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(dir, 'etcd'),
    name: 'relay-stop',
  });
  const sqs = await startSqsServer(await freePort());
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: sqs.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await createFifoQueue('relay-stop.fifo', {}, client);
  await client.send(new CreateQueueCommand({ QueueName: 'relay-stop-dlq' }));
  client.destroy();
  const logFile = path.join(dir, 'relay.log');
  const readyFile = path.join(dir, 'relay.ready');
  const relay = spawnRelay(
    {
      ESI_ETCD_ENDPOINTS: etcd.clientUrl,
      ESI_SQS_ENDPOINT: sqs.endpoint,
      ESI_RELAY_ROUTES: '/relay-stop/=relay-stop.fifo',
      ESI_RELAY_DLQ: 'relay-stop-dlq',
      ESI_LOG_LEVEL: 'ERROR',
      ESI_RELAY_READY_FILE: readyFile,
    },
    logFile,
  );
  try {
    await waitFor(() => relayReady(readyFile, relay.pid), { timeoutMs: 60_000, what: 'the relay ready' });
    expect(JSON.parse(fs.readFileSync(readyFile, 'utf8'))).toEqual({ pid: relay.pid, relay: 'main' });
    await etcd.kill();
    await sqs.stop();
    const sent = Date.now();
    relay.kill('SIGTERM');
    await killed(relay);
    const seconds = (Date.now() - sent) / 1000;
    console.log(`relay stopped ${seconds.toFixed(2)} s after SIGTERM with etcd and SQS gone (grace period 3 s)`);
    // The relay's grace period is 3 s; a second more for the process to go.
    expect({ exitCode: relay.exitCode, withinGrace: seconds < 4, readyFile: fs.existsSync(readyFile) }).toEqual({
      exitCode: 0,
      withinGrace: true,
      readyFile: false,
    });
    // Nothing at INFO was logged.
    expect(fs.readFileSync(logFile, 'utf8')).not.toMatch(/"level":"INFO"/);
  } finally {
    if (relay.exitCode === null && relay.signalCode === null) relay.kill('SIGKILL');
    await etcd.stop();
    await sqs.stop();
  }
});
