/**
 * `npm run demo`: starts its own local stack on free loopback ports (so it never collides with a
 * running `npm start`), plays the recorded load-balancer scenario as Gohan would, prints the
 * final /state and /monitoring of every resource, stops the stack, and exits 0 only when every
 * resource reached its recorded state.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../local/ports';
import { startStack } from '../stack/stack';
import { playScenario, summary } from './play';
import { loadScenario } from './scenario';

async function main(): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-demo-'));
  say('Starting a local stack for the demo ...');
  const stack = await startStack({
    dataDir,
    stage: 'demo',
    ports: { etcd: await freePort(), etcdPeer: await freePort(), sqs: await freePort(), lambda: await freePort(), http: await freePort(), heat: await freePort(), collector: await freePort() },
    log: say,
  });
  // Loaded once the stack's etcd is known.
  process.env.ESI_ETCD_ENDPOINTS = stack.env.ESI_ETCD_ENDPOINTS;
  const { EtcdStore } = await import('../../shared/store/etcd-store');
  const store = new EtcdStore();
  try {
    const result = await playScenario(store, loadScenario(), { log: say, live: true });
    summary(result).forEach((l) => say(l));
    say(`\nLogs of this run: ${path.join(dataDir, 'logs')}`);
    return result.ok ? 0 : 1;
  } finally {
    store.close();
    await stack.stop();
  }
}

main().then((code) => process.exit(code), (err) => {
  process.stderr.write(`demo failed: ${(err as Error).message}\n`);
  process.exit(1);
});
