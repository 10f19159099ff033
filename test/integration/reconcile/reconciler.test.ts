/**
 * The reconciler on real etcd (one of its own: a pass reads the whole keyspace) and the real SQS
 * server: one test per repair kind, each starting from the state a lost message leaves behind,
 * checking the message the pass re-sends and, where it matters, that the normal handler given
 * that message finishes the work. Then: nothing is repaired twice within the grace period, a dry
 * run writes and sends nothing, every read is paged, and the relay falling behind is measured.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ReceiveMessageCommand, DeleteMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startEtcd, type EtcdServer } from '../../../infra/local/etcd-server';
import { freePort } from '../../../infra/local/ports';
import { queueName } from '../../../shared/config';
import { deduplicationId, encodeEventMessage } from '../../../shared/events/etcd-event-message';
import { encodeGohanConfigValue } from '../../../shared/gohan/config-value';
import { jobWrites, tryClaimJob } from '../../../shared/jobs';
import { createLogger } from '../../../shared/log/logger';
import { reconcilePass, type PassOptions } from '../../../shared/reconcile/pass';
import { sqsClient } from '../../../shared/sqs/client';
import { EtcdStore } from '../../../shared/store/etcd-store';
import { put, type Store } from '../../../shared/store/store';
import { createFifoQueue } from '../../helpers/sqs';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';
import { waitFor } from '../../helpers/wait';
import { job } from '../../unit/jobs/fixtures';
import { only } from '../../helpers/at';

let etcd: EtcdServer;
let store: EtcdStore;
const urls: Record<string, string> = {};
const logger = createLogger('esi-reconciler');
const stage = `rec${Date.now().toString(36)}`;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'reconciler-'));
  etcd = await startEtcd({ clientPort: await freePort(), peerPort: await freePort(), dataDir: dir, name: 'rec' });
  // The handlers invoked below (planner, aggregator) use the default store and queue names.
  process.env.ESI_ETCD_ENDPOINTS = etcd.clientUrl;
  process.env.ESI_STAGE = stage;
  store = new EtcdStore({ endpoints: [etcd.clientUrl] });
  for (const q of ['config', 'heat-jobs', 'finished']) urls[q] = await createFifoQueue(queueName(q));
});

afterAll(async () => {
  store?.close();
  await etcd?.stop();
});

beforeEach(async () => {
  // Each test starts from an empty keyspace and empty queues.
  await store.txn().then({ kind: 'deletePrefix', prefix: '/' }).commit();
  for (const q of Object.keys(urls)) await drain(q);
});

/** Receives (and deletes) every message on a queue now: [body, group id, dedup id]. */
async function drain(q: string): Promise<{ body: unknown; group: string | undefined; dedup: string | undefined }[]> {
  const out: { body: unknown; group: string | undefined; dedup: string | undefined }[] = [];
  for (;;) {
    const res = await sqsClient().send(
      new ReceiveMessageCommand({
        QueueUrl: urls[q],
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        AttributeNames: ['All'],
      }),
    );
    const msgs = res.Messages ?? [];
    if (!msgs.length) return out;
    for (const m of msgs)
      out.push({
        body: JSON.parse(m.Body!),
        group: m.Attributes?.MessageGroupId,
        dedup: m.Attributes?.MessageDeduplicationId,
      });
    await sqsClient().send(
      new DeleteMessageBatchCommand({
        QueueUrl: urls[q],
        Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

const pass = (opts: Partial<PassOptions> = {}) =>
  reconcilePass(store, { logger, graceSeconds: 0, metrics: false, ...opts });
const write = async (key: string, value: string) => (await store.txn().then(put(key, value)).commit()).revision;
const json = async (key: string): Promise<unknown> => {
  const kv = await store.get(key);
  return kv ? (JSON.parse(kv.value) as unknown) : undefined;
};
const keysUnder = async (prefix: string) => (await store.range(prefix)).items.map((kv) => kv.key);
const network = (id: string, version = 1) => encodeGohanConfigValue({ id, name: id, admin_state_up: true }, version);

async function planner(message: unknown) {
  const { handler } = await import('../../../functions/planner/handler');
  return handler(sqsEvent(sqsRecord(message as never)), lambdaContext('esi-test-planner'));
}
async function aggregator(message: unknown) {
  const { handler } = await import('../../../functions/aggregator/handler');
  return handler(sqsEvent(sqsRecord(message as never)), lambdaContext('esi-test-aggregator'));
}

/** A network planned by the real planner: one create job, ready. Returns its config key and job id. */
async function plannedNetwork(id: string) {
  const key = `/config/v2.0/networks/${id}`;
  const rev = await write(key, network(id));
  expect(await planner({ key, modRevision: rev, type: 'put' })).toEqual({ batchItemFailures: [] });
  const jobId = only(
    (await keysUnder(`/jobs/all/create:heat_worker:network:${id}:`)).map((k) => k.slice('/jobs/all/'.length)),
    `jobs of ${id}`,
  );
  expect(jobId).toMatch(new RegExp(`^create:heat_worker:network:${id}:1:`));
  return { key, jobId };
}

test('replan: a /config version whose message was lost is re-sent past the relay’s dedup id, and the planner takes it in', async () => {
  const key = '/config/v2.0/networks/lost-net';
  const rev = await write(key, network('lost-net'));
  // The relay's message was accepted by SQS and lost (consumed by nobody, or purged) within the dedup window.
  const relayMessage = { key, modRevision: rev, type: 'put' as const };
  await sqsClient().send(
    new SendMessageCommand({
      QueueUrl: urls.config,
      MessageBody: encodeEventMessage(relayMessage),
      MessageGroupId: key,
      MessageDeduplicationId: deduplicationId(relayMessage),
    }),
  );
  await drain('config');

  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['replan', key]]);
  const sent = await drain('config');
  expect(sent).toEqual([
    {
      body: relayMessage,
      group: `${key}#reconciler`,
      dedup: expect.not.stringMatching(deduplicationId(relayMessage)) as unknown,
    },
  ]);

  expect(await planner(only(sent).body)).toEqual({ batchItemFailures: [] });
  expect(await json('/esi-worker/config/v2.0/networks/lost-net')).toEqual({
    body: { id: 'lost-net', name: 'lost-net', admin_state_up: true },
    deleted: false,
    version: 1,
  });
  // Taken in now: the next pass finds nothing about it.
  const after = await pass();
  expect(after.repairs.filter((r) => r.kind === 'replan')).toEqual([]);
});

test('limbo: a ready job never claimed (its message lost) is re-sent to its handler queue as the relay sent it', async () => {
  const { jobId } = await plannedNetwork('ready-net');
  const allKey = `/jobs/all/${jobId}`;
  const allRev = (await store.get(allKey))!.modRevision;
  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['limbo', allKey]]);
  expect(await drain('heat-jobs')).toEqual([
    {
      body: { key: allKey, modRevision: allRev, type: 'put' },
      group: `${allKey}#reconciler`,
      dedup: expect.any(String) as unknown,
    },
  ]);
});

test('limbo: a job whose claim expired is re-sent to its handler queue once seen in limbo past the grace', async () => {
  const { jobId } = await plannedNetwork('limbo-net');
  const claim = await tryClaimJob(store, jobId, 'crashed-invocation', 1);
  expect(claim.kind).toBe('claimed');
  await waitFor(async () => !(await store.get(`/jobs/working/${jobId}`)), { timeoutMs: 10_000, what: 'lease expiry' });
  const allRev = (await store.get(`/jobs/all/${jobId}`))!.modRevision;

  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['limbo', `/jobs/all/${jobId}`]]);
  expect((await drain('heat-jobs')).map((m) => m.body)).toEqual([
    { key: `/jobs/all/${jobId}`, modRevision: allRev, type: 'put' },
  ]);
  // The re-sent message is claimable: the job is neither waiting, working nor finished.
  expect((await tryClaimJob(store, jobId, 'the-handler', 30)).kind).toBe('claimed');
});

