/**
 * Gating under concurrency, through the heat handler on real etcd and the Heat simulator:
 * many dependencies finishing at once promote each dependent exactly once; every message
 * delivered twice still gives one stack operation each; a handler frozen past its claim's lease is
 * taken over by a second invocation and its late writes are rejected.
 */
import { stackNameOf } from '../../../shared/heat/records';
import type { Claim } from '../../../shared/jobs';
import type { Job } from '../../../shared/planner/types';
import { put } from '../../../shared/store/store';
import { waitFor } from '../../helpers/wait';
import { cloneJob, counts, finishedOf, harness, jobKeysOf, notStuck, seedJob, uid, type Harness } from './helpers';

// Seed 002's load balancer job needs no other stack's outputs: a good unit of work.
const base = seedJob('002_addf4c9d80b3d0e0');
const lbJob = (o: { dependency?: string[] } = {}): Job =>
  cloneJob(base, { resourceId: uid('lb'), action: 'create', isLast: true, ...o });
const stackOf = (j: Job) => stackNameOf(j.resource_type, j.resource_id);

describe('gating', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('gating');
  });
  afterAll(async () => h.stop());

  it('8 dependencies finishing at once: each of 3 dependents is promoted and runs exactly once', async () => {
    const deps = Array.from({ length: 8 }, () => lbJob());
    const dependents = Array.from({ length: 3 }, () => lbJob({ dependency: deps.map((d) => d.id) }));
    for (const j of [...deps, ...dependents]) await h.writeJob(j);
    // Every dependency claimed and started in parallel invocations; their polls finish in one batch.
    await Promise.all(deps.map((d) => h.invoke('heat', h.jobRecord(d.id))));
    await h.drive('heat', async () => (await Promise.all(deps.map((d) => finishedOf(h, d.id)))).every(Boolean));
    for (const d of dependents) expect(await jobKeysOf(h, d.id)).toEqual(['all']);
    // The relay forwards each waiting delete once; SQS may deliver it twice.
    await Promise.all(
      dependents.flatMap((d) => [h.invoke('heat', h.settledRecord(d.id)), h.invoke('heat', h.settledRecord(d.id, 2))]),
    );
    await h.drive('heat', async () => (await Promise.all(dependents.map((d) => finishedOf(h, d.id)))).every(Boolean));
    const ops = await Promise.all([...deps, ...dependents].map((j) => counts(h, stackOf(j))));
    expect(ops).toEqual([...deps, ...dependents].map(() => ({ creates: 1, updates: 0, deletes: 0 })));
    for (const j of [...deps, ...dependents]) {
      expect(await finishedOf(h, j.id)).toMatchObject({ ok: true });
      expect(await notStuck(h, j.id)).toEqual([]);
    }
  });

  it('every message delivered twice: each stack operation happens once', async () => {
    const first = lbJob();
    const second = lbJob({ dependency: [first.id] });
    await h.writeJob(first);
    await h.writeJob(second);
    await Promise.all([h.invoke('heat', h.jobRecord(first.id)), h.invoke('heat', h.jobRecord(first.id, 2))]);
    await h.drive('heat', async () => Boolean(await finishedOf(h, first.id)), { twice: true });
    await Promise.all([h.invoke('heat', h.jobRecord(second.id)), h.invoke('heat', h.jobRecord(second.id, 2))]);
    await h.drive('heat', async () => Boolean(await finishedOf(h, second.id)), { twice: true });
    expect(await counts(h, stackOf(first))).toEqual({ creates: 1, updates: 0, deletes: 0 });
    expect(await counts(h, stackOf(second))).toEqual({ creates: 1, updates: 0, deletes: 0 });
    expect([await finishedOf(h, first.id), await finishedOf(h, second.id)]).toEqual([
      expect.objectContaining({ ok: true }),
      expect.objectContaining({ ok: true }),
    ]);
  });

  it("a finish that ended between its steps: the finished job's redelivered message settles its dependents", async () => {
    const first = lbJob();
    const second = lbJob({ dependency: [first.id] });
    await h.writeJob(first);
    await h.writeJob(second);
    // The finish's first step alone (the finished key), then the invocation died before settling.
    const finished = { ok: true, on_failure: 'fail', finished_at: 't', claim_revision: 1 };
    await h.store
      .txn()
      .then(put(h.keys.finished(first.id), JSON.stringify(finished)))
      .commit();
    expect(await jobKeysOf(h, second.id)).toEqual(['all', 'waiting']);
    expect(await h.invoke('heat', h.jobRecord(first.id, 2))).toEqual({ batchItemFailures: [] });
    expect(await jobKeysOf(h, second.id)).toEqual(['all']);
    expect(await h.store.get(h.keys.dependent(first.id, second.id))).toBeUndefined();
    expect(await counts(h, stackOf(first))).toEqual({ creates: 0, updates: 0, deletes: 0 });
  });
});

