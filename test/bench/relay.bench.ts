/**
 * `npm run bench:relay`: events per second the relay forwards from etcd to the SQS server,
 * beside the raw etcd watch delivery rate measured in the same run on the same events.
 * Starts its own etcd and SQS server on free loopback ports. Options (env): BENCH_EVENTS (5000),
 * BENCH_CONCURRENCY (relay batches in flight, 4).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureEtcdInstalled, startEtcd } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { startSqsServer } from '../../infra/local/sqs-server';

async function main(): Promise<void> {
  const events = Number(process.env.BENCH_EVENTS ?? 5000);
  const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 4);
  ensureEtcdInstalled();
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-bench-'));
  const etcd = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(root, 'etcd'),
  });
  const sqs = await startSqsServer(await freePort());
  Object.assign(process.env, {
    ESI_ETCD_ENDPOINTS: etcd.clientUrl,
    ESI_SQS_ENDPOINT: sqs.endpoint,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    ESI_LOG_LEVEL: 'ERROR',
  });
  // Loaded after the environment points at the servers above.
  const { EtcdStore } = await import('../../shared/store/etcd-store');
  const { put } = await import('../../shared/store/store');
  const { PrefixRelay } = await import('../../shared/relay/relay');
  const { sqsClient } = await import('../../shared/sqs/client');
  const { createLogger } = await import('../../shared/log/logger');
  const { createFifoQueue } = await import('../helpers/sqs');
  const store = new EtcdStore();
  try {
    const prefix = '/bench/';
    const queue = 'bench.fifo';
    await createFifoQueue(queue);
    const value = JSON.stringify({
      body: JSON.stringify({ id: 'x'.repeat(36), name: 'bench', tenant_id: 'y'.repeat(32) }),
      version: 1,
      marked_for_deletion: false,
    });

    // The events: one put each, written before either reader starts so both read the same history.
    const first = (
      await store
        .txn()
        .then(put(`${prefix}k0`, value))
        .commit()
    ).revision;
    for (let i = 1; i < events; i += 32) {
      await Promise.all(
        Array.from({ length: Math.min(32, events - i) }, (_, j) =>
          store
            .txn()
            .then(put(`${prefix}k${(i + j) % 500}`, value))
            .commit(),
        ),
      );
    }
    const last = await store.revision();

    // 1. Raw etcd watch delivery of the same range of revisions.
    let received = 0;
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => {
      store
        .watch(prefix, first, {
          onEvents: (evs) => {
            received += evs.length;
            if (received >= events) resolve();
          },
          onError: reject,
        })
        .then((h) => {
          handle = h;
        }, reject);
    });
    const rawSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await handle?.cancel();

    // 2. The relay, from a checkpoint just before the first event, until its checkpoint passes the last.
    const checkpointKey = '/esi-relay/checkpoints/bench/bench';
    await store
      .txn()
      .then(put(checkpointKey, String(first - 1)))
      .commit();
    const relay = new PrefixRelay(store, sqsClient(), {
      name: 'bench',
      prefix,
      checkpointKey,
      route: () => queue,
      logger: createLogger('bench'),
      concurrency,
    });
    const t1 = process.hrtime.bigint();
    await relay.start();
    while (relay.checkpointRevision < last) await new Promise((r) => setTimeout(r, 5));
    const relaySeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    await relay.stop();

    const raw = events / rawSeconds;
    const relayed = relay.counters.forwarded / relaySeconds;
    const line = (label: string, v: string) => process.stdout.write(`${label.padEnd(34)} ${v}\n`);
    process.stdout.write(
      `relay benchmark: ${events} put events, SendMessageBatch of 10, ${concurrency} batches in flight\n`,
    );
    line('raw etcd watch delivery', `${raw.toFixed(0)} events/s (${rawSeconds.toFixed(3)} s)`);
    line(
      'relay etcd -> SQS (checkpointed)',
      `${relayed.toFixed(0)} events/s (${relaySeconds.toFixed(3)} s, ${relay.counters.forwarded} forwarded)`,
    );
    line('ratio relay / raw watch', `${(relayed / raw).toFixed(3)}`);
  } finally {
    store.close();
    sqsClient().destroy();
    await sqs.stop();
    await etcd.stop();
    fs.rmSync(root, { recursive: true, force: true });
  }
}

let handle: { cancel(): Promise<void> } | undefined;

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