test('settle: a waiting job whose dependency finished (its settlement lost) is promoted through the lifecycle', async () => {
  const a = job('create:heat_worker:port:p1:1:aaaaa', [], { job_name: 'port:p1:1', resource_id: 'p1', version: 1 });
  const b = job('create:monitoring_worker:port:p1:1:bbbbb', [a.id], {
    job_name: 'port:p1:1',
    resource_id: 'p1',
    version: 1,
    handler: 'monitoring_worker',
    is_last: true,
  });
  const writes = await jobWrites(store, [
    { handler: 'heat_worker', job: a, attempt: 0 },
    { handler: 'monitoring_worker', job: b, attempt: 0 },
  ]);
  await store
    .txn()
    .when(...writes.compares)
    .then(...writes.ops)
    .commit();
  // A finished, as finishJob's first step writes it; the process died before settling.
  await store
    .txn()
    .then(put(`/jobs/finished/${a.id}`, JSON.stringify({ ok: true, on_failure: 'fail', finished_at: 'x' })))
    .commit();

  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['settle', `/jobs/waiting/${b.id}`]]);
  expect(await keysUnder('/jobs/waiting/')).toEqual([]);
  // Ready now: only its all key is left.
  expect(await store.get(`/jobs/all/${b.id}`)).toBeDefined();
});

