import path from 'node:path';
import type { Command } from 'commander';
import { keys } from '../../shared/keys';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
import { publishTemplate } from '../../shared/templates/publish';
import { withStore } from './etcd';

/**
 * `esi templates publish [--dir templates]`: writes the shipped heat templates to
 * /config/v2.0/heat_templates/<id> as Gohan stores them: {"body": "<escaped JSON>",
 * "marked_for_deletion": false, "version": N}. The version goes up only when the content changed;
 * each write is fenced on the key as read. The body keeps parameter_mappings in file order (that
 * order is the job param order), so unlike Gohan's own encoding it is not key-sorted.
 */
export function registerTemplatesCommands(program: Command): void {
  const templates = program.command('templates').description('heat templates in etcd');
  templates
    .command('publish')
    .description('write the shipped heat templates to /config/v2.0/heat_templates/<id> (version bumped on change)')
    .option('--dir <dir>', 'templates root (holding heat_templates/)', 'templates')
    .action((opts: { dir: string }) =>
      withStore(async (store) => {
        const shipped = loadHeatTemplatesDir(path.join(path.resolve(opts.dir), 'heat_templates'));
        const counts = { created: 0, updated: 0, unchanged: 0 };
        for (const t of Object.values(shipped)) {
          const outcome = await publishTemplate(store, t);
          counts[outcome.kind]++;
          if (outcome.kind !== 'unchanged')
            process.stdout.write(`${keys.heatTemplate(t.id)} ${outcome.kind} (version ${outcome.version})\n`);
        }
        process.stderr.write(
          `${Object.keys(shipped).length} template(s): ${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged\n`,
        );
      }),
    );
}
