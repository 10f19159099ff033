import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { startEtcd } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { startSqsServer } from '../../infra/local/sqs-server';
import { decodeEventMessage } from '../../shared/events/etcd-event-message';
import { createLogger } from '../../shared/log/logger';
import { Relay, type RelayOptions } from '../../shared/relay/relay';
import type { RouteFn } from '../../shared/relay/routes';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put, type RangeOptions } from '../../shared/store/store';
import { createFifoQueue, receiveAll } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';
import { at, only } from '../helpers/at';
import { relayCounters, relayPosition } from '../helpers/relay';

const store = new EtcdStore();
const logger = createLogger('relay-test');
afterAll(() => {
  store.close();
  sqsClient().destroy();
});

/** Each test's relay is named after its prefix: `/it-x-1/` → relay `it-x-1`. */
const checkpointKey = (prefix: string) => `/esi-relay/checkpoints/${prefix.slice(1, -1)}`;

/** A relay of one route (prefix → queue, or as `route` decides), named after the prefix. */
function relayFor(
  prefix: string,
  queue: string | RouteFn,
  opts: Partial<RelayOptions> = {},
  own: { store?: EtcdStore; sqs?: SQSClient } = {},
) {
  return new Relay(own.store ?? store, own.sqs ?? sqsClient(), {
    name: prefix.slice(1, -1),
    routes: [{ prefix, route: typeof queue === 'string' ? () => queue : queue }],
    logger,
    checkpointKey: checkpointKey(prefix),
    ...opts,
  });
}

/** The checkpoint as stored: every route's revision and their minimum. */
const storedCheckpoint = async (prefix: string, s: EtcdStore = store) =>
  JSON.parse((await s.get(checkpointKey(prefix)))!.value) as unknown;

/** Collects messages until every expected key was seen at least at its expected revision. */
async function collect(url: string, expected: Map<string, number>, client = sqsClient()) {
  const seen = new Map<string, number[]>();
  await waitFor(
    async () => {
      for (const body of await receiveAll(url, client)) {
        const m = decodeEventMessage(body);
        seen.set(m.key, [...(seen.get(m.key) ?? []), m.modRevision]);
      }
      return [...expected].every(([k, rev]) => (seen.get(k) ?? []).some((r) => r >= rev));
    },
    { timeoutMs: 20_000, what: 'all relayed events' },
  );
  return seen;
}

test('forwards every put and delete under its prefix and checkpoints the last revision', async () => {
  const prefix = `/it-relay-${Date.now()}/`;
  const queue = `it-relay-${Date.now()}.fifo`;
  const url = await createFifoQueue(queue);
  const relay = relayFor(prefix, queue);
  await relay.start();
  const expected = new Map<string, number>();
  for (let i = 0; i < 40; i++) {
    const res = await store
      .txn()
      .then(put(`${prefix}k${i}`, `v${i}`))
      .commit();
    expected.set(`${prefix}k${i}`, res.revision);
  }
  // A transaction that writes three keys at one revision.
  const multi = await store
    .txn()
    .then(put(`${prefix}m1`, 'a'), put(`${prefix}m2`, 'b'), put(`${prefix}m3`, 'c'))
    .commit();
  ['m1', 'm2', 'm3'].forEach((k) => expected.set(`${prefix}${k}`, multi.revision));
  const seen = await collect(url, expected);
  expect([...seen.keys()].sort()).toEqual([...expected.keys()].sort());
  await waitFor(() => relay.checkpointRevision >= multi.revision, { what: 'checkpoint' });
  await relay.stop();
  expect(await storedCheckpoint(prefix)).toEqual({ revision: multi.revision, routes: { [prefix]: multi.revision } });
});

