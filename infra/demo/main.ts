/**
 * `npm run demo`: starts its own local stack on free loopback ports (so it never collides with a
 * running `npm start`), plays the recorded load-balancer scenario as Gohan would, prints the
 * final /state and /monitoring of every resource, stops the stack, and exits 0 only when every
 * resource reached its recorded state.
 *
 * Its data folder is temporary: removed at the end, unless the run failed, when its logs are kept
 * and named. A Ctrl-C stops everything it started and removes the folder.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Started } from '../local/processes';
import { freeStackPorts, startStack } from '../stack/stack';
import { playRecordedScenario } from './play';

/** Set by Ctrl-C: the signal handler stops, cleans up and exits; nothing else reports. */
let interrupted = false;

async function main(): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-demo-'));
  const started = new Started();
  const removeData = () => fs.rmSync(dataDir, { recursive: true, force: true });
  const onSignal = () => {
    interrupted = true;
    say('\nStopping the demo ...');
    void started.stopAll().finally(() => {
      removeData();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  say('Starting a local stack for the demo ...');
  let ok = false;
  try {
    const stack = await startStack({ dataDir, stage: 'demo', ports: await freeStackPorts(), log: say, started });
    ok = (await playRecordedScenario(stack.env.ESI_ETCD_ENDPOINTS, say)).ok;
    return ok ? 0 : 1;
  } finally {
    await started.stopAll();
    if (ok) removeData();
    else if (!interrupted)
      say(`\nLogs of this run are kept in ${path.join(dataDir, 'logs')} (remove ${dataDir} when done).`);
  }
}

main().then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (err: Error) => {
    if (interrupted) return;
    process.stderr.write(`demo failed: ${err.message}\n`);
    process.exit(1);
  },
);
