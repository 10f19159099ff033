/**
 * The reconciler's pure rules (docs/reconciler.md), from plain values: a key counts as stranded
 * only when it has stood still past the grace revision; each kind of stranded key gets the
 * message the pipeline would have sent; a recent repair is not repeated.
 */
import {
  decidePass,
  MAX_LIMBO,
  relayLags,
  takenIn,
  type ConfigEntry,
  type PassInputs,
} from '../../../shared/reconcile/decide';
import type { JobRow } from '../../../shared/jobs/table';
import { at, only } from '../../helpers/at';

const G = 100; // grace revision: keys at or below are old enough
const OLD = 90;
const NEW = 150;

const cfg = (path: string, version: number | null, modRevision = OLD, deleted = false): ConfigEntry => ({
  key: `/config/${path}`,
  path,
  modRevision,
  version,
  deleted,
});

function inputs(over: Partial<PassInputs> = {}): PassInputs {
  return {
    revision: 200,
    graceRevision: G,
    configs: [],
    mirrors: new Map(),
    states: new Map(),
    workerKeys: [],
    jobs: [],
    pathsWithJobs: new Set(),
    limboSince: {},
    repairedAt: {},
    backlog: {},
    backlogGraceRevision: 50,
    ...over,
  };
}

const jobId = (n: string, version = 2, id = 'r1') => `modify:heat_worker:port:${id}:${version}:${n}`;
function row(n: string, parts: Partial<JobRow> & { deps?: string[]; isLast?: boolean } = {}): JobRow {
  const id = parts.id ?? jobId(n);
  const { deps, isLast, ...rest } = parts;
  return {
    id,
    chain: id.split(':').slice(2, 5).join(':'),
    all: {
      key: `/jobs/all/${id}`,
      modRevision: 10,
      handler: 'heat_worker',
      job: {
        dependency: deps ?? [],
        is_last: isLast ?? false,
        resource_type: 'port',
        resource_id: 'r1',
        version: 2,
        on_failure: 'fail',
      },
    },
    ...rest,
  };
}
const finished = (id: string, modRevision = OLD, ok = true): NonNullable<JobRow['finished']> => ({
  key: `/jobs/finished/${id}`,
  modRevision,
  status: ok ? { kind: 'satisfied' } : { kind: 'failed', error: 'boom', rootCause: id },
});

describe('config versions', () => {
  test('a version with neither a mirror at it nor a /state for it, older than the grace, is re-planned', () => {
    const d = decidePass(inputs({ configs: [cfg('v2.0/ports/p1', 3, 42)] }));
    expect(d.repairs).toEqual([
      expect.objectContaining({
        kind: 'replan',
        key: '/config/v2.0/ports/p1',
        send: { to: { queue: 'config' }, message: { key: '/config/v2.0/ports/p1', modRevision: 42, type: 'put' } },
      }),
    ]);
  });

  test('a version changed after the grace revision is left alone', () => {
    expect(decidePass(inputs({ configs: [cfg('v2.0/ports/p1', 3, NEW)] })).repairs).toEqual([]);
    expect(decidePass(inputs({ configs: [cfg('v2.0/ports/p1', 3, G)] })).repairs).toHaveLength(1);
  });

  test('taken in: the mirror at the version (same delete flag), a newer mirror, or a /state of that version', () => {
    const c = cfg('v2.0/ports/p1', 3);
    expect(takenIn(c, { version: 3, deleted: false }, undefined)).toBe(true);
    expect(takenIn(c, { version: 4, deleted: false }, undefined)).toBe(true);
    expect(takenIn(c, undefined, { version: 3, modRevision: 95 })).toBe(true);
    expect(takenIn(c, { version: 2, deleted: false }, { version: 2, modRevision: 80 })).toBe(false);
    // A logical delete keeps the version but flips the flag: the mirror of the live value does not count.
    expect(takenIn(cfg('v2.0/ports/p1', 3, OLD, true), { version: 3, deleted: false }, undefined)).toBe(false);
    // No readable version: a /state written after the value is its PLAN_FAILED.
    expect(takenIn(cfg('v2.0/ports/p1', null, 50), undefined, { version: null, modRevision: 60 })).toBe(true);
    expect(takenIn(cfg('v2.0/ports/p1', null, 50), undefined, { version: null, modRevision: 40 })).toBe(false);
  });

  test('taken-in versions give no repair', () => {
    const d = decidePass(
      inputs({
        configs: [cfg('v2.0/ports/a', 3), cfg('v2.0/ports/b', 1)],
        mirrors: new Map([['v2.0/ports/a', { version: 3, deleted: false }]]),
        states: new Map([['v2.0/ports/b', { version: 1, modRevision: 95 }]]),
      }),
    );
    expect(d.repairs).toEqual([]);
  });
});