test('aggregate: a chain finished whose finished message was lost is re-sent to the aggregator, which writes /state', async () => {
  const { jobId } = await plannedNetwork('agg-net');
  const { finishJob } = await import('../../../shared/jobs');
  const claim = await tryClaimJob(store, jobId, 'handler', 30);
  if (claim.kind !== 'claimed') throw new Error('not claimed');
  await finishJob(store, claim.claim, { ok: true });
  const finishedKey = `/jobs/finished/${jobId}`;
  const finishedRev = (await store.get(finishedKey))!.modRevision;

  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['aggregate', finishedKey]]);
  const sent = await drain('finished');
  expect(sent.map((m) => m.body)).toEqual([{ key: finishedKey, modRevision: finishedRev, type: 'put' }]);

  expect(await aggregator(only(sent).body)).toEqual({ batchItemFailures: [] });
  expect(await json('/state/v2.0/networks/agg-net')).toEqual({
    error: '',
    state: { worker_state: 'CREATE_COMPLETED' },
    version: 1,
  });
  for (const folder of ['all', 'ready', 'waiting', 'working', 'finished'])
    expect(await keysUnder(`/jobs/${folder}/`)).toEqual([]);
});

test('cleanup: worker keys of a resource whose /config key is gone are removed through the planner', async () => {
  await write('/esi-worker/config/v2.0/networks/gone', '{"body": {}, "deleted": true, "version": 2}');
  await write('/esi-worker/heat_stacks/v2.0/networks/gone', '{"stack_id": "s"}');
  await write('/esi-worker/job_state/v2.0/networks/gone', '{}');
  // A stack record alone (its mirror already gone) is a worker key too.
  await write('/esi-worker/heat_stacks/v2.0/networks/stack-only', '{"stack_id": "s"}');
  // A resource with a live config key keeps its keys.
  await plannedNetwork('kept');

  const report = await pass();
  expect(report.repairs.filter((r) => r.kind === 'cleanup').map((r) => r.key)).toEqual([
    '/config/v2.0/networks/gone',
    '/config/v2.0/networks/stack-only',
  ]);
  const sent = await drain('config');
  expect(sent.map((m) => m.body)).toEqual([
    { key: '/config/v2.0/networks/gone', modRevision: report.revision, type: 'delete' },
    { key: '/config/v2.0/networks/stack-only', modRevision: report.revision, type: 'delete' },
  ]);
  for (const m of sent) expect(await planner(m.body)).toEqual({ batchItemFailures: [] });
  expect(await keysUnder('/esi-worker/')).toEqual(['/esi-worker/config/v2.0/networks/kept']);
});

test('cleanup: a live resource whose key delete message was lost is torn down through the planner', async () => {
  // Upstream Gohan deletes the key of a live resource (no logical delete); the message is lost.
  await write(
    '/esi-worker/config/v2.0/networks/lost-del',
    '{"body": {"id": "lost-del"}, "deleted": false, "version": 1}',
  );
  await write('/esi-worker/heat_stacks/v2.0/networks/lost-del', '{"stack_id": "network_lost-del"}');

  const report = await pass();
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['cleanup', '/config/v2.0/networks/lost-del']]);
  const sent = await drain('config');
  expect(sent.map((m) => m.body)).toEqual([
    { key: '/config/v2.0/networks/lost-del', modRevision: report.revision, type: 'delete' },
  ]);
  expect(await planner(only(sent).body)).toEqual({ batchItemFailures: [] });
  // The teardown is planned from the mirror, one version later; the worker keys stay for its chain.
  expect(await keysUnder('/jobs/all/')).toEqual([
    expect.stringMatching(/^\/jobs\/all\/delete:heat_worker:network:lost-del:2:[a-z0-9]{5}$/),
  ]);
  expect(await json('/esi-worker/config/v2.0/networks/lost-del')).toEqual({
    body: { id: 'lost-del' },
    deleted: true,
    version: 2,
  });
  expect(await keysUnder('/esi-worker/heat_stacks/')).toEqual(['/esi-worker/heat_stacks/v2.0/networks/lost-del']);
});

