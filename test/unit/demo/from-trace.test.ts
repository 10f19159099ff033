/** A recorded trace → a scenario (infra/demo/from-trace.ts), and the shipped scenarios are exactly that. */
import fs from 'node:fs';
import path from 'node:path';
import { parseTrace, scenarioFromTrace } from '../../../infra/demo/from-trace';
import { loadScenario } from '../../../infra/demo/scenario';

const line = (seq: number, action: string, key: string, value: unknown) =>
  JSON.stringify({ seq, watcher: 'x', action, key, value });

test('config writes in order, a lost one rebuilt from its job, last /state and /monitoring, simulator fixtures', () => {
  const body = { id: 'n1', name: 'n' };
  const job = {
    resource_type: 'network',
    resource_id: 'n1',
    version: 2,
    action: 'modify',
    resource_input: { id: 'n1', name: 'm' },
  };
  const state = (v: number, ws: string) => ({
    state: { worker_state: ws, heat_outputs: `[{"output_value": "n1", "description": "d", "output_key": "id"}]` },
    version: v,
    error: '',
  });
  const trace = [
    line(1, 'set', '/config/v2.0/heat_templates/network', { body: '{}', version: 1 }),
    line(2, 'set', '/config/v2.0/networks/n1', { body: JSON.stringify(body), version: 1, marked_for_deletion: false }),
    line(3, 'set', '/state/v2.0/networks/n1', state(1, 'CREATE_COMPLETED')),
    line(4, 'set', '/jobs/all/modify:heat_worker:network:n1:2:abcde', ['heat_worker', job, 0]),
    line(5, 'set', '/state/v2.0/networks/n1', state(2, 'MODIFY_COMPLETED')),
    line(6, 'set', '/monitoring/v2.0/ports/p1', { version: 2, vmi: 'UP' }),
    line(7, 'set', '/monitoring/v2.0/ports/p1', { version: 3, vmi: 'FAIL' }),
    line(8, 'set', '/monitoring/v2.0/ports/p2', { version: 1, vmi: 'UP' }),
    line(9, 'delete', '/monitoring/v2.0/ports/p2', null),
  ].join('\n');
  const s = scenarioFromTrace(parseTrace(trace), 't', 'src');
  expect(s.steps).toEqual([
    { put: '/config/v2.0/networks/n1', body, version: 1, marked_for_deletion: false },
    { put: '/config/v2.0/networks/n1', body: { id: 'n1', name: 'm' }, version: 2, marked_for_deletion: false },
  ]);
  expect(s.expected_states).toEqual({ '/state/v2.0/networks/n1': state(2, 'MODIFY_COMPLETED') });
  expect(s.expected_monitoring).toEqual({
    '/monitoring/v2.0/ports/p1': { version: 3, vmi: 'FAIL' },
    '/monitoring/v2.0/ports/p2': null,
  });
  const out = [{ output_value: 'n1', description: 'd', output_key: 'id' }];
  expect(s.heat_outputs).toEqual({ 'network_n1@version=1': out, 'network_n1@version=2': out, network_n1: out });
  expect(s.collector_statuses).toEqual([
    { resource_type: 'ports', resource_id: 'p1', field: 'vmi', version: 2, value: 'UP' },
    { resource_type: 'ports', resource_id: 'p1', field: 'vmi', version: 3, value: 'FAIL' },
    { resource_type: 'ports', resource_id: 'p2', field: 'vmi', version: 1, value: 'UP' },
  ]);
  expect(s.notes).toEqual([expect.stringContaining('/config/v2.0/networks/n1 v2')]);
});

test.each(['00_logical_network', '05_load_balancer'])(
  'the shipped scenario %s is the recorded trace converted',
  (name) => {
    const trace = fs.readFileSync(path.join(__dirname, '../../fixtures/traces', `${name}.jsonl`), 'utf8');
    expect(scenarioFromTrace(parseTrace(trace), name, `trace ${name}.jsonl`)).toEqual(loadScenario(name));
  },
);

test('a bad trace: the error names the file and the line (blank lines counted)', () => {
  const ok = line(1, 'set', '/config/v2.0/networks/n1', { body: '{}', version: 1 });
  expect(() => parseTrace(`${ok}\n\n{"seq": 2, "action": "set"`, 'rec/t.jsonl')).toThrow(
    /^rec\/t\.jsonl:3: not JSON \(/,
  );
  expect(() => parseTrace(`${ok}\n[1, 2]\n`, 'rec/t.jsonl')).toThrow(
    'rec/t.jsonl:2: expected {"action", "key", "value", …}',
  );
});
