/**
 * `esi`: the operator's command line. Talks to one stack, chosen as a whole (cli/target.ts): the one
 * `--endpoints` / `--stage` / ESI_ETCD_ENDPOINTS name (with the same TLS/auth settings as the
 * functions, secrets from SSM by their *_PARAM), or the local stack `npm start` runs when nothing
 * is set. `--target` prints which. Each command group lives in cli/commands/.
 *
 * Exit codes: 0 done, 1 the command failed (the message says what to check), 2 a usage error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadSecrets } from '../shared/secrets';
import { cliErrorText } from './errors';
import { chooseTarget, type TargetFlags } from './target';
import { registerEtcdCommands } from './commands/etcd';
import { registerEtcdRolesCommand } from './commands/etcd-roles';
import { registerPlanCommand } from './commands/plan';
import { registerQueueCommands } from './commands/queues';
import { registerScenarioCommands } from './commands/scenario';
import { registerReconcileCommand } from './commands/reconcile';
import { registerStatusCommand } from './commands/status';
import { registerTemplatesCommands } from './commands/templates';
import { definedOnly } from '../shared/defined-only';

const { version } = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
};

const program = new Command();
program
  .name('esi')
  .description(
    'Operate esi-serverless: inspect and write etcd keys, dry-run the planner, publish templates.\n' +
      'The stack: --endpoints/--stage (or ESI_ETCD_ENDPOINTS, ESI_STAGE, ESI_SQS_ENDPOINT, AWS_REGION) name a ' +
      'deployed one, and then nothing is taken from the local stack; with none of them, the local stack `npm start` runs. ' +
      'Secrets: ESI_ETCD_PASSWORD_PARAM=/esi/<stage>/etcd-password (and _USERNAME_, _CA_) are read from SSM.',
  )
  .version(version, '-V, --version', 'print the version of esi-serverless')
  .option('--stage <stage>', 'the deployed stage to operate (names its queues: esi-<stage>-…)')
  .option('--endpoints <urls>', "the stage's etcd endpoints, comma separated (instead of ESI_ETCD_ENDPOINTS)")
  .option('--target', 'print the stack a command talks to (to stderr) before it runs')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true })
  // Commander exits 1 on a usage error; the subcommands inherit this, registered after it.
  .exitOverride();

program.hook('preAction', async (_program, command) => {
  const flags = program.opts<TargetFlags & { target?: boolean }>();
  // `esi dlq --stage prod` names the stage too (the queue commands' own option).
  const stage = flags.stage ?? command.opts<{ stage?: string }>().stage;
  const target = chooseTarget({ ...flags, ...definedOnly({ stage }) });
  if (flags.target) process.stderr.write(`esi: ${target}\n`);
  await loadSecrets(); // *_PARAM settings from SSM (shared/secrets.ts); none locally
});

registerEtcdCommands(program);
registerEtcdRolesCommand(program);
registerPlanCommand(program);
registerTemplatesCommands(program);
registerStatusCommand(program);
registerQueueCommands(program);
registerScenarioCommands(program);
registerReconcileCommand(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  // Commander has printed its message (and the help) already; help and --version exit 0.
  if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
  process.stderr.write(`esi: ${cliErrorText(err)}\n`);
  process.exit(1);
});