test('a stack operation record an earlier version left is not a worker key: a pass leaves it alone', async () => {
  // Earlier versions kept /esi-worker/heat_operations/<path>; nothing reads those keys any more.
  await write('/esi-worker/heat_operations/v2.0/networks/legacy-op', '{"deadline_at": "2026-01-01T00:00:00Z"}');
  const report = await pass();
  expect([report.repairs, report.awaiting]).toEqual([[], []]);
  expect(await drain('config')).toEqual([]);
  expect(await keysUnder('/esi-worker/heat_operations/')).toEqual([
    '/esi-worker/heat_operations/v2.0/networks/legacy-op',
  ]);
});

test('a stranded key is repaired once per grace period, not on every pass', async () => {
  let now = 1_000_000;
  const clock = { graceSeconds: 10, now: () => now };
  await write('/config/v2.0/networks/slow', network('slow'));

  expect((await pass(clock)).repairs).toEqual([]); // first sighting: not older than the grace yet
  now += 11_000;
  expect((await pass(clock)).repairs.map((r) => r.kind)).toEqual(['replan']);
  // The re-sent message is taken and lost again (one still waiting would defer the repeat: below).
  expect((await drain('config')).length).toBe(1);
  now += 1_000;
  const again = await pass(clock);
  expect([again.repairs, again.awaiting.map((r) => r.kind)]).toEqual([[], ['replan']]);
  now += 12_000;
  expect((await pass(clock)).repairs.map((r) => r.kind)).toEqual(['replan']);
  expect((await drain('config')).length).toBe(1);
});

