import fs from 'node:fs';
import path from 'node:path';
import { type HeatSimulator, startHeatSimulator } from '../../../infra/sim/main';
import { client, type HeatTestClient, http } from './sim-client';

const TEMPLATE = {
  heat_template_version: '2013-05-23',
  parameters: { version: { type: 'number', default: 1 } },
  resources: { thing: { type: 'OS::Contrail::VirtualMachineInterface', properties: { name: 'thing' } } },
  outputs: { version: { value: { get_param: 'version' } } },
};
const LATENCY = 100;

describe('Heat simulator fault injection', () => {
  let sim: HeatSimulator;
  let heat: HeatTestClient;

  beforeAll(async () => {
    // One rule given at start: it survives /_sim/reset, runtime rules do not.
    sim = await startHeatSimulator({
      latencyMs: LATENCY,
      faults: [{ match: '^boot_fail_', mode: 'fail', reason: 'Error: resources.thing: boot rule' }],
    });
  });
  afterAll(() => sim.stop());
  beforeEach(async () => {
    await http.post(`${sim.url}/_sim/reset`);
    heat = await client(sim);
  });

  const addFault = async (rule: Record<string, unknown>) => {
    const res = await http.post(`${sim.url}/_sim/faults`, rule);
    expect(res.status).toBe(201);
    return res.data.faults[0] as { id: string };
  };
  const counts = async (name: string) => (await http.get(`${sim.url}/_sim/stacks/${name}`)).data.counts;
  async function create(name: string, extra: Record<string, unknown> = {}) {
    const res = await heat.create({ stack_name: name, template: TEMPLATE, ...extra });
    expect(res.status).toBe(201);
    return `${heat.heatUrl}/stacks/${name}/${res.data.stack.id}`;
  }

  it('fail: the operation is accepted, then ends in *_FAILED with the reason; update works once the rule is removed', async () => {
    const rule = await addFault({ match: '^fail_me$', mode: 'fail', reason: 'Error: resources.thing: device said no' });
    const url = await create('fail_me');
    expect((await heat.get(url)).data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    const failed = await heat.waitStatus(url, 'CREATE_FAILED');
    expect(failed.stack_status_reason).toBe('Resource CREATE failed: Error: resources.thing: device said no');
    expect(failed.outputs).toEqual([]);
    // A failed stack can be updated (Heat allows it); the rule still applies.
    expect((await heat.put(url, { template: TEMPLATE })).status).toBe(202);
    expect((await heat.waitStatus(url, 'UPDATE_FAILED')).stack_status_reason).toMatch(/^Resource UPDATE failed: /);
    expect((await http.delete(`${sim.url}/_sim/faults/${rule.id}`)).status).toBe(204);
    expect((await heat.put(url, { template: TEMPLATE, parameters: { version: 2 } })).status).toBe(202);
    const ok = await heat.waitStatus(url, 'UPDATE_COMPLETE');
    expect(ok.outputs).toEqual([{ output_key: 'version', output_value: 2, description: 'No description given' }]);
    expect(await counts('fail_me')).toEqual({ creates: 1, updates: 2, deletes: 0 });
  });

  it('fail on delete: DELETE_FAILED, the stack is still there', async () => {
    await addFault({ match: '^undeletable$', mode: 'fail', ops: ['delete'] });
    const url = await create('undeletable');
    await heat.waitStatus(url, 'CREATE_COMPLETE');
    expect((await heat.del(url)).status).toBe(204);
    const failed = await heat.waitStatus(url, 'DELETE_FAILED');
    expect(failed.stack_status_reason).toBe(
      'Resource DELETE failed: Error: resources.thing: failure injected by the Heat simulator',
    );
    expect((await heat.lookup('undeletable')).status).toBe(302);
  });

  it('start-time rules apply and survive a reset', async () => {
    const url = await create('boot_fail_1');
    expect((await heat.waitStatus(url, 'CREATE_FAILED')).stack_status_reason).toBe(
      'Resource CREATE failed: Error: resources.thing: boot rule',
    );
    const listed = (await http.get(`${sim.url}/_sim/faults`)).data.faults;
    expect(listed).toEqual([expect.objectContaining({ match: '^boot_fail_', mode: 'fail', fired: 1 })]);
  });

  it('hang: stays *_IN_PROGRESS while others complete, and times out after timeout_mins', async () => {
    // One "minute" of timeout_mins lasts 150 ms here.
    await http.post(`${sim.url}/_sim/config`, { minute_ms: 150 });
    await addFault({ match: '^hang_', mode: 'hang' });
    const started = Date.now();
    const timed = await create('hang_timed', { timeout_mins: 2 });
    const forever = await create('hang_forever');
    const control = await create('control');
    await heat.waitStatus(control, 'CREATE_COMPLETE');
    expect((await heat.get(forever)).data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    expect((await heat.get(timed)).data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    const failed = await heat.waitStatus(timed, 'CREATE_FAILED');
    expect(failed.stack_status_reason).toBe('Timed out');
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    // Without timeout_mins it never ends by itself; a delete still works.
    expect((await heat.get(forever)).data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    expect((await heat.del(forever)).status).toBe(204);
    await heat.waitStatus(forever, 'DELETE_COMPLETE');
  });

  it('http_error: answers 5xx N times without creating anything, then succeeds; each create happened once', async () => {
    await addFault({ match: '^flaky$', mode: 'http_error', status: 503, times: 2, ops: ['create'] });
    for (let i = 0; i < 2; i += 1) {
      const res = await heat.create({ stack_name: 'flaky', template: TEMPLATE });
      expect(res.status).toBe(503);
      expect(res.data).toMatchObject({
        code: 503,
        title: 'Service Unavailable',
        error: { type: 'HTTPServiceUnavailable' },
      });
      expect((await heat.lookup('flaky')).status).toBe(404);
    }
    const res = await heat.create({ stack_name: 'flaky', template: TEMPLATE });
    expect(res.status).toBe(201);
    await heat.waitStatus(await heat.canonical('flaky'), 'CREATE_COMPLETE');
    expect(await counts('flaky')).toEqual({ creates: 1, updates: 0, deletes: 0 });
    expect((await http.get(`${sim.url}/_sim/faults`)).data.faults[1]).toMatchObject({ fired: 2, times: 2 });
  });

  it('http_error committed: the create happens although the client sees 500; a retry gets 409', async () => {
    await addFault({ match: '^ambiguous$', mode: 'http_error', status: 500, committed: true, ops: ['create'] });
    const res = await heat.create({ stack_name: 'ambiguous', template: TEMPLATE });
    expect(res.status).toBe(500);
    expect(res.data.error.type).toBe('HTTPInternalServerError');
    expect((await heat.create({ stack_name: 'ambiguous', template: TEMPLATE })).status).toBe(409);
    await heat.waitStatus(await heat.canonical('ambiguous'), 'CREATE_COMPLETE');
    expect(await counts('ambiguous')).toEqual({ creates: 1, updates: 0, deletes: 0 });
  });

  it('http_error on look-ups and deletes', async () => {
    const url = await create('shaky');
    await heat.waitStatus(url, 'CREATE_COMPLETE');
    await addFault({ match: '^shaky$', mode: 'http_error', status: 502, ops: ['show'] });
    await addFault({ match: '^shaky$', mode: 'http_error', status: 504, ops: ['delete'] });
    expect((await heat.lookup('shaky')).status).toBe(502);
    expect((await heat.lookup('shaky')).status).toBe(302);
    expect((await heat.del(url)).status).toBe(504);
    expect((await heat.get(url)).data.stack.stack_status).toBe('CREATE_COMPLETE');
    expect((await heat.del(url)).status).toBe(204);
    await heat.waitStatus(url, 'DELETE_COMPLETE');
    expect(await counts('shaky')).toEqual({ creates: 1, updates: 0, deletes: 1 });
  });

  it('latency delays the HTTP answer; slow stretches the operation', async () => {
    await addFault({ match: '^laggy$', mode: 'latency', ms: 300, ops: ['create'] });
    let t = Date.now();
    await create('laggy');
    expect(Date.now() - t).toBeGreaterThanOrEqual(290);

    await addFault({ match: '^sluggish$', mode: 'slow', ms: 400 });
    t = Date.now();
    const slow = await create('sluggish');
    const control = await create('brisk');
    await heat.waitStatus(control, 'CREATE_COMPLETE');
    expect((await heat.get(slow)).data.stack.stack_status).toBe('CREATE_IN_PROGRESS');
    await heat.waitStatus(slow, 'CREATE_COMPLETE');
    expect(Date.now() - t).toBeGreaterThanOrEqual(LATENCY + 400 - 10);
  });

  it('reset drops runtime rules and stacks but keeps the start-time rules', async () => {
    await addFault({ match: '.*', mode: 'fail' });
    await create('before_reset');
    await http.post(`${sim.url}/_sim/reset`);
    const state = await http.get(`${sim.url}/_sim/stacks`);
    expect(state.data).toEqual({ stacks: [], counts: {} });
    expect((await http.get(`${sim.url}/_sim/faults`)).data.faults).toEqual([
      expect.objectContaining({ match: '^boot_fail_', fired: 0 }),
    ]);
    // Tokens are dropped by a reset as well.
    expect((await heat.get(`${heat.heatUrl}/stacks`)).status).toBe(401);
  });

  it('rejects malformed rules', async () => {
    for (const bad of [
      { match: '(', mode: 'fail' },
      { match: 'x', mode: 'explode' },
      { match: 'x', mode: 'fail', ops: ['fly'] },
    ]) {
      expect((await http.post(`${sim.url}/_sim/faults`, bad)).status).toBe(400);
    }
  });
});

describe('Heat simulator faults from a JSON file', () => {
  it('loads {"faults": [...]} at start', async () => {
    const file = path.join(fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT!, 'esi-sim-')), 'faults.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ faults: [{ match: '^from_file$', mode: 'fail', reason: 'from the file' }] }),
    );
    const sim = await startHeatSimulator({ latencyMs: 20, faults: file });
    try {
      const heat = await client(sim);
      const res = await heat.create({ stack_name: 'from_file', template: TEMPLATE });
      const stack = await heat.waitStatus(`${heat.heatUrl}/stacks/from_file/${res.data.stack.id}`, 'CREATE_FAILED');
      expect(stack.stack_status_reason).toBe('Resource CREATE failed: from the file');
    } finally {
      await sim.stop();
    }
  });

  it('refuses a broken file at start', async () => {
    const file = path.join(fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT!, 'esi-sim-')), 'faults.json');
    fs.writeFileSync(file, JSON.stringify({ rules: [] }));
    await expect(startHeatSimulator({ faults: file })).rejects.toThrow(/expected a JSON list of faults/);
  });
});