test('resumes from its checkpoint: events written while it was down are forwarded, older ones are not', async () => {
  const prefix = `/it-resume-${Date.now()}/`;
  const queue = `it-resume-${Date.now()}.fifo`;
  const url = await createFifoQueue(queue);
  const first = relayFor(prefix, queue);
  await first.start();
  const before = await store
    .txn()
    .then(put(`${prefix}before`, '1'))
    .commit();
  await collect(url, new Map([[`${prefix}before`, before.revision]]));
  await waitFor(() => first.checkpointRevision >= before.revision, { what: 'checkpoint' });
  await first.stop();

  const during = await store
    .txn()
    .then(put(`${prefix}during`, '2'))
    .commit();
  const second = relayFor(prefix, queue);
  await second.start();
  const seen = await collect(url, new Map([[`${prefix}during`, during.revision]]));
  expect(seen.has(`${prefix}before`)).toBe(false);
  await second.stop();
});

test('after compaction of its start revision it re-emits every key of the prefix as sync', async () => {
  // Compaction affects every reader of an etcd, so this test has an etcd of its own.
  const own = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(process.env.ESI_TEST_ROOT!, `compact-${Date.now()}`, 'etcd'),
  });
  const ownStore = new EtcdStore({ endpoints: [own.clientUrl] });
  try {
    const prefix = '/it-compact/';
    const queue = `it-compact-${Date.now()}.fifo`;
    const url = await createFifoQueue(queue);
    await ownStore
      .txn()
      .then(put(checkpointKey(prefix), JSON.stringify({ revision: 1, routes: { [prefix]: 1 } })))
      .commit();
    await ownStore
      .txn()
      .then(put(`${prefix}a`, '1'), put(`${prefix}b`, '2'))
      .commit();
    await ownStore.client.kv.compact({ revision: await ownStore.revision(), physical: true });

    const relay = relayFor(prefix, queue, {}, { store: ownStore });
    await relay.start();
    const messages: string[] = [];
    await waitFor(
      async () => {
        messages.push(...(await receiveAll(url)));
        return messages.length >= 2;
      },
      { what: 'sync messages' },
    );
    const decoded = messages.map(decodeEventMessage);
    expect(decoded.map((m) => m.key).sort()).toEqual([`${prefix}a`, `${prefix}b`]);
    expect(decoded.every((m) => m.type === 'sync')).toBe(true);
    expect(relayCounters(relay).resyncs).toBe(1);
    const after = await ownStore
      .txn()
      .then(put(`${prefix}c`, '3'))
      .commit();
    await collect(url, new Map([[`${prefix}c`, after.revision]]));
    await relay.stop();
  } finally {
    ownStore.close();
    await own.stop();
  }
});

test('a resync reads its prefix in pages at one revision and holds at most two pages unsent', async () => {
  const own = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(process.env.ESI_TEST_ROOT!, `compact-paged-${Date.now()}`, 'etcd'),
  });
  const ownStore = new EtcdStore({ endpoints: [own.clientUrl] });
  // The relay's store, recording every range read of the prefix: its page limit and size.
  const reads: { limit: number | undefined; keys: number; revision: number | undefined }[] = [];
  const prefix = '/it-paged/';
  const counting = Object.assign(Object.create(ownStore) as EtcdStore, {
    range: async (p: string, o?: RangeOptions) => {
      const res = await ownStore.range(p, o);
      if (p === prefix) reads.push({ limit: o?.limit, keys: res.items.length, revision: o?.revision });
      return res;
    },
  });
  try {
    const queue = `it-paged-${Date.now()}.fifo`;
    const url = await createFifoQueue(queue);
    await ownStore
      .txn()
      .then(put(checkpointKey(prefix), JSON.stringify({ revision: 1, routes: { [prefix]: 1 } })))
      .commit();
    const keys = Array.from({ length: 25 }, (_, i) => `${prefix}k${String(i).padStart(2, '0')}`);
    const written = await ownStore
      .txn()
      .then(...keys.map((k) => put(k, 'v')))
      .commit();
    await ownStore.client.kv.compact({ revision: written.revision, physical: true });

    const relay = relayFor(prefix, queue, { resyncPageSize: 10, batchSize: 2, concurrency: 1 }, { store: counting });
    await relay.start();
    const seen = await collect(url, new Map(keys.map((k) => [k, written.revision])));
    expect([...seen.keys()].sort()).toEqual(keys);
    // Three pages of at most 10 keys; the later ones at the first one's revision (one snapshot).
    expect(reads).toEqual([
      { limit: 10, keys: 10, revision: undefined },
      { limit: 10, keys: 10, revision: written.revision },
      { limit: 10, keys: 5, revision: written.revision },
    ]);
    expect(relayCounters(relay).resyncs).toBe(1);
    expect(relayCounters(relay).pendingHighWater).toBeLessThanOrEqual(19);
    await waitFor(async () => relayPosition(relay) === written.revision, { what: 'the position at the snapshot' });
    await relay.stop();
  } finally {
    ownStore.close();
    await own.stop();
  }
});

