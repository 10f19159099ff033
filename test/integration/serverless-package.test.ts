/**
 * `serverless package` as CI runs it: offline (in a network namespace of its own when the
 * machine allows it), with no AWS credentials, an empty HOME and none of our variables; then
 * checks the CloudFormation it generated: dead-letter queues, visibility timeouts, partial batch
 * responses, and no wildcard IAM on queues or functions; per-function roles, alarms, Logs Insights
 * queries and the relay service; and that each function's zip holds a bundle plain Node can load.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { get, only } from '../helpers/at';

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'sls-package-'));
const out = path.join(dir, 'package');

type Cfn = { Resources: Record<string, { Type: string; Condition?: string; Properties: Record<string, any> }> };
let template: Cfn;
let state: { service: { provider: { stackTags?: Record<string, string> } } };

/** A production deployment's settings as docs/deploying.md's deploy command gives them (VPC endpoints on). */
const PROD = {
  etcdEndpoints: 'https://10.0.1.10:2379,https://10.0.2.10:2379',
  keystoneUrl: 'https://keystone.internal:5000/v3',
  keystoneUsername: 'esi',
  keystoneProject: 'admin',
  collectorUrl: 'https://collector.internal:7070',
  vpcSubnetIds: 'subnet-aaa,subnet-bbb',
  vpcSecurityGroupIds: 'sg-ccc',
  vpcEndpoints: 'true',
  vpcId: 'vpc-ddd',
  vpcRouteTableIds: 'rtb-eee',
  relayImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/esi-relay:1.4.0',
  secretsKmsKeyArn: 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
};
const params = (p: Record<string, string>) => Object.entries(p).map(([k, v]) => `--param=${k}=${v}`);
const PROD_PARAMS = params(PROD);
let isolated = false;

/** Runs a command asynchronously (this process may host the test SQS server). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * `serverless package` of a stage, with nothing from this shell: no AWS_* credentials or profile,
 * no ESI_* settings, an empty HOME. `unshare -n` (root, or user namespaces) runs it in an empty
 * network namespace: any call to AWS or a registry would fail the packaging.
 */
function slsPackage(stage: string, args: string[], to: string) {
  const home = path.join(dir, 'home');
  fs.mkdirSync(home, { recursive: true });
  const env = { PATH: process.env.PATH, HOME: home };
  const npxArgs = ['--no-install', 'serverless', 'package', '--stage', stage, '--package', to, ...args];
  return isolated ? run('unshare', ['-n', 'npx', ...npxArgs], env) : run('npx', npxArgs, env);
}

beforeAll(async () => {
  isolated = spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const res = await slsPackage('prod', PROD_PARAMS, out);
  if (res.code !== 0) throw new Error(`serverless package failed (${res.code}):\n${res.output}`);
  template = JSON.parse(fs.readFileSync(path.join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  state = JSON.parse(fs.readFileSync(path.join(out, 'serverless-state.json'), 'utf8'));
  const zips = fs.readdirSync(out).filter((f) => f.endsWith('.zip'));
  console.log(
    `serverless package --stage prod: ${isolated ? 'without network (unshare -n)' : 'network isolation unavailable; ran without credentials only'}; zipped bundles: ${zips
      .map((z) => `${z} ${(fs.statSync(path.join(out, z)).size / 1e6).toFixed(2)} MB`)
      .join(', ')}`,
  );
});

/** The template's resource `id`; a missing one fails the test naming the ids present. */
const resource = (id: string) => get(template.Resources, id, "the template's Resources");
const resources = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
/** The logical id behind {"Fn::GetAtt": [id, "Arn"]}. */
const getAttArn = (v: unknown): string | undefined => {
  const g = (v as { 'Fn::GetAtt'?: [string, string] })?.['Fn::GetAtt'];
  return g && g[1] === 'Arn' ? g[0] : undefined;
};
const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

test('packages offline with no credentials', () => {
  expect(fs.existsSync(path.join(out, 'cloudformation-template-update-stack.json'))).toBe(true);
  expect(resources('AWS::Lambda::Function').length).toBeGreaterThan(0);
});

test('every queue a function consumes has a dead-letter queue in the stack and a visibility timeout of at least 6x the function timeout', () => {
  const mappings = resources('AWS::Lambda::EventSourceMapping');
  expect(mappings.length).toBeGreaterThan(0);
  for (const [id, m] of mappings) {
    const queueId = getAttArn(m.Properties.EventSourceArn);
    const fnId = getAttArn(m.Properties.FunctionName);
    expect({ id, queueId, fnId }).toEqual({ id, queueId: expect.any(String), fnId: expect.any(String) });
    const queue = resource(queueId!);
    const fn = resource(fnId!);
    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(fn.Type).toBe('AWS::Lambda::Function');

    const redrive = queue.Properties.RedrivePolicy;
    expect({ queue: queueId, redrive }).toEqual({
      queue: queueId,
      redrive: expect.objectContaining({ maxReceiveCount: expect.any(Number) }),
    });
    expect(redrive.maxReceiveCount).toBeGreaterThanOrEqual(1);
    const dlqId = getAttArn(redrive.deadLetterTargetArn);
    expect(template.Resources[dlqId!]?.Type).toBe('AWS::SQS::Queue');
    expect(dlqId).not.toBe(queueId);
    // A FIFO queue's dead-letter queue must be FIFO too.
    expect(Boolean(resource(dlqId!).Properties.FifoQueue)).toBe(Boolean(queue.Properties.FifoQueue));

    const fnTimeout = Number(fn.Properties.Timeout ?? 3);
    const visibility = Number(queue.Properties.VisibilityTimeout ?? 30);
    expect({ queue: queueId, visibility }).toEqual({ queue: queueId, visibility: expect.any(Number) });
    expect(visibility).toBeGreaterThanOrEqual(6 * fnTimeout);
  }
});

test('every queue in the stack is either consumed (with a DLQ), a dead-letter queue, or the relay dead-letter queue', () => {
  const consumed = new Set(
    resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn)),
  );
  const dlqs = new Set(
    resources('AWS::SQS::Queue')
      .map(([, q]) => getAttArn(q.Properties.RedrivePolicy?.deadLetterTargetArn))
      .filter(Boolean),
  );
  // Where the relay records the events SQS refused for good (read by an operator, alarmed on).
  dlqs.add('RelayDLQ');
  for (const [id] of resources('AWS::SQS::Queue'))
    expect({ id, role: consumed.has(id) ? 'consumed' : dlqs.has(id) ? 'dlq' : 'orphan' }).not.toEqual({
      id,
      role: 'orphan',
    });
});

