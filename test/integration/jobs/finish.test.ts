import { claimJob } from '../../helpers/claim';
import { cleanupChain, ClaimLostError, finishJob, jobWrites, settleWaiting } from '../../../shared/jobs';
import type { JobKeys } from '../../../shared/jobs/job-keys';
import type { Job } from '../../../shared/planner/types';
import { del, put, type Store } from '../../../shared/store/store';
import { clients, eventsSince, isolatedKeys, job, seed004Jobs, seedJobs, storeClient } from './helpers';
import { at } from '../../helpers/at';
import { observedStore } from '../../helpers/observed-store';

const store = storeClient();
afterAll(() => store.close());

const TTL = 60;

async function run(keys: JobKeys, id: string, outcome: { ok: true } | { ok: false; error: string }, s = store) {
  const claim = await claimJob(s, id, `owner-of-${id}`, TTL, { keys });
  if (!claim) throw new Error(`could not claim ${id}`);
  return finishJob(s, claim, outcome);
}

/** Writes to a job's keys other than its finished key: a promotion is the waiting key's delete. */
const promotionsOf = (keys: JobKeys, id: string, events: { type: string; key: string }[]) =>
  events.filter((e) => e.key === keys.waiting(id) || e.key === keys.working(id) || e.key === keys.all(id)).length;

test('10 dependencies finished concurrently by 10 clients promote their dependent exactly once (5 rounds)', async () => {
  const { stores, close } = clients(10);
  try {
    for (let round = 0; round < 5; round++) {
      const keys = isolatedKeys(`fan-in-${round}`);
      const deps = Array.from({ length: 10 }, (_, i) => `create:heat_worker:subnet:s${i}:1:d${round}${i}xx`);
      const dependent = `create:heat_worker:port:p:1:j${round}xxx`;
      await seedJobs(store, keys, [...deps.map((d) => job(d, [])), job(dependent, deps)]);
      const claims = await Promise.all(deps.map((d, i) => claimJob(at(stores, i), d, `o${i}`, TTL, { keys })));
      const from = (await store.revision()) + 1;
      const results = await Promise.all(claims.map((c, i) => finishJob(at(stores, i), c!, { ok: true })));

      const events = await eventsSince(store, keys.root, from);
      expect(events.filter((e) => e.key === keys.waiting(dependent)).map((e) => e.type)).toEqual(['delete']);
      expect(promotionsOf(keys, dependent, events)).toBe(1);
      expect(results.filter((r) => r.promoted.includes(dependent))).toHaveLength(1);
      // Ready: only its all key is left.
      expect(await store.get(keys.waiting(dependent))).toBeUndefined();
      expect(await store.get(keys.all(dependent))).toBeDefined();
    }
  } finally {
    close();
  }
});

test('seed 004 chain: the monitoring delete fails (ignore), the heat modify and the monitoring create still run in order', async () => {
  const keys = isolatedKeys('seed004-ignore');
  const [remove, modify, create] = seed004Jobs();
  expect([remove.on_failure, modify.on_failure, create.is_last]).toEqual(['ignore', 'fail', true]);
  const placement = await seedJobs(store, keys, [remove, modify, create]);
  expect([...placement]).toEqual([
    [remove.id, 'ready'],
    [modify.id, 'waiting'],
    [create.id, 'waiting'],
  ]);

  const r1 = await run(keys, remove.id, { ok: false, error: 'target not found' });
  expect(r1).toMatchObject({
    outcome: { ok: false, error: 'target not found' },
    promoted: [modify.id],
    failedDependents: [],
  });
  expect(await claimJob(store, create.id, 'early', TTL, { keys })).toBeUndefined();

  const r2 = await run(keys, modify.id, { ok: true });
  expect(r2).toMatchObject({ promoted: [create.id], failedDependents: [] });

  const r3 = await run(keys, create.id, { ok: true });
  expect(r3).toEqual({ jobId: create.id, outcome: { ok: true }, duplicate: false, promoted: [], failedDependents: [] });

  const cleaned = await cleanupChain(
    store,
    { resource_type: 'port', resource_id: create.resource_id, version: 2 },
    { keys },
  );
  expect(cleaned).toMatchObject({ cleaned: true });
  // Nothing of the chain is left.
  expect((await store.range(keys.root)).items).toEqual([]);
});