test("a quiet route follows etcd's progress notifications: its position moves with writes made elsewhere, nothing sent", async () => {
  // etcd notifies a caught-up watch of its revision every second (deployed: see docs/operations.md).
  const own = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(process.env.ESI_TEST_ROOT!, `progress-${Date.now()}`, 'etcd'),
    extraArgs: ['--experimental-watch-progress-notify-interval', '1s'],
  });
  const ownStore = new EtcdStore({ endpoints: [own.clientUrl] });
  try {
    const prefix = '/it-quiet/';
    const queue = `it-quiet-${Date.now()}.fifo`;
    const url = await createFifoQueue(queue);
    const relay = relayFor(prefix, queue, {}, { store: ownStore });
    await relay.start();
    const start = relayPosition(relay);
    let elsewhere = 0;
    for (let i = 0; i < 5; i++)
      elsewhere = (
        await ownStore
          .txn()
          .then(put(`/it-busy/k${i}`, 'v'))
          .commit()
      ).revision;
    await waitFor(async () => relayPosition(relay) >= elsewhere, {
      timeoutMs: 15_000,
      what: 'the quiet route at the revision of the writes elsewhere',
    });
    expect({ start: start < elsewhere, position: relayPosition(relay) >= elsewhere }).toEqual({
      start: true,
      position: true,
    });
    expect(relayCounters(relay).received).toBe(0);
    expect(await receiveAll(url)).toEqual([]);
    // The notifications keep the quiet watch heard from (the relay's heartbeat: ready-file.ts).
    expect(at(relay.streams, 0, 'relay watch streams').silentMs()).toBeLessThan(5000);
    await relay.stop();
  } finally {
    ownStore.close();
    await own.stop();
  }
});

test('an event SQS refuses for good goes to the relay dead-letter queue with its key and revision; the events after it flow', async () => {
  const prefix = `/it-refused-${Date.now()}/`;
  const queue = `it-refused-${Date.now()}.fifo`;
  const dlq = `it-refused-dlq-${Date.now()}`;
  const url = await createFifoQueue(queue);
  const dlqUrl = (await sqsClient().send(new CreateQueueCommand({ QueueName: dlq }))).QueueUrl!;
  const relay = relayFor(prefix, queue, { deadLetterQueue: dlq });
  await relay.start();
  // SQS takes messages of up to 1 MiB: this key alone makes a bigger one.
  const hugeKey = `${prefix}${'h'.repeat(1_100_000)}`;
  const rev = async (key: string) => (await store.txn().then(put(key, 'v')).commit()).revision;
  const before = await rev(`${prefix}before`);
  const huge = await rev(hugeKey);
  const after = await rev(`${prefix}after`);
  const seen = await collect(
    url,
    new Map([
      [`${prefix}before`, before],
      [`${prefix}after`, after],
    ]),
  );
  expect([...seen.keys()].sort()).toEqual([`${prefix}after`, `${prefix}before`]);
  const records = await waitFor(async () => {
    const got = await receiveAll(dlqUrl);
    return got.length ? got : undefined;
  });
  const record = only(records!, 'dead-lettered records');
  expect(JSON.parse(record)).toEqual({
    key: `${hugeKey.slice(0, 1024)}…`,
    keyLength: hugeKey.length,
    keySha256: createHash('sha256').update(hugeKey).digest('hex'),
    modRevision: huge,
    type: 'put',
    queue,
    error: expect.stringMatching(/^(MessageTooLong|InvalidParameterValue|BatchRequestTooLong): /) as string,
  });
  await waitFor(() => relayPosition(relay) >= after, { what: 'the relay to pass the refused event' });
  expect(relayCounters(relay)).toMatchObject({ forwarded: 2, deadLettered: 1 });
  await relay.stop();
  expect(await storedCheckpoint(prefix)).toEqual({ revision: after, routes: { [prefix]: after } });
});

