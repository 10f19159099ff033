import { functionsHostEnv, localParams } from '../../../infra/stack/stack';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { JOB_QUEUES, queueName } from '../../../shared/config';
import { get } from '../../helpers/at';
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the plugin is CommonJS without type declarations; `import` would need allowJs for the whole project
const { eventSources, getAttTarget } = require('../../../infra/serverless-local-sqs/resources.js');

const doc = YAML.parse(fs.readFileSync(path.join(__dirname, '../../../serverless.yml'), 'utf8'));
const resources: Record<string, { Type: string; Properties: Record<string, any> }> = doc.resources.Resources;
const resource = (id: string) => get(resources, id, 'serverless.yml resources');
const resolveStage = (s: string) => s.replace('${sls:stage}', 'dev');

test('queue names in serverless.yml are the ones the relay and the handlers use', () => {
  const name = (logical: string) => resolveStage(resource(logical).Properties.QueueName);
  expect(name('ConfigQueue')).toBe(queueName('config', 'dev'));
  expect(name('HeatJobsQueue')).toBe(queueName(get(JOB_QUEUES, 'heat_worker', 'JOB_QUEUES'), 'dev'));
  expect(name('MonitoringJobsQueue')).toBe(queueName(get(JOB_QUEUES, 'monitoring_worker', 'JOB_QUEUES'), 'dev'));
  expect(name('FinishedQueue')).toBe(queueName('finished', 'dev'));
  expect(name('HeatPollQueue')).toBe('esi-dev-heat-poll');
  expect(name('MonitoringPollQueue')).toBe('esi-dev-monitoring-poll');
  // What the heat and monitoring handlers name their poll queues.
  expect(queueName('heat-poll', 'dev', { fifo: false })).toBe(name('HeatPollQueue'));
  expect(queueName('monitoring-poll', 'dev', { fifo: false })).toBe(name('MonitoringPollQueue'));
});

// serverless-offline's in-process mode copies each function's environment into the one
// process.env its functions share, before each invocation. That is the function's own only if no
// variable has different values in two functions: a function sets only variables no other
// function and not the provider set.
test('no environment variable has a value of its own in two functions', () => {
  const provider = Object.keys(doc.provider.environment);
  const seen = new Map<string, string>();
  for (const [fn, def] of Object.entries(doc.functions as Record<string, { environment?: object }>)) {
    for (const variable of Object.keys(def.environment ?? {})) {
      expect({ fn, variable, provider: provider.includes(variable) }).toEqual({ fn, variable, provider: false });
      expect({ variable, alsoIn: seen.get(variable) }).toEqual({ variable, alsoIn: undefined });
      seen.set(variable, fn);
    }
  }
  // Keystone's secrets and CA only for the heat function; the reconciler's graces only for it.
  expect([...seen.keys()].sort()).toEqual([
    'ESI_KEYSTONE_APP_CREDENTIAL_ID',
    'ESI_KEYSTONE_APP_CREDENTIAL_SECRET_PARAM',
    'ESI_KEYSTONE_PASSWORD',
    'ESI_KEYSTONE_PASSWORD_PARAM',
    'ESI_OPENSTACK_CA_PARAM',
    'ESI_RECONCILE_BACKLOG_GRACE_SECONDS',
    'ESI_RECONCILE_GRACE_SECONDS',
  ]);
});

