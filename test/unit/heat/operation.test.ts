import { decideApply, parseOperation, specHash, type StackOperation } from '../../../shared/heat/operation';

const op = (o: Partial<StackOperation> = {}): StackOperation => ({
  job_id: 'job-1',
  action: 'CREATE',
  state: 'in_progress',
  stack_name: 'port_p1',
  started_at: '2026-01-01T00:00:00.000Z',
  deadline_at: '2026-01-01T00:04:00.000Z',
  spec_hash: 'h1',
  stack_id: 's1',
  ...o,
});
const stack = (status: string, statusReason = '', id = 's1') => ({ id, status, statusReason });
const decide = (o: StackOperation | undefined, s?: { status: string; statusReason: string }, jobId = 'job-1') =>
  decideApply({ op: o, jobId, hash: 'h1', stackName: 'port_p1', stack: s });

describe('decideApply', () => {
  it('no stack → create, whatever the record says', () => {
    expect(decide(undefined)).toEqual({ kind: 'create' });
    expect(decide(op())).toEqual({ kind: 'create' });
  });

  it("an operation in progress is waited for; it is adopted unless it is this job's own", () => {
    expect(decide(op(), stack('CREATE_IN_PROGRESS'))).toEqual({ kind: 'wait', action: 'CREATE', adopted: false });
    expect(decide(op(), stack('UPDATE_IN_PROGRESS'))).toEqual({ kind: 'wait', action: 'UPDATE', adopted: true });
    expect(decide(op({ job_id: 'other' }), stack('CREATE_IN_PROGRESS'))).toEqual({
      kind: 'wait',
      action: 'CREATE',
      adopted: true,
    });
  });

  it("this job's own operation that failed while no claim watched it → the job fails with Heat's reason", () => {
    expect(decide(op(), stack('CREATE_FAILED', 'Timed out'))).toEqual({
      kind: 'failed',
      error: 'stack port_p1 CREATE_FAILED: Timed out',
    });
    expect(decide(op({ action: 'UPDATE' }), stack('UPDATE_FAILED', ''))).toEqual({
      kind: 'failed',
      error: 'stack port_p1 UPDATE_FAILED: no reason given',
    });
  });

  it("this job's own operation that completed → complete, nothing sent again", () => {
    expect(decide(op({ spec_hash: 'other' }), stack('CREATE_COMPLETE'))).toMatchObject({ kind: 'complete' });
  });

  it('the same job again on the stack it completed, same template and parameters → complete (no update)', () => {
    const done = op({ state: 'complete', action: 'UPDATE' });
    expect(decide(done, stack('UPDATE_COMPLETE'))).toEqual({
      kind: 'complete',
      note: 'UPDATE_COMPLETE, same template and parameters: no update',
    });
    expect(decide(op({ state: 'complete' }), stack('CREATE_COMPLETE'))).toMatchObject({ kind: 'complete' });
  });

  it('a later job (another version) updates even an identical spec, as the original worker did', () => {
    expect(decide(op({ job_id: 'earlier-job', state: 'complete' }), stack('CREATE_COMPLETE'))).toEqual({
      kind: 'update',
    });
  });

  it('otherwise → update: another spec, an unknown spec, a failed earlier operation, an earlier job still in progress', () => {
    expect(decide(op({ job_id: 'e', state: 'complete', spec_hash: 'h0' }), stack('CREATE_COMPLETE'))).toEqual({
      kind: 'update',
    });
    expect(decide(op({ job_id: 'e', state: 'complete', spec_hash: undefined }), stack('CREATE_COMPLETE'))).toEqual({
      kind: 'update',
    });
    expect(decide(undefined, stack('CREATE_COMPLETE'))).toEqual({ kind: 'update' });
    // Same spec recorded, but for another stack of that name (deleted and made again outside the worker).
    expect(decide(op({ job_id: 'e', state: 'complete' }), stack('CREATE_COMPLETE', '', 's2'))).toEqual({
      kind: 'update',
    });
    expect(decide(op({ job_id: 'e' }), stack('CREATE_FAILED', 'x'))).toEqual({ kind: 'update' });
    expect(decide(op({ job_id: 'e', state: 'in_progress' }), stack('CREATE_COMPLETE'))).toEqual({ kind: 'update' });
    // This job's create record, but the stack shows another action's end: not this job's outcome.
    expect(decide(op(), stack('UPDATE_FAILED', 'x'))).toEqual({ kind: 'update' });
  });
});

describe('specHash', () => {
  const spec = { templateText: 'heat_template_version: 2013-05-23\n', parameters: { a: 1, b: 'x' }, timeoutMins: 3 };
  it('is the same for the same content whatever the key order, and differs when any part differs', () => {
    expect(specHash(spec)).toBe(specHash({ ...spec, parameters: { b: 'x', a: 1 } }));
    expect(specHash(spec)).toMatch(/^[0-9a-f]{64}$/);
    expect(specHash({ ...spec, parameters: { a: 2, b: 'x' } })).not.toBe(specHash(spec));
    expect(specHash({ ...spec, templateText: `${spec.templateText} ` })).not.toBe(specHash(spec));
    expect(specHash({ ...spec, timeoutMins: 4 })).not.toBe(specHash(spec));
  });
});

describe('parseOperation', () => {
  it('reads a stored record and refuses anything else', () => {
    expect(parseOperation(JSON.stringify(op()))).toEqual(op());
    expect(parseOperation(undefined)).toBeUndefined();
    expect(parseOperation('not json')).toBeUndefined();
    expect(parseOperation(JSON.stringify({ ...op(), state: 'other' }))).toBeUndefined();
    expect(parseOperation(JSON.stringify({ job_id: 'j' }))).toBeUndefined();
  });
});
