import { createLogger } from '../../../shared/log/logger';
import { DEADLINE_MARGIN_MS, done, failed, type Outcome, retryLater, sqsConsumer } from '../../../shared/sqs/consumer';
import { lambdaContext, sqsEvent, sqsRecord, STANDARD_QUEUE_ARN } from '../../helpers/sqs-event';
import { get } from '../../helpers/at';

const logger = createLogger('policy-test');
const msg = (key: string) => ({ key, modRevision: 1, type: 'put' as const });

/** Handles each key with its outcome function (a throw is a thrown record). */
function consumer(outcomes: Record<string, () => Outcome>) {
  return sqsConsumer((m) => Promise.resolve().then(() => get(outcomes, m.key, 'outcomes')()), { logger });
}

test('done and failed are acknowledged; a thrown error is reported for redelivery', async () => {
  const handler = consumer({
    '/a': () => done(),
    '/b': () => failed('bad template'),
    '/c': () => {
      throw new Error('etcd unavailable');
    },
  });
  const records = [sqsRecord(msg('/a')), sqsRecord(msg('/b')), sqsRecord(msg('/c'))] as const;
  const res = await handler(sqsEvent(...records), lambdaContext());
  expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: records[2].messageId }] });
});

test('an unreadable message is acknowledged (redelivery cannot fix it)', async () => {
  const handler = consumer({});
  expect(await handler(sqsEvent(sqsRecord('garbage')), lambdaContext())).toEqual({ batchItemFailures: [] });
});

/** /x fails the first time it is handled and succeeds after; /y always succeeds. Records each call. */
function firstFailsOnce() {
  const calls: string[] = [];
  let xCalls = 0;
  const handler = consumer({
    '/x': () => {
      calls.push('/x');
      if (xCalls++ === 0) throw new Error('transient');
      return done();
    },
    '/y': () => {
      calls.push('/y');
      return done();
    },
  });
  return { handler, calls };
}

test('a batch from a FIFO queue (ARN ending in .fifo): a failed record holds back the later records of its group only', async () => {
  const { handler, calls } = firstFailsOnce();
  const first = sqsRecord(msg('/x'));
  const other = sqsRecord(msg('/y'));
  const sameGroup = sqsRecord(msg('/x'));
  const res = await handler(sqsEvent(first, other, sameGroup), lambdaContext());
  expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
    [first.messageId, sameGroup.messageId].sort(),
  );
  // The later /x record was not handled at all: it must not overtake the one that failed.
  expect(calls).toEqual(['/x', '/y']);
});

test('a batch from a standard queue: every record is handled, only the failed one is reported', async () => {
  const { handler, calls } = firstFailsOnce();
  const first = sqsRecord(msg('/x'), 1, STANDARD_QUEUE_ARN);
  const other = sqsRecord(msg('/y'), 1, STANDARD_QUEUE_ARN);
  const again = sqsRecord(msg('/x'), 1, STANDARD_QUEUE_ARN);
  const res = await handler(sqsEvent(first, other, again), lambdaContext());
  expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: first.messageId }] });
  expect(calls).toEqual(['/x', '/y', '/x']);
});

test('retryLater without a retry queue is a redelivery, not a silent drop', async () => {
  const handler = consumer({ '/r': () => retryLater(30, 'stack in progress') });
  const r = sqsRecord(msg('/r'));
  expect(await handler(sqsEvent(r), lambdaContext())).toEqual({ batchItemFailures: [{ itemIdentifier: r.messageId }] });
});

test('a FIFO batch: its message groups are handled at the same time, each group in order, each record with its own logger', async () => {
  const events: string[] = [];
  const release: Record<string, () => void> = {};
  const loggers = new Set<unknown>();
  const handler = sqsConsumer(
    async (m, ctx) => {
      events.push(`start ${m.key}@${m.modRevision}`);
      loggers.add(ctx.logger);
      // /a@1 waits until /b@1 has started: with groups handled one after the other it never would.
      if (m.key === '/a' && m.modRevision === 1) await new Promise<void>((r) => (release.a = r));
      if (m.key === '/b') release.a?.();
      events.push(`end ${m.key}@${m.modRevision}`);
      return done();
    },
    { logger },
  );
  const a1 = sqsRecord({ key: '/a', modRevision: 1, type: 'put' });
  const b1 = sqsRecord({ key: '/b', modRevision: 1, type: 'put' });
  const a2 = sqsRecord({ key: '/a', modRevision: 2, type: 'put' });
  const res = await handler(sqsEvent(a1, b1, a2), lambdaContext());
  expect(res).toEqual({ batchItemFailures: [] });
  expect(events).toEqual(['start /a@1', 'start /b@1', 'end /b@1', 'end /a@1', 'start /a@2', 'end /a@2']);
  // A logger per record (the keys a record appends stay its own), none of them the shared one.
  expect(loggers.size).toBe(3);
  expect(loggers.has(logger)).toBe(false);
});

test('near the deadline the unfinished records are handed back as failures; the finished one is not', async () => {
  const never = new Promise<Outcome>(() => undefined); // a dependency that never answers (etcd frozen)
  const handler = sqsConsumer((m) => (m.key === '/stuck' ? never : Promise.resolve(done())), { logger });
  const records = [sqsRecord(msg('/ok')), sqsRecord(msg('/stuck'))] as const;
  const context = { ...lambdaContext(), getRemainingTimeInMillis: () => DEADLINE_MARGIN_MS + 200 };
  const res = await handler(sqsEvent(...records), context);
  expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: records[1].messageId }] });
});
