/**
 * The stack operation record `/esi-worker/heat_operations/<path>`: what the heat handler last asked
 * Heat to do on a resource's stack, kept in etcd so it outlives any claim (docs/heat-handler.md
 * "Every stack ends"). Pure: the value, its reader, the spec hash and the start decision.
 *
 * - While an operation runs (`state: in_progress`) its deadline lives here, written under the
 *   job's claim fence (a create's before it is sent, an update's and a delete's once Heat accepted it). A later invocation of the same job (its claim
 *   expired, a poll message re-claimed it) keeps that deadline and reads the stack's state as the
 *   outcome of that very operation, instead of starting another one.
 * - Once it completed (`state: complete`, written with the stack record in the success
 *   transaction) `spec_hash` names the template and parameters the stack has: the same job run
 *   again on that complete stack (re-sent, redelivered) sends nothing to Heat.
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

export interface StackOperation {
  job_id: string;
  /** CREATE, UPDATE or DELETE. */
  action: string;
  state: 'in_progress' | 'complete';
  stack_name: string;
  stack_id?: string;
  stack_href?: string;
  started_at: string;
  /** After this the job ends failed if the stack has not reached a final state. */
  deadline_at: string;
  /** Hash of the template and parameters sent (see specHash); absent for a delete or an adopted operation. */
  spec_hash?: string;
}

/** The stored record, or undefined when absent or unreadable (an unreadable record is treated as none). */
export function parseOperation(text: string | undefined): StackOperation | undefined {
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<StackOperation>;
    if (
      typeof v !== 'object' ||
      v === null ||
      typeof v.job_id !== 'string' ||
      typeof v.action !== 'string' ||
      typeof v.deadline_at !== 'string' ||
      typeof v.started_at !== 'string' ||
      (v.state !== 'in_progress' && v.state !== 'complete')
    )
      return undefined;
    return v as StackOperation;
  } catch {
    return undefined;
  }
}

/** sha256 of what a create/update sends that decides the stack's content: template text, parameters, timeout. */
export function specHash(spec: {
  templateText: string;
  parameters: Record<string, unknown>;
  timeoutMins: number;
}): string {
  const canonical = pyDumps(
    { parameters: spec.parameters, template: spec.templateText, timeout_mins: spec.timeoutMins },
    { sortKeys: true },
  );
  return crypto.createHash('sha256').update(canonical).digest('hex');
}

export interface StackSeen {
  /** Heat's stack id: the complete-stack shortcut holds only for the very stack the record names. */
  id?: string;
  status: string;
  statusReason: string;
}

export type ApplyDecision =
  /** An operation is running on the stack: wait for it (adopted when it is not this job's own). */
  | { kind: 'wait'; action: string; adopted: boolean }
  /** This job's own operation (or an identical earlier one) left the stack complete. */
  | { kind: 'complete'; note: string }
  /** This job's own operation failed: the job fails with Heat's reason. */
  | { kind: 'failed'; error: string }
  | { kind: 'create' }
  | { kind: 'update' };

/**
 * What a create/modify job does on start, given the operation record, the job and hash of the spec
 * it would send, and the stack as Heat shows it now (undefined: no live stack).
 */
export function decideApply(a: {
  op: StackOperation | undefined;
  jobId: string;
  hash: string;
  stackName: string;
  stack: StackSeen | undefined;
}): ApplyDecision {
  const { op, stack } = a;
  if (!stack) return { kind: 'create' };
  const { action, state } = splitStackStatus(stack.status);
  const mine = op?.job_id === a.jobId && op.state === 'in_progress' ? op : undefined;
  if (state === 'IN_PROGRESS') return { kind: 'wait', action, adopted: !mine || mine.action !== action };
  if (mine && mine.action === action) {
    // This job's operation: an update is recorded once Heat accepted it, a create before it is
    // sent, and only this job's create can have made the stack it found absent. Its end is ours.
    if (state === 'COMPLETE') return { kind: 'complete', note: `${stack.status} (this job's ${action})` };
    if (state === 'FAILED') return { kind: 'failed', error: failedText(a.stackName, stack) };
  }
  // The same job again after its operation completed (its success was written, its finish was
  // not): nothing to send. A later job (another version) updates even an identical spec, as the
  // original worker did: its /state shows UPDATE_COMPLETE.
  if (
    state === 'COMPLETE' &&
    (action === 'CREATE' || action === 'UPDATE') &&
    op?.state === 'complete' &&
    op.job_id === a.jobId &&
    op.spec_hash === a.hash &&
    op.stack_id !== undefined &&
    op.stack_id === stack.id
  )
    return { kind: 'complete', note: `${stack.status}, same template and parameters: no update` };
  return { kind: 'update' };
}

/** The job's error for a stack operation that ended `*_FAILED`: Heat's status and reason. */
export const failedText = (stackName: string, stack: StackSeen): string =>
  `stack ${stackName} ${stack.status}: ${stack.statusReason || 'no reason given'}`;

/** The job's error when the deadline passed with the stack still in progress. */
export const overdueText = (stackName: string, action: string, deadlineAt: string, stack?: StackSeen) =>
  `stack ${stackName} ${stack?.status ?? `${action}_IN_PROGRESS`}: timed out: not finished by ${deadlineAt}` +
  (stack?.statusReason ? ` (Heat: ${stack.statusReason})` : '');
