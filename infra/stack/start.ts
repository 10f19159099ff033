/**
 * `npm start`: brings up the local stack on loopback and keeps it running until Ctrl-C.
 * Ports and the data folder come from the environment (README, "Configuration").
 */
import path from 'node:path';
import { playRecordedScenario } from '../demo/play';
import { startStack } from './stack';

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.ESI_DATA_DIR ?? path.join(__dirname, '..', '..', '.esi-local'));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say('Starting the esi local stack ...');
  const stack = await startStack({
    dataDir,
    stage: process.env.ESI_STAGE ?? 'dev',
    ports: {
      etcd: port('ESI_ETCD_PORT', 2379),
      etcdPeer: port('ESI_ETCD_PEER_PORT', 2380),
      sqs: port('ESI_SQS_PORT', 4566),
      lambda: port('ESI_LAMBDA_PORT', 3002),
      http: port('ESI_HTTP_PORT', 3000),
      heat: port('ESI_SIM_HEAT_PORT', 5000),
      collector: port('ESI_SIM_COLLECTOR_PORT', 7070),
    },
    log: say,
  });
  if (process.env.ESI_DEMO !== '0') {
    // The main job: play the recorded load-balancer scenario as Gohan would, live.
    await playRecordedScenario(stack.env.ESI_ETCD_ENDPOINTS, say).catch((err: Error) =>
      say(`demo stopped: ${err.message}`),
    );
  }
  say('');
  say('The stack is up. Logs are in ' + path.join(dataDir, 'logs'));
  say('Explore, in another terminal:');
  say(`  export ESI_ETCD_ENDPOINTS=${stack.env.ESI_ETCD_ENDPOINTS}`);
  say('  npm run -s esi -- status /config/v2.0/ports/ddc14be4-3480-4e97-a978-817b18f9904c');
  say('  npm run -s esi -- ls /state/ --values');
  say('  npm run -s esi -- put /config/v2.0/networks/demo-net test/fixtures/gohan/network.json');
  say('Press Ctrl-C to stop everything.');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('\nStopping ...');
    await stack.stop();
    say('Stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  stack.relay()?.on('exit', (code, signal) => {
    if (!stopping) say(`relay exited (${code ?? signal}); see its log`);
  });
}

main().catch((err) => {
  process.stderr.write(`esi local stack failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
