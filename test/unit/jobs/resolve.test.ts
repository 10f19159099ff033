import { chainOutcome, completionOf, decide, planSettlement, type WaitingJob } from '../../../shared/jobs/resolve';
import { dependencyStatus, type DependencyStatus, type FinishedValue } from '../../../shared/jobs/values';
import { job } from './fixtures';
import { at } from '../../helpers/at';

const ok: DependencyStatus = { kind: 'satisfied' };
const pending: DependencyStatus = { kind: 'pending' };
const failed = (error: string, rootCause: string): DependencyStatus => ({ kind: 'failed', error, rootCause });
const w = (id: string, deps: string[], extra = {}): WaitingJob => ({
  id,
  handler: 'heat_worker',
  job: job(id, deps, extra),
});
const finishedText = (v: Partial<FinishedValue>) => JSON.stringify({ finished_at: 't', on_failure: 'fail', ...v });

describe('dependencyStatus', () => {
  test('success, and a failure the job itself ignores, are satisfied', () => {
    expect(dependencyStatus('a', finishedText({ ok: true }), true)).toEqual(ok);
    expect(dependencyStatus('a', finishedText({ ok: false, error: 'no target', on_failure: 'ignore' }), true)).toEqual(
      ok,
    );
  });
  test('a failure with on_failure fail is a failure rooted at the job', () => {
    expect(dependencyStatus('a', finishedText({ ok: false, error: 'boom' }), true)).toEqual(failed('boom', 'a'));
  });
  test('an inherited failure propagates even when the job says ignore, with the original root', () => {
    const v = finishedText({
      ok: false,
      error: 'dependency x failed: boom',
      on_failure: 'ignore',
      failed_by: 'x',
      root_cause: 'x0',
    });
    expect(dependencyStatus('a', v, true)).toEqual(failed('dependency x failed: boom', 'x0'));
  });
  test('no finished key: pending while the job exists, satisfied once cleaned up', () => {
    expect(dependencyStatus('a', undefined, true)).toEqual(pending);
    expect(dependencyStatus('a', undefined, false)).toEqual(ok);
  });
  test('an unreadable finished value is a failure, never a guess', () => {
    expect(dependencyStatus('a', 'garbage', true)).toEqual(failed('unreadable finished value', 'a'));
  });
});

describe('decide', () => {
  const st = (m: Record<string, DependencyStatus>) => (id: string) => m[id];
  test('promotes when every dependency is satisfied', () => {
    expect(decide(job('d', ['a', 'b']), st({ a: ok, b: ok }))).toEqual({ kind: 'promote' });
  });
  test('waits on pending and unknown dependencies', () => {
    expect(decide(job('d', ['a', 'b', 'c']), st({ a: ok, b: pending }))).toEqual({ kind: 'wait', pending: ['b', 'c'] });
  });
  test('fails on the first failed dependency in dependency order, even with others pending', () => {
    expect(
      decide(job('d', ['a', 'b', 'c']), st({ a: pending, b: failed('boom', 'b'), c: failed('bang', 'c') })),
    ).toEqual({ kind: 'fail', dependency: 'b', error: 'dependency b failed: boom', rootCause: 'b' });
  });
  test('a job without dependencies is promotable', () => {
    expect(decide(job('d', []), st({}))).toEqual({ kind: 'promote' });
  });
});