describe('worker keys of a deleted resource', () => {
  const wk = (folder: string, path: string, modRevision = OLD) => ({
    key: `/esi-worker/${folder}/${path}`,
    path,
    configKey: `/config/${path}`,
    modRevision,
  });

  test('are cleaned up through the config queue as a delete of the config key, one repair per resource', () => {
    const d = decidePass(
      inputs({ workerKeys: [wk('config', 'v2.0/ports/gone'), wk('heat_stacks', 'v2.0/ports/gone', 80)] }),
    );
    expect(d.repairs).toEqual([
      expect.objectContaining({
        kind: 'cleanup',
        key: '/config/v2.0/ports/gone',
        send: {
          to: { queue: 'config' },
          message: { key: '/config/v2.0/ports/gone', modRevision: 200, type: 'delete' },
        },
      }),
    ]);
  });

  test('are kept while the config key exists, while a chain of the resource is in flight, or when recent', () => {
    expect(
      decidePass(
        inputs({
          configs: [cfg('v2.0/ports/here', 1)],
          mirrors: new Map([['v2.0/ports/here', { version: 1, deleted: false }]]),
          workerKeys: [wk('config', 'v2.0/ports/here')],
        }),
      ).repairs,
    ).toEqual([]);
    expect(
      decidePass(
        inputs({ workerKeys: [wk('job_state', 'v2.0/ports/busy')], pathsWithJobs: new Set(['v2.0/ports/busy']) }),
      ).repairs,
    ).toEqual([]);
    expect(
      decidePass(inputs({ workerKeys: [wk('config', 'v2.0/ports/x'), wk('heat_stacks', 'v2.0/ports/x', NEW)] }))
        .repairs,
    ).toEqual([]);
  });
});

describe('jobs', () => {
  test('limbo is bounded: jobs already remembered keep their place, new ones beyond the bound wait', () => {
    const ids = Array.from({ length: MAX_LIMBO + 5 }, (_, i) => `n${String(i).padStart(5, '0')}`);
    const remembered = jobId(at(ids, -1));
    const d = decidePass(inputs({ jobs: ids.map((n) => row(n)), limboSince: { [remembered]: 95 } }));
    expect(Object.keys(d.limbo)).toHaveLength(MAX_LIMBO);
    expect(d.limbo[remembered]).toBe(95);
    expect(d.repairs.map((r) => r.key)).toEqual([`/jobs/all/${remembered}`]);
  });

  test('a job ready only since a recent revision is left to its message and not remembered', () => {
    const planned = row('a', { all: { key: `/jobs/all/${jobId('a')}`, modRevision: NEW, handler: 'heat_worker' } });
    const dep = row('d', {
      finished: { key: `/jobs/finished/${jobId('d')}`, modRevision: NEW, status: { kind: 'satisfied' } },
    });
    const promoted = row('b', { deps: [dep.id] });
    const d = decidePass(inputs({ jobs: [planned, dep, promoted] }));
    expect(d.repairs.filter((r) => r.kind === 'limbo')).toEqual([]);
    expect(d.limbo).toEqual({});
  });

  test('a ready job nobody claimed (limbo) is first remembered, and re-sent once it was first seen before the grace revision', () => {
    const id = jobId('a');
    const first = decidePass(inputs({ jobs: [row('a')] }));
    expect(first.repairs).toEqual([]);
    expect(first.limbo).toEqual({ [id]: 200 });

    const later = decidePass(inputs({ jobs: [row('a')], limboSince: { [id]: 95 } }));
    expect(later.limbo).toEqual({ [id]: 95 });
    expect(later.repairs).toEqual([
      expect.objectContaining({
        kind: 'limbo',
        send: {
          to: { queue: 'jobs', handler: 'heat_worker' },
          message: { key: `/jobs/all/${id}`, modRevision: 10, type: 'put' },
        },
      }),
    ]);
  });

  test('a job with a live claim, or a finished one, is not in limbo', () => {
    const d = decidePass(
      inputs({
        jobs: [
          row('a', { working: { key: `/jobs/working/${jobId('a')}`, modRevision: 12 }, isLast: false }),
          row('b', { finished: finished(jobId('b'), NEW) }),
        ],
        limboSince: { [jobId('a')]: 1, [jobId('b')]: 1 },
      }),
    );
    expect(d.repairs).toEqual([]);
    expect(d.limbo).toEqual({});
  });

  test('a waiting job whose dependencies are finished is settled; one with a pending dependency waits', () => {
    const dep = jobId('dep');
    const w = (n: string) => ({ key: `/jobs/waiting/${jobId(n)}`, modRevision: OLD, handler: 'heat_worker' });
    const d = decidePass(
      inputs({
        jobs: [
          row('dep', { finished: finished(dep) }),
          row('a', { deps: [dep], waiting: w('a') }),
          // Its dependency is still running (in /jobs/all, not finished).
          row('b', { deps: [jobId('c')], waiting: w('b') }),
          row('c', { working: { key: `/jobs/working/${jobId('c')}`, modRevision: 5 } }),
          // A dependency cleaned up long ago (gone from every folder) is satisfied.
          row('e', { deps: [jobId('gone', 1)], waiting: w('e') }),
        ],
      }),
    );
    expect(d.repairs.map((r) => [r.kind, r.key, r.send])).toEqual([
      ['settle', `/jobs/waiting/${jobId('a')}`, undefined],
      ['settle', `/jobs/waiting/${jobId('e')}`, undefined],
    ]);
  });

  test('a waiting job whose dependency failed is settled too (the lifecycle fails it)', () => {
    const dep = jobId('dep');
    const d = decidePass(
      inputs({
        jobs: [
          row('dep', { finished: finished(dep, OLD, false) }),
          row('a', { deps: [dep], waiting: { key: `/jobs/waiting/${jobId('a')}`, modRevision: OLD, handler: 'x' } }),
        ],
      }),
    );
    expect(d.repairs).toEqual([
      expect.objectContaining({ kind: 'settle', why: expect.stringContaining('failed') as unknown }),
    ]);
  });

  test('a dependency finished after the grace revision leaves the settlement to its own finish', () => {
    const dep = jobId('dep');
    const d = decidePass(
      inputs({
        jobs: [
          row('dep', { finished: finished(dep, NEW) }),
          row('a', { deps: [dep], waiting: { key: `/jobs/waiting/${jobId('a')}`, modRevision: OLD, handler: 'x' } }),
        ],
      }),
    );
    expect(d.repairs).toEqual([]);
  });
});

