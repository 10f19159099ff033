import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { APT_COMMAND, ensureOpenStackInstalled, isRoot, openStackInstalled } from '../../infra/openstack/install';
import { readState, rssMb, running, startOpenStack } from '../../infra/openstack/openstack';

/**
 * One real Keystone + Heat for the whole run of the openstack project, shared by its files
 * through ESI_OPENSTACK_DIR (the tier's data folder, whose state.json any process can control).
 * Installed with apt as root; elsewhere the project says in one line why it is skipped.
 */
export default async function openStackSetup(): Promise<void> {
  const say = (line: string) => process.stdout.write(`\nopenstack tier: ${line}\n`);
  if (process.env.ESI_OPENSTACK === 'skip' || (!openStackInstalled() && !isRoot())) {
    process.env.ESI_OPENSTACK_SKIP =
      process.env.ESI_OPENSTACK === 'skip'
        ? 'ESI_OPENSTACK=skip'
        : `Keystone/Heat are not installed and this is not root (install: ${APT_COMMAND})`;
    say(`SKIPPED: ${process.env.ESI_OPENSTACK_SKIP}`);
    return;
  }
  // A tier already running (ESI_OPENSTACK_DIR) is used as it is, and left running.
  const given = process.env.ESI_OPENSTACK_DIR;
  if (given && running(readState(given).heatPid)) {
    say(`using the running tier in ${given}`);
    return;
  }
  const installSeconds = ensureOpenStackInstalled((line) => say(line));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-openstack-'));
  const tier = await startOpenStack({
    dataDir: dir,
    tokenExpirationSecs: Number(process.env.ESI_OPENSTACK_TOKEN_SECS ?? 90),
  });
  say(
    `install ${installSeconds.toFixed(0)} s, configure + start ${tier.startSeconds.toFixed(1)} s; ` +
      `RSS keystone (uwsgi) ${rssMb(tier.keystone.pid)} MB, heat-all ${rssMb(tier.heat.pid)} MB; data and logs in ${dir}`,
  );
  process.env.ESI_OPENSTACK_DIR = dir;
  (globalThis as Record<string, unknown>).__ESI_OPENSTACK__ = dir;
}