test('retry budget: records come back at most 300 s apart and are dead-lettered at the 20th receive (an outage of 30+ minutes loses nothing)', () => {
  const sources = [
    ...new Set(resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn))),
  ];
  expect(sources.length).toBeGreaterThanOrEqual(6);
  for (const q of sources)
    expect({
      q,
      receives: resource(q!).Properties.RedrivePolicy.maxReceiveCount,
      retention: resource(q!).Properties.MessageRetentionPeriod,
    }).toEqual({
      q,
      receives: 20,
      retention: 1209600,
    });
  for (const { id } of functions())
    expect({ id, cap: resource(id).Properties.Environment.Variables.ESI_RETRY_MAX_DELAY_SECONDS }).toEqual({
      id,
      cap: '300',
    });
  console.log(
    'retry budget: 5 s doubling to 300 s, 20 receives: 19 delays = 4215 s (~70 min) before a dead letter; retention 14 days',
  );
});

test('every event source mapping reports partial batch failures', () => {
  for (const [, m] of resources('AWS::Lambda::EventSourceMapping'))
    expect(m.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
});

test('no IAM statement uses a wildcard action, or grants queue or function actions on every resource', () => {
  const statements: { where: string; Action: unknown; Resource: unknown; Effect: string }[] = [];
  for (const [id, r] of [
    ...resources('AWS::IAM::Role'),
    ...resources('AWS::IAM::Policy'),
    ...resources('AWS::IAM::ManagedPolicy'),
  ]) {
    const docs =
      r.Type === 'AWS::IAM::Role'
        ? asList(r.Properties.Policies).map((p: any) => p.PolicyDocument)
        : [r.Properties.PolicyDocument];
    for (const doc of docs) for (const s of asList(doc?.Statement)) statements.push({ where: id, ...s });
  }
  expect(statements.length).toBeGreaterThan(0);
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    const actions = asList(s.Action as string | string[]);
    for (const a of actions) {
      expect({ where: s.where, action: a, wildcard: a === '*' || /^(sqs|lambda):\*$/i.test(a) }).toEqual({
        where: s.where,
        action: a,
        wildcard: false,
      });
    }
    if (actions.some((a) => /^(sqs|lambda):/i.test(a))) {
      for (const res of asList(s.Resource))
        expect({ where: s.where, actions, resource: res }).not.toEqual({ where: s.where, actions, resource: '*' });
    }
  }
});

/** The IAM statements of one role (inline policies). */
const roleStatements = (roleId: string): { Effect: string; Action: string | string[]; Resource: unknown }[] =>
  asList(template.Resources[roleId]?.Properties.Policies).flatMap((p: any) =>
    asList(p.PolicyDocument?.Statement),
  ) as any;