describe('chains', () => {
  test('a chain whose jobs all finished before the grace revision is re-sent to the aggregator by its last job', () => {
    const [a, b] = [jobId('a'), jobId('b')];
    const d = decidePass(
      inputs({
        jobs: [
          row('a', { finished: finished(a, 60) }),
          row('b', { deps: [a], isLast: true, finished: finished(b, 70) }),
        ],
      }),
    );
    expect(d.repairs).toEqual([
      expect.objectContaining({
        kind: 'aggregate',
        key: `/jobs/finished/${b}`,
        send: { to: { queue: 'finished' }, message: { key: `/jobs/finished/${b}`, modRevision: 70, type: 'put' } },
      }),
    ]);
  });

  test('a chain with an unfinished job, or finished recently, is not aggregated; chains are per resource version', () => {
    const a2 = jobId('a', 2);
    const a3 = jobId('a', 3);
    const d = decidePass(
      inputs({
        jobs: [
          row('a', { id: a2, isLast: true, finished: finished(a2, NEW) }),
          row('x', { id: a3, isLast: true, finished: finished(a3, OLD) }),
          row('y', { id: jobId('y', 3), working: { key: 'w', modRevision: 3 } }),
        ],
      }),
    );
    expect(d.repairs).toEqual([]);
  });
});

describe('repeats', () => {
  test('a repair made after the grace revision is not repeated; an older one is', () => {
    const c = cfg('v2.0/ports/p1', 3, 42);
    const id = only(decidePass(inputs({ configs: [c] })).repairs, 'repairs').id;
    const recent = decidePass(inputs({ configs: [c], repairedAt: { [id]: G + 1 } }));
    expect(recent.repairs).toEqual([]);
    expect(recent.awaiting.map((r) => r.key)).toEqual([c.key]);
    expect(decidePass(inputs({ configs: [c], repairedAt: { [id]: G } })).repairs.map((r) => r.key)).toEqual([c.key]);
  });

  test('a new version of the same key is a new repair', () => {
    const first = only(decidePass(inputs({ configs: [cfg('v2.0/ports/p1', 3, 42)] })).repairs, 'repairs').id;
    const d = decidePass(inputs({ configs: [cfg('v2.0/ports/p1', 4, 43)], repairedAt: { [first]: 199 } }));
    expect(d.repairs).toHaveLength(1);
  });
});

