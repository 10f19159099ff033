/**
 * `npm run demo [-- --scenario <file> [--burst] [--dump <file.json>]]`: starts its own local stack
 * on free loopback ports (so it never collides with a running `npm start`), plays a scenario as
 * Gohan would (default: the recorded load-balancer scenario), prints every resource's final /state
 * and /monitoring beside the recorded one with every difference, writes every final /state and
 * /monitoring value to the dump file, stops the stack, and exits 0 only when every resource
 * matches, no job is left unfinished and no message was dead-lettered.
 *
 * While the results settle, one line says what is still pending and why (a status the templates
 * hold back, docs/local-stack.md); the demo ends as soon as every resource matches.
 *
 * Its data folder is temporary: removed at the end, unless the run failed, when its logs are kept
 * and named. A Ctrl-C stops everything it started and removes the folder. Exit codes: 0 every
 * resource matches, 1 not, 2 a usage error.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { Started } from '../local/processes';
import { freeStackPorts, startStack } from '../stack/stack';
import { deadLetters } from './dead-letters';
import { playRecordedScenario } from './play';
import { loadScenario, SCENARIOS_DIR, type Scenario } from './scenario';
import { displayFor } from './wait-line';
import { definedOnly } from '../../shared/defined-only';

/** Set by Ctrl-C: the signal handler stops, cleans up and exits; nothing else reports. */
let interrupted = false;

async function main(argv: string[]): Promise<number> {
  const opts = new Command('demo')
    .description('play a scenario on a fresh local stack and compare every resource with the record')
    .option(
      '--scenario <file>',
      'scenario file (docs/scenarios.md), or the name of one in infra/demo/scenarios',
      '05_load_balancer',
    )
    .option('--burst', 'write back to back, as Gohan does, without waiting for each change to be planned')
    .option('--dump <file>', 'write every final /state and /monitoring value to this JSON file')
    .showHelpAfterError()
    .exitOverride()
    .parse(argv)
    .opts<{ scenario: string; burst?: boolean; dump?: string }>();
  let scenario: Scenario;
  try {
    scenario = loadScenario(opts.scenario);
  } catch (err) {
    const shipped = fs.readdirSync(SCENARIOS_DIR).map((f) => f.replace(/\.json$/, ''));
    process.stderr.write(
      `demo: --scenario ${opts.scenario}: ${(err as Error).message}\n(a scenario file, or one of: ${shipped.join(', ')})\n`,
    );
    return 2;
  }
  const display = displayFor(process.stdout);
  const say = display.log;
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

  say(`Starting a local stack for the demo (${scenario.name}${opts.burst ? ', burst' : ''}) ...`);
  const stage = 'demo';
  let ok = false;
  try {
    const stack = await startStack({ dataDir, stage, ports: await freeStackPorts(), log: say, started });
    const result = await playRecordedScenario(stack.env.ESI_ETCD_ENDPOINTS, say, {
      scenario,
      ...definedOnly({ burst: opts.burst }),
      simulators: { heatUrl: stack.heat.url, collectorUrl: stack.collector.url },
      display,
    });
    const dead = Object.entries(await deadLetters(stack.env.ESI_SQS_ENDPOINT, stage)).filter(([, n]) => n > 0);
    say(dead.length ? `Dead-lettered: ${dead.map(([q, n]) => `${q} ${n}`).join(', ')}` : 'No message dead-lettered.');
    if (opts.dump) {
      fs.writeFileSync(opts.dump, `${JSON.stringify(result.dump, null, 1)}\n`);
      say(`Final /state and /monitoring written to ${opts.dump}`);
    }
    ok = result.ok && dead.length === 0;
    return ok ? 0 : 1;
  } finally {
    await started.stopAll();
    if (ok) removeData();
    else if (!interrupted)
      say(`\nLogs of this run are kept in ${path.join(dataDir, 'logs')}; to remove them: rm -rf ${dataDir}`);
  }
}

main(process.argv).then(
  (code) => {
    if (!interrupted) process.exit(code);
  },
  (err: Error) => {
    if (interrupted) return;
    // Commander printed its message and the usage already; --help exits 0, a usage error 2.
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    process.stderr.write(`demo failed: ${err.message}\n`);
    process.exit(1);
  },
);
