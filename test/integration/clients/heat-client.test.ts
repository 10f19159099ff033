/**
 * The Heat and Keystone clients against the Keystone/Heat simulator started in-test (loopback,
 * free port). Each test uses its own stack names; nothing is shared with other files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import axios from 'axios';
import { ClientError, RetryableError, TerminalError } from '../../../shared/clients/errors';
import { HeatClient, type StackRef, type StackView } from '../../../shared/clients/heat';
import { prepareStack } from '../../../shared/heat/prepare';
import { stackRecord, tenantOf } from '../../../shared/heat/records';
import type { HeatOutput } from '../../../shared/heat/types';
import { parseHeatTemplateYaml } from '../../../shared/templates/load';
import { type HeatSimulator, startHeatSimulator } from '../../../infra/sim/main';
import { waitFor } from '../../helpers/wait';
import { seed003Outputs, seedJob, seedRecords } from '../../unit/heat/helpers';
import { FAST_RETRY, requestLog, sessionFor } from './helpers';
import { get } from '../../helpers/at';

const REPO = path.resolve(__dirname, '..', '..', '..');
const PORT_ID = 'ddc14be4-3480-4e97-a978-817b18f9904c';
const SIM_FIXTURES = path.join(REPO, 'test', 'fixtures', 'sim', 'heat-outputs.seed003.json');
const simFixtures = JSON.parse(fs.readFileSync(SIM_FIXTURES, 'utf8')) as Record<string, HeatOutput[]>;

const TEMPLATE = {
  heat_template_version: '2013-05-23',
  parameters: { name: { type: 'string' }, size: { type: 'number', default: 1 } },
  resources: {
    thing: { type: 'OS::Test::Thing', properties: { name: { get_param: 'name' }, size: { get_param: 'size' } } },
  },
  outputs: {
    name: { description: 'The name.', value: { get_param: 'name' } },
    id: { description: 'Its id.', value: { get_resource: 'thing' } },
  },
};

let sim: HeatSimulator;
const reqs = requestLog();
let heat: HeatClient;
/** Every client error a test saw, to check none carries a secret. */
const seen: ClientError[] = [];

async function caught(p: Promise<unknown>): Promise<ClientError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ClientError) {
      seen.push(e);
      return e;
    }
    throw e;
  }
  throw new Error('expected the call to fail');
}

const settled = (ref: StackRef | string) =>
  waitFor(
    async () => {
      const v = await heat.showStack(ref);
      return v && !v.status.endsWith('_IN_PROGRESS') ? v : undefined;
    },
    { timeoutMs: 10_000, what: 'stack to settle' },
  ) as Promise<StackView>;

const control = (p: string) => axios.get(`${sim.url}/_sim/${p}`).then((r) => r.data);
const addFault = (f: Record<string, unknown>) =>
  axios.post(`${sim.url}/_sim/faults`, f).then((r) => r.data.faults[0] as { id: string });
const fired = async (id: string) =>
  ((await control('faults')).faults as { id: string; fired: number }[]).find((f) => f.id === id)?.fired;
const counts = async (name: string) =>
  (await axios.get(`${sim.url}/_sim/stacks/${name}`, { validateStatus: () => true })).data.counts;

beforeAll(async () => {
  sim = await startHeatSimulator({ port: 0, latencyMs: 40, fixtures: SIM_FIXTURES, log: reqs.log });
  heat = new HeatClient({ session: sessionFor(sim), retry: FAST_RETRY, timeoutMs: 5000 });
});

afterAll(async () => {
  await sim?.stop();
});

