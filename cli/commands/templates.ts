import path from 'node:path';
import type { Command } from 'commander';
import { parseConfigValue } from '../../shared/gohan/config-value';
import { keys } from '../../shared/keys';
import type { HeatTemplate } from '../../shared/planner/types';
import { unchangedSince, put, type Store } from '../../shared/store/store';
import { loadHeatTemplatesDir } from '../../shared/templates/load';
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
  templates.command('publish')
    .description('write the shipped heat templates to /config/v2.0/heat_templates/<id> (version bumped on change)')
    .option('--dir <dir>', 'templates root (holding heat_templates/)', 'templates')
    .action((opts: { dir: string }) => withStore(async (store) => {
      const shipped = loadHeatTemplatesDir(path.join(path.resolve(opts.dir), 'heat_templates'));
      const counts = { created: 0, updated: 0, unchanged: 0 };
      for (const t of Object.values(shipped)) {
        const outcome = await publishTemplate(store, t);
        counts[outcome.kind]++;
        if (outcome.kind !== 'unchanged') process.stdout.write(`${keys.heatTemplate(t.id)} ${outcome.kind} (version ${outcome.version})\n`);
      }
      process.stderr.write(`${Object.keys(shipped).length} template(s): ${counts.created} created, ${counts.updated} updated, ${counts.unchanged} unchanged\n`);
    }));
}

const body = (t: HeatTemplate) => ({ id: t.id, handler: t.handler, watch: t.watch, parameter_mappings: t.parameter_mappings, template_file: t.template_file });

export async function publishTemplate(store: Store, t: HeatTemplate): Promise<{ kind: 'created' | 'updated' | 'unchanged'; version: number }> {
  const key = keys.heatTemplate(t.id);
  const text = JSON.stringify(body(t));
  for (let attempt = 0; attempt < 5; attempt++) {
    const current = await store.get(key);
    const parsed = current ? parseConfigValue(current.value) : undefined;
    const old = parsed?.ok ? parsed.value : undefined;
    if (old && !old.markedForDeletion && JSON.stringify(old.body) === text) return { kind: 'unchanged', version: old.version };
    const version = old ? old.version + 1 : current ? versionOf(current.value) + 1 : 1;
    const value = JSON.stringify({ body: text, marked_for_deletion: false, version });
    const res = await store.txn().when(unchangedSince(key, current)).then(put(key, value)).commit();
    if (res.succeeded) return { kind: current ? 'updated' : 'created', version };
  }
  throw new Error(`${key} kept changing while publishing`);
}

function versionOf(raw: string): number {
  try {
    const v = (JSON.parse(raw) as { version?: unknown }).version;
    return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}
