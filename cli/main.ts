/**
 * `esi`: the operator's command line. Talks to the etcd named by ESI_ETCD_ENDPOINTS (and the
 * same TLS/auth settings as the functions). Each command group lives in cli/commands/.
 */
import { Command } from 'commander';
import { registerEtcdCommands } from './commands/etcd';
import { registerPlanCommand } from './commands/plan';
import { registerQueueCommands } from './commands/queues';
import { registerStatusCommand } from './commands/status';
import { registerTemplatesCommands } from './commands/templates';

const program = new Command();
program
  .name('esi')
  .description('Operate esi-serverless: inspect and write etcd keys, dry-run the planner, publish templates.')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: true });

registerEtcdCommands(program);
registerPlanCommand(program);
registerTemplatesCommands(program);
registerStatusCommand(program);
registerQueueCommands(program);

program.parseAsync(process.argv).catch((err: Error) => {
  process.stderr.write(`esi: ${err.message}\n`);
  process.exit(1);
});