describe('a handler frozen past its claim', () => {
  let h: Harness;
  const frozen: { claim?: Claim; release?: () => void; entered?: () => void } = {};
  let freezeJob = '';
  beforeAll(async () => {
    h = await harness('frozen', {
      runner: {
        leaseSeconds: 2,
        hooks: {
          beforeCommit: async (claim, result) => {
            if (claim.jobId !== freezeJob || result.kind !== 'succeeded' || frozen.claim) return;
            frozen.claim = claim;
            frozen.entered?.();
            await new Promise<void>((resolve) => {
              frozen.release = resolve;
            });
          },
        },
      },
    });
  });
  afterAll(async () => h.stop());

  it("a second invocation takes over after the lease expires; the first one's late writes are rejected", async () => {
    const job = lbJob();
    freezeJob = job.id;
    await h.writeJob(job);
    const entered = new Promise<void>((resolve) => {
      frozen.entered = resolve;
    });
    await h.invoke('heat', h.jobRecord(job.id));
    // Invocation A polls until the stack is complete, then freezes before writing its result.
    const a = (async () => {
      for (;;) {
        const r = await import('@aws-sdk/client-sqs').then(({ ReceiveMessageCommand }) =>
          import('../../../shared/sqs/client').then(({ sqsClient }) =>
            sqsClient().send(
              new ReceiveMessageCommand({ QueueUrl: h.pollUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
            ),
          ),
        );
        const m = r.Messages?.[0];
        if (!m) continue;
        const { DeleteMessageCommand } = await import('@aws-sdk/client-sqs');
        const { sqsClient } = await import('../../../shared/sqs/client');
        await sqsClient().send(new DeleteMessageCommand({ QueueUrl: h.pollUrl, ReceiptHandle: m.ReceiptHandle! }));
        const { sqsRecord } = await import('../../helpers/sqs-event');
        const { decodeEventMessage } = await import('../../../shared/events/etcd-event-message');
        const res = await h.invoke('heat', sqsRecord(decodeEventMessage(m.Body!)));
        if (frozen.claim) return res;
      }
    })();
    await entered;
    const frozenRevision = frozen.claim!.createRevision;
    // The lease (2 s, not kept alive) expires while A is frozen: the working key goes with it.
    await waitFor(async () => !(await h.store.get(h.keys.working(job.id))), {
      timeoutMs: 15_000,
      what: 'the frozen claim to expire',
    });

    // B: the redelivered message claims the job from limbo and completes it.
    await h.invoke('heat', h.jobRecord(job.id, 2));
    await h.drive('heat', async () => Boolean(await finishedOf(h, job.id)));
    const finished = await h.store.get(h.keys.finished(job.id));
    expect(JSON.parse(finished!.value)).toMatchObject({ ok: true });
    expect(JSON.parse(finished!.value).claim_revision).not.toBe(frozenRevision);
    const snapshot = async () =>
      (await h.store.range(h.keys.root)).items
        .map((kv) => `${kv.key}@${kv.modRevision}`)
        .concat(
          ...(await Promise.all(
            [
              `/esi-worker/heat_stacks/v2.0/load_balancers/${job.resource_id}`,
              `/esi-worker/job_state/v2.0/load_balancers/${job.resource_id}`,
            ].map(async (k) => `${k}@${(await h.store.get(k))?.modRevision}`),
          )),
        );
    const before = await snapshot();

    // A wakes up and tries to write its result and finish: every write is rejected.
    frozen.release!();
    expect(await a).toEqual({ batchItemFailures: [] });
    expect(await snapshot()).toEqual(before);
    expect(await notStuck(h, job.id)).toEqual([]);
  });
});
