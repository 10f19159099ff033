/**
 * Debian's OpenStack Keystone and Heat (Zed) for the real-OpenStack local tier: installed with apt
 * when running as root, the way infra/local/etcd-server.ts installs etcd; otherwise the one apt
 * command is named. Nothing is started by the packages (their debconf questions are answered no,
 * and on machines without /usr/sbin/policy-rc.d one that refuses every start is put in place for
 * the install only).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const OPENSTACK_PACKAGES = ['keystone', 'heat-api', 'heat-engine', 'uwsgi-core', 'uwsgi-plugin-python3'];

/** The commands the tier runs. */
export const OPENSTACK_COMMANDS = [
  '/usr/bin/keystone-manage',
  '/usr/bin/heat-all',
  '/usr/bin/heat-manage',
  '/usr/bin/uwsgi',
];

export const APT_COMMAND = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${OPENSTACK_PACKAGES.join(' ')}`;

const DEBCONF = [
  'keystone keystone/configure_db boolean false',
  'keystone keystone/create-admin-tenant boolean false',
  'keystone keystone/register-endpoint boolean false',
  'heat-common heat/configure_db boolean false',
  'heat-common heat/configure_rabbit boolean false',
  'heat-common heat/configure_ksat boolean false',
].join('\n');

export const openStackInstalled = (): boolean => OPENSTACK_COMMANDS.every((c) => fs.existsSync(c));

export const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Makes sure Keystone, Heat and uwsgi are installed; returns the seconds the install took (0 when
 * they already were). As non-root, fails with the apt command to run.
 */
export function ensureOpenStackInstalled(log: (line: string) => void = console.error): number {
  if (openStackInstalled()) return 0;
  if (!isRoot())
    throw new Error(
      `Keystone and Heat are not installed. Install Debian's packages first:\n  sudo sh -c '${APT_COMMAND}'`,
    );
  const t0 = Date.now();
  log(
    `Keystone/Heat not installed: installing ${OPENSTACK_PACKAGES.join(' ')} with apt-get (one time, about 2 minutes) ...`,
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('debconf-set-selections', [], { input: DEBCONF, stdio: ['pipe', 'ignore', 'ignore'] });
  // The packages' scripts start their services through invoke-rc.d; this tier starts its own.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    const install =
      update.status === 0
        ? spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...OPENSTACK_PACKAGES], {
            stdio: 'inherit',
            env,
          })
        : update;
    if (install.status !== 0 || !openStackInstalled())
      throw new Error(`apt-get could not install Keystone and Heat; install them by hand:\n  ${APT_COMMAND}`);
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
  return (Date.now() - t0) / 1000;
}
