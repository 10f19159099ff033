/**
 * Stack polling follows the stack: a new operation is checked within the invocation that started
 * it (20 ms, 40 ms, 80 ms …), so a fast one completes without any poll message; a longer one is
 * handed to poll messages whose delays grow up to ESI_JOB_POLL_SECONDS.
 */
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { parseJsonObject } from '../../../shared/encoding/json-object';
import type { Job } from '../../../shared/planner/types';
import { sqsClient } from '../../../shared/sqs/client';
import { cloneJob, finishedOf, harness, notStuck, seedJob, uid, type Harness } from './helpers';

const base = seedJob('002_addf4c9d80b3d0e0');
const lbJob = (): Job => cloneJob(base, { resourceId: uid('lb'), action: 'create', isLast: true });

describe('a stack Heat completes quickly', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('quick-poll', { latencyMs: 120, runner: { quickPollMs: 2000, pollDelaySeconds: 5 } });
  });
  afterAll(async () => h.stop());

  it('completes in the invocation that started it: finished, nothing left, no poll message', async () => {
    const job = lbJob();
    await h.writeJob(job);
    expect(await h.invoke('heat', h.jobRecord(job.id))).toEqual({ batchItemFailures: [] });
    expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
    expect(await notStuck(h, job.id)).toEqual([]);
    const polled = await sqsClient().send(
      new ReceiveMessageCommand({ QueueUrl: h.pollUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    expect(polled.Messages ?? []).toEqual([]);
  });
});

describe('a stack Heat takes longer than the in-invocation checks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harness('slow-poll', { latencyMs: 1500, runner: { quickPollMs: 100, pollDelaySeconds: 5 } });
  });
  afterAll(async () => h.stop());

  it('is left to poll messages, counted in the working value, and completes', async () => {
    const job = lbJob();
    await h.writeJob(job);
    await h.invoke('heat', h.jobRecord(job.id));
    const working = await h.store.get(h.keys.working(job.id));
    expect(parseJsonObject(working!.value)).toMatchObject({ polls: 1, step: { action: 'CREATE' } });
    await h.drive('heat', async () => Boolean(await finishedOf(h, job.id)), { timeoutMs: 20_000 });
    expect(await finishedOf(h, job.id)).toMatchObject({ ok: true });
    expect(await notStuck(h, job.id)).toEqual([]);
  });
});
