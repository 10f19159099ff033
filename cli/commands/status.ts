import type { Command } from 'commander';
import { parseConfigValue } from '../../shared/gohan/config-value';
import { defaultJobKeys, parseFinished, parseStoredJob, readJobIds } from '../../shared/jobs';
import { defaultSchemaIndex } from '../../shared/planner/schema';
import { keys, parseConfigKey } from '../../shared/keys';
import { redact, redactText } from '../../shared/log/redact';
import { readKeys } from '../../shared/store/read';
import type { KeyValue, Store } from '../../shared/store/store';
import { formatReport, type JobLine, type ResourceReport } from '../status-report';
import { withStore } from './etcd';
import { definedOnly } from '../../shared/defined-only';

const parse = (kv: KeyValue | undefined): unknown => {
  if (!kv) return undefined;
  try {
    return redact(JSON.parse(kv.value));
  } catch {
    return redactText(kv.value);
  }
};

/** The keys' values in their order, read together (one etcd round trip). */
const readAll = async (store: Store, keyList: string[]) => (await readKeys(store, { keys: keyList })).values;

/** Reads every key the system keeps for one resource. */
export async function readReport(store: Store, configKey: string): Promise<ResourceReport> {
  const path = parseConfigKey(configKey);
  if (!path) throw new Error(`${configKey} is not a resource key (/config/<scope>/<plural>/<id>)`);
  const [config, mirror, stack, jobState, state, monitoring] = await readAll(store, [
    configKey,
    keys.mirror(path),
    keys.heatStack(path),
    keys.jobState(path),
    keys.state(path),
    keys.monitoring(path),
  ]);
  const parsed = config ? parseConfigValue(config.value) : undefined;

  const jobs: JobLine[] = [];
  // Only this resource's jobs, by their ids' prefixes (paged): the report costs the same whatever
  // the backlog. A type the schemas do not know is never planned, so it has no jobs.
  const resourceType = defaultSchemaIndex().singular(path.plural);
  const owner = resourceType ? [{ type: resourceType, id: path.id }] : undefined;
  const ids = owner ? (await readJobIds(store, defaultJobKeys, owner)).ids[0]! : [];
  for (const id of ids) {
    const [kv, waiting, working, finished] = await readAll(store, [
      defaultJobKeys.all(id),
      defaultJobKeys.waiting(id),
      defaultJobKeys.working(id),
      defaultJobKeys.finished(id),
    ]);
    if (!kv) continue; // cleaned up since the ids were read
    const { handler, job, attempt } = parseStoredJob(kv.key, kv.value);
    const fin = finished ? parseFinished(finished.value) : undefined;
    // Ready has no key: a job under none of the other folders is ready (claimable).
    const where = fin ? (fin.ok ? 'finished' : 'failed') : working ? 'working' : waiting ? 'waiting' : 'ready';
    let owner: string | undefined;
    if (working) {
      try {
        owner = (JSON.parse(working.value) as { owner?: string }).owner;
      } catch {
        owner = working.value;
      }
    }
    jobs.push(
      definedOnly({
        id,
        handler,
        action: job.action,
        version: job.version,
        where,
        attempts: attempt,
        dependency: job.dependency,
        error: fin && !fin.ok ? redactText(fin.error ?? '') : undefined,
        owner,
      }),
    );
  }
  return definedOnly({
    configKey,
    config: config
      ? parsed?.ok
        ? { version: parsed.value.version, markedForDeletion: parsed.value.markedForDeletion }
        : { unreadable: parsed && !parsed.ok ? parsed.error : 'unreadable' }
      : undefined,
    mirroredVersion: mirror ? (parse(mirror) as { version?: number }).version : undefined,
    jobs,
    stack: parse(stack) as Record<string, unknown> | undefined,
    jobState: parse(jobState) as Record<string, unknown> | undefined,
    state: state ? { key: state.key, value: parse(state) } : undefined,
    monitoring: monitoring ? { key: monitoring.key, value: parse(monitoring) } : undefined,
  });
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status <configKey>')
    .description(
      'everything about one resource: config version, jobs and where each stands, stack record, /state and /monitoring ' +
        '(exits 1 when the /config key does not exist)',
    )
    .option('--json', 'print the report as JSON')
    .action((configKey: string, opts: { json?: boolean }) =>
      withStore(async (store) => {
        const report = await readReport(store, configKey);
        process.stdout.write(`${opts.json ? JSON.stringify(report, null, 2) : formatReport(report)}\n`);
        // What the system still keeps of a resource gone from /config is shown, but the key is not there.
        if (!report.config) {
          process.stderr.write(`esi: ${configKey}: no such key\n`);
          process.exitCode = 1;
        }
      }),
    );
}