test("seed 004 chain: the heat modify fails (fail), so the monitoring create never runs and reports the failure as the chain's last job", async () => {
  const keys = isolatedKeys('seed004-fail');
  const [remove, modify, create] = seed004Jobs();
  await seedJobs(store, keys, [remove, modify, create]);
  await run(keys, remove.id, { ok: true });
  const from = (await store.revision()) + 1;
  const r = await run(keys, modify.id, { ok: false, error: 'Stack port_7abe UPDATE_FAILED' });

  expect(r.promoted).toEqual([]);
  expect(r.failedDependents).toEqual([create.id]);
  expect(JSON.parse((await store.get(keys.finished(create.id)))!.value)).toEqual({
    ok: false,
    error: `dependency ${modify.id} failed: Stack port_7abe UPDATE_FAILED`,
    on_failure: create.on_failure,
    failed_by: modify.id,
    root_cause: modify.id,
    finished_at: expect.any(String),
  });
  expect(await store.get(keys.waiting(create.id))).toBeUndefined();
  // Failed, never ready: its waiting key went in the same transaction that put its finished key.
  const events = await eventsSince(store, keys.root, from);
  const waitingDelete = events.find((e) => e.key === keys.waiting(create.id));
  expect(events.find((e) => e.key === keys.finished(create.id))?.modRevision).toBe(waitingDelete?.modRevision);
  expect(await claimJob(store, create.id, 'late', TTL, { keys })).toBeUndefined();
});

test('a failure crosses chains: a port waiting on a failed network job fails, and so does the rest of its chain', async () => {
  const keys = isolatedKeys('cross-chain');
  const net = job('create:heat_worker:network:n:1:aaaaa', [], {
    resource_type: 'network',
    resource_id: 'n',
    job_name: 'network:n:1',
    version: 1,
    is_last: true,
  });
  const port1 = job('create:heat_worker:port:p:1:bbbbb', [net.id], {
    resource_id: 'p',
    job_name: 'port:p:1',
    version: 1,
  });
  const port2 = job('create:monitoring_worker:port:p:1:ccccc', [net.id, port1.id], {
    resource_id: 'p',
    job_name: 'port:p:1',
    version: 1,
    is_last: true,
    handler: 'monitoring_worker',
  });
  await seedJobs(store, keys, [net, port1, port2]);
  const r = await run(keys, net.id, { ok: false, error: 'quota exceeded' });
  expect(r.failedDependents.sort()).toEqual([port1.id, port2.id].sort());
  // Both chains are complete: the network's last job failed, and so did the port's, by the network.
  const rootCause = async (id: string) =>
    (JSON.parse((await store.get(keys.finished(id)))!.value) as { root_cause?: string }).root_cause;
  expect([await rootCause(port1.id), await rootCause(port2.id)]).toEqual([net.id, net.id]);
});

test('a duplicate finish under the same claim is a no-op; a finish under another claim is rejected', async () => {
  const keys = isolatedKeys('dup-finish');
  const a = job('create:heat_worker:network:n:1:aaaaa', []);
  const b = job('create:heat_worker:port:p:1:bbbbb', [a.id]);
  await seedJobs(store, keys, [a, b]);
  const claim = (await claimJob(store, a.id, 'o', TTL, { keys }))!;
  const first = await finishJob(store, claim, { ok: true });
  expect(first).toMatchObject({ duplicate: false, promoted: [b.id] });

  const from = (await store.revision()) + 1;
  const again = await finishJob(store, claim, { ok: false, error: 'retry says otherwise' });
  expect(again).toMatchObject({ duplicate: true, outcome: { ok: true }, promoted: [], failedDependents: [] });
  expect(await eventsSince(store, keys.root, from)).toEqual([]);

  const stale = { ...claim, createRevision: claim.createRevision - 1 };
  await expect(finishJob(store, stale, { ok: true })).rejects.toBeInstanceOf(ClaimLostError);
});

