/**
 * `npm run demo`: starts its own local stack on free loopback ports (so it never collides with a
 * running `npm start`), plays the recorded load-balancer scenario as Gohan would, prints the
 * final /state and /monitoring of every resource, stops the stack, and exits 0 only when every
 * resource reached its recorded state.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freeStackPorts, startStack } from '../stack/stack';
import { playRecordedScenario } from './play';

async function main(): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-demo-'));
  say('Starting a local stack for the demo ...');
  const stack = await startStack({
    dataDir,
    stage: 'demo',
    ports: await freeStackPorts(),
    log: say,
  });
  try {
    const result = await playRecordedScenario(stack.env.ESI_ETCD_ENDPOINTS, say);
    say(`\nLogs of this run: ${path.join(dataDir, 'logs')}`);
    return result.ok ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
