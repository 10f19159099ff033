import { InvalidArgumentError, type Command } from 'commander';
import { createLogger } from '../../shared/log/logger';
import { describeRepair, reconcilePass, type PassReport } from '../../shared/reconcile/pass';
import { withStore } from './etcd';
import { definedOnly } from '../../shared/defined-only';

/**
 * `esi reconcile [--dry-run] [--grace <seconds>] [--json]`: one reconciler pass from the command
 * line (shared/reconcile/). `--dry-run` lists what the pass would repair and writes nothing.
 * Usage errors exit 2 (cli/main.ts); a pass whose repairs failed exits 1.
 */
export function registerReconcileCommand(program: Command): void {
  program
    .command('reconcile')
    .description('re-send the messages etcd shows were lost (one reconciler pass); --dry-run lists them')
    .option('--dry-run', 'list what would be repaired; write and send nothing')
    .option(
      '--grace <seconds>',
      'how long a key must stand still to count as stranded (default ESI_RECONCILE_GRACE_SECONDS, 30)',
      seconds,
    )
    .option('--json', 'one JSON object per repair')
    .action(async (opts: { dryRun?: boolean; grace?: number; json?: boolean }) => {
      const logger = createLogger('esi-reconciler');
      // The pass's own log lines go to the functions' logs; the command prints the report.
      if (opts.dryRun || !process.env.ESI_LOG_LEVEL) logger.setLogLevel('ERROR');
      const report = await withStore((store) =>
        reconcilePass(store, {
          logger,
          ...definedOnly({ dryRun: opts.dryRun, graceSeconds: opts.grace }),
          metrics: false,
        }),
      );
      print(report, opts);
      if (report.failed.length) process.exitCode = 1;
    });
}

function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('a number of seconds, 0 or more');
  return n;
}

function print(report: PassReport, opts: { dryRun?: boolean; json?: boolean }): void {
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const failed = new Set(report.failed.map((f) => f.repair.id));
  if (opts.json) {
    for (const r of report.repairs)
      out(JSON.stringify({ kind: r.kind, key: r.key, why: r.why, ...(failed.has(r.id) ? { failed: true } : {}) }));
    return;
  }
  for (const r of report.repairs) out(`${describeRepair(r)}${failed.has(r.id) ? '  (FAILED)' : ''}`);
  for (const b of report.relay.filter((x) => x.seconds > 0))
    out(`relay     ${b.relay} ${b.prefix}  behind for at least ${b.seconds} s (checkpoint ${b.checkpoint})`);
  process.stderr.write(
    `${opts.dryRun ? 'would repair' : 'repaired'} ${report.repairs.length - failed.size}` +
      `${failed.size ? `, ${failed.size} failed` : ''}; ${report.awaiting.length} awaiting an earlier repair; ` +
      `${report.deferred.length ? `${report.deferred.length} deferred to a queue backlog; ` : ''}` +
      `${report.keysRead} keys read at revision ${report.revision}\n`,
  );
}
