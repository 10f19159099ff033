/**
 * `esi status`: everything about one resource on one screen. Pure: it formats what
 * cli/commands/status.ts read from etcd, so it can be tested with plain objects.
 */
export interface JobLine {
  id: string;
  handler: string;
  action: string;
  version: number;
  /** waiting | ready | working | finished | failed */
  where: string;
  attempts: number;
  dependency: string[];
  error?: string;
  owner?: string;
}

export interface ResourceReport {
  configKey: string;
  config?: { version?: number; markedForDeletion?: boolean; unreadable?: string };
  mirroredVersion?: number;
  jobs: JobLine[];
  stack?: Record<string, unknown>;
  jobState?: Record<string, unknown>;
  state?: { key: string; value: unknown };
  monitoring?: { key: string; value: unknown };
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

export function formatReport(r: ResourceReport): string {
  const out: string[] = [`resource  ${r.configKey}`];
  if (!r.config) out.push('config    (no such key: deleted by Gohan, or never written)');
  else if (r.config.unreadable) out.push(`config    unreadable: ${r.config.unreadable}`);
  else
    out.push(
      `config    version ${r.config.version}${r.config.markedForDeletion ? ', marked for deletion' : ''}${r.mirroredVersion !== undefined ? `; planned up to version ${r.mirroredVersion}` : '; not planned yet'}`,
    );

  out.push(`jobs      ${r.jobs.length ? '' : '(none pending)'}`);
  for (const j of r.jobs) {
    const extra = [
      j.attempts ? `attempts ${j.attempts}` : '',
      j.owner ? `held by ${j.owner}` : '',
      j.where === 'waiting' && j.dependency.length ? `waits for ${j.dependency.join(', ')}` : '',
      j.error ? `error: ${j.error}` : '',
    ]
      .filter(Boolean)
      .join('; ');
    out.push(
      `  ${j.where.padEnd(9)} ${j.action.padEnd(14)} ${j.handler.padEnd(18)} v${j.version}  ${j.id}${extra ? `\n            ${extra}` : ''}`,
    );
  }
  if (r.stack)
    out.push(
      `stack     ${show(r.stack.stack_status)}  ${show(r.stack.stack_id) || '(deleted)'}${r.stack.status_reason ? `  (${show(r.stack.status_reason)})` : ''}`,
    );
  else out.push('stack     (none)');
  if (r.jobState) out.push(`job state ${show(r.jobState)}`);
  out.push(r.state ? `state     ${r.state.key}\n          ${show(r.state.value)}` : 'state     (none yet)');
  out.push(r.monitoring ? `monitor   ${r.monitoring.key}\n          ${show(r.monitoring.value)}` : 'monitor   (none)');
  return out.join('\n');
}
