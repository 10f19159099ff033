/**
 * The real relay process SIGKILLed 20 times during 5,000 etcd events of every kind Gohan and the
 * worker make — single puts, deletes, and multi-key transactions (several events at one revision)
 * — each kill landing while it forwards: every event reaches SQS (duplicates allowed and counted,
 * none lost). The figures are printed.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put, type Op } from '../../shared/store/store';
import { drainQueue, killed, spawnRelay } from '../helpers/relay-process';
import { createFifoQueue } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';
import { at } from '../helpers/at';

const EVENTS = 5000;
const KILLS = 20;
const KEYS = 300;

jest.setTimeout(600_000);
const store = new EtcdStore();
let current: ChildProcess | undefined;
afterAll(async () => {
  if (current && current.exitCode === null && current.signalCode === null) {
    current.kill('SIGKILL');
    await killed(current);
  }
  store.close();
  sqsClient().destroy();
});

/** A deterministic mix: 3 of 5 writes a put, 1 a delete of a live key, 1 a transaction of 2–4 keys. */
function nextWrite(i: number, prefix: string, live: Set<string>): { ops: Op[]; keys: string[] } {
  const key = (n: number) => `${prefix}k${n % KEYS}`;
  switch (i % 5) {
    case 3: {
      const k = [...live][(i * 7) % Math.max(live.size, 1)];
      if (k) return { ops: [del(k)], keys: [k] };
      return { ops: [put(key(i), `w${i}`)], keys: [key(i)] };
    }
    case 4: {
      const keys = [...new Set(Array.from({ length: 2 + (i % 3) }, (_, j) => key(i * 13 + j * 31)))];
      return { ops: keys.map((k) => put(k, `t${i}`)), keys };
    }
    default:
      return { ops: [put(key(i * 3), `w${i}`)], keys: [key(i * 3)] };
  }
}

test(`${EVENTS} events (puts, deletes, transactions), ${KILLS} SIGKILLs of the relay, none lost`, async () => {
  const run = `chaosrelay${Date.now()}`;
  const prefix = `/${run}/`;
  const queue = `${run}.fifo`;
  const url = await createFifoQueue(queue, { VisibilityTimeout: '5' });
  const env = { ESI_RELAY_ROUTES: `${prefix}=${queue}`, ESI_RELAY_NAME: run, ESI_LOG_LEVEL: 'WARN' };
  const logFile = path.join(process.env.ESI_TEST_ROOT!, `${run}-relay.log`);
  const drain = drainQueue(url);

  let relay = spawnRelay(env, logFile);
  current = relay;
  const expected: string[] = [];
  const live = new Set<string>();
  const kinds = { put: 0, delete: 0, txn: 0 };
  let kills = 0;
  const restarts: number[] = [];
  for (let i = 0; expected.length < EVENTS; i++) {
    const w = nextWrite(i, prefix, live);
    const res = await store
      .txn()
      .then(...w.ops)
      .commit();
    for (const [j, k] of w.keys.entries()) {
      expected.push(`${k}@${res.revision}`);
      if (at(w.ops, j).kind === 'delete') live.delete(k);
      else live.add(k);
    }
    kinds[w.keys.length > 1 ? 'txn' : at(w.ops, 0).kind === 'delete' ? 'delete' : 'put'] += 1;
    if (kills < KILLS && expected.length >= ((kills + 1) * EVENTS) / (KILLS + 1)) {
      // Kill only a relay that is forwarding right now, so each kill lands mid-stream.
      const revisionNow = res.revision;
      await waitFor(() => drain.maxSeenRevision() >= revisionNow - 30, {
        timeoutMs: 60_000,
        what: 'the relay to be forwarding',
      });
      relay.kill('SIGKILL');
      await killed(relay);
      kills++;
      const t = Date.now();
      relay = spawnRelay(env, logFile);
      current = relay;
      restarts.push(t);
    }
  }

  const lastWrite = Date.now();
  try {
    await waitFor(() => expected.every((id) => drain.seen.has(id)), {
      timeoutMs: 180_000,
      intervalMs: 200,
      what: 'every event to reach SQS',
    }).catch((err: Error) => {
      const missing = expected.filter((id) => !drain.seen.has(id));
      throw new Error(`${err.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    });
  } finally {
    await drain.stop();
  }
  relay.kill('SIGTERM');
  await killed(relay);

  const lost = expected.filter((id) => !drain.seen.has(id)).length;
  const duplicates = [...drain.seen.values()].reduce((sum, n) => sum + n - 1, 0);
  console.log(
    `chaos relay kill: ${expected.length} events (${kinds.put} puts, ${kinds.delete} deletes, ${kinds.txn} transactions), ` +
      `${kills} SIGKILLs, ${lost} lost, ${duplicates} duplicate deliveries; ` +
      `all delivered ${((Date.now() - lastWrite) / 1000).toFixed(1)} s after the last write ` +
      `(${((Date.now() - at(restarts, -1)) / 1000).toFixed(1)} s after the last restart)`,
  );
  expect(kills).toBe(KILLS);
  expect(kinds.delete).toBeGreaterThan(0);
  expect(kinds.txn).toBeGreaterThan(0);
  expect(lost).toBe(0);
  expect(new Set(expected).size).toBe(expected.length);
  expect(drain.seen.size).toBe(expected.length);
});