test('a settlement interrupted after the finish (crash between the steps) is completed by the next settle', async () => {
  const keys = isolatedKeys('crash-between');
  const a = job('create:heat_worker:network:n:1:aaaaa', []);
  const b = job('create:heat_worker:port:p:1:bbbbb', [a.id]);
  await seedJobs(store, keys, [a, b]);
  const claim = (await claimJob(store, a.id, 'o', TTL, { keys }))!;
  // Step 1 alone, as finishJob writes it, then the process "dies".
  await store
    .txn()
    .then(
      put(
        keys.finished(a.id),
        JSON.stringify({ ok: true, on_failure: 'fail', finished_at: 't', claim_revision: claim.createRevision }),
      ),
      del(keys.working(a.id)),
    )
    .commit();
  expect(await store.get(keys.waiting(b.id))).toBeDefined();
  const settled = await settleWaiting(store, { keys });
  expect(settled.promoted).toEqual([b.id]);
  expect((await settleWaiting(store, { keys })).promoted).toEqual([]);
});

test('the planner write fails when a listed dependency finishes between its read and its commit', async () => {
  const keys = isolatedKeys('plan-race');
  const a = job('create:heat_worker:network:n:1:aaaaa', []);
  await seedJobs(store, keys, [a]);
  const b: Job = job('create:heat_worker:port:p:1:bbbbb', [a.id]);
  const planned = await jobWrites(store, [{ handler: 'heat_worker', job: b, attempt: 0 }], { keys });
  expect(planned.placement.get(b.id)).toBe('waiting');
  await run(keys, a.id, { ok: true });
  const res = await store
    .txn()
    .when(...planned.compares)
    .then(...planned.ops)
    .commit();
  expect(res.succeeded).toBe(false);
  const replanned = await jobWrites(store, [{ handler: 'heat_worker', job: b, attempt: 0 }], { keys });
  expect(replanned.placement.get(b.id)).toBe('ready');
  expect(
    (
      await store
        .txn()
        .when(...replanned.compares)
        .then(...replanned.ops)
        .commit()
    ).succeeded,
  ).toBe(true);
});

test('cleanupChain refuses a chain that is not complete and deletes nothing', async () => {
  const keys = isolatedKeys('cleanup-refuse');
  const [remove, modify, create] = seed004Jobs();
  await seedJobs(store, keys, [remove, modify, create]);
  await run(keys, remove.id, { ok: true });
  const res = await cleanupChain(
    store,
    { resource_type: 'port', resource_id: create.resource_id, version: 2 },
    { keys },
  );
  expect(res).toEqual({
    cleaned: false,
    reason: 'unfinished',
    unfinished: expect.arrayContaining([modify.id, create.id]),
  });
  expect(await store.get(keys.all(remove.id))).toBeDefined();
});

/** Counts what settles dependents through a store: dependents-index reads and waiting-key moves. */
function settleCounter(inner: Store, keys: JobKeys) {
  const count = { dependentsReads: 0, moves: 0 };
  const dependents = `${keys.root}dependents/`;
  const store = observedStore(inner, {
    range: (prefix) => {
      if (prefix.startsWith(dependents)) count.dependentsReads++;
    },
    txn: (parts) => {
      for (const op of parts.then) {
        if (op.kind === 'range' && op.prefix.startsWith(dependents)) count.dependentsReads++;
        if (op.kind === 'delete' && op.key.startsWith(keys.prefix('waiting'))) count.moves++;
      }
    },
  });
  return { store, count };
}

