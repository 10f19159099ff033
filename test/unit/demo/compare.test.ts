/** The strict comparison of a replay's results with the record (infra/demo/compare.ts). */
import { asBurst, compareMonitoring, compareState } from '../../../infra/demo/compare';

const outputs = (id: string, fq: string) =>
  JSON.stringify([
    { output_value: id, description: 'A unique id.', output_key: 'id' },
    { output_value: fq, description: 'FQ name.', output_key: 'fq_name' },
  ]);
const recorded = {
  state: {
    worker_state: 'MODIFY_COMPLETED',
    heat_outputs: outputs('a', 'x:a'),
    orchestration_state: 'UPDATE_COMPLETE',
  },
  version: 2,
  error: '',
};
const KEY = '/state/v2.0/ports/p1';

test('every differing field is listed, not only the first', () => {
  const c = compareState(
    KEY,
    recorded,
    {
      state: { worker_state: 'CREATE_COMPLETED', heat_outputs: outputs('a', 'x:a'), extra: 1 },
      version: 3,
      error: 'e',
    },
    { outputsByValue: true },
  );
  expect(c.ok).toBe(false);
  expect(c.differences.map((d) => [d.field, d.expected, d.actual])).toEqual([
    ['version', 2, 3],
    ['error', '', 'e'],
    ['state.worker_state', 'MODIFY_COMPLETED', 'CREATE_COMPLETED'],
    ['state.orchestration_state', 'UPDATE_COMPLETE', '(absent)'],
    ['state.extra', '(absent)', 1],
  ]);
});

test('heat_outputs by value when the simulator had the recorded outputs, by output keys otherwise', () => {
  const actual = { ...recorded, state: { ...recorded.state, heat_outputs: outputs('b', 'x:b') } };
  expect(compareState(KEY, recorded, actual, { outputsByValue: true }).differences.map((d) => d.field)).toEqual([
    'state.heat_outputs',
  ]);
  expect(compareState(KEY, recorded, actual, { outputsByValue: false }).ok).toBe(true);
  const fewer = {
    ...recorded,
    state: { ...recorded.state, heat_outputs: '[{"output_key": "id", "output_value": "b"}]' },
  };
  expect(compareState(KEY, recorded, fewer, { outputsByValue: false }).differences).toEqual([
    { field: 'state.heat_outputs (output keys)', expected: ['fq_name', 'id'], actual: ['id'] },
  ]);
});

test("seed 004's chain is a named difference only when the jobs played were that chain", () => {
  const actual = {
    ...recorded,
    state: { ...recorded.state, worker_state: 'CREATE_COMPLETED', state_monitoring: '{"vmi": "ACTIVE"}' },
  };
  // Seed 004: monitoring delete, heat modify, monitoring create, for the version /state reports.
  const seed004 = ['delete:monitoring_worker', 'modify:heat_worker', 'create:monitoring_worker'];
  const gw = compareState(KEY, recorded, actual, { outputsByValue: true, chain: seed004 });
  expect(gw.ok).toBe(true);
  expect(gw.differences.map((d) => [d.field, d.named?.slice(0, 9)])).toEqual([
    ['state.worker_state', 'seed 004:'],
    ['state.state_monitoring', 'seed 004:'],
  ]);
  // Another chain, a chain not recorded, or one job short: real differences.
  for (const chain of [['modify:heat_worker'], undefined, seed004.slice(1)]) {
    const other = compareState(KEY, recorded, actual, { outputsByValue: true, ...(chain ? { chain } : {}) });
    expect(other.ok).toBe(false);
    expect(other.differences.filter((d) => d.named)).toEqual([]);
  }
});

test('seed 004 names only its two differences: a wrong version under its chain is still a difference', () => {
  const actual = { ...recorded, version: 3, state: { ...recorded.state, worker_state: 'CREATE_COMPLETED' } };
  const chain = ['create:monitoring_worker', 'modify:heat_worker', 'delete:monitoring_worker'];
  const c = compareState(KEY, recorded, actual, { outputsByValue: true, chain });
  expect(c.ok).toBe(false);
  expect(c.differences.map((d) => [d.field, Boolean(d.named)])).toEqual([
    ['version', false],
    ['state.worker_state', true],
  ]);
});

test('/monitoring: every field; null expects the key gone; a status the scenario does not set is named', () => {
  const key = '/monitoring/v2.0/ports/p1';
  const set = [{ resource_type: 'ports', resource_id: 'p1', field: 'vmi', version: 3, value: 'FAIL' }];
  expect(compareMonitoring(key, { version: 3, vmi: 'FAIL' }, { vmi: 'FAIL', version: 3 }, set).ok).toBe(true);
  const wrong = compareMonitoring(key, { version: 3, vmi: 'FAIL' }, { version: 3, vmi: 'UP' }, set);
  expect(wrong.ok).toBe(false);
  expect(wrong.differences).toEqual([{ field: 'vmi', expected: 'FAIL', actual: 'UP' }]);
  const unset = compareMonitoring(key, { version: 3, vmi: 'FAIL' }, { version: 3, vmi: 'UP' }, []);
  expect(unset.ok).toBe(true);
  expect(unset.differences.map((d) => d.named)).toEqual(['a recorded collector status the scenario does not set']);
  expect(compareMonitoring(key, null, undefined, set).ok).toBe(true);
  expect(compareMonitoring(key, null, { version: 3, vmi: 'UP' }, set).ok).toBe(false);
  expect(compareMonitoring(key, { version: 3, vmi: 'FAIL' }, undefined, set).ok).toBe(false);
});

test('burst: a resource written more than once may differ outside its outcome, named; its outcome may not', () => {
  const collapsed = { ...recorded, state: { ...recorded.state, orchestration_state: 'CREATE_COMPLETE' } };
  const c = compareState(KEY, recorded, collapsed, { outputsByValue: true });
  expect(c.ok).toBe(false);
  expect(asBurst(c, true).ok).toBe(true);
  expect(asBurst(c, true).differences.map((d) => d.named)).toEqual([expect.stringMatching(/^burst: /)]);
  expect(asBurst(c, false).ok).toBe(false);
  const older = compareState(KEY, recorded, { ...recorded, version: 1 }, { outputsByValue: true });
  expect(asBurst(older, true).ok).toBe(false);
});