test('checkpoints are written in batches, and not for events the relay does not forward', async () => {
  const prefix = `/it-ckpt-${Date.now()}/`;
  const queue = `it-ckpt-${Date.now()}.fifo`;
  const url = await createFifoQueue(queue);
  // Only keys under forwarded/ go to SQS. A write after 25 forwarded events, or a minute after
  // the first one (not within this test).
  const relay = relayFor(prefix, (e) => (e.key.startsWith(`${prefix}forwarded/`) ? queue : undefined), {
    checkpointMs: 60_000,
    checkpointEvents: 25,
  });
  await relay.start();
  const write = async (key: string) => (await store.txn().then(put(key, 'v')).commit()).revision;
  let lastSkipped = 0;
  for (let i = 0; i < 20; i++) lastSkipped = await write(`${prefix}skipped/k${i}`);
  await waitFor(() => relayPosition(relay) >= lastSkipped, { what: 'the relay to pass the skipped events' });
  expect(relayCounters(relay).checkpointWrites).toBe(0);

  const expected = new Map<string, number>();
  for (let i = 0; i < 30; i++) expected.set(`${prefix}forwarded/k${i}`, await write(`${prefix}forwarded/k${i}`));
  await collect(url, expected);
  const lastForwarded = Math.max(...expected.values());
  await waitFor(() => relayPosition(relay) >= lastForwarded, { what: 'the relay to pass the forwarded events' });
  // One write when the 25th forwarded event was sent, none per batch.
  await waitFor(() => relayCounters(relay).checkpointWrites === 1, { what: 'the checkpoint write' });
  expect(relayCounters(relay)).toMatchObject({ forwarded: 30, skipped: 20 });
  await relay.stop();
  expect(relayCounters(relay).checkpointWrites).toBeLessThanOrEqual(2);
  expect(await storedCheckpoint(prefix)).toEqual({ revision: lastForwarded, routes: { [prefix]: lastForwarded } });
});

test('the SQS server restarting empty holds the relay back only until the queue is there again; nothing is lost', async () => {
  // A restart empties every queue, so this test has an SQS server of its own.
  const server = await startSqsServer(await freePort());
  const client = new SQSClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const prefix = `/it-sqs-restart-${Date.now()}/`;
  const queue = `it-sqs-restart-${Date.now()}.fifo`;
  const relay = relayFor(prefix, queue, {}, { sqs: client });
  try {
    const url = await createFifoQueue(queue, {}, client);
    await relay.start();
    const write = async (key: string) => (await store.txn().then(put(key, 'v')).commit()).revision;
    const before = await write(`${prefix}before`);
    await collect(url, new Map([[`${prefix}before`, before]]), client);
    await server.restart();
    // Written while the queue does not exist: the relay keeps trying.
    const during = await write(`${prefix}during`);
    await waitFor(() => relayCounters(relay).received >= 2, { what: 'the relay to read the event' });
    // The event source re-creates its queues when the server comes back (as declared).
    await createFifoQueue(queue, {}, client);
    const after = await write(`${prefix}after`);
    const seen = await collect(
      url,
      new Map([
        [`${prefix}during`, during],
        [`${prefix}after`, after],
      ]),
      client,
    );
    expect([...seen.keys()].sort()).toEqual([`${prefix}after`, `${prefix}during`]);
  } finally {
    await relay.stop();
    client.destroy();
    await server.stop();
  }
});

