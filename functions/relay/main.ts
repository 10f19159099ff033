/**
 * The relay process (long-running; a container service in AWS, a child process locally).
 * Wires the store, SQS and logger to the relay of every route; all logic is in shared/relay.
 */
import { errorMessage } from '../../shared/errors';
import { numberSetting, queueName, setting } from '../../shared/config';
import { createLogger } from '../../shared/log/logger';
import { keys } from '../../shared/keys';
import { recordRelayLag } from '../../shared/metrics';
import { removeReadyFile, startHeartbeat, writeReadyFile } from '../../shared/relay/ready-file';
import { Relay } from '../../shared/relay/relay';
import { relayRoutes } from '../../shared/relay/routes';
import { loadSecrets } from '../../shared/secrets';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdStore } from '../../shared/store/etcd-store';

/**
 * How long a stop may take to send what the routes hold, checkpoint and close before the process
 * exits anyway: 3 s by default (the local stack); the ECS task sets 25 s, within its 30 s
 * StopTimeout. Sends still pending 2 s before it give up, so the checkpoint is written in time.
 */
const STOP_GRACE_MS = numberSetting('ESI_RELAY_STOP_GRACE_MS', 3000);

async function main(): Promise<void> {
  const logger = createLogger('esi-relay');
  const name = setting('ESI_RELAY_NAME') ?? 'main';
  const readyFile = setting('ESI_RELAY_READY_FILE');
  // Installed first: a stop must work while the relay still waits for etcd or SQS, and must not
  // wait on them for longer than the grace period (they may be gone: the stack stops them too).
  let stopRelays: () => Promise<unknown> = () => Promise.resolve();
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('relay stopping', { signal });
    setTimeout(() => process.exit(0), STOP_GRACE_MS).unref();
    void stopRelays().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await loadSecrets(); // *_PARAM settings from SSM, if any (shared/secrets.ts)
  const store = new EtcdStore();
  const routes = relayRoutes();
  const relay = new Relay(store, sqsClient(), {
    name,
    routes,
    logger,
    checkpointKey: keys.relayCheckpoint(name),
    batchSize: numberSetting('ESI_RELAY_BATCH_SIZE', 10),
    concurrency: numberSetting('ESI_RELAY_CONCURRENCY', 4),
    deadLetterQueue: setting('ESI_RELAY_DLQ') ?? queueName('relay-dlq', undefined, { fifo: false }),
    checkpointMs: numberSetting('ESI_RELAY_CHECKPOINT_MS', 1000),
    checkpointEvents: numberSetting('ESI_RELAY_CHECKPOINT_EVENTS', 1000),
    stopSendGraceMs: Math.max(STOP_GRACE_MS - 2000, 0),
  });
  stopRelays = async () => {
    if (readyFile) removeReadyFile(readyFile);
    await relay.stop();
    store.close();
  };
  await relay.start();
  if (readyFile && !stopping) writeReadyFile(readyFile, { pid: process.pid, relay: name });
  logger.info('relay running', { relay: name, prefixes: routes.map((r) => r.prefix) });
  const heartbeatFile = setting('ESI_RELAY_HEARTBEAT_FILE');
  if (heartbeatFile)
    startHeartbeat(heartbeatFile, () => relay.streams.map((s) => s.silentMs()), {
      everyMs: 10_000,
      stallMs: numberSetting('ESI_RELAY_STALL_SECONDS', 0) * 1000,
    });

  const logPositions = async () => {
    const revision = await store.revision().catch((e: unknown) => {
      logger.warn('relay position not logged: etcd revision unreadable', { relay: name, error: errorMessage(e) });
      return undefined;
    });
    if (revision === undefined) return;
    for (const s of relay.streams) {
      logger.info('relay position', {
        relay: name,
        prefix: s.prefix,
        etcd_revision: revision,
        position: s.position,
        checkpoint: relay.checkpointRevision,
        lag: revision - s.position,
        ...s.counters,
      });
      // EMF line for CloudWatch (RelayLag; the relay lag alarm in serverless.yml).
      recordRelayLag('esi-relay', { relay: name, prefix: s.prefix, etcdRevision: revision, checkpoint: s.position });
    }
  };
  const lagTimer = setInterval(() => void logPositions(), numberSetting('ESI_RELAY_REPORT_MS', 30_000));
  lagTimer.unref();

  const err = await relay.failed();
  logger.error('relay failed', { error: err.message });
  process.exit(1);
}

main().catch((err) => {
  createLogger('esi-relay').error('relay could not start', err as Error);
  process.exit(1);
});
