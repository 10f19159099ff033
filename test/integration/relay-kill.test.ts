/**
 * The relay loses nothing when it is SIGKILLed mid-stream: N writes, several kills and restarts
 * of the real relay process, and every (key, revision) written reaches SQS. Duplicates are
 * allowed (a restarted relay re-sends what it had not checkpointed) and are counted.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import { drainQueue, killed, spawnRelay } from '../helpers/relay-process';
import { createFifoQueue } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';

const WRITES = 2000;
const KEYS = 250;
const KILL_AT = [500, 1000, 1500];

jest.setTimeout(240_000);
const store = new EtcdStore();
/** The relay process alive now; stopped after the test whatever happened in it. */
let current: ChildProcess | undefined;
afterAll(async () => {
  if (current && current.exitCode === null && current.signalCode === null) {
    current.kill('SIGKILL');
    await killed(current);
  }
  store.close();
  sqsClient().destroy();
});

test(`${WRITES} writes, ${KILL_AT.length} SIGKILLs of the relay, none lost`, async () => {
  const run = `kill${Date.now()}`;
  const prefix = `/${run}/`;
  const queue = `${run}.fifo`;
  // A short visibility timeout: a receive whose answer is lost under load (the SDK then retries)
  // leaves its messages in flight, and their key's FIFO group held, only for a few seconds.
  const url = await createFifoQueue(queue, { VisibilityTimeout: '5' });
  const env = { ESI_RELAY_ROUTES: `${prefix}=${queue}`, ESI_RELAY_NAME: run, ESI_LOG_LEVEL: 'WARN' };
  const logFile = path.join(process.env.ESI_TEST_ROOT!, `${run}-relay.log`);

  // Consumer: drains the queue continuously and counts every (key, revision).
  const drain = drainQueue(url);
  const seen = drain.seen;

  let relay = spawnRelay(env, logFile);
  current = relay;
  const expected: string[] = [];
  let kills = 0;
  for (let i = 0; i < WRITES; i++) {
    const key = `${prefix}k${i % KEYS}`;
    const res = await store
      .txn()
      .then(put(key, `w${i}`))
      .commit();
    expected.push(`${key}@${res.revision}`);
    if (KILL_AT.includes(i)) {
      // Kill only a relay that is forwarding right now, so each kill lands mid-stream.
      const revisionNow = res.revision;
      await waitFor(() => drain.maxSeenRevision() >= revisionNow - 50, {
        timeoutMs: 60_000,
        what: 'the relay to be forwarding',
      });
      relay.kill('SIGKILL');
      await killed(relay);
      kills++;
      relay = spawnRelay(env, logFile);
      current = relay;
    }
  }

  try {
    await waitFor(() => expected.every((id) => seen.has(id)), {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'every write to reach SQS',
    }).catch((err: Error) => {
      const missing = expected.filter((id) => !seen.has(id));
      throw new Error(`${err.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    });
  } finally {
    await drain.stop();
  }
  relay.kill('SIGTERM');
  await killed(relay);

  const lost = expected.filter((id) => !seen.has(id)).length;
  const duplicates = [...seen.values()].reduce((sum, n) => sum + n - 1, 0);

  console.log(
    `relay kill test: ${WRITES} writes, ${kills} SIGKILLs, ${lost} lost, ${duplicates} duplicate deliveries, ${seen.size} distinct events received`,
  );
  expect(kills).toBeGreaterThanOrEqual(3);
  expect(lost).toBe(0);
  expect(seen.size).toBe(WRITES);
});
