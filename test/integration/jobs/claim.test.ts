import { claimJob } from '../../helpers/claim';
import { ClaimLostError, finishJob, jobTxn, releaseClaim, retryJob, tryClaimJob } from '../../../shared/jobs';
import { parseStoredJob } from '../../../shared/jobs/values';
import { ClaimLeases } from '../../../shared/jobs/claim-lease';
import { modRevisionIs, put, type Lease } from '../../../shared/store/store';
import { waitFor } from '../../helpers/wait';
import { clients, eventsSince, isolatedKeys, job, seedJobs, storeClient } from './helpers';
import { at, only } from '../../helpers/at';

const store = storeClient();
afterAll(() => store.close());

const TTL = 60;

test('20 concurrent claimers on 20 connections: exactly one claim; the others are told it is held', async () => {
  const keys = isolatedKeys('claim-race');
  await seedJobs(store, keys, [job('create:heat_worker:port:p1:1:aaaaa', [])]);
  const { stores, close } = clients(20);
  try {
    const attempts = await Promise.all(
      stores.map((s, i) => tryClaimJob(s, 'create:heat_worker:port:p1:1:aaaaa', `owner-${i}`, TTL, { keys })),
    );
    const won = attempts.filter((a) => a.kind === 'claimed');
    expect(won).toHaveLength(1);
    expect(attempts.filter((a) => a.kind === 'refused' && a.reason === 'held')).toHaveLength(19);
    const first = only(won, 'claims won');
    const winner = first.kind === 'claimed' ? first.claim : undefined;
    const working = await store.get(keys.working('create:heat_worker:port:p1:1:aaaaa'));
    expect(JSON.parse(working!.value).owner).toBe(winner!.owner);
    expect(working!.createRevision).toBe(winner!.createRevision);
    expect(working!.lease).toBe(winner!.leaseId);
  } finally {
    close();
  }
});

test('refuses a waiting job, a missing job and a finished job', async () => {
  const keys = isolatedKeys('claim-refusals');
  await seedJobs(store, keys, [job('a:h:t:r:1:aaaaa', []), job('b:h:t:r:1:bbbbb', ['a:h:t:r:1:aaaaa'])]);
  expect(await tryClaimJob(store, 'b:h:t:r:1:bbbbb', 'o', TTL, { keys })).toEqual({
    kind: 'refused',
    reason: 'waiting',
  });
  expect(await tryClaimJob(store, 'zz:h:t:r:1:zzzzz', 'o', TTL, { keys })).toEqual({
    kind: 'refused',
    reason: 'missing',
  });
  const claim = (await claimJob(store, 'a:h:t:r:1:aaaaa', 'o', TTL, { keys }))!;
  await finishJob(store, claim, { ok: true });
  expect(await tryClaimJob(store, 'a:h:t:r:1:aaaaa', 'o2', TTL, { keys })).toEqual({
    kind: 'refused',
    reason: 'finished',
  });
});

test('a stale claim (lease gone) is taken over; every later write of the first holder is rejected and changes nothing', async () => {
  const keys = isolatedKeys('claim-stale');
  const id = 'modify:heat_worker:port:p2:2:ccccc';
  const record = `${keys.root}records/p2`;
  await seedJobs(store, keys, [job(id, [])]);
  const first = (await claimJob(store, id, 'first', TTL, { keys }))!;
  await jobTxn(store, first).then(put(record, 'first-start')).commit();

  // The pause: the first invocation's lease ends (as it would after TTL) while it is frozen.
  await first.lease!.revoke();
  expect(await store.get(keys.working(id))).toBeUndefined();
  const second = (await claimJob(store, id, 'second', TTL, { keys }))!;
  expect(second).toBeDefined();
  expect(second.createRevision).not.toBe(first.createRevision);
  await jobTxn(store, second).then(put(record, 'second')).commit();

  // The first one wakes up and tries everything it could do.
  const from = (await store.revision()) + 1;
  await expect(jobTxn(store, first).then(put(record, 'first-late')).commit()).rejects.toBeInstanceOf(ClaimLostError);
  await expect(retryJob(store, first, 'late error')).rejects.toBeInstanceOf(ClaimLostError);
  await expect(releaseClaim(store, first)).rejects.toBeInstanceOf(ClaimLostError);
  await expect(finishJob(store, first, { ok: false, error: 'late' })).rejects.toBeInstanceOf(ClaimLostError);
  expect(await eventsSince(store, keys.root, from)).toEqual([]);
  expect((await store.get(record))!.value).toBe('second');

  const done = await finishJob(store, second, { ok: true });
  expect(done.outcome).toEqual({ ok: true });
  expect(JSON.parse((await store.get(keys.finished(id)))!.value)).toMatchObject({
    ok: true,
    claim_revision: second.createRevision,
  });
});

test('a claim whose lease really expires can be claimed again', async () => {
  const keys = isolatedKeys('claim-expiry');
  const id = 'create:heat_worker:port:p3:1:ddddd';
  await seedJobs(store, keys, [job(id, [])]);
  const first = (await claimJob(store, id, 'first', 2, { keys }))!;
  expect(await claimJob(store, id, 'second', TTL, { keys })).toBeUndefined();
  await waitFor(async () => (await store.get(keys.working(id))) === undefined, {
    timeoutMs: 15_000,
    what: 'the 2 s lease to expire',
  });
  const second = await claimJob(store, id, 'second', TTL, { keys });
  expect(second?.owner).toBe('second');
  await expect(
    jobTxn(store, first)
      .then(put(`${keys.root}x`, 'late'))
      .commit(),
  ).rejects.toBeInstanceOf(ClaimLostError);
  expect(await store.get(`${keys.root}x`)).toBeUndefined();
});