describe('backlog', () => {
  // inputs(): grace revision 100, backlog grace revision 50. A candidate that stood still since
  // revision 90 is past the grace only; since 50, past both.
  const kinds = (rs: { kind: string; key: string }[]) => rs.map((r) => [r.kind, r.key]);

  test('a stranded key whose queue holds messages is deferred until it is older than the backlog grace', () => {
    const young = cfg('v2.0/ports/young', 3, 90);
    const old = cfg('v2.0/ports/old', 3, 50);
    const d = decidePass(inputs({ configs: [young, old], backlog: { config: 4 } }));
    expect(kinds(d.repairs)).toEqual([['replan', '/config/v2.0/ports/old']]);
    expect(kinds(d.deferred)).toEqual([['replan', '/config/v2.0/ports/young']]);
    expect(d.awaiting).toEqual([]);
  });

  test('with its own queue empty (or only another queue busy) the normal grace applies', () => {
    const young = cfg('v2.0/ports/young', 3, 90);
    const backlogs: Record<string, number>[] = [{}, { config: 0 }, { finished: 7, 'jobs:heat_worker': 2 }];
    for (const backlog of backlogs) {
      const d = decidePass(inputs({ configs: [young], backlog }));
      expect([kinds(d.repairs), d.deferred]).toEqual([[['replan', '/config/v2.0/ports/young']], []]);
    }
  });

  test('limbo is deferred by its handler’s queue and dated from its first sighting; it stays remembered', () => {
    const id = jobId('a');
    const busy = { 'jobs:heat_worker': 1 };
    const seen95 = decidePass(inputs({ jobs: [row('a')], limboSince: { [id]: 95 }, backlog: busy }));
    expect([seen95.repairs, kinds(seen95.deferred), seen95.limbo]).toEqual([
      [],
      [['limbo', `/jobs/all/${id}`]],
      { [id]: 95 },
    ]);
    const seen40 = decidePass(inputs({ jobs: [row('a')], limboSince: { [id]: 40 }, backlog: busy }));
    expect([kinds(seen40.repairs), seen40.deferred]).toEqual([[['limbo', `/jobs/all/${id}`]], []]);
    // The monitoring handler's queue is another queue.
    const other = decidePass(
      inputs({ jobs: [row('a')], limboSince: { [id]: 95 }, backlog: { 'jobs:monitoring_worker': 3 } }),
    );
    expect(kinds(other.repairs)).toEqual([['limbo', `/jobs/all/${id}`]]);
  });

  test('an unaggregated chain is dated by its last finish; a cleanup by its newest worker key', () => {
    const a1 = jobId('a');
    const a2 = jobId('b');
    const chain = [
      row('a', { id: a1, finished: finished(a1, 40) }),
      row('b', { id: a2, isLast: true, deps: [a1], finished: finished(a2, 90) }),
    ];
    const wk = (folder: string, modRevision: number) => ({
      key: `/esi-worker/${folder}/v2.0/ports/gone`,
      path: 'v2.0/ports/gone',
      configKey: '/config/v2.0/ports/gone',
      modRevision,
    });
    const busy = { finished: 1, config: 1 };
    const young = decidePass(
      inputs({ jobs: chain, workerKeys: [wk('config', 40), wk('heat_stacks', 90)], backlog: busy }),
    );
    expect([young.repairs, kinds(young.deferred)]).toEqual([
      [],
      [
        ['cleanup', '/config/v2.0/ports/gone'],
        ['aggregate', `/jobs/finished/${a2}`],
      ],
    ]);
    const older = decidePass(
      inputs({
        jobs: chain,
        workerKeys: [wk('config', 40), wk('heat_stacks', 45)],
        backlogGraceRevision: 90,
        backlog: busy,
      }),
    );
    expect([kinds(older.repairs), older.deferred]).toEqual([
      [
        ['cleanup', '/config/v2.0/ports/gone'],
        ['aggregate', `/jobs/finished/${a2}`],
      ],
      [],
    ]);
  });

  test('a settlement has no queue and is never deferred; a recent repair stays awaiting, not deferred', () => {
    const dep = jobId('d');
    const jobs = [
      row('d', { id: dep, finished: finished(dep, 90) }),
      row('b', { deps: [dep], waiting: { key: 'wb', modRevision: 90, handler: 'heat_worker' } }),
    ];
    const everyQueue = { config: 1, finished: 1, 'jobs:heat_worker': 1, 'jobs:monitoring_worker': 1 };
    const d = decidePass(inputs({ jobs, backlog: everyQueue }));
    expect(kinds(d.repairs)).toEqual([['settle', 'wb']]);

    const c = cfg('v2.0/ports/p1', 3, 90);
    const id = `replan ${c.key}@90`;
    const recent = decidePass(inputs({ configs: [c], repairedAt: { [id]: G + 1 }, backlog: everyQueue }));
    expect([recent.repairs, kinds(recent.awaiting), recent.deferred]).toEqual([[], [['replan', c.key]], []]);
  });
});

test('a relay position is behind when a key under its prefix changed after its checkpoint', () => {
  expect(
    relayLags([
      { relay: 'main', prefix: '/config/', checkpoint: 50, newest: 60 },
      { relay: 'main', prefix: '/jobs/all/', checkpoint: 50, newest: 50 },
      { relay: 'main', prefix: '/other/', checkpoint: 50, newest: undefined },
    ]),
  ).toEqual([
    { relay: 'main', prefix: '/config/', checkpoint: 50, behind: true },
    { relay: 'main', prefix: '/jobs/all/', checkpoint: 50, behind: false },
  ]);
});
