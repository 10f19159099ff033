import { createLogger } from '../../../shared/log/logger';
import { done, failed, Outcome, retryLater, sqsConsumer } from '../../../shared/sqs/consumer';
import { lambdaContext, sqsEvent, sqsRecord } from '../../helpers/sqs-event';

const logger = createLogger('policy-test');
const msg = (key: string) => ({ key, modRevision: 1, type: 'put' as const });

function consumer(outcomes: Record<string, () => Promise<Outcome>>, fifo: boolean) {
  return sqsConsumer((m) => outcomes[m.key](), { logger, fifo });
}

test('done and failed are acknowledged; a thrown error is reported for redelivery', async () => {
  const handler = consumer(
    {
      '/a': async () => done(),
      '/b': async () => failed('bad template'),
      '/c': async () => {
        throw new Error('etcd unavailable');
      },
    },
    false,
  );
  const records = [sqsRecord(msg('/a')), sqsRecord(msg('/b')), sqsRecord(msg('/c'))];
  const res = await handler(sqsEvent(...records), lambdaContext());
  expect(res).toEqual({ batchItemFailures: [{ itemIdentifier: records[2].messageId }] });
});

test('an unreadable message is acknowledged (redelivery cannot fix it)', async () => {
  const handler = consumer({}, false);
  expect(await handler(sqsEvent(sqsRecord('garbage')), lambdaContext())).toEqual({ batchItemFailures: [] });
});

test('FIFO: a failed record holds back only the later records of its own message group', async () => {
  const handler = consumer(
    {
      '/x': async () => {
        throw new Error('transient');
      },
      '/y': async () => done(),
    },
    true,
  );
  const first = sqsRecord(msg('/x'));
  const other = sqsRecord(msg('/y'));
  const sameGroup = sqsRecord(msg('/x'));
  const res = await handler(sqsEvent(first, other, sameGroup), lambdaContext());
  expect(res.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
    [first.messageId, sameGroup.messageId].sort(),
  );
});

test('retryLater without a retry queue is a redelivery, not a silent drop', async () => {
  const handler = consumer({ '/r': async () => retryLater(30, 'stack in progress') }, false);
  const r = sqsRecord(msg('/r'));
  expect(await handler(sqsEvent(r), lambdaContext())).toEqual({ batchItemFailures: [{ itemIdentifier: r.messageId }] });
});
