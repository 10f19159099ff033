import {
  deadlineOf,
  decideApply,
  operationStart,
  operationTag,
  tagsWith,
  type StackSeen,
} from '../../../shared/heat/operation';

const MINE = 'esi-op=mine';
const stack = (status: string, tags: string[] = [MINE], statusReason = ''): StackSeen => ({
  status,
  statusReason,
  tags,
});
const decide = (s?: StackSeen) => decideApply({ tag: MINE, stackName: 'port_p1', stack: s });

describe('decideApply', () => {
  it('no live stack → create', () => {
    expect(decide(undefined)).toEqual({ kind: 'create' });
  });

  it("an operation in progress is waited for; it is adopted unless it carries this job's tag", () => {
    expect(decide(stack('CREATE_IN_PROGRESS'))).toEqual({ kind: 'wait', action: 'CREATE', adopted: false });
    expect(decide(stack('UPDATE_IN_PROGRESS', ['esi-op=other']))).toEqual({
      kind: 'wait',
      action: 'UPDATE',
      adopted: true,
    });
    expect(decide(stack('DELETE_IN_PROGRESS'))).toEqual({ kind: 'wait', action: 'DELETE', adopted: false });
  });

  it("this job's create/update that failed → the job fails with Heat's reason, nothing sent again", () => {
    expect(decide(stack('CREATE_FAILED', [MINE], 'Timed out'))).toEqual({
      kind: 'failed',
      error: 'stack port_p1 CREATE_FAILED: Timed out',
    });
    expect(decide(stack('UPDATE_FAILED', ['operator-tag', MINE]))).toEqual({
      kind: 'failed',
      error: 'stack port_p1 UPDATE_FAILED: no reason given',
    });
  });

  it("this job's create/update that completed → complete, nothing sent again", () => {
    expect(decide(stack('CREATE_COMPLETE'))).toEqual({ kind: 'complete', note: "CREATE_COMPLETE (this job's CREATE)" });
    expect(decide(stack('UPDATE_COMPLETE'))).toEqual({ kind: 'complete', note: "UPDATE_COMPLETE (this job's UPDATE)" });
  });

  it("otherwise → update: another job's tag (a later version with an identical spec too), no tag, a delete's end", () => {
    expect(decide(stack('CREATE_COMPLETE', ['esi-op=earlier-job']))).toEqual({ kind: 'update' });
    expect(decide(stack('UPDATE_FAILED', ['esi-op=earlier-job'], 'x'))).toEqual({ kind: 'update' });
    expect(decide(stack('CREATE_COMPLETE', []))).toEqual({ kind: 'update' });
    // A delete keeps the tags of the update before it: its end is not this job's outcome.
    expect(decide(stack('DELETE_FAILED', [MINE], 'x'))).toEqual({ kind: 'update' });
  });
});

describe('operationTag', () => {
  const spec = { templateText: 'heat_template_version: 2013-05-23\n', parameters: { a: 1, b: 'x' }, timeoutMins: 3 };

  it('is one Heat tag: the prefix and a sha256, within 80 characters, no comma', () => {
    const tag = operationTag('create:heat_worker:port:p1:1:abcde', spec);
    expect(tag).toMatch(/^esi-op=[0-9a-f]{64}$/);
    expect(tag.length).toBeLessThanOrEqual(80);
  });

  it('names the job and what it sends: parameter order does not matter, anything else does', () => {
    const tag = operationTag('j1', spec);
    expect(operationTag('j1', { ...spec, parameters: { b: 'x', a: 1 } })).toBe(tag);
    expect(operationTag('j2', spec)).not.toBe(tag);
    expect(operationTag('j1', { ...spec, parameters: { a: 2, b: 'x' } })).not.toBe(tag);
    expect(operationTag('j1', { ...spec, templateText: `${spec.templateText} ` })).not.toBe(tag);
    expect(operationTag('j1', { ...spec, timeoutMins: 4 })).not.toBe(tag);
  });
});

describe('tagsWith', () => {
  it("keeps the stack's other tags and replaces an earlier operation tag", () => {
    expect(tagsWith([], 'esi-op=b')).toEqual(['esi-op=b']);
    expect(tagsWith(['team=x', 'esi-op=a'], 'esi-op=b')).toEqual(['team=x', 'esi-op=b']);
  });
});

describe('operation start and deadline, from Heat stack-show times', () => {
  it('a stack never updated: creation_time; once updated: updated_time', () => {
    expect(operationStart({ creationTime: '2026-12-01T18:00:00Z' })).toBe('2026-12-01T18:00:00Z');
    expect(operationStart({ creationTime: '2026-12-01T18:00:00Z', updatedTime: '2026-12-01T18:30:05Z' })).toBe(
      '2026-12-01T18:30:05Z',
    );
    expect(operationStart({})).toBeUndefined();
  });

  it('deadline = start + heat_timeout minutes + grace seconds', () => {
    expect(deadlineOf('2026-12-01T18:00:00Z', 3, 60)).toBe('2026-12-01T18:04:00.000Z');
    expect(deadlineOf('2026-12-01T18:30:05Z', 13, 0)).toBe('2026-12-01T18:43:05.000Z');
  });
});