describe('a queue still draining', () => {
  // Grace 10 s, backlog grace 100 s; the clock is the pass's own, SQS and etcd are real.
  const key = '/config/v2.0/networks/queued-net';
  const clock = (at: { now: number }) => ({ graceSeconds: 10, backlogGraceSeconds: 100, now: () => at.now });
  const memory = async () => JSON.parse((await store.get('/esi-reconciler/memory'))!.value) as unknown;
  /** Another key's message, waiting in the config queue: the backlog. */
  const queueOther = () =>
    sqsClient().send(
      new SendMessageCommand({
        QueueUrl: urls.config,
        MessageBody: encodeEventMessage({ key: '/config/v2.0/networks/other', modRevision: 1, type: 'put' }),
        MessageGroupId: '/config/v2.0/networks/other',
        MessageDeduplicationId: `other-${Date.now()}`,
      }),
    );
  const resent = (rev: number) => ({
    body: { key, modRevision: rev, type: 'put' },
    group: `${key}#reconciler`,
    dedup: expect.any(String) as unknown,
  });

  test('with messages waiting (visible, then in flight) a stranded key is re-sent only after the backlog grace', async () => {
    const at = { now: 7_000_000 };
    const rev = await write(key, network('queued-net'));
    const first = await pass(clock(at)); // the first mark: nothing dated yet
    await queueOther();

    at.now += 11_000; // past the grace, its queue holds a message: deferred
    const deferred = await pass(clock(at));
    expect([deferred.repairs, deferred.deferred.map((r) => [r.kind, r.key]), deferred.backlog]).toEqual([
      [],
      [['replan', key]],
      { [queueName('config')]: 1 },
    ]);
    expect(deferred.memoryWritten).toBe(false);

    // The consumer holds the message (in flight, not deleted): still a backlog.
    const held = await sqsClient().send(
      new ReceiveMessageCommand({ QueueUrl: urls.config, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    expect(held.Messages).toHaveLength(1);
    at.now += 80_000; // 91 s: still inside the backlog grace
    const stillDeferred = await pass(clock(at));
    expect([stillDeferred.repairs, stillDeferred.deferred.length, stillDeferred.backlog]).toEqual([
      [],
      1,
      { [queueName('config')]: 1 },
    ]);

    at.now += 10_000; // 101 s: past the backlog grace, the queue still busy: repaired
    const repaired = await pass(clock(at));
    expect([repaired.repairs.map((r) => [r.kind, r.key]), repaired.deferred]).toEqual([[['replan', key]], []]);
    // Exactly the re-sent message is visible (the other one is still held).
    expect(await drain('config')).toEqual([resent(rev)]);
    await sqsClient().send(
      new DeleteMessageBatchCommand({
        QueueUrl: urls.config,
        Entries: held.Messages!.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    // Written by the first pass and the repairing one only: its mark and the repair.
    expect(await memory()).toEqual({
      marks: [
        { revision: first.revision, at: 7_000_000 },
        { revision: repaired.revision, at: 7_101_000 },
      ],
      limbo: {},
      repaired: { [`replan ${key}@${rev}`]: repaired.revision },
    });
    expect(repaired.revision).toBe(first.revision + 1);
    expect(await json(key)).toEqual(JSON.parse(network('queued-net')));
  });

  test('with its queue empty a stranded key is re-sent after the normal grace', async () => {
    const at = { now: 8_000_000 };
    const rev = await write(key, network('queued-net'));
    const first = await pass(clock(at));
    at.now += 11_000;
    const repaired = await pass(clock(at));
    expect([repaired.repairs.map((r) => [r.kind, r.key]), repaired.deferred, repaired.backlog]).toEqual([
      [['replan', key]],
      [],
      { [queueName('config')]: 0 },
    ]);
    expect(await drain('config')).toEqual([resent(rev)]);
    expect(await memory()).toEqual({
      marks: [
        { revision: first.revision, at: 8_000_000 },
        { revision: first.revision + 1, at: 8_011_000 },
      ],
      limbo: {},
      repaired: { [`replan ${key}@${rev}`]: first.revision + 1 },
    });
  });

  test('a backlog that cannot be read does not hold repairs back, and is logged once for the pass', async () => {
    const at = { now: 9_000_000 };
    const rev = await write(key, network('queued-net'));
    await write('/config/v2.0/networks/queued-two', network('queued-two'));
    await pass(clock(at));
    await queueOther();
    at.now += 11_000;
    const warn = jest.spyOn(logger, 'warn');
    const repaired = await pass({ ...clock(at), backlog: () => Promise.reject(new Error('access denied')) });
    const unreadable = warn.mock.calls.filter(
      ([m]) => typeof m === 'string' && m.startsWith('queue backlog unreadable'),
    );
    warn.mockRestore();
    expect(unreadable).toEqual([
      [
        'queue backlog unreadable; repairing into those queues as if empty',
        { queues: { [queueName('config')]: 'access denied' } },
      ],
    ]);
    expect([repaired.repairs.map((r) => r.key).sort(), repaired.deferred, repaired.backlog]).toEqual([
      ['/config/v2.0/networks/queued-net', '/config/v2.0/networks/queued-two'],
      [],
      { [queueName('config')]: 0 },
    ]);
    const sent = await drain('config');
    expect(sent.map((m) => m.body).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { key: '/config/v2.0/networks/other', modRevision: 1, type: 'put' },
      { key: '/config/v2.0/networks/queued-net', modRevision: rev, type: 'put' },
      { key: '/config/v2.0/networks/queued-two', modRevision: rev + 1, type: 'put' },
    ]);
  });
});

test('the memory is written only when a mark is due or what it keeps changed, not on every pass', async () => {
  let now = 2_000_000;
  const clock = { graceSeconds: 10, now: () => now };
  const memory = async () => {
    const kv = await store.get('/esi-reconciler/memory');
    return kv && { modRevision: kv.modRevision, value: JSON.parse(kv.value) as unknown };
  };
  const first = await pass(clock);
  const firstRevision = first.revision;
  expect(first.memoryWritten).toBe(true); // no memory yet
  const stored = await memory();
  expect(stored).toEqual({
    modRevision: firstRevision + 1,
    value: { marks: [{ revision: firstRevision, at: 2_000_000 }], limbo: {}, repaired: {} },
  });
  // Nothing but its own write since: no write, however long after.
  now += 60_000;
  expect((await pass(clock)).memoryWritten).toBe(false);
  expect(await memory()).toEqual(stored);
  // A change: a mark is due (the newest is more than half a grace period old).
  const changed = await write('/config/v2.0/networks/late', network('late'));
  now += 1_000;
  expect((await pass(clock)).memoryWritten).toBe(true);
  expect(await memory()).toEqual({
    modRevision: changed + 1,
    value: {
      marks: [
        { revision: firstRevision, at: 2_000_000 },
        { revision: changed, at: 2_061_000 },
      ],
      limbo: {},
      repaired: {},
    },
  });
  // Another change less than half a grace period later: not yet.
  await write('/config/v2.0/networks/later', network('later'));
  now += 4_000;
  expect((await pass(clock)).memoryWritten).toBe(false);
  expect((await memory())!.modRevision).toBe(changed + 1);
});

test('a dry run lists the repairs and writes and sends nothing', async () => {
  await write('/config/v2.0/networks/dry', network('dry'));
  const before = await store.revision();
  const report = await pass({ dryRun: true });
  expect(report.repairs.map((r) => [r.kind, r.key])).toEqual([['replan', '/config/v2.0/networks/dry']]);
  expect(await store.revision()).toBe(before);
  expect(await drain('config')).toEqual([]);
});

test('every read of a pass is paged (never one unbounded range) and the pages give the same repairs', async () => {
  for (let i = 0; i < 7; i++) await write(`/config/v2.0/networks/paged-${i}`, network(`paged-${i}`));
  const limits: (number | undefined)[] = [];
  const counting = new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'range')
        return (prefix: string, opts?: { limit?: number }) => {
          limits.push(opts?.limit);
          return target.range(prefix, opts);
        };
      return Reflect.get(target, prop, receiver) as unknown;
    },
  }) as Store;
  const report = await reconcilePass(counting, { logger, graceSeconds: 0, metrics: false, pageSize: 3, dryRun: true });
  expect(report.repairs.map((r) => r.key).sort()).toEqual(
    Array.from({ length: 7 }, (_, i) => `/config/v2.0/networks/paged-${i}`).sort(),
  );
  expect(limits.length).toBeGreaterThan(3);
  expect(limits.every((l) => l === 3)).toBe(true);
});

test('the relay behind a change is measured from the marks', async () => {
  let now = 5_000_000;
  const clock = { now: () => now };
  // The relay forwarded everything up to now.
  const checkpoint = (rev: number) => JSON.stringify({ revision: rev, routes: { '/config/': rev } });
  const cp = (await write('/esi-relay/checkpoints/main', checkpoint(0))) + 1;
  await write('/esi-relay/checkpoints/main', checkpoint(cp));
  await pass(clock); // a mark: a revision at or below the checkpoint, at `now`
  await write('/config/v2.0/networks/unforwarded', network('unforwarded'));
  now += 40_000;
  await pass(clock);
  now += 20_000;
  const report = await pass({ ...clock, dryRun: true });
  // The change came after the first mark and before the second: at least 20 s ago.
  expect(report.relay).toEqual([{ relay: 'main', prefix: '/config/', checkpoint: cp, seconds: 20 }]);
});

describe('esi reconcile', () => {
  const esi = (...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [path.join(__dirname, '../../../bin/esi.cjs'), 'reconcile', ...args],
        { env: { ...process.env, ESI_ETCD_ENDPOINTS: etcd.clientUrl, ESI_LOG_LEVEL: 'ERROR' } },
        (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });

  test('--dry-run lists one line per repair (or JSON), writes nothing; usage errors exit 2', async () => {
    await write('/config/v2.0/networks/cli-net', network('cli-net'));
    const before = await store.revision();
    const text = await esi('--dry-run', '--grace', '0');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^replan {4}\/config\/v2\.0\/networks\/cli-net {2}version 1 not taken in \(no mirror at it, no \/state for it\) since revision \d+\n$/,
    );
    const json = await esi('--dry-run', '--grace', '0', '--json');
    expect(JSON.parse(json.stdout)).toEqual({
      kind: 'replan',
      key: '/config/v2.0/networks/cli-net',
      why: expect.stringMatching(/^version 1 not taken in/) as unknown,
    });
    expect(await store.revision()).toBe(before);

    expect((await esi('--no-such-option')).code).toBe(2);
    expect((await esi('--grace', 'soon')).code).toBe(2);
    expect((await esi('extra-argument')).code).toBe(2);
  });

  test('without --dry-run it runs one pass: re-sends and records its mark', async () => {
    await write('/config/v2.0/networks/cli-run', network('cli-run'));
    const r = await esi('--grace', '0');
    expect([r.code, r.stdout]).toEqual([0, expect.stringMatching(/^replan {4}\/config\/v2\.0\/networks\/cli-run {2}/)]);
    expect((await drain('config')).map((m) => m.body)).toEqual([
      { key: '/config/v2.0/networks/cli-run', modRevision: expect.any(Number) as unknown, type: 'put' },
    ]);
    // The pass recorded its mark (a zero grace suppresses nothing, so no repair is kept).
    const memory = JSON.parse((await store.get('/esi-reconciler/memory'))!.value) as { marks: unknown[] };
    expect(memory.marks).toHaveLength(1);
  });
});