/** A network's last job and a port's job waiting for it (the port's the last of its chain or not), seeded. */
async function networkThenPort(keys: ReturnType<typeof isolatedKeys>, portIsLast: boolean) {
  const net = job('create:heat_worker:network:n:1:aaaaa', [], {
    resource_type: 'network',
    resource_id: 'n',
    is_last: true,
  });
  const port = job('create:heat_worker:port:p:1:bbbbb', [net.id], { resource_id: 'p', is_last: portIsLast });
  await seedJobs(store, keys, [net, port]);
  return { net, port };
}

test("a finished job's dependents are settled once, by its finish: the chain's clean-up settles nothing again", async () => {
  const keys = isolatedKeys('settle-once');
  const { net, port } = await networkThenPort(keys, false);
  const { store: counted, count } = settleCounter(store, keys);
  const claim = (await claimJob(store, net.id, 'o', TTL, { keys }))!;
  expect(await finishJob(counted, claim, { ok: true })).toMatchObject({ promoted: [port.id] });
  expect(count).toEqual({ dependentsReads: 1, moves: 1 });
  const cleaned = await cleanupChain(counted, { resource_type: 'network', resource_id: 'n', version: 1 }, { keys });
  expect(cleaned).toMatchObject({ cleaned: true, jobIds: [net.id] });
  expect(count).toEqual({ dependentsReads: 1, moves: 1 });
});

test("a clean-up finding a finished job's dependents unsettled (a crash between the finish's steps) settles them, then removes the chain", async () => {
  const keys = isolatedKeys('cleanup-heals');
  const { net, port } = await networkThenPort(keys, true);
  const claim = (await claimJob(store, net.id, 'o', TTL, { keys }))!;
  const netFinished = {
    ok: false,
    error: 'quota exceeded',
    on_failure: 'fail',
    finished_at: 't',
    claim_revision: claim.createRevision,
  };
  // Step 1 alone, as finishJob writes it, then the process "dies".
  await store
    .txn()
    .then(put(keys.finished(net.id), JSON.stringify(netFinished)), del(keys.working(net.id)))
    .commit();
  const chain = { resource_type: 'network', resource_id: 'n', version: 1 };
  expect(await cleanupChain(store, chain, { keys })).toEqual({ cleaned: false, reason: 'conflict' });
  expect(await store.get(keys.waiting(port.id))).toBeUndefined();
  expect(await store.get(keys.dependent(net.id, port.id))).toBeUndefined();
  expect(JSON.parse((await store.get(keys.finished(port.id)))!.value)).toEqual({
    ok: false,
    error: `dependency ${net.id} failed: quota exceeded`,
    on_failure: 'fail',
    finished_at: expect.any(String),
    failed_by: net.id,
    root_cause: net.id,
  });
  const from = (await store.revision()) + 1;
  expect(await cleanupChain(store, chain, { keys })).toMatchObject({ cleaned: true, jobIds: [net.id] });
  expect((await eventsSince(store, keys.root, from)).map((e) => `${e.type} ${e.key}`).sort()).toEqual(
    [`delete ${keys.all(net.id)}`, `delete ${keys.finished(net.id)}`].sort(),
  );
});

test('a dependent no settlement can move (its job value unreadable) does not hold a failed chain back', async () => {
  const keys = isolatedKeys('cleanup-stuck');
  const { net, port } = await networkThenPort(keys, true);
  await store
    .txn()
    .then(put(keys.all(port.id), 'not a job'))
    .commit();
  const claim = (await claimJob(store, net.id, 'o', TTL, { keys }))!;
  await finishJob(store, claim, { ok: false, error: 'quota exceeded' });
  expect(await store.get(keys.dependent(net.id, port.id))).toBeDefined();
  const from = (await store.revision()) + 1;
  const chain = { resource_type: 'network', resource_id: 'n', version: 1 };
  expect(await cleanupChain(store, chain, { keys })).toMatchObject({ cleaned: true, jobIds: [net.id] });
  expect((await eventsSince(store, keys.root, from)).map((e) => `${e.type} ${e.key}`).sort()).toEqual(
    [`delete ${keys.all(net.id)}`, `delete ${keys.finished(net.id)}`].sort(),
  );
});
