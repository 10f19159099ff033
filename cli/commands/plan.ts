import fs from 'node:fs';
import type { Command } from 'commander';
import type { Reader } from '../../shared/store/read';
import { preparePlan, SnapshotSource } from '../../shared/work/planning/inputs';
import { defaultJobKeys } from '../../shared/jobs/job-keys';
import { redactText } from '../../shared/log/redact';
import { withStore } from './etcd';

/**
 * `esi plan --key <config key> [--snapshot <file.json>]`: the jobs the planner would write for
 * that key, one JSON line per /jobs/all entry in dependency order, writing nothing. The same read
 * side as the planner Lambda (shared/work/planning/), over etcd or over a snapshot
 * `{ "<etcd key>": <value>, ... }` (values parsed JSON, or raw strings).
 */
export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('print the jobs the planner would write for a /config key (writes nothing)')
    .requiredOption('--key <key>', 'the /config key to plan, e.g. /config/v2.0/ports/<id>')
    .option('--snapshot <file>', 'read this JSON object of etcd keys → values instead of etcd')
    .action(async (opts: { key: string; snapshot?: string }) => {
      const run = (source: Reader) => planAndPrint(source, opts.key);
      if (opts.snapshot) await run(new SnapshotSource(readSnapshot(opts.snapshot)));
      else await withStore(run);
    });
}

function readSnapshot(file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a JSON file (${(e as Error).message})`, { cause: e });
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    throw new Error(`${file}: must be a JSON object of etcd key → value`);
  return doc as Record<string, unknown>;
}

async function planAndPrint(source: Reader, key: string): Promise<void> {
  const prepared = await preparePlan(source, key, { replan: true });
  const note = (s: string) => process.stderr.write(`${redactText(s)}\n`);
  switch (prepared.kind) {
    case 'skip':
      note(`${key}: nothing to plan (${prepared.note})`);
      return;
    case 'deleted':
      note(`${key}: no such key, nothing to tear down`);
      return;
    case 'unreadable':
      throw new Error(`plan failed: ${prepared.error}`);
    case 'planned': {
      const { result, value, config } = prepared;
      if (prepared.alreadyPlanned)
        note(`${key}: version ${value.version} is already planned (mirror); showing the plan anyway`);
      if (result.kind === 'error')
        throw new Error(
          `plan failed: ${result.error.message} at ${key} (${config ? `revision ${config.modRevision}` : 'deleted'}, version ${value.version})`,
        );
      if (result.kind === 'no_template') {
        note(`${key}: no template; /state would be READ_COMPLETE version ${value.version}, no jobs`);
        return;
      }
      if (result.kind === 'jobs') {
        // The chain order is a dependency order: each job depends only on jobs before it or outside the plan.
        for (const { job, stored } of result.jobs)
          process.stdout.write(`${JSON.stringify({ key: defaultJobKeys.all(job.id), value: stored })}\n`);
      }
    }
  }
}