describe('planSettlement', () => {
  test('seed 004 shape: the monitoring delete failed and is ignored, so the heat modify runs and the create waits for it', () => {
    const plan = planSettlement(
      [w('modify', ['delete']), w('create', ['delete', 'modify'], { is_last: true })],
      new Map<string, DependencyStatus>([
        ['delete', ok],
        ['modify', pending],
      ]),
    );
    expect(plan.promote.map((x) => x.id)).toEqual(['modify']);
    expect(plan.fail).toEqual([]);
  });

  test('a failed job fails its whole chain transitively, in propagation order, with the root cause kept', () => {
    const plan = planSettlement(
      [w('c3', ['c1', 'c2'], { is_last: true }), w('c2', ['c1'])],
      new Map<string, DependencyStatus>([
        ['c1', failed('stack CREATE_FAILED', 'c1')],
        ['c2', pending],
      ]),
    );
    expect(plan.promote).toEqual([]);
    expect(plan.fail.map((f) => [f.waiting.id, f.dependency, f.error, f.rootCause])).toEqual([
      ['c3', 'c1', 'dependency c1 failed: stack CREATE_FAILED', 'c1'],
      ['c2', 'c1', 'dependency c1 failed: stack CREATE_FAILED', 'c1'],
    ]);
  });

  test('a failure reaches a dependent through a job that is itself failed in the same settlement', () => {
    const plan = planSettlement(
      [w('e', ['d']), w('d', ['x'])],
      new Map<string, DependencyStatus>([
        ['x', failed('boom', 'x')],
        ['d', pending],
      ]),
    );
    expect(plan.fail.map((f) => [f.waiting.id, f.error])).toEqual([
      ['d', 'dependency x failed: boom'],
      ['e', 'dependency d failed: dependency x failed: boom'],
    ]);
    expect(at(plan.fail, 1).rootCause).toBe('x');
  });

  test('an ignored failing job does not fail its dependents', () => {
    const plan = planSettlement(
      [w('d', ['m'])],
      new Map<string, DependencyStatus>([
        ['m', dependencyStatus('m', finishedText({ ok: false, error: 'no target', on_failure: 'ignore' }), true)],
      ]),
    );
    expect(plan.promote.map((x) => x.id)).toEqual(['d']);
  });

  test('diamond: the join waits until both branches finish, then is promoted once', () => {
    const waiting = [w('b', ['a']), w('c', ['a']), w('d', ['b', 'c'])];
    const first = planSettlement(
      waiting,
      new Map<string, DependencyStatus>([
        ['a', ok],
        ['b', pending],
        ['c', pending],
      ]),
    );
    expect(first.promote.map((x) => x.id).sort()).toEqual(['b', 'c']);
    const later = planSettlement(
      [w('d', ['b', 'c'])],
      new Map<string, DependencyStatus>([
        ['b', ok],
        ['c', ok],
      ]),
    );
    expect(later.promote.map((x) => x.id)).toEqual(['d']);
  });

  test('a job whose dependency is still pending is neither promoted nor failed', () => {
    const plan = planSettlement(
      [w('d', ['a', 'b'])],
      new Map<string, DependencyStatus>([
        ['a', ok],
        ['b', pending],
      ]),
    );
    expect(plan).toEqual({ promote: [], fail: [] });
  });
});

describe('chain outcome', () => {
  const base: FinishedValue = { ok: true, on_failure: 'fail', finished_at: 't' };
  test('the last job reports the chain; earlier jobs report nothing', () => {
    expect(completionOf('x', job('x', [], { is_last: false }), base)).toBeUndefined();
    expect(completionOf('x', job('x', [], { is_last: true, resource_id: 'p', job_name: 'port:p:2' }), base)).toEqual({
      lastJobId: 'x',
      job_name: 'port:p:2',
      resource_type: 'port',
      resource_id: 'p',
      version: 2,
      outcome: { ok: true },
    });
  });
  test('an own ignored failure of the last job completes the chain successfully', () => {
    expect(chainOutcome('x', { ...base, ok: false, error: 'e', on_failure: 'ignore' })).toEqual({ ok: true });
  });
  test('an inherited failure names its root cause', () => {
    expect(
      chainOutcome('x', { ...base, ok: false, error: 'dependency m failed: e', failed_by: 'm', root_cause: 'm' }),
    ).toEqual({ ok: false, error: 'dependency m failed: e', failedJobId: 'm' });
    expect(chainOutcome('x', { ...base, ok: false, error: 'e' })).toEqual({ ok: false, error: 'e', failedJobId: 'x' });
  });
});
