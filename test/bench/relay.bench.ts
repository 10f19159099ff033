/**
 * `npm run bench:relay`: events per second the relay forwards from etcd to the SQS server,
 * beside two ceilings measured in the same run: the raw etcd watch delivery rate of the same
 * events, and the SQS server's own rate for the same messages sent as the relay sends them
 * (SendMessageBatch of 10, the same number in flight, no etcd).
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
  const { Relay } = await import('../../shared/relay/relay');
  const { relayCounters, relayPosition } = await import('../helpers/relay');
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
    const checkpointKey = '/esi-relay/checkpoints/bench';
    await store
      .txn()
      .then(put(checkpointKey, JSON.stringify({ revision: first - 1, routes: { [prefix]: first - 1 } })))
      .commit();
    const relay = new Relay(store, sqsClient(), {
      name: 'bench',
      routes: [{ prefix, route: () => queue }],
      checkpointKey,
      logger: createLogger('bench'),
      concurrency,
    });
    const t1 = process.hrtime.bigint();
    await relay.start();
    while (relayPosition(relay) < last) await new Promise((r) => setTimeout(r, 5));
    const relaySeconds = Number(process.hrtime.bigint() - t1) / 1e9;
    await relay.stop();

    // 3. The SQS server alone: the same messages, batches of 10, `concurrency` requests in flight.
    const { SendMessageBatchCommand } = await import('@aws-sdk/client-sqs');
    const { queueUrl } = await import('../../shared/sqs/client');
    const { encodeEventMessage, messageGroupId, deduplicationId } =
      await import('../../shared/events/etcd-event-message');
    const ceilingQueue = 'bench-ceiling.fifo';
    await createFifoQueue(ceilingQueue);
    const url = await queueUrl(ceilingQueue);
    const messages = Array.from({ length: events }, (_, i) => ({
      key: `${prefix}k${i % 500}`,
      modRevision: first + i,
      type: 'put' as const,
    }));
    let next = 0;
    const t2 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < messages.length) {
          const chunk = messages.slice(next, next + 10);
          next += 10;
          await sqsClient().send(
            new SendMessageBatchCommand({
              QueueUrl: url,
              Entries: chunk.map((m, i) => ({
                Id: String(i),
                MessageBody: encodeEventMessage(m),
                MessageGroupId: messageGroupId(m),
                MessageDeduplicationId: deduplicationId(m),
              })),
            }),
          );
        }
      }),
    );
    const sqsSeconds = Number(process.hrtime.bigint() - t2) / 1e9;

    const raw = events / rawSeconds;
    const sqsRate = events / sqsSeconds;
    const relayed = relayCounters(relay).forwarded / relaySeconds;
    const line = (label: string, v: string) => process.stdout.write(`${label.padEnd(34)} ${v}\n`);
    process.stdout.write(
      `relay benchmark: ${events} put events, SendMessageBatch of 10, ${concurrency} batches in flight\n`,
    );
    line('raw etcd watch delivery', `${raw.toFixed(0)} events/s (${rawSeconds.toFixed(3)} s)`);
    line(
      'relay etcd -> SQS (checkpointed)',
      `${relayed.toFixed(0)} events/s (${relaySeconds.toFixed(3)} s, ${relayCounters(relay).forwarded} forwarded)`,
    );
    line('SQS server alone (same sends)', `${sqsRate.toFixed(0)} events/s (${sqsSeconds.toFixed(3)} s)`);
    line('ratio relay / raw watch', `${(relayed / raw).toFixed(3)}`);
    line('ratio relay / SQS server alone', `${(relayed / sqsRate).toFixed(3)}`);
    line('checkpoint writes', `${relayCounters(relay).checkpointWrites} for ${relayCounters(relay).forwarded} events`);
    // Watch and SQS server run at once during the relay's run, on the same cores: if they could
    // not overlap at all, the rate would be this.
    const serial = events / (rawSeconds + sqsSeconds);
    line('watch + SQS server in series', `${serial.toFixed(0)} events/s (relay at ${(relayed / serial).toFixed(2)}x)`);
    const ceiling = Math.min(raw, sqsRate);
    process.stdout.write(
      `bound: ${raw <= sqsRate ? 'the etcd watch' : 'the SQS server'} (${ceiling.toFixed(0)} events/s); relay at ${((100 * relayed) / ceiling).toFixed(0)}% of it\n`,
    );
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
