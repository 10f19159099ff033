/** shared/metrics.ts: EMF lines with the names and dimensions the alarms in serverless.yml use. */
import {
  flushMetrics,
  recordJobOutcome,
  recordDeferredRepairs,
  recordOutcome,
  recordRelayLag,
  recordStackOperation,
  serviceOf,
} from '../../../shared/metrics';
import { createLogger } from '../../../shared/log/logger';

let lines: string[] = [];
let spy: jest.SpyInstance;
beforeEach(() => {
  lines = [];
  spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
    lines.push(String(chunk));
    return true;
  }) as never);
});
afterEach(() => spy.mockRestore());
const emf = () =>
  lines
    .flatMap((l) => l.split('\n'))
    .filter((l) => l.includes('"_aws"'))
    .map((l) => JSON.parse(l));

test('record outcomes are stored and flushed as one EMF line, namespace esi, dimensions service and stage', () => {
  recordOutcome('esi-test', 'done');
  recordOutcome('esi-test', 'failed');
  recordOutcome('esi-test', 'done');
  flushMetrics('esi-test');
  const [line] = emf();
  expect(line._aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'esi', Dimensions: [['service', 'stage']] });
  expect(line).toMatchObject({ service: 'esi-test', RecordsSucceeded: [1, 1], RecordsFailed: 1 });
  flushMetrics('esi-test'); // nothing stored: nothing written
  expect(emf()).toHaveLength(1);
});

test('job outcomes are stored per handler and flushed with the service, one EMF line per handler', () => {
  recordJobOutcome('esi-heat', 'heat_worker', 'started');
  recordJobOutcome('esi-heat', 'heat_worker', 'succeeded');
  recordJobOutcome('esi-heat', 'heat_worker', 'started');
  recordJobOutcome('esi-heat', 'heat_worker', 'failed');
  recordOutcome('esi-heat', 'done');
  expect(emf()).toHaveLength(0);
  flushMetrics('esi-monitoring');
  expect(emf()).toHaveLength(0);
  flushMetrics('esi-heat');
  const lines = emf();
  expect(lines).toHaveLength(2);
  const records = lines.find((l) => !('handler' in l));
  const jobs = lines.find((l) => 'handler' in l);
  expect(records).toMatchObject({ service: 'esi-heat', RecordsSucceeded: 1 });
  expect(jobs).toMatchObject({
    service: 'esi-heat',
    stage: 'dev',
    handler: 'heat_worker',
    JobsStarted: [1, 1],
    JobsSucceeded: 1,
    JobsFailed: 1,
  });
  expect(jobs._aws.CloudWatchMetrics[0]).toMatchObject({
    Namespace: 'esi',
    Dimensions: [['service', 'stage', 'handler']],
  });
  flushMetrics('esi-heat');
  expect(emf()).toHaveLength(2);
});

test('stack operation durations are stored and flushed with the service', () => {
  recordStackOperation('esi-heat', 1234);
  recordStackOperation('esi-heat', 56);
  expect(emf()).toHaveLength(0);
  flushMetrics('esi-heat');
  const [op] = emf();
  expect(op).toMatchObject({ service: 'esi-heat', StackOperationDuration: [1234, 56] });
  expect(op._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'StackOperationDuration', Unit: 'Milliseconds' }]);
});

test('relay lag is published at once', () => {
  expect(recordRelayLag('esi-relay', { relay: 'main', prefix: '/config/', etcdRevision: 120, checkpoint: 100 })).toBe(
    20,
  );
  const [lag] = emf();
  expect(lag).toMatchObject({ service: 'esi-relay', RelayLag: 20, prefix: '/config/', checkpoint: '100' });
});

test('repairs deferred to a queue backlog: one line per kind with any, dimension kind, beside service and stage', () => {
  recordDeferredRepairs('esi-reconciler', { replan: 3, limbo: 1 });
  recordDeferredRepairs('esi-reconciler', {});
  const lines = emf();
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatchObject({ service: 'esi-reconciler', kind: 'replan', RepairsDeferred: 3 });
  expect(lines[1]).toMatchObject({ service: 'esi-reconciler', kind: 'limbo', RepairsDeferred: 1 });
  expect(lines[0]._aws.CloudWatchMetrics[0].Dimensions[0]).toEqual(['service', 'stage', 'kind']);
});

test('the service of a logger is the name it was created with', () => {
  expect(serviceOf(createLogger('esi-planner'))).toBe('esi-planner');
});
