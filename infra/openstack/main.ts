/**
 * `npm run openstack -- up [dir]` configures and starts Debian's Keystone and Heat in `dir`
 * (default <ESI_DATA_DIR>/openstack), installing them first as root, and leaves them running;
 * `down [dir]` stops them by the PIDs recorded there; `status [dir]` prints the endpoints and PIDs.
 * ESI_OPENSTACK_TOKEN_SECS sets Keystone's token lifetime. A test run reuses a running tier with
 * ESI_OPENSTACK_DIR=<dir>.
 */
import path from 'node:path';
import { dataDirOf } from '../stack/endpoints';
import { ensureOpenStackInstalled } from './install';
import { attachOpenStack, readState, rssMb, running, startOpenStack } from './openstack';

const say = (line: string) => process.stdout.write(`${line}\n`);

async function main(): Promise<void> {
  const [command, dirArg] = process.argv.slice(2);
  const dir = path.resolve(dirArg ?? path.join(dataDirOf(), 'openstack'));
  if (command === 'up') {
    const installSeconds = ensureOpenStackInstalled(say);
    const tier = await startOpenStack({
      dataDir: dir,
      ...(process.env.ESI_OPENSTACK_TOKEN_SECS
        ? { tokenExpirationSecs: Number(process.env.ESI_OPENSTACK_TOKEN_SECS) }
        : {}),
      log: say,
    });
    say(
      `up: install ${installSeconds.toFixed(0)} s, configure + start ${tier.startSeconds.toFixed(1)} s; ` +
        `RSS keystone ${rssMb(tier.keystone.pid)} MB, heat-all ${rssMb(tier.heat.pid)} MB; ESI_OPENSTACK_DIR=${dir}`,
    );
  } else if (command === 'down') {
    await attachOpenStack(dir).stop();
    say(`stopped the Keystone and Heat of ${dir}`);
  } else if (command === 'status') {
    const st = readState(dir);
    const tier = attachOpenStack(dir);
    say(`Keystone ${tier.keystoneUrl} pid ${st.keystonePid} ${running(st.keystonePid) ? 'running' : 'stopped'}`);
    say(`Heat     ${tier.heatUrl} pid ${st.heatPid} ${running(st.heatPid) ? 'running' : 'stopped'}`);
  } else {
    say('usage: npm run openstack -- up|down|status [dir]');
    process.exit(2);
  }
}

main().catch((err: Error) => {
  process.stderr.write(`openstack: ${err.message}\n`);
  process.exit(1);
});
