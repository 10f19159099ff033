/**
 * `esi`: the operator's command line. Talks to the etcd named by ESI_ETCD_ENDPOINTS (and the
 * same TLS/auth settings as the functions), or to the local stack `npm start` runs when nothing is
 * set (cli/local-stack.ts). Each command group lives in cli/commands/.
 *
 * Exit codes: 0 done, 1 the command failed (the message says what to check), 2 a usage error.
 */
import { Command, CommanderError } from 'commander';
import { cliErrorText } from './errors';
import { useLocalStackEndpoints } from './local-stack';
import { registerEtcdCommands } from './commands/etcd';
import { registerEtcdRolesCommand } from './commands/etcd-roles';
import { registerPlanCommand } from './commands/plan';
import { registerQueueCommands } from './commands/queues';
import { registerScenarioCommands } from './commands/scenario';
import { registerReconcileCommand } from './commands/reconcile';
import { registerStatusCommand } from './commands/status';
import { registerTemplatesCommands } from './commands/templates';

const program = new Command();
program
  .name('esi')
  .description('Operate esi-serverless: inspect and write etcd keys, dry-run the planner, publish templates.')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true })
  // Commander exits 1 on a usage error; the subcommands inherit this, registered after it.
  .exitOverride();

useLocalStackEndpoints();

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
