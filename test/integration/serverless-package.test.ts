/**
 * `serverless package` as CI runs it: offline (in a network namespace of its own when the
 * machine allows it), with no AWS credentials, an empty HOME and none of our variables; then
 * checks the CloudFormation it generated: dead-letter queues, visibility timeouts, partial batch
 * responses, and no wildcard IAM on queues or functions.
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
  console.log(`serverless package: ${isolated ? 'without network (unshare -n)' : 'network isolation unavailable; ran without credentials only'}; ${zip} ${(fs.statSync(path.join(out, zip!)).size / 1e6).toFixed(1)} MB`);
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
    expect({ queue: queueId, redrive }).toEqual({ queue: queueId, redrive: expect.objectContaining({ maxReceiveCount: expect.any(Number) }) });
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
  const consumed = new Set(resources('AWS::Lambda::EventSourceMapping').map(([, m]) => getAttArn(m.Properties.EventSourceArn)));
  const dlqs = new Set(resources('AWS::SQS::Queue').map(([, q]) => getAttArn(q.Properties.RedrivePolicy?.deadLetterTargetArn)).filter(Boolean));
  for (const [id] of resources('AWS::SQS::Queue')) expect({ id, role: consumed.has(id) ? 'consumed' : dlqs.has(id) ? 'dlq' : 'orphan' }).not.toEqual({ id, role: 'orphan' });
});

test('every event source mapping reports partial batch failures', () => {
  for (const [, m] of resources('AWS::Lambda::EventSourceMapping')) expect(m.Properties.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
});

test('no IAM statement uses a wildcard action, or grants queue or function actions on every resource', () => {
  const statements: { where: string; Action: unknown; Resource: unknown; Effect: string }[] = [];
  for (const [id, r] of [...resources('AWS::IAM::Role'), ...resources('AWS::IAM::Policy'), ...resources('AWS::IAM::ManagedPolicy')]) {
    const docs = r.Type === 'AWS::IAM::Role' ? asList(r.Properties.Policies).map((p: any) => p.PolicyDocument) : [r.Properties.PolicyDocument];
    for (const doc of docs) for (const s of asList(doc?.Statement)) statements.push({ where: id, ...(s as any) });
  }
  expect(statements.length).toBeGreaterThan(0);
  for (const s of statements) {
    if (s.Effect !== 'Allow') continue;
    const actions = asList(s.Action as string | string[]);
    for (const a of actions) {
      expect({ where: s.where, action: a, wildcard: a === '*' || /^(sqs|lambda):\*$/i.test(a) }).toEqual({ where: s.where, action: a, wildcard: false });
    }
    if (actions.some((a) => /^(sqs|lambda):/i.test(a))) {
      for (const res of asList(s.Resource)) expect({ where: s.where, actions, resource: res }).not.toEqual({ where: s.where, actions, resource: '*' });
    }
  }
});