/** A relay `run` of two routes, `/<run>-a/` and `/<run>-b/`, both to `<run>.fifo`. */
async function twoRoutes(run: string, opts: Partial<RelayOptions>) {
  const [a, b] = [`/${run}-a/`, `/${run}-b/`];
  const url = await createFifoQueue(`${run}.fifo`);
  const key = `/esi-relay/checkpoints/${run}`;
  const relay = (more: Partial<RelayOptions> = {}) =>
    new Relay(store, sqsClient(), {
      name: run,
      routes: [a, b].map((prefix) => ({ prefix, route: () => `${run}.fifo` })),
      logger,
      checkpointKey: key,
      ...opts,
      ...more,
    });
  return { a, b, url, key, relay };
}

test('one checkpoint key for all routes: each route at its own revision, the least of them as the revision', async () => {
  const { a, b, url, key, relay: make } = await twoRoutes(`it-routes-${Date.now()}`, { checkpointEvents: 1_000_000 });
  const relay = make();
  await relay.start();
  const write = async (k: string) => (await store.txn().then(put(k, 'v')).commit()).revision;
  const expected = new Map<string, number>();
  for (let i = 0; i < 10; i++) expected.set(`${a}k${i}`, await write(`${a}k${i}`));
  const lastB = await write(`${b}only`);
  expected.set(`${b}only`, lastB);
  for (let i = 10; i < 20; i++) expected.set(`${a}k${i}`, await write(`${a}k${i}`));
  const lastA = expected.get(`${a}k19`)!;
  await collect(url, expected);
  await waitFor(() => relay.checkpointRevision === lastB, { what: 'the batched checkpoint write' });
  await relay.stop();
  // 21 forwarded events, one write a second at most, so a few writes (not one per event or route).
  expect(relayCounters(relay).checkpointWrites).toBeGreaterThanOrEqual(1);
  expect(relayCounters(relay).checkpointWrites).toBeLessThanOrEqual(3);
  const stored = await store.range(key);
  expect(stored.items.map((kv) => [kv.key, JSON.parse(kv.value) as unknown])).toEqual([
    [key, { revision: lastB, routes: { [a]: lastA, [b]: lastB } }],
  ]);
});

test('another instance writing the checkpoint stops this one, which never moves it backwards', async () => {
  const prefix = `/it-fence-${Date.now()}/`;
  const queue = `it-fence-${Date.now()}.fifo`;
  const url = await createFifoQueue(queue);
  const relay = relayFor(prefix, queue, { checkpointMs: 50 });
  await relay.start();
  const write = async (k: string) => (await store.txn().then(put(k, 'v')).commit()).revision;
  const first = await write(`${prefix}first`);
  await collect(url, new Map([[`${prefix}first`, first]]));
  await waitFor(() => relay.checkpointRevision === first, { what: 'the first checkpoint write' });
  // Another instance of the same relay, further on.
  const theirs = JSON.stringify({ revision: first + 1000, routes: { [prefix]: first + 1000 } });
  await store
    .txn()
    .then(put(checkpointKey(prefix), theirs))
    .commit();
  const second = await write(`${prefix}second`);
  const err = await relay.failed();
  expect(err.name).toBe('CheckpointLostError');
  expect(relayPosition(relay)).toBeGreaterThanOrEqual(second);
  await relay.stop();
  expect((await store.get(checkpointKey(prefix)))!.value).toBe(theirs);
});
