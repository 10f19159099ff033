/**
 * `npm start`: brings up the local stack on loopback, plays the recorded demo, and keeps the stack
 * running until Ctrl-C. Ports and the data folder come from the environment
 * (docs/configuration.md); `--fresh` empties the data folder's etcd first.
 *
 * What an impatient user may do is part of the design: a Ctrl-C at any moment stops everything
 * started so far (the handlers are installed before the first process starts, and every process
 * is stopped by its PID); a failed start stops what it started and says in one line what failed;
 * a port in use is named with the variable that moves it, before anything starts, so the stack
 * never talks to a server it did not start.
 */
import fs from 'node:fs';
import path from 'node:path';
import { portInUse } from '../local/ports';
import { Started } from '../local/processes';
import { playRecordedScenario } from '../demo/play';
import { displayFor } from '../demo/wait-line';
import { GOHAN_TOKEN, gohanUnavailable, startGohan, type RunningGohan } from '../gohan/gohan';
import { ensureOpenStackInstalled } from '../openstack/install';
import { type RealOpenStack, startOpenStack } from '../openstack/openstack';
import { dataDirOf, readEndpoints, removeEndpoints, writeEndpoints } from './endpoints';
import { PORT_SETTINGS, startStack, type StackPorts } from './stack';
import { definedOnly } from '../../shared/defined-only';

const USAGE = [
  'usage: npm start [-- --fresh] [--openstack sim|real] [--gohan]',
  '  Starts the local stack on loopback, plays the recorded load-balancer demo live, waits until every',
  '  resource matches the record (saying what is pending and why), and keeps the stack running until Ctrl-C.',
  '  --fresh           empty the local etcd first, so the demo plays again',
  '  --gohan           also start the upstream Gohan API server on ESI_GOHAN_PORT (9091), as production drives the stack',
  "  --openstack real  Debian's Keystone and Heat (installed as root when missing) instead of the simulators",
  '  -h, --help        print this',
  '  Ports and data folder: ESI_*_PORT, ESI_DATA_DIR (docs/configuration.md); ESI_DEMO=0 skips the demo.',
].join('\n');
const display = displayFor(process.stdout);
const say = display.log;
const fail = (line: string, code = 1): never => {
  process.stderr.write(`esi: ${line}\n`);
  process.exit(code);
};

function readPorts(): StackPorts {
  const entries = Object.entries(PORT_SETTINGS).map(([name, { variable, fallback }]) => {
    const text = process.env[variable];
    const port = text === undefined || text === '' ? fallback : Number(text);
    if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`${variable}=${text}: not a TCP port`, 2);
    return [name, port];
  });
  return Object.fromEntries(entries) as StackPorts;
}

