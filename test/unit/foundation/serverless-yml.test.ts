import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { queueName } from '../../../shared/config';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { eventSources, getAttTarget } = require('../../../infra/serverless-local-sqs/resources.js');

const doc = YAML.parse(fs.readFileSync(path.join(__dirname, '../../../serverless.yml'), 'utf8'));
const resources: Record<string, { Type: string; Properties: Record<string, any> }> = doc.resources.Resources;
const resolveStage = (s: string) => s.replace('${sls:stage}', 'dev');

test('the config queue name in serverless.yml is the one the relay sends to', () => {
  expect(resolveStage(resources.ConfigQueue.Properties.QueueName)).toBe(queueName('config', 'dev'));
});

test('every queue that is not a DLQ dead-letters, with visibility >= 6x its consumer timeout', () => {
  const consumers = Object.entries(doc.functions as Record<string, any>).flatMap(([, fn]) =>
    (fn.events ?? []).filter((e: any) => e.sqs).map((e: any) => ({ queue: getAttTarget(e.sqs.arn), timeout: fn.timeout ?? doc.provider.timeout })));
  for (const { queue, timeout } of consumers) {
    const props = resources[queue].Properties;
    expect(props.RedrivePolicy.maxReceiveCount).toBeGreaterThan(0);
    expect(resources[getAttTarget(props.RedrivePolicy.deadLetterTargetArn)].Type).toBe('AWS::SQS::Queue');
    expect(props.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  }
  expect(consumers.length).toBeGreaterThan(0);
});

test('the local event source reads every sqs event of the service', () => {
  const service = { service: 'esi', provider: { stage: 'dev' }, functions: doc.functions };
  const queues = new Map([['ConfigQueue', { name: 'esi-dev-config.fifo', arn: 'arn:aws:sqs:us-east-1:1:esi-dev-config.fifo' }]]);
  expect(eventSources(service, queues)).toEqual([
    { functionName: 'esi-dev-planner', queue: queues.get('ConfigQueue'), batchSize: 10, reportFailures: true },
  ]);
});