test('every queue that is not a DLQ dead-letters, with visibility >= 6x its consumer timeout', () => {
  const consumers = Object.entries(doc.functions as Record<string, any>).flatMap(([, fn]) =>
    (fn.events ?? [])
      .filter((e: any) => e.sqs)
      .map((e: any) => ({ queue: getAttTarget(e.sqs.arn), timeout: fn.timeout ?? doc.provider.timeout })),
  );
  for (const { queue, timeout } of consumers) {
    const props = resource(queue).Properties;
    // Every stage's, the local stack's included: the maxReceiveCount param (docs/operations.md "Retry budget").
    expect(props.RedrivePolicy.maxReceiveCount).toBe('${param:maxReceiveCount}');
    expect(resource(getAttTarget(props.RedrivePolicy.deadLetterTargetArn)).Type).toBe('AWS::SQS::Queue');
    expect(props.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  }
  expect(consumers.length).toBeGreaterThan(0);
  expect(Number(doc.params.default.maxReceiveCount)).toBeGreaterThan(0);
});

test('the local event source reads every sqs event of the service', () => {
  const service = { service: 'esi', provider: { stage: 'dev' }, functions: doc.functions };
  const queues = new Map(Object.keys(resources).map((id) => [id, { name: id, arn: `arn:aws:sqs:us-east-1:1:${id}` }]));
  const sources = eventSources(service, queues).map(
    (s: { functionName: string; queue: { name: string } }) => `${s.functionName} <- ${s.queue.name}`,
  );
  expect(sources).toEqual([
    'esi-dev-planner <- ConfigQueue',
    'esi-dev-heat <- HeatJobsQueue',
    'esi-dev-heat <- HeatPollQueue',
    'esi-dev-monitoring <- MonitoringJobsQueue',
    'esi-dev-monitoring <- MonitoringPollQueue',
    'esi-dev-aggregator <- FinishedQueue',
  ]);
});

test('the job settings docs/configuration.md documents reach the functions, with a lease above one request’s timeout', () => {
  const env = doc.provider.environment as Record<string, string>;
  const params = doc.params.default as Record<string, string>;
  const paramOf = (v: string | undefined) => (v === undefined ? undefined : /^\$\{param:(\w+)\}$/.exec(v)?.[1]);
  const defaults = Object.fromEntries(
    ['ESI_JOB_LEASE_SECONDS', 'ESI_JOB_POLL_SECONDS', 'ESI_JOB_MAX_ATTEMPTS', 'ESI_JOB_QUICK_POLL_MS'].map((name) => {
      const param = paramOf(env[name]);
      expect(param).toBeDefined();
      // A plain default (nothing from the deploying shell); the local stack passes the variable as
      // that param (infra/stack/stack.ts localParams).
      expect(localParams({ [name]: '7' })).toContainEqual([param, '7']);
      return [name, Number(params[param!])];
    }),
  );
  expect(defaults).toEqual({
    ESI_JOB_LEASE_SECONDS: 15,
    ESI_JOB_POLL_SECONDS: 5,
    ESI_JOB_MAX_ATTEMPTS: 5,
    ESI_JOB_QUICK_POLL_MS: 1500,
  });
  // The lease is kept alive while the claiming invocation runs; a poll invocation, which does not
  // keep it alive, gets the lease on top of its delay: it must outlast one request of each client.
  expect(get(defaults, 'ESI_JOB_LEASE_SECONDS', 'job defaults') * 1000).toBeGreaterThan(Number(params.httpTimeoutMs));
});

test('a function’s reserved concurrency is the sum of its sources’ maxima, and the local stack raises both together', () => {
  const params = doc.params.default as Record<string, number>;
  const sum = (...names: string[]) => names.reduce((n, p) => n + Number(params[p]), 0);
  expect(params.plannerReserved).toBe(sum('plannerMaxConcurrency'));
  expect(params.heatReserved).toBe(sum('heatJobsMaxConcurrency', 'heatPollMaxConcurrency'));
  expect(params.monitoringReserved).toBe(sum('monitoringJobsMaxConcurrency', 'monitoringPollMaxConcurrency'));
  expect(params.aggregatorReserved).toBe(sum('aggregatorMaxConcurrency'));
  expect(localParams({ ESI_HEAT_JOBS_CONCURRENCY: '10', ESI_HEAT_POLL_CONCURRENCY: '7' })).toContainEqual([
    'heatReserved',
    '17',
  ]);
  expect(localParams({ ESI_HEAT_JOBS_CONCURRENCY: '10' })).toContainEqual([
    'heatReserved',
    String(10 + Number(params.heatPollMaxConcurrency)),
  ]);
  expect(localParams({ ESI_PLANNER_CONCURRENCY: '6', ESI_AGGREGATOR_CONCURRENCY: '4' })).toEqual(
    expect.arrayContaining([
      ['plannerReserved', '6'],
      ['aggregatorReserved', '4'],
    ]),
  );
  expect(localParams({}).map(([name]) => name)).not.toContain('heatReserved');
});

test('serverless-offline keeps from the stack’s environment what serverless.yml reads, and none of the functions’ settings', () => {
  const text = fs.readFileSync(path.join(__dirname, '../../../serverless.yml'), 'utf8');
  const readByYml = [...text.matchAll(/\$\{env:(\w+)/g)].map((m) => m[1]);
  expect(readByYml.length).toBeGreaterThan(0);
  const env = Object.fromEntries(
    [
      ...readByYml,
      'ESI_ETCD_ENDPOINTS',
      'ESI_KEYSTONE_PASSWORD',
      'POWERTOOLS_METRICS_DISABLED',
      'PATH',
      'AWS_REGION',
    ].map((k) => [k, 'x']),
  );
  expect(Object.keys(functionsHostEnv(env)).sort()).toEqual([...readByYml, 'AWS_REGION', 'PATH'].sort());
});
