// A stack operation as Heat shows it (docs/heat-handler.md "Every stack ends"). Pure; nothing of it is kept in
// etcd: every invocation re-derives it from stack-show, via the `esi-op=<sha256>` tag.
import crypto from 'node:crypto';
import { pyDumps } from '../encoding/pyjson';
import type { StackView } from '../clients/heat';

/** `CREATE_COMPLETE` → `{action: 'CREATE', state: 'COMPLETE'}`. */
export function splitStackStatus(status: string): { action: string; state: string } {
  const IN_PROGRESS = '_IN_PROGRESS';
  if (status.endsWith(IN_PROGRESS)) return { action: status.slice(0, -IN_PROGRESS.length), state: 'IN_PROGRESS' };
  const i = status.lastIndexOf('_');
  return i < 0 ? { action: status, state: '' } : { action: status.slice(0, i), state: status.slice(i + 1) };
}

const OPERATION_TAG_PREFIX = 'esi-op=';

/** sha256 of the job id and the stack's content; 71 characters, within Heat's 80. */
export function operationTag(
  jobId: string,
  spec: { templateText: string; parameters: Record<string, unknown>; timeoutMins: number },
): string {
  const canonical = pyDumps(
    { job_id: jobId, parameters: spec.parameters, template: spec.templateText, timeout_mins: spec.timeoutMins },
    { sortKeys: true },
  );
  return `${OPERATION_TAG_PREFIX}${crypto.createHash('sha256').update(canonical).digest('hex')}`;
}

/** The tags an update sends: the stack's own tags but an earlier operation tag, then this one. */
export const tagsWith = (current: readonly string[], tag: string): string[] => [
  ...current.filter((t) => !t.startsWith(OPERATION_TAG_PREFIX)),
  tag,
];

export type StackSeen = Pick<StackView, 'status' | 'statusReason' | 'tags' | 'creationTime' | 'updatedTime'>;

/** When the latest operation started, by Heat's clock. */
export const operationStart = (stack: Pick<StackSeen, 'creationTime' | 'updatedTime'>): string | undefined =>
  stack.updatedTime ?? stack.creationTime;

export const deadlineOf = (startedAt: string, timeoutMins: number, graceSeconds: number): string =>
  new Date(Date.parse(startedAt) + (timeoutMins * 60 + graceSeconds) * 1000).toISOString();

type ApplyDecision =
  | { kind: 'wait'; action: string; adopted: boolean }
  | { kind: 'complete'; note: string }
  | { kind: 'failed'; error: string }
  | { kind: 'create' }
  | { kind: 'update' };

/** What a create/modify job does on start, given its tag and the live stack (if any). */
export function decideApply(a: { tag: string; stackName: string; stack: StackSeen | undefined }): ApplyDecision {
  if (!a.stack) return { kind: 'create' };
  const { action, state } = splitStackStatus(a.stack.status);
  const mine = a.stack.tags.includes(a.tag);
  if (state === 'IN_PROGRESS') return { kind: 'wait', action, adopted: !mine };
  // A later delete keeps the tags, and its end is not this job's outcome.
  if (mine && (action === 'CREATE' || action === 'UPDATE')) {
    if (state === 'COMPLETE') return { kind: 'complete', note: `${a.stack.status} (this job's ${action})` };
    if (state === 'FAILED') return { kind: 'failed', error: failedText(a.stackName, a.stack) };
  }
  // Anything else is an update, as the original worker did.
  return { kind: 'update' };
}

type Status = Pick<StackSeen, 'status' | 'statusReason'>;

export const failedText = (stackName: string, stack: Status): string =>
  `stack ${stackName} ${stack.status}: ${stack.statusReason || 'no reason given'}`;

export const overdueText = (stackName: string, action: string, deadlineAt: string, stack?: Status) =>
  `stack ${stackName} ${stack?.status ?? `${action}_IN_PROGRESS`}: timed out: not finished by ${deadlineAt}` +
  (stack?.statusReason ? ` (Heat: ${stack.statusReason})` : '');