test('claims on a shared lease outlive its TTL while one is held; after the last they end one TTL later and are taken over', async () => {
  const keys = isolatedKeys('claim-keepalive');
  const ids = ['create:heat_worker:port:p4:1:eeeee', 'create:heat_worker:port:p6:1:eeeee'];
  await seedJobs(
    store,
    keys,
    ids.map((id) => job(id, [])),
  );
  const leases = new ClaimLeases(2);
  const claimOn = async (id: string, lease: Lease) => {
    const held = await tryClaimJob(store, id, 'first', 2, { keys, lease });
    if (held.kind !== 'claimed') throw new Error(`not claimed: ${held.reason}`);
    expect(held.claim.leaseId).toBe(lease.id);
    expect(held.claim.lease).toBeUndefined(); // the caller's to end, not the claim's
    return held.claim;
  };
  const claims = await leases.hold(store, async (lease) => {
    const second = leases.hold(store, async (same) => claimOn(at(ids, 1), same));
    const first = await claimOn(at(ids, 0), lease);
    await new Promise((r) => setTimeout(r, 5000)); // 2.5 TTLs: the lease would have ended without its keepalive
    // A lease takes new claims for one TTL after its grant: a later claim gets another.
    expect(await leases.hold(store, async (later) => later.id)).not.toBe(lease.id);
    return [first, await second];
  });
  for (const c of claims) expect((await store.get(keys.working(c.jobId)))?.createRevision).toBe(c.createRevision);
  const letGo = Date.now(); // the last holder is done: nothing renews the lease any more
  await waitFor(async () => (await Promise.all(ids.map((id) => store.get(keys.working(id))))).every((w) => !w), {
    timeoutMs: 15_000,
    what: 'the released 2 s lease to expire',
  });
  expect(Date.now() - letGo).toBeLessThan(6000);
  expect((await claimJob(store, at(ids, 0), 'second', TTL, { keys }))?.owner).toBe('second');
});

test('a shared claim lease is granted once for overlapping holders, again after the last, and again after an error', async () => {
  const granted: string[] = [];
  const counting = new Proxy(store, {
    get: (target, prop, receiver) =>
      prop === 'grantLease'
        ? async (ttl: number, opts?: { keepAlive?: boolean }) => {
            const lease = await target.grantLease(ttl, opts);
            granted.push(lease.id);
            return lease;
          }
        : Reflect.get(target, prop, receiver),
  });
  const leases = new ClaimLeases(2);
  const [a, b] = await leases.hold(counting, async (l1) => [l1.id, await leases.hold(counting, async (l2) => l2.id)]);
  expect(b).toBe(a);
  const c = await leases.hold(counting, async (l) => l.id);
  await expect(
    leases.hold(counting, async () => {
      throw new Error('etcdserver: requested lease not found');
    }),
  ).rejects.toThrow('requested lease not found');
  const d = await leases.hold(counting, async (l) => l.id);
  expect(granted).toEqual([a, c, expect.any(String), d]);
  expect(new Set(granted).size).toBe(4);
});

test('a fenced transaction whose own compare fails resolves unsucceeded instead of throwing', async () => {
  const keys = isolatedKeys('claim-own-compare');
  const id = 'create:heat_worker:port:p4:1:eeeee';
  const record = `${keys.root}records/p4`;
  await seedJobs(store, keys, [job(id, [])]);
  const claim = (await claimJob(store, id, 'o', TTL, { keys }))!;
  await store.txn().then(put(record, 'v1')).commit();
  const res = await jobTxn(store, claim).when(modRevisionIs(record, 1)).then(put(record, 'v2')).commit();
  expect(res.succeeded).toBe(false);
  expect((await store.get(record))!.value).toBe('v1');
});

test('retryJob counts attempts in the third element of /jobs/all; release makes the job claimable again and the count survives', async () => {
  const keys = isolatedKeys('claim-retry');
  const id = 'create:heat_worker:port:p5:1:fffff';
  await seedJobs(store, keys, [job(id, [])]);
  const claim = (await claimJob(store, id, 'o', TTL, { keys }))!;
  expect(claim.attempt).toBe(0);
  expect(await retryJob(store, claim, 'Heat 503')).toBe(1);
  expect(await retryJob(store, claim, 'Heat 503')).toBe(2);
  const stored = JSON.parse((await store.get(keys.all(id)))!.value);
  expect(stored[2]).toBe(2);
  expect(stored[1].id).toBe(id);
  expect(JSON.parse((await store.get(keys.working(id)))!.value)).toMatchObject({
    owner: 'o',
    attempt: 2,
    last_error: 'Heat 503',
  });
  // The fence still holds after the working key was rewritten (same create revision).
  await jobTxn(store, claim)
    .then(put(`${keys.root}r`, 'ok'))
    .commit();

  await releaseClaim(store, claim);
  expect(await store.get(keys.working(id))).toBeUndefined();
  const again = (await claimJob(store, id, 'o2', TTL, { keys }))!;
  expect(again.attempt).toBe(2);
  expect(parseStoredJob(keys.all(id), (await store.get(keys.all(id)))!.value).attempt).toBe(2);
});