test('each function zip holds its handler bundle, which plain node loads (externals resolvable) and which exports handler', () => {
  const fns = resources('AWS::Lambda::Function');
  expect(fns.length).toBeGreaterThan(0);
  for (const [id, fn] of fns) {
    const zip = path.join(out, path.basename(String(fn.Properties.Code.S3Key)));
    expect({ id, zip: fs.existsSync(zip) }).toEqual({ id, zip: true });
    const code = path.join(dir, `code-${id}`);
    fs.mkdirSync(code);
    const unzip = spawnSync('unzip', ['-q', zip, '-d', code], { encoding: 'utf8' });
    if (unzip.error) spawnSync('python3', ['-m', 'zipfile', '-e', zip, code]);
    const handler = String(fn.Properties.Handler);
    const file = `./${handler.slice(0, handler.lastIndexOf('.'))}.js`;
    const exported = handler.slice(handler.lastIndexOf('.') + 1);
    // The Lambda runtime's view: only the zip (cwd = the code root, no access to the repo's node_modules).
    const res = spawnSync(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(file)}); require('etcd3'); process.stdout.write(typeof m[${JSON.stringify(exported)}]);`,
      ],
      { cwd: code, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: code, NODE_PATH: '' } },
    );
    expect({ id, handler, stdout: res.stdout, stderr: res.status === 0 ? '' : res.stderr.slice(0, 2000) }).toEqual({
      id,
      handler,
      stdout: 'function',
      stderr: '',
    });
    expect(
      fs.existsSync(path.join(code, 'node_modules/etcd3/proto/rpc.proto')) ||
        fs.readdirSync(path.join(code, 'node_modules/etcd3')).length > 0,
    ).toBe(true);
    // The heat templates only where they are read: the planner, and the job handlers (a job's template).
    const name = String(fn.Properties.FunctionName).replace('esi-prod-', '');
    expect({ name, templates: fs.existsSync(path.join(code, 'templates')) }).toEqual({
      name,
      templates: ['planner', 'heat', 'monitoring'].includes(name),
    });
  }
});

test("every function has its own role, and no role grants a function another function's queues", () => {
  const mappings = resources('AWS::Lambda::EventSourceMapping');
  for (const [fnId, fn] of resources('AWS::Lambda::Function')) {
    const roleId = getAttArn(fn.Properties.Role);
    expect({ fnId, role: template.Resources[roleId!]?.Type }).toEqual({ fnId, role: 'AWS::IAM::Role' });
    const own = new Set(
      mappings
        .filter(([, m]) => getAttArn(m.Properties.FunctionName) === fnId)
        .map(([, m]) => getAttArn(m.Properties.EventSourceArn)),
    );
    // A function with no queue source (the scheduled monitoring sync) may touch no queue at all.
    for (const s of roleStatements(roleId!)) {
      if (!asList(s.Action).some((a) => /^sqs:/i.test(a))) continue;
      if (fnId === 'ReconcilerLambdaFunction') {
        // The reconciler re-sends lost messages as the relay would, to the relay's queues: send, and
        // read their backlog (a repair into a queue still draining waits); never receive or delete.
        expect({ fnId, actions: s.Action, queues: asList(s.Resource).map(getAttArn) }).toEqual({
          fnId,
          actions: ['sqs:SendMessage', 'sqs:GetQueueUrl', 'sqs:GetQueueAttributes'],
          queues: ['ConfigQueue', 'HeatJobsQueue', 'MonitoringJobsQueue', 'FinishedQueue'],
        });
        continue;
      }
      for (const r of asList(s.Resource))
        expect({ fnId, actions: s.Action, queue: getAttArn(r), own: own.has(getAttArn(r)) }).toEqual({
          fnId,
          actions: s.Action,
          queue: getAttArn(r),
          own: true,
        });
    }
  }
  const roleIds = resources('AWS::Lambda::Function').map(([, fn]) => getAttArn(fn.Properties.Role));
  expect(new Set(roleIds).size).toBe(roleIds.length);
  expect(mappings.length).toBeGreaterThan(0);
});

test('every function has reserved concurrency, and every event source a maximum concurrency no larger', () => {
  for (const [fnId, fn] of resources('AWS::Lambda::Function')) {
    const reserved = Number(fn.Properties.ReservedConcurrentExecutions);
    expect({ fnId, reserved: reserved > 0 }).toEqual({ fnId, reserved: true });
    const maxima = resources('AWS::Lambda::EventSourceMapping')
      .filter(([, m]) => getAttArn(m.Properties.FunctionName) === fnId)
      .map(([, m]) => Number(m.Properties.ScalingConfig?.MaximumConcurrency));
    for (const m of maxima) expect(m).toBeGreaterThanOrEqual(2);
    expect(maxima.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(reserved);
  }
});

test('every dead-letter queue has a depth alarm; chain failures, plan failures and relay lag have alarms', () => {
  const dlqs = resources('AWS::SQS::Queue')
    .map(([, q]) => getAttArn(q.Properties.RedrivePolicy?.deadLetterTargetArn))
    .filter(Boolean);
  const alarms = resources('AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  expect(dlqs.length).toBeGreaterThan(0);
  for (const dlq of dlqs) {
    const alarm = alarms.find(
      (a) =>
        a.Namespace === 'AWS/SQS' &&
        a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        getAttArn({ 'Fn::GetAtt': [a.Dimensions?.[0]?.Value?.['Fn::GetAtt']?.[0], 'Arn'] }) === dlq,
    );
    expect({ dlq, alarm: alarm && { threshold: alarm.Threshold, op: alarm.ComparisonOperator } }).toEqual({
      dlq,
      alarm: { threshold: 0, op: 'GreaterThanThreshold' },
    });
  }
  const names = alarms.map((a) => String(a.AlarmName));
  expect(names).toEqual(
    expect.arrayContaining(['esi-prod-chain-failures', 'esi-prod-plan-failures', 'esi-prod-relay-lag']),
  );
  const lag = alarms.find((a) => a.MetricName === 'RelayLag')!;
  expect(lag).toMatchObject({ Namespace: 'esi', TreatMissingData: 'breaching' });
  // RelayLag comes from the relay's EMF lines through a metric filter on its log group.
  const filters = resources('AWS::Logs::MetricFilter').map(([, f]) => f.Properties.MetricTransformations[0]);
  expect(filters).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ MetricNamespace: 'esi', MetricName: 'RelayLag', MetricValue: '$.RelayLag' }),
    ]),
  );
});

test('Logs Insights query definitions: one resource, failures, slowest stack operations', () => {
  const queries = resources('AWS::Logs::QueryDefinition').map(([, q]) => q.Properties);
  const byName = (re: RegExp) => queries.find((q) => re.test(q.Name));
  expect(byName(/one resource/)?.QueryString).toMatch(/filter resource_key/);
  // Every function's log group and the relay's, monitoring-sync's included.
  expect([...byName(/one resource/)!.LogGroupNames].sort()).toEqual(
    [...functions().map((f) => `/aws/lambda/${f.name}`), '/esi/prod/relay'].sort(),
  );
  expect(byName(/failures/)?.QueryString).toMatch(/level = "ERROR"/);
  expect(byName(/slowest stack operations/)?.QueryString).toMatch(/sort stack_operation_ms desc/);
  for (const q of queries) expect(q.LogGroupNames.length).toBeGreaterThan(0);
});

test('the relay runs as one ECS Fargate task at a time, with a role that may only send to its queues', () => {
  const [, service] = only(resources('AWS::ECS::Service'), 'ECS services');
  expect(service.Properties).toMatchObject({
    DesiredCount: 1,
    LaunchType: 'FARGATE',
    DeploymentConfiguration: { MaximumPercent: 100, MinimumHealthyPercent: 0 },
  });
  const task = resource(service.Properties.TaskDefinition.Ref);
  expect(task.Type).toBe('AWS::ECS::TaskDefinition');
  const taskRole = getAttArn(task.Properties.TaskRoleArn)!;
  const statements = roleStatements(taskRole);
  expect(statements.flatMap((s) => asList(s.Action)).sort()).toEqual(['sqs:GetQueueUrl', 'sqs:SendMessage']);
  const queues = statements
    .flatMap((s) => asList(s.Resource))
    .map(getAttArn)
    .sort();
  expect(queues).toEqual(['ConfigQueue', 'FinishedQueue', 'HeatJobsQueue', 'MonitoringJobsQueue', 'RelayDLQ']);
  const container = task.Properties.ContainerDefinitions[0];
  expect(container.LogConfiguration.LogDriver).toBe('awslogs');
  // Named after its stage; a heartbeat file the health check reads (ECS replaces a stuck task);
  // a shutdown grace within the stop timeout.
  const env = Object.fromEntries(container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]));
  expect(env).toMatchObject({
    ESI_RELAY_NAME: 'prod',
    ESI_RELAY_HEARTBEAT_FILE: '/tmp/relay-heartbeat',
    ESI_RELAY_STALL_SECONDS: '660',
    ESI_RELAY_STOP_GRACE_MS: '25000',
  });
  expect(Number(env.ESI_RELAY_STOP_GRACE_MS)).toBeLessThan(container.StopTimeout * 1000);
  expect(container.HealthCheck).toMatchObject({ Interval: 30, Retries: 3, StartPeriod: 60 });
  expect(container.HealthCheck.Command.join(' ')).toContain("statSync('/tmp/relay-heartbeat').mtimeMs < 60000");
});

test('no secret in the template: no password values in function environments, no outputs that name secrets', () => {
  for (const [id, fn] of resources('AWS::Lambda::Function')) {
    for (const [k, v] of Object.entries(fn.Properties.Environment?.Variables ?? {})) {
      // A deployed stage names SSM parameters (*_PARAM) instead.
      if (/PASSWORD$|_KEY$|SECRET|TOKEN/.test(k)) expect({ id, k, v }).toEqual({ id, k, v: '' });
    }
  }
  for (const [k, o] of Object.entries((template as any).Outputs ?? {}))
    expect({ k, v: JSON.stringify(o) }).not.toEqual({
      k,
      v: expect.stringMatching(/password|secret|BEGIN [A-Z ]*PRIVATE KEY/i),
    });
});

/** The functions' logical ids, and for each its FunctionName and Timeout. */
const functions = () =>
  resources('AWS::Lambda::Function').map(([id, fn]) => ({
    id,
    name: String(fn.Properties.FunctionName),
    timeout: Number(fn.Properties.Timeout),
  }));
const alarmsOn = (namespace: string, metric: string) =>
  resources('AWS::CloudWatch::Alarm')
    .map(([, a]) => a.Properties)
    .filter((a) => a.Namespace === namespace && a.MetricName === metric);
const VPC_POLICY = ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole';

test('every function (all reach etcd, some Keystone, Heat or the collector) is in the VPC, with an inline policy for its network interfaces only', () => {
  expect(functions().map((f) => f.name)).toEqual(
    expect.arrayContaining(['esi-prod-planner', 'esi-prod-monitoring-sync', 'esi-prod-aggregator']),
  );
  for (const { id } of functions()) {
    const fn = resource(id);
    expect({ id, vpc: fn.Properties.VpcConfig }).toEqual({
      id,
      vpc: {
        'Fn::If': [
          'HasVpc',
          {
            SubnetIds: { 'Fn::Split': [',', PROD.vpcSubnetIds] },
            SecurityGroupIds: { 'Fn::Split': [',', PROD.vpcSecurityGroupIds] },
          },
          { Ref: 'AWS::NoValue' },
        ],
      },
    });
    const role = resource(getAttArn(fn.Properties.Role)!);
    // No managed policy: AWSLambdaVPCAccessExecutionRole would grant log writes on every group.
    expect({ id, managed: role.Properties.ManagedPolicyArns }).toEqual({ id, managed: undefined });
    const vpc = asList(role.Properties.Policies).filter((p: any) => p['Fn::If']?.[0] === 'HasVpc');
    expect({ id, vpc: vpc.map((p: any) => p['Fn::If'][1].PolicyDocument.Statement) }).toEqual({
      id,
      vpc: [
        [
          {
            Effect: 'Allow',
            Action: [
              'ec2:CreateNetworkInterface',
              'ec2:DescribeNetworkInterfaces',
              'ec2:DescribeSubnets',
              'ec2:DeleteNetworkInterface',
              'ec2:AssignPrivateIpAddresses',
              'ec2:UnassignPrivateIpAddresses',
            ],
            Resource: '*',
          },
        ],
      ],
    });
  }
  expect(JSON.stringify(template)).not.toContain(VPC_POLICY);
});

test('the relay roles exist only with the relay, and ECS may assume them only for this account', () => {
  for (const id of ['RelayTaskRole', 'RelayExecutionRole']) {
    const role = resource(id);
    expect({ id, condition: role.Condition }).toEqual({ id, condition: 'DeployRelay' });
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Effect: 'Allow',
        Principal: { Service: 'ecs-tasks.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': { 'Fn::Sub': 'arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*' } },
        },
      },
    ]);
  }
  // relay=ecs (the default) with an image and the VPC: deployed; relay=none would make it false.
  expect((template as any).Conditions.DeployRelay['Fn::And']).toEqual([
    { Condition: 'HasVpc' },
    { 'Fn::Not': [{ 'Fn::Equals': [PROD.relayImage, ''] }] },
    { 'Fn::Not': [{ 'Fn::Equals': ['ecs', 'none'] }] },
  ]);
});

test('scheduled functions cannot pile up: timeout under the 1-minute period, no retries, events dropped after 60 s', () => {
  const rules = resources('AWS::Events::Rule');
  expect(rules.length).toBe(2);
  for (const [id, rule] of rules) {
    expect({ id, rate: rule.Properties.ScheduleExpression }).toEqual({ id, rate: 'rate(1 minute)' });
    for (const target of asList<any>(rule.Properties.Targets)) {
      expect({ id, retry: target.RetryPolicy }).toEqual({
        id,
        retry: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
      });
      const fnId = getAttArn(target.Arn)!;
      expect(Number(resource(fnId).Properties.Timeout)).toBeLessThan(60);
      // The asynchronous invocation (where a throttled event would wait up to 6 h): no retry, 60 s.
      const config = resources('AWS::Lambda::EventInvokeConfig').find(
        ([, c]) => c.Properties.FunctionName?.Ref === fnId,
      );
      expect({ fnId, config: config?.[1].Properties }).toEqual({
        fnId,
        config: expect.objectContaining({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 }),
      });
    }
  }
  console.log(
    `scheduled: ${rules
      .map(([, r]) => {
        const fnId = getAttArn((r.Properties.Targets as any[])[0].Arn)!;
        return `${resource(fnId).Properties.FunctionName} timeout ${resource(fnId).Properties.Timeout} s`;
      })
      .join(', ')}`,
  );
});

test('a deployed stage missing settings does not package, and the message names each', async () => {
  // A stage with no params block of its own: only the defaults, which name no SSM parameters.
  const { collectorUrl: _, ...withoutCollector } = PROD;
  const res = await slsPackage(
    'staging',
    [...params(withoutCollector), '--param=etcdEndpoints=https://127.0.0.1:2379'],
    path.join(dir, 'missing'),
  );
  console.log(res.output.slice(res.output.indexOf('Stage "staging"'), res.output.indexOf('Only the local')).trim());
  expect(res.code).not.toBe(0);
  expect(res.output).toContain('Stage "staging" cannot be packaged for AWS');
  expect(res.output).toContain('collectorUrl is not set (the monitoring collector');
  expect(res.output).toContain('keystonePasswordParam is not set (the SSM SecureString');
  expect(res.output).toContain('etcdEndpoints points at the deploying machine (https://127.0.0.1:2379)');
  expect(res.output).toContain('etcdEndpoints asks for TLS (https://) but etcdCaParam is not set');
  expect(fs.existsSync(path.join(dir, 'missing', 'planner.zip'))).toBe(false);
});

test('fail closed: local=true on a package, etcd credentials over http://, a stage without a relay; each refused naming the setting', async () => {
  // local=true is for `serverless offline` and `invoke local` only: it no longer turns the checks off.
  const local = await slsPackage('prod', [...PROD_PARAMS, '--param=local=true'], path.join(dir, 'local'));
  // prod names its etcd user and password parameters: over plain http:// they would cross in clear.
  const { relayImage: _, vpcSubnetIds: __, vpcSecurityGroupIds: ___, vpcEndpoints: ____, ...noRelay } = PROD;
  const open = await slsPackage(
    'prod',
    [...params(noRelay), '--param=etcdEndpoints=http://10.0.1.10:2379'],
    path.join(dir, 'open'),
  );
  for (const res of [local, open])
    console.log(res.output.slice(res.output.indexOf('Stage "prod"'), res.output.indexOf('Only the local')).trim());
  expect(local.code).not.toBe(0);
  expect(local.output).toContain(
    'local is true: it is for `serverless offline` and `serverless invoke local` (the local stack) only',
  );
  expect(open.code).not.toBe(0);
  expect(open.output).toContain('etcdEndpoints is plain http:// while etcd credentials are set');
  expect(open.output).toContain('relayImage is not set (the relay container image, an ECR URI)');
  expect(open.output).toContain('vpcSubnetIds is not set (the relay runs in the VPC');
  expect(open.output).toContain('vpcSecurityGroupIds is not set (the relay runs in the VPC');
  for (const d of ['local', 'open']) expect(fs.existsSync(path.join(dir, d, 'planner.zip'))).toBe(false);
});

test('the deployed template holds no loopback address, simulator value or shell setting', () => {
  const text = JSON.stringify(template);
  for (const local of ['127.0.0.1', 'localhost', 'esi-sim-password', ':4566', ':7070/'])
    expect({ local, found: text.includes(local) }).toEqual({ local, found: false });
  for (const { id } of functions()) {
    const env = resource(id).Properties.Environment.Variables;
    expect({ id, sqs: env.ESI_SQS_ENDPOINT, etcd: env.ESI_ETCD_ENDPOINTS, collector: env.ESI_COLLECTOR_URL }).toEqual({
      id,
      sqs: '',
      etcd: PROD.etcdEndpoints,
      collector: PROD.collectorUrl,
    });
  }
});

test('with vpcEndpoints on: SQS, SSM, Logs, ECR api and dkr interface endpoints and an S3 gateway in the VPC', () => {
  const endpoints = resources('AWS::EC2::VPCEndpoint').map(([, e]) => ({
    service: String(e.Properties.ServiceName['Fn::Sub']).replace('com.amazonaws.${AWS::Region}.', ''),
    type: e.Properties.VpcEndpointType,
    vpc: e.Properties.VpcId,
  }));
  expect(endpoints.sort((a, b) => a.service.localeCompare(b.service))).toEqual(
    ['ecr.api', 'ecr.dkr', 'logs', 's3', 'sqs', 'ssm'].map((service) => ({
      service,
      type: service === 's3' ? 'Gateway' : 'Interface',
      vpc: PROD.vpcId,
    })),
  );
  for (const [, e] of resources('AWS::EC2::VPCEndpoint')) {
    expect(e.Condition).toBe('CreateVpcEndpoints');
    if (e.Properties.VpcEndpointType === 'Interface')
      expect(e.Properties).toMatchObject({
        PrivateDnsEnabled: true,
        SubnetIds: { 'Fn::Split': [',', PROD.vpcSubnetIds] },
      });
    else expect(e.Properties.RouteTableIds).toEqual({ 'Fn::Split': [',', PROD.vpcRouteTableIds] });
  }
});

test('every function has alarms on its errors, throttles and a duration near its timeout; scheduled ones on not running', () => {
  for (const f of functions()) {
    const on = (metric: string) => alarmsOn('AWS/Lambda', metric).filter((a) => a.Dimensions?.[0]?.Value?.Ref === f.id);
    expect({ f: f.name, errors: on('Errors').map((a) => [a.Threshold, a.ComparisonOperator]) }).toEqual({
      f: f.name,
      errors: [[0, 'GreaterThanThreshold']],
    });
    // Sustained throttling only: throttled in each of 5 consecutive minutes.
    expect({
      f: f.name,
      throttles: on('Throttles').map((a) => [a.Threshold, a.Period, a.EvaluationPeriods, a.DatapointsToAlarm]),
    }).toEqual({ f: f.name, throttles: [[0, 60, 5, 5]] });
    expect({ f: f.name, duration: on('Duration').map((a) => [a.Statistic, a.Threshold]) }).toEqual({
      f: f.name,
      duration: [['Maximum', f.timeout * 800]],
    });
  }
  const scheduled = resources('AWS::Events::Rule').flatMap(([, r]) =>
    asList(r.Properties.Targets).map((t: any) => getAttArn(t.Arn)),
  );
  expect(scheduled.length).toBeGreaterThan(0);
  for (const id of scheduled) {
    const notRunning = alarmsOn('AWS/Lambda', 'Invocations').filter((a) => a.Dimensions?.[0]?.Value?.Ref === id);
    expect({ id, alarm: notRunning.map((a) => [a.ComparisonOperator, a.Threshold, a.TreatMissingData]) }).toEqual({
      id,
      alarm: [['LessThanThreshold', 1, 'breaching']],
    });
  }
  expect(scheduled).toContain('MonitoringDashsyncLambdaFunction');
});

test("every source queue has an alarm on its oldest message's age; the reconciler's Repairs have one", () => {
  const sources = [
    ...new Set(resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn))),
  ];
  expect(sources.length).toBeGreaterThanOrEqual(6);
  const ages = alarmsOn('AWS/SQS', 'ApproximateAgeOfOldestMessage');
  for (const q of sources)
    expect({
      q,
      alarms: ages.filter((a) => a.Dimensions[0].Value['Fn::GetAtt'][0] === q).map((a) => a.Threshold),
    }).toEqual({
      q,
      alarms: [900],
    });
  const repairs = resources('AWS::CloudWatch::Alarm').find(
    ([, a]) => a.Properties.AlarmName === 'esi-prod-repairs',
  )![1];
  const stats = repairs.Properties.Metrics.filter((m: any) => m.MetricStat).map((m: any) => m.MetricStat.Metric);
  expect(stats.length).toBeGreaterThan(0);
  for (const m of stats) {
    expect(m.Namespace).toBe('esi');
    expect(m.MetricName).toBe('Repairs');
    expect(m.Dimensions.slice(0, 2)).toEqual([
      { Name: 'service', Value: 'esi-reconciler' },
      { Name: 'stage', Value: 'prod' },
    ]);
  }
  expect(repairs.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
});

test('the dashboard: relay lag, queue depth and age per queue, plans, jobs, stack operations, DLQ depths', () => {
  const [id, dash] = only(resources('AWS::CloudWatch::Dashboard'), 'dashboards');
  const body = JSON.parse(String(dash.Properties.DashboardBody['Fn::Sub']).replace(/\$\{AWS::Region\}/g, 'r')) as {
    widgets: { properties: { title: string; metrics: unknown[][] } }[];
  };
  const widget = (re: RegExp) => body.widgets.find((w) => re.test(w.properties.title))!.properties.metrics;
  const names = (re: RegExp) => widget(re).map((m) => m.slice(0, -1).join(' '));
  const queueNames = (ids: (string | undefined)[]) =>
    ids.map((q) => resource(q!).Properties.QueueName as string).sort();
  const sources = [
    ...new Set(resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn))),
  ];
  // Every queue no function consumes holds dead letters (the sources' DLQs, the relay's).
  const dlqs = resources('AWS::SQS::Queue')
    .map(([q]) => q)
    .filter((q) => !sources.includes(q));
  expect(dlqs.length).toBeGreaterThanOrEqual(sources.length);
  console.log(`dashboard widgets: ${body.widgets.map((w) => w.properties.title).join(' | ')}`);

  expect(names(/Relay lag/)).toEqual(['esi RelayLag service esi-relay stage prod']);
  expect(
    widget(/Queue depth/)
      .map((m) => m[3])
      .sort(),
  ).toEqual(queueNames(sources));
  expect(widget(/Queue depth/).every((m) => m[1] === 'ApproximateNumberOfMessagesVisible')).toBe(true);
  expect(
    widget(/Oldest message age/)
      .map((m) => m[3])
      .sort(),
  ).toEqual(queueNames(sources));
  expect(names(/Plans/)).toEqual([
    'esi RecordsSucceeded service esi-planner stage prod',
    'esi RecordsFailed service esi-planner stage prod',
  ]);
  expect(names(/Jobs started/)).toEqual(
    expect.arrayContaining([
      'esi JobsStarted service esi-heat stage prod handler heat_worker',
      'esi JobsSucceeded service esi-heat stage prod handler heat_worker',
      'esi JobsFailed service esi-monitoring stage prod handler monitoring_worker',
    ]),
  );
  expect(names(/Stack operation/)).toContain('esi StackOperationDuration service esi-heat stage prod');
  const fnNames = functions()
    .map((f) => f.name)
    .sort();
  expect([...new Set(widget(/Function duration/).map((m) => `${String(m[1])} ${String(m[3])}`))].sort()).toEqual(
    fnNames.map((n) => `Duration ${n}`),
  );
  expect(
    widget(/Concurrent executions/)
      .map((m) => `${String(m[1])} ${String(m[3])}`)
      .sort(),
  ).toEqual(fnNames.map((n) => `ConcurrentExecutions ${n}`));
  expect(
    widget(/Dead-letter/)
      .map((m) => m[3])
      .sort(),
  ).toEqual(queueNames(dlqs));
  expect((template as any).Outputs.DashboardUrl.Value['Fn::Sub']).toContain(`dashboards:name=\${${id}}`);
});

test('tracing: X-Ray active on every function, with a role that may write traces', () => {
  for (const { id } of functions()) {
    const fn = resource(id);
    expect({ id, tracing: fn.Properties.TracingConfig }).toEqual({ id, tracing: { Mode: 'Active' } });
    const xray = roleStatements(getAttArn(fn.Properties.Role)!).filter((x) =>
      asList(x.Action).some((a) => a.startsWith('xray:')),
    );
    expect({ id, xray }).toEqual({
      id,
      xray: [{ Effect: 'Allow', Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], Resource: '*' }],
    });
  }
  console.log(
    `traced functions: ${functions()
      .map((f) => f.name)
      .join(', ')}`,
  );
});

test('every alarm with actions notifies its end too (OKActions); the relay has a running-task alarm', () => {
  const alarms = resources('AWS::CloudWatch::Alarm');
  expect(alarms.length).toBeGreaterThan(0);
  for (const [id, a] of alarms) {
    const actions = { 'Fn::If': ['HasAlarmTopic', [''], { Ref: 'AWS::NoValue' }] };
    expect({ id, alarm: a.Properties.AlarmActions, ok: a.Properties.OKActions }).toEqual({
      id,
      alarm: actions,
      ok: actions,
    });
  }
  const notRunning = resource('RelayNotRunningAlarm');
  expect(notRunning.Condition).toBe('DeployRelay');
  expect(notRunning.Properties).toMatchObject({
    AlarmName: 'esi-prod-relay-not-running',
    Namespace: 'ECS/ContainerInsights',
    MetricName: 'RunningTaskCount',
    Dimensions: [
      { Name: 'ClusterName', Value: 'esi-prod' },
      { Name: 'ServiceName', Value: 'esi-prod-relay' },
    ],
    Threshold: 1,
    ComparisonOperator: 'LessThanThreshold',
    TreatMissingData: 'breaching',
  });
  expect(resource('RelayCluster').Properties.ClusterSettings).toEqual([
    { Name: 'containerInsights', Value: 'enabled' },
  ]);
  console.log(`alarms: ${alarms.length}, each with OKActions`);
});

test('outputs: every queue and dead-letter queue URL, every log group, the dashboard URL', () => {
  const outputs = (template as any).Outputs as Record<string, { Value: unknown }>;
  const refs = Object.values(outputs).map((o) => (o.Value as { Ref?: string }).Ref);
  for (const [q] of resources('AWS::SQS::Queue')) expect({ q, output: refs.includes(q) }).toEqual({ q, output: true });
  for (const [g] of resources('AWS::Logs::LogGroup'))
    expect({ g, output: refs.includes(g) }).toEqual({ g, output: true });
  expect(outputs.DashboardUrl).toBeDefined();
});

test('tags: on the stack, and on every resource of a type that takes Tags', () => {
  expect(state.service.provider.stackTags).toEqual({ service: 'esi', stage: 'prod' });
  const taggable = new Set([
    'AWS::SQS::Queue',
    'AWS::IAM::Role',
    'AWS::Lambda::Function',
    'AWS::Logs::LogGroup',
    'AWS::CloudWatch::Alarm',
    'AWS::ECS::Cluster',
    'AWS::ECS::Service',
    'AWS::ECS::TaskDefinition',
  ]);
  let n = 0;
  for (const [id, r] of Object.entries(template.Resources)) {
    if (!taggable.has(r.Type)) continue;
    n++;
    expect({ id, tags: r.Properties.Tags }).toEqual({
      id,
      tags: expect.arrayContaining([
        { Key: 'service', Value: 'esi' },
        { Key: 'stage', Value: 'prod' },
      ]),
    });
  }
  expect(n).toBeGreaterThan(30);
});

test('with a customer-managed key for the secrets, every role that reads SSM may decrypt with it, through SSM only', () => {
  const readers = resources('AWS::IAM::Role').filter(([id]) =>
    roleStatements(id).some((x) => asList(x.Action).some((a) => /^ssm:GetParameters?$/.test(a))),
  );
  expect(readers.map(([id]) => id)).toEqual(expect.arrayContaining(['PlannerRole', 'HeatRole', 'RelayExecutionRole']));
  for (const [id] of readers) {
    const kms = roleStatements(id).filter((x: any) => x['Fn::If']?.[0] === 'HasSecretsKmsKey');
    expect({ id, kms: kms.map((x: any) => x['Fn::If'][1]) }).toEqual({
      id,
      kms: [
        {
          Effect: 'Allow',
          Action: ['kms:Decrypt'],
          Resource: [PROD.secretsKmsKeyArn],
          Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' } } },
        },
      ],
    });
  }
});
