/**
 * `esi` says which stack it talks to and never mixes them: with --endpoints/--stage nothing comes
 * from a running local stack's endpoints file; without them, everything does. `esi --version`.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, '..', '..');
const dataDir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'esi-target-'));
// A local stack "running" (this process's pid) on its own loopback ports.
fs.writeFileSync(
  path.join(dataDir, 'endpoints.json'),
  JSON.stringify({
    pid: process.pid,
    etcd: 'http://127.0.0.1:23791',
    sqs: 'http://127.0.0.1:45661',
    lambda: 'http://127.0.0.1:30021',
    region: 'eu-west-1',
    stage: 'dev',
  }),
);

function esi(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ESI_DATA_DIR: dataDir };
  return new Promise((resolve) =>
    execFile(
      'npx',
      ['--no-install', 'tsx', 'cli/main.ts', ...args],
      { cwd: ROOT, env, timeout: 50_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

test('esi --version prints the version of the package', async () => {
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  expect(await esi(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
});

test('--stage and --endpoints target that stack only: nothing from the running local stack', async () => {
  const res = await esi([
    '--stage',
    'prod',
    '--endpoints',
    'https://10.0.1.10:2379',
    '--target',
    'etcd-roles',
    '--print',
  ]);
  expect(res.code).toBe(0);
  expect(res.stderr).toBe('esi: stage prod: etcd https://10.0.1.10:2379, SQS AWS us-east-1\n');
});

test('with no flags and no settings the running local stack is the target, all of it', async () => {
  const res = await esi(['--target', 'etcd-roles', '--print']);
  expect(res.code).toBe(0);
  expect(res.stderr).toBe(
    `esi: local stack (${dataDir}): etcd http://127.0.0.1:23791, SQS http://127.0.0.1:45661, stage dev\n`,
  );
});

test('--help says how to target a stage', async () => {
  const res = await esi(['--help']);
  expect(res.code).toBe(0);
  expect(res.stdout).toContain('--stage <stage>');
  expect(res.stdout).toContain('--endpoints <urls>');
  expect(res.stdout.replace(/\s+/g, ' ')).toContain('nothing is taken from the local stack');
});