async function main(): Promise<void> {
  const dataDir = dataDirOf();
  const started = new Started();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping everything this start started ...`);
    await started.stopAll();
    removeEndpoints(dataDir);
    say('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('Ctrl-C'));
  process.on('SIGTERM', () => void stop('SIGTERM'));

  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    say(USAGE);
    process.exit(0);
  }
  const at = args.indexOf('--openstack');
  const openstack = at >= 0 ? args.splice(at, 2)[1] : (process.env.ESI_OPENSTACK ?? 'sim');
  if (openstack !== 'sim' && openstack !== 'real') fail(`--openstack takes sim or real\n${USAGE}`, 2);
  const unknown = args.filter((a) => a !== '--fresh' && a !== '--gohan');
  if (unknown.length) fail(`unknown argument ${unknown[0]}\n${USAGE}`, 2);
  const fresh = args.includes('--fresh');
  const ports = readPorts();
  const gohanPort = args.includes('--gohan') ? readGohanPort() : undefined;

  const running = readEndpoints(dataDir);
  if (running)
    fail(`a local stack already runs on ${dataDir} (npm start, pid ${running.pid}); stop it or set ESI_DATA_DIR`);
  const taken: string[] = [];
  for (const [name, port] of Object.entries(ports) as [keyof StackPorts, number][])
    if (await portInUse(port)) taken.push(`port ${port} is in use (set ${PORT_SETTINGS[name].variable} to move it)`);
  if (gohanPort && (await portInUse(gohanPort)))
    taken.push(`port ${gohanPort} is in use (set ESI_GOHAN_PORT to move it)`);
  if (taken.length) fail(taken.join('\n'));

  if (fresh) {
    fs.rmSync(path.join(dataDir, 'etcd'), { recursive: true, force: true });
    fs.rmSync(path.join(dataDir, 'gohan'), { recursive: true, force: true }); // its database mirrors etcd's /config
    say(`--fresh: emptied the local etcd (${path.join(dataDir, 'etcd')})`);
  }
  say('Starting the esi local stack ...');
  const real =
    openstack === 'real'
      ? await startRealOpenStack(dataDir, started).catch((err: Error) => {
          if (!stopping) fail(`Keystone/Heat did not start: ${err.message}`);
        })
      : undefined;
  if (stopping) return;
  const stack = await startStack({
    dataDir,
    stage: process.env.ESI_STAGE ?? 'dev',
    ports,
    log: say,
    started,
    ...(real ? { openstack: real } : {}),
    // Upstream Gohan deletes a resource's row at once: nothing reads its /state again (unless set).
    ...(gohanPort ? { env: { ESI_KEY_DELETE_STATE: process.env.ESI_KEY_DELETE_STATE ?? 'remove' } } : {}),
  }).catch((err: Error) => {
    // After a Ctrl-C the signal handler stops everything and exits.
    if (!stopping) fail(`the local stack did not start: ${err.message}`);
  });
  if (!stack || stopping) return;
  writeEndpoints(dataDir, {
    pid: process.pid,
    etcd: stack.env.ESI_ETCD_ENDPOINTS,
    sqs: stack.env.ESI_SQS_ENDPOINT,
    lambda: stack.env.ESI_LAMBDA_ENDPOINT,
    region: stack.env.AWS_REGION,
    stage: stack.env.ESI_STAGE,
  });
  stack.relay().on('exit', (code, signal) => {
    if (!stopping) say(`relay exited (${code ?? signal}); see ${path.join(dataDir, 'logs', 'relay.log')}`);
  });
  const gohan = gohanPort
    ? await startLocalGohan(stack.env.ESI_ETCD_ENDPOINTS, gohanPort, dataDir, started).catch((err: Error) => {
        if (!stopping) fail(`Gohan did not start: ${err.message}`);
      })
    : undefined;
  if (stopping) return;

  if (process.env.ESI_DEMO !== '0') {
    // The main job: play the recorded load-balancer scenario as Gohan would, live.
    // Quiet once stopping: the demo's lines would mix with the stop's.
    const demoSay = (line: string) => (stopping ? undefined : say(line));
    await playRecordedScenario(stack.env.ESI_ETCD_ENDPOINTS, demoSay, {
      // Real Heat makes its own outputs: the record's are compared by key only.
      ...(real ? {} : { simulators: { heatUrl: stack.heat.url, collectorUrl: stack.collector.url } }),
      display: { ...display, log: demoSay, status: (text) => (stopping ? undefined : display.status(text)) },
    }).catch((err: Error) => {
      if (!stopping) say(`demo stopped: ${err.message}`);
    });
  }
  if (stopping) return;
  say('');
  say(`The stack is up (endpoints in ${path.join(dataDir, 'endpoints.json')}, where esi finds them).`);
  say('Explore, in another terminal:');
  say('  npm run -s esi -- status /config/v2.0/ports/ddc14be4-3480-4e97-a978-817b18f9904c');
  say('  npm run -s esi -- ls /state/ --values');
  say('  npm run -s esi -- put /config/v2.0/networks/demo-net test/fixtures/gohan/network.json');
  say('  npm run -s esi -- dlq');
  if (gohan) {
    say(`Drive it through Gohan (${gohan.url}), as production does:`);
    say(`  curl -s -H 'X-Auth-Token: ${GOHAN_TOKEN}' -X POST ${gohan.url}/v2.0/networks -d '{"name": "my-net"}'`);
    say(`  curl -s -H 'X-Auth-Token: ${GOHAN_TOKEN}' ${gohan.url}/v2.0/networks   # worker_state, version, error`);
  }
  say('Press Ctrl-C to stop everything.');
}

function readGohanPort(): number {
  const text = process.env.ESI_GOHAN_PORT;
  const port = text === undefined || text === '' ? 9091 : Number(text);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) fail(`ESI_GOHAN_PORT=${text}: not a TCP port`, 2);
  const why = gohanUnavailable();
  if (why) fail(`--gohan: ${why}`);
  return port;
}

/** The upstream Gohan server beside the stack (infra/gohan/gohan.ts), its data in <dataDir>/gohan. */
async function startLocalGohan(etcd: string, port: number, dataDir: string, started: Started): Promise<RunningGohan> {
  const gohan = await startGohan({ etcd, port, dataDir: path.join(dataDir, 'gohan'), onSpawn: started.onSpawn });
  say(`Gohan       ${gohan.url}  (pid ${gohan.pid}, log ${gohan.logFile}; header X-Auth-Token: ${GOHAN_TOKEN})`);
  return gohan;
}

/** Debian's Keystone + Heat in <dataDir>/openstack (ESI_KEYSTONE_PORT / ESI_HEAT_PORT, else free ports). */
async function startRealOpenStack(dataDir: string, started: Started): Promise<RealOpenStack> {
  ensureOpenStackInstalled(say);
  const port = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const tier = await startOpenStack(
    definedOnly({
      dataDir: path.join(dataDir, 'openstack'),
      keystonePort: port('ESI_KEYSTONE_PORT'),
      heatPort: port('ESI_HEAT_PORT'),
      onSpawn: started.onSpawn,
      log: say,
    }),
  );
  started.add('Keystone and Heat', () => tier.stop());
  say(
    `OpenStack   real Keystone and Heat, ready in ${tier.startSeconds.toFixed(0)} s (logs ${path.join(tier.dataDir, 'logs')})`,
  );
  return tier;
}

main().catch((err: Error) => fail(`the local stack did not start: ${err.message}`));
