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

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'sls-package-'));
const out = path.join(dir, 'package');

type Cfn = { Resources: Record<string, { Type: string; Properties: Record<string, any> }> };
let template: Cfn;
let isolated = false;

/** Runs a command asynchronously (this process may host the test SQS server). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
  });
}

beforeAll(async () => {
  const home = path.join(dir, 'home');
  fs.mkdirSync(home);
  // Nothing from this shell: no AWS_* credentials or profile, no ESI_* settings, an empty HOME.
  const env = { PATH: process.env.PATH, HOME: home };
  const cmd = ['npx', '--no-install', 'serverless', 'package', '--stage', 'ci', '--package', out];
  // `unshare -n` (root, or user namespaces) runs it in an empty network namespace: any call to
  // AWS or a registry would fail the packaging.
  isolated = spawnSync('unshare', ['-n', 'true'], { stdio: 'ignore' }).status === 0;
  const res = isolated ? await run('unshare', ['-n', ...cmd], env) : await run(cmd[0], cmd.slice(1), env);
  if (res.code !== 0) throw new Error(`serverless package failed (${res.code}):\n${res.output}`);
  template = JSON.parse(fs.readFileSync(path.join(out, 'cloudformation-template-update-stack.json'), 'utf8'));
  const zip = fs.readdirSync(out).find((f) => f.endsWith('.zip'));
  console.log(
    `serverless package: ${isolated ? 'without network (unshare -n)' : 'network isolation unavailable; ran without credentials only'}; ${zip} ${(fs.statSync(path.join(out, zip!)).size / 1e6).toFixed(1)} MB`,
  );
});

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
    const queue = template.Resources[queueId!];
    const fn = template.Resources[fnId!];
    expect(queue?.Type).toBe('AWS::SQS::Queue');
    expect(fn?.Type).toBe('AWS::Lambda::Function');

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
    expect(Boolean(template.Resources[dlqId!].Properties.FifoQueue)).toBe(Boolean(queue.Properties.FifoQueue));

    const fnTimeout = Number(fn.Properties.Timeout ?? 3);
    const visibility = Number(queue.Properties.VisibilityTimeout ?? 30);
    expect({ queue: queueId, visibility }).toEqual({ queue: queueId, visibility: expect.any(Number) });
    expect(visibility).toBeGreaterThanOrEqual(6 * fnTimeout);
  }
});

test('every queue in the stack is either consumed (with a DLQ) or is a dead-letter queue', () => {
  const consumed = new Set(
    resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn)),
  );
  const dlqs = new Set(
    resources('AWS::SQS::Queue')
      .map(([, q]) => getAttArn(q.Properties.RedrivePolicy?.deadLetterTargetArn))
      .filter(Boolean),
  );
  for (const [id] of resources('AWS::SQS::Queue'))
    expect({ id, role: consumed.has(id) ? 'consumed' : dlqs.has(id) ? 'dlq' : 'orphan' }).not.toEqual({
      id,
      role: 'orphan',
    });
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
    expect(fs.existsSync(path.join(code, 'templates'))).toBe(true);
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
  expect(names).toEqual(expect.arrayContaining(['esi-ci-chain-failures', 'esi-ci-plan-failures', 'esi-ci-relay-lag']));
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
  expect(byName(/failures/)?.QueryString).toMatch(/level = "ERROR"/);
  expect(byName(/slowest stack operations/)?.QueryString).toMatch(/sort StackOperationDuration desc/);
  for (const q of queries) expect(q.LogGroupNames.length).toBeGreaterThan(0);
});

test('the relay runs as one ECS Fargate task at a time, with a role that may only send to its queues', () => {
  const [[, service]] = resources('AWS::ECS::Service');
  expect(service.Properties).toMatchObject({
    DesiredCount: 1,
    LaunchType: 'FARGATE',
    DeploymentConfiguration: { MaximumPercent: 100, MinimumHealthyPercent: 0 },
  });
  const task = template.Resources[service.Properties.TaskDefinition.Ref];
  expect(task.Type).toBe('AWS::ECS::TaskDefinition');
  const taskRole = getAttArn(task.Properties.TaskRoleArn)!;
  const statements = roleStatements(taskRole);
  expect(statements.flatMap((s) => asList(s.Action)).sort()).toEqual(['sqs:GetQueueUrl', 'sqs:SendMessage']);
  const queues = statements
    .flatMap((s) => asList(s.Resource))
    .map(getAttArn)
    .sort();
  expect(queues).toEqual(['ConfigQueue', 'FinishedQueue', 'HeatJobsQueue', 'MonitoringJobsQueue']);
  expect(task.Properties.ContainerDefinitions[0].LogConfiguration.LogDriver).toBe('awslogs');
});

test('no secret in the template: no password values in function environments, no outputs that name secrets', () => {
  for (const [id, fn] of resources('AWS::Lambda::Function')) {
    for (const [k, v] of Object.entries(fn.Properties.Environment?.Variables ?? {})) {
      // Locally (and in CI) the simulator password is the default; a real stage sets *_PARAM instead.
      if (/PASSWORD$|_KEY$|SECRET|TOKEN/.test(k))
        expect({ id, k, v }).toEqual({
          id,
          k,
          v: k === 'ESI_KEYSTONE_PASSWORD' ? 'esi-sim-password' : expect.stringMatching(/^$/),
        });
    }
  }
  for (const [k, o] of Object.entries((template as any).Outputs ?? {}))
    expect({ k, v: JSON.stringify(o) }).not.toEqual({
      k,
      v: expect.stringMatching(/password|secret|BEGIN [A-Z ]*PRIVATE KEY/i),
    });
});
