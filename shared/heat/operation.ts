/**
 * A resource's stack operation as Heat itself shows it (docs/heat-handler.md "Every stack ends").
 * Pure: the operation tag, the start decision and the deadline. Nothing about an operation is
 * kept in etcd: every invocation of a job re-derives it from Heat's stack-show.
 *
 * - **Whose operation.** Every create and update carries the stack tag `esi-op=<sha256>`, a hash
 *   of the job's id and of what it sends (template text, parameters, timeout). Heat stores the
 *   tags with the operation that set them (an update replaces them) and shows them as a list. A
 *   stack whose create/update ended with this job's tag ended the operation this job wants: its
 *   `_COMPLETE` is the job's success (nothing is sent again), its `_FAILED` the job's failure
 *   with Heat's reason.
 * - **When it started.** Heat stamps `updated_time` when an update starts (and, in the
 *   convergence engine, a delete) and `creation_time` when a create does; the operation running
 *   now started at `updated_time`, or at `creation_time` while the stack was never updated. Its
 *   deadline is that start + the job's `heat_timeout` + a grace, the same in every invocation.
 */
import crypto from 'node:crypto';
import { pyDumps } from '../encoding/pyjson';

/** `CREATE_COMPLETE` → `{action: 'CREATE', state: 'COMPLETE'}`. */
export function splitStackStatus(status: string): { action: string; state: string } {
  const IN_PROGRESS = '_IN_PROGRESS';
  if (status.endsWith(IN_PROGRESS)) return { action: status.slice(0, -IN_PROGRESS.length), state: 'IN_PROGRESS' };
  const i = status.lastIndexOf('_');
  return i < 0 ? { action: status, state: '' } : { action: status.slice(0, i), state: status.slice(i + 1) };
}

/** The prefix of the worker's tag on a stack; a stack's other tags are left as they are. */
export const OPERATION_TAG_PREFIX = 'esi-op=';

/**
 * The tag a job's create/update puts on its stack: sha256 of the job id and of what decides the
 * stack's content (template text, parameters, timeout). 71 characters: within Heat's 80.
 */
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

export interface StackSeen {
  status: string;
  statusReason: string;
  tags: readonly string[];
  /** Heat's creation_time and updated_time (ISO). */
  creationTime?: string;
  updatedTime?: string;
}

/** When the stack's latest operation started, by Heat's clock: updated_time, else creation_time. */
export const operationStart = (stack: Pick<StackSeen, 'creationTime' | 'updatedTime'>): string | undefined =>
  stack.updatedTime ?? stack.creationTime;

/** The operation's deadline: its start + timeout minutes + grace seconds. */
export const deadlineOf = (startedAt: string, timeoutMins: number, graceSeconds: number): string =>
  new Date(Date.parse(startedAt) + (timeoutMins * 60 + graceSeconds) * 1000).toISOString();

export type ApplyDecision =
  /** An operation is running on the stack: wait for it (adopted when it does not carry this job's tag). */
  | { kind: 'wait'; action: string; adopted: boolean }
  /** The operation this job wants left the stack complete: nothing to send. */
  | { kind: 'complete'; note: string }
  /** The operation this job wants failed: the job fails with Heat's reason. */
  | { kind: 'failed'; error: string }
  | { kind: 'create' }
  | { kind: 'update' };

/**
 * What a create/modify job does on start, given its operation tag and the stack as Heat shows it
 * now (undefined: no live stack).
 */
export function decideApply(a: { tag: string; stackName: string; stack: StackSeen | undefined }): ApplyDecision {
  const { stack } = a;
  if (!stack) return { kind: 'create' };
  const { action, state } = splitStackStatus(stack.status);
  const mine = stack.tags.includes(a.tag);
  if (state === 'IN_PROGRESS') return { kind: 'wait', action, adopted: !mine };
  // The tag names the create/update that set it; a later delete keeps the tags, and its end is
  // not this job's outcome.
  if (mine && (action === 'CREATE' || action === 'UPDATE')) {
    // This job's operation, whichever invocation sent it (one whose answer was lost included), or
    // the same job run again after it completed: its end is the job's, nothing is sent again.
    if (state === 'COMPLETE') return { kind: 'complete', note: `${stack.status} (this job's ${action})` };
    if (state === 'FAILED') return { kind: 'failed', error: failedText(a.stackName, stack) };
  }
  // Anything else is an update, as the original worker did: a later job (another version) with
  // an identical spec included (its /state shows UPDATE_COMPLETE), a stack without the tag, a
  // failed operation of another job.
  return { kind: 'update' };
}

/** The job's error for a stack operation that ended `*_FAILED`: Heat's status and reason. */
export const failedText = (stackName: string, stack: Pick<StackSeen, 'status' | 'statusReason'>): string =>
  `stack ${stackName} ${stack.status}: ${stack.statusReason || 'no reason given'}`;

/** The job's error when the deadline passed with the stack still in progress. */
export const overdueText = (
  stackName: string,
  action: string,
  deadlineAt: string,
  stack?: Pick<StackSeen, 'status' | 'statusReason'>,
) =>
  `stack ${stackName} ${stack?.status ?? `${action}_IN_PROGRESS`}: timed out: not finished by ${deadlineAt}` +
  (stack?.statusReason ? ` (Heat: ${stack.statusReason})` : '');