describe('Keystone', () => {
  it('authenticates with password + project scope and finds Heat in the catalog', async () => {
    const s = sessionFor(sim);
    expect(await s.endpoint('orchestration')).toBe(sim.heatUrl);
    expect(s.authUrl).toBe(sim.keystoneUrl);
    const t = await s.token();
    expect(t.projectId).toBe(sim.credentials.projectId);
    // Keystone's expires_at (1 h token) was read, not assumed.
    expect(t.expiresAt - Date.now()).toBeGreaterThan(3_500_000);
    expect(t.expiresAt - Date.now()).toBeLessThanOrEqual(3_600_000);
    // Cached: a second call authenticates no more.
    await s.endpoint();
    expect(s.authentications).toBe(1);
  });

  it('a wrong password is a TerminalError 401 that does not echo it', async () => {
    const s = sessionFor(sim, { password: 'wrong-secret-xyz' });
    const e = await caught(s.token());
    expect(e).toBeInstanceOf(TerminalError);
    expect([e.service, e.status]).toEqual(['keystone', 401]);
    expect(e.message).not.toContain('wrong-secret-xyz');
  });

  it('an interface/region the catalog lacks is a TerminalError', async () => {
    const e = await caught(sessionFor(sim, { region: 'Nowhere' }).endpoint());
    expect(e).toBeInstanceOf(TerminalError);
    expect(e.message).toBe(
      "keystone: no orchestration endpoint with interface public in region Nowhere in the token's catalog",
    );
  });

  it('a token the server expired → one 401, re-authentication, the call succeeds', async () => {
    const s = sessionFor(sim);
    const client = new HeatClient({ session: s, retry: FAST_RETRY });
    expect(await client.findStack('nothing_here_1')).toBeUndefined();
    await axios.post(`${sim.url}/_sim/tokens/expire`, {});
    const from = reqs.lines.length;
    expect(await client.findStack('nothing_here_2')).toBeUndefined();
    expect(s.authentications).toBe(2);
    expect(reqs.since(from).map((l) => l.replace(/\/v1\/\w+\//, '/v1/T/'))).toEqual([
      'heat-sim GET /v1/T/stacks/nothing_here_2 401',
      'heat-sim POST /v3/auth/tokens 201',
      'heat-sim GET /v1/T/stacks/nothing_here_2 404',
    ]);
  });

  it('shortly before expires_at the session re-authenticates first (no 401 at all)', async () => {
    let skew = 0;
    const s = sessionFor(sim, { now: () => Date.now() + skew, refreshMarginMs: 120_000 });
    const client = new HeatClient({ session: s, retry: FAST_RETRY });
    await client.findStack('nothing_here_3');
    expect(s.authentications).toBe(1);
    skew = 3_600_000 - 60_000; // one minute before expiry, inside the two-minute margin
    const from = reqs.lines.length;
    await client.findStack('nothing_here_4');
    expect(s.authentications).toBe(2);
    expect(reqs.since(from).map((l) => l.replace(/\/v1\/\w+\//, '/v1/T/'))).toEqual([
      'heat-sim POST /v3/auth/tokens 201',
      'heat-sim GET /v1/T/stacks/nothing_here_4 404',
    ]);
  });
});

describe('stacks', () => {
  it("seed 003: create the prepared port stack, poll to CREATE_COMPLETE with outputs, update → the seed's heat_stacks record", async () => {
    const job = seedJob('003_7051ae089b13e2ae');
    const tmpl = parseHeatTemplateYaml(
      fs.readFileSync(path.join(REPO, 'templates', 'heat_templates', 'port.yaml'), 'utf8'),
      'port.yaml',
      'port',
    );
    const outs = seed003Outputs();
    const prepared = prepareStack(job, tmpl, (t, id) => outs.get(`${t}:${id}`));
    if (prepared.action !== 'create_or_update') throw new Error('unexpected action');
    expect(await heat.findStack(prepared.stackName)).toBeUndefined();

    const ref = await heat.createStack({
      name: prepared.stackName,
      template: prepared.template,
      parameters: prepared.parameters,
      timeoutMins: prepared.timeoutMins,
    });
    expect(ref.name).toBe(`port_${PORT_ID}`);
    expect(ref.href).toBe(`${sim.heatUrl}/stacks/port_${PORT_ID}/${ref.id}`);
    const created = await settled(ref);
    expect([created.status, created.statusReason, created.timeoutMins]).toEqual([
      'CREATE_COMPLETE',
      'Stack CREATE completed successfully',
      13,
    ]);
    expect(created.outputs).toEqual(
      get(simFixtures, `port_${PORT_ID}`, 'Heat simulator fixtures').map((o) => ({
        output_key: o.output_key,
        output_value: o.output_value,
        description: o.description,
      })),
    );

    await heat.updateStack({
      name: prepared.stackName,
      template: prepared.template,
      parameters: prepared.parameters,
      timeoutMins: prepared.timeoutMins,
    });
    const updated = await settled(prepared.stackName);
    expect([updated.status, updated.statusReason]).toEqual(['UPDATE_COMPLETE', 'Stack successfully updated']);
    const record = stackRecord({
      resourceType: job.resource_type,
      resourceId: job.resource_id,
      tenantId: tenantOf(job.resource_input),
      status: updated.status,
      statusReason: updated.statusReason,
      outputs: updated.outputs,
    });
    expect(record).toEqual(seedRecords().find((r) => r.seed === '003_7051ae089b13e2ae')!.heat_stacks.value);
    expect(await counts(prepared.stackName)).toEqual({ creates: 1, updates: 1, deletes: 0 });
    // The stack parameters Heat got are the job's non-jinja params (Heat prints them as text).
    const shown = (await control(`stacks/${prepared.stackName}`)).parameters as Record<string, string>;
    expect(Object.keys(shown).filter((k) => k.startsWith('jinja_') || k === 'heat_timeout')).toEqual([]);
    expect(shown.virtual_network).toBe('168c1535-9001-49c7-bb05-21844570a83c');
  });

  it('the look-up 302 is resolved by the client, never followed by axios', async () => {
    const ref = await heat.createStack({ name: 'lookup_a', template: TEMPLATE, parameters: { name: 'a' } });
    const from = reqs.lines.length;
    const found = await heat.findStack('lookup_a');
    expect(found).toEqual(ref);
    expect(found!.id).toBe(sim.engine.stacks.find((s) => s.name === 'lookup_a')!.id);
    expect(reqs.since(from).map((l) => l.replace(/\/v1\/\w+\//, '/v1/T/'))).toEqual([
      'heat-sim GET /v1/T/stacks/lookup_a 302',
    ]);
  });

  it('update replaces parameters, tags and keeps the outputs flowing; delete → DELETE_COMPLETE; look-ups then find nothing', async () => {
    const ref = await heat.createStack({
      name: 'life_a',
      template: TEMPLATE,
      parameters: { name: 'one' },
      tags: ['t1', 'k=v'],
    });
    const made = await settled(ref);
    const engine = () => sim.engine.stacks.find((s) => s.name === 'life_a')!;
    expect([made.outputs.find((o) => o.output_key === 'name')?.output_value, made.tags]).toEqual([
      'one',
      ['t1', 'k=v'],
    ]);
    expect([made.creationTime, made.updatedTime]).toEqual([engine().creationTime, undefined]);
    await heat.updateStack({
      name: 'life_a',
      template: TEMPLATE,
      parameters: { name: 'two', size: 3 },
      timeoutMins: 5,
      tags: ['t2'],
    });
    const up = await settled(ref);
    expect([up.status, up.outputs.find((o) => o.output_key === 'name')?.output_value, up.timeoutMins]).toEqual([
      'UPDATE_COMPLETE',
      'two',
      5,
    ]);
    expect([up.tags, up.creationTime, up.updatedTime]).toEqual([['t2'], made.creationTime, engine().updatedTime]);
    expect(up.updatedTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    expect(await heat.deleteStack('life_a')).toEqual({ result: 'started', ref });
    const gone = await settled(ref);
    expect([gone.status, gone.statusReason]).toEqual(['DELETE_COMPLETE', 'Stack DELETE completed successfully']);
    expect(await heat.showStack('life_a')).toBeUndefined();
    expect(await heat.findStack('life_a')).toBeUndefined();
    expect(await heat.deleteStack('life_a')).toEqual({ result: 'absent' });
    expect(await counts('life_a')).toEqual({ creates: 1, updates: 1, deletes: 1 });
  });

  it('delete of a stack that never existed = success (absent)', async () => {
    expect(await heat.deleteStack('never_existed')).toEqual({ result: 'absent' });
  });

  it('a second delete while the first runs reports in_progress', async () => {
    await addFault({ match: '^twice_del$', mode: 'slow', ms: 3000, ops: ['delete'] });
    const ref = await heat.createStack({ name: 'twice_del', template: TEMPLATE, parameters: { name: 'x' } });
    await settled(ref);
    expect((await heat.deleteStack('twice_del')).result).toBe('started');
    expect(await heat.deleteStack('twice_del')).toEqual({ result: 'in_progress', ref });
  });

  it('update of an absent stack is a TerminalError 404', async () => {
    const e = await caught(heat.updateStack({ name: 'not_there', template: TEMPLATE, parameters: { name: 'x' } }));
    expect(e).toBeInstanceOf(TerminalError);
    expect([e.status, e.type]).toEqual([404, 'StackNotFound']);
  });

  it("400 invalid template → TerminalError carrying Heat's message, not retried", async () => {
    const e = await caught(
      heat.createStack({ name: 'bad_params', template: TEMPLATE, parameters: { name: 'x', bogus: 1 } }),
    );
    expect(e).toBeInstanceOf(TerminalError);
    expect([e.service, e.status, e.type, e.serviceMessage]).toEqual([
      'heat',
      400,
      'UnknownUserParameter',
      'The Parameter (bogus) was not defined in template.',
    ]);
    expect(e.message).toBe(
      'heat POST /v1/fe3a4a1a72c04479bb6c19c2c0ccba4c/stacks: 400 UnknownUserParameter: The Parameter (bogus) was not defined in template.',
    );
    const e2 = await caught(heat.createStack({ name: 'bad_tmpl', template: 'just: text\n', parameters: {} }));
    expect([e2.status, e2.serviceMessage]).toEqual([400, 'Template format version not found.']);
    expect(await counts('bad_params')).toEqual({ creates: 0, updates: 0, deletes: 0 });
  });

  it('409 StackExists for a live name is a TerminalError of that type', async () => {
    await heat.createStack({ name: 'dup_a', template: TEMPLATE, parameters: { name: 'x' } });
    const e = await caught(heat.createStack({ name: 'dup_a', template: TEMPLATE, parameters: { name: 'x' } }));
    expect([e.constructor, e.status, e.type]).toEqual([TerminalError, 409, 'StackExists']);
  });

  it('update while an action runs: 409 ActionInProgress is retryable; after the retry budget a RetryableError', async () => {
    await addFault({ match: '^busy_a$', mode: 'slow', ms: 5000, ops: ['create'] });
    await heat.createStack({ name: 'busy_a', template: TEMPLATE, parameters: { name: 'x' } });
    const e = await caught(heat.updateStack({ name: 'busy_a', template: TEMPLATE, parameters: { name: 'y' } }));
    expect(e).toBeInstanceOf(RetryableError);
    expect([e.status, e.type]).toEqual([409, 'ActionInProgress']);
    expect(await counts('busy_a')).toEqual({ creates: 1, updates: 0, deletes: 0 });
  });
});

describe('transient faults', () => {
  it('503 three times, then success: the create succeeds within the retries, once', async () => {
    const f = await addFault({ match: '^flaky_create$', mode: 'http_error', status: 503, times: 3, ops: ['create'] });
    const ref = await heat.createStack({ name: 'flaky_create', template: TEMPLATE, parameters: { name: 'x' } });
    expect((await settled(ref)).status).toBe('CREATE_COMPLETE');
    expect(await fired(f.id)).toBe(3);
    expect(await counts('flaky_create')).toEqual({ creates: 1, updates: 0, deletes: 0 });
  });

  it('a 5xx whose create was applied anyway: the retry meets StackExists and returns the stack', async () => {
    const f = await addFault({
      match: '^committed_a$',
      mode: 'http_error',
      status: 502,
      times: 1,
      committed: true,
      ops: ['create'],
    });
    const ref = await heat.createStack({ name: 'committed_a', template: TEMPLATE, parameters: { name: 'x' } });
    expect(ref).toEqual(await heat.findStack('committed_a'));
    expect(await fired(f.id)).toBe(1);
    expect(await counts('committed_a')).toEqual({ creates: 1, updates: 0, deletes: 0 });
  });

  it('5xx beyond the retry budget → RetryableError after 1 + 3 attempts', async () => {
    const f = await addFault({ match: '^down_a$', mode: 'http_error', status: 500, times: 50, ops: ['show'] });
    const e = await caught(heat.showStack('down_a'));
    expect(e).toBeInstanceOf(RetryableError);
    expect([e.service, e.status]).toEqual(['heat', 500]);
    expect(e.serviceMessage).toMatch(/^Injected failure for stack down_a/);
    expect(await fired(f.id)).toBe(1 + FAST_RETRY.retries);
    await axios.delete(`${sim.url}/_sim/faults/${f.id}`);
  });

  it('the circuit breaker opens after consecutive failures and then fails fast without calling Heat', async () => {
    const client = new HeatClient({
      session: sessionFor(sim),
      retry: FAST_RETRY,
      breaker: { threshold: 2, halfOpenAfterMs: 60_000 },
    });
    const f = await addFault({ match: '^cb_a$', mode: 'http_error', status: 503, times: 50, ops: ['show'] });
    const e1 = await caught(client.findStack('cb_a'));
    expect([e1.constructor, e1.code]).toEqual([RetryableError, 'CIRCUIT_OPEN']);
    expect(await fired(f.id)).toBe(2);
    const e2 = await caught(client.findStack('cb_a'));
    expect(e2.code).toBe('CIRCUIT_OPEN');
    expect(await fired(f.id)).toBe(2);
    await axios.delete(`${sim.url}/_sim/faults/${f.id}`);
  });

  it('connection refused is a RetryableError (ECONNREFUSED) once the retries are spent', async () => {
    const dead = await startHeatSimulator({ port: 0 });
    const client = new HeatClient({
      session: sessionFor(dead),
      retry: { retries: 1, initialDelayMs: 1, maxDelayMs: 2 },
    });
    await client.findStack('x'); // authenticated while it was up
    await dead.stop();
    const e = await caught(client.findStack('x'));
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe('ECONNREFUSED');
    // Keystone unreachable: the failed request's body held the password; the error must not.
    const k = await caught(sessionFor(dead, { retry: { retries: 0, initialDelayMs: 1, maxDelayMs: 1 } }).token());
    expect([k.constructor, k.service, k.code]).toEqual([RetryableError, 'keystone', 'ECONNREFUSED']);
  });

  it('a request timeout is a RetryableError', async () => {
    await addFault({ match: '^slow_http$', mode: 'latency', ms: 1500, ops: ['show'] });
    const client = new HeatClient({
      session: sessionFor(sim),
      retry: { retries: 0, initialDelayMs: 1, maxDelayMs: 1 },
      timeoutMs: 200,
    });
    const e = await caught(client.findStack('slow_http'));
    expect(e).toBeInstanceOf(RetryableError);
    expect(e.code).toBe('ECONNABORTED');
  });
});

describe('secrets', () => {
  it('no client error seen in this file carries the password or a token', () => {
    expect(seen.length).toBeGreaterThan(10);
    for (const e of seen) {
      const text = `${e.message} ${e.serviceMessage ?? ''} ${inspect((e as Error & { cause?: unknown }).cause)} ${inspect(e, { depth: 6 })}`;
      expect(text).not.toContain(sim.credentials.password);
      expect(text).not.toMatch(/gAAAAA[\w-]{10,}/);
    }
  });
});
