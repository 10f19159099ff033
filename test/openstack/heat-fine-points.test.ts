/**
 * The fine points of Heat the heat handler relies on, as one table asserted against both the
 * Keystone/Heat simulator (infra/sim/heat) and the run's real Keystone + Heat, through the same
 * code (a Keystone session, the catalog's orchestration endpoint, plain HTTP): the simulator
 * cannot drift from Heat on these without this file failing.
 */
import type { KeystoneSession } from '../../shared/clients/keystone';
import { startHeatSimulator, type HeatSimulator } from '../../infra/sim/main';
import { waitFor } from '../helpers/wait';
import { heatApi, type HeatAnswer, openStackSkipped, tierSession } from '../helpers/openstack';
import { sessionFor } from '../integration/clients/helpers';

jest.setTimeout(300_000);

interface Api {
  send(method: string, path: string, body?: unknown): Promise<HeatAnswer>;
  /** The stack by id once its status is no longer *_IN_PROGRESS. */
  settled(name: string, id: string): Promise<Record<string, any>>;
}

function apiOf(session: KeystoneSession): Api {
  const { send } = heatApi(session);
  return {
    send,
    settled: async (name, id) =>
      (await waitFor(
        async () => {
          const s = (await send('GET', `/stacks/${name}/${id}`)).body.stack as Record<string, any> | undefined;
          return s && !String(s.stack_status).endsWith('_IN_PROGRESS') ? s : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 250, what: `${name} settled` },
      ))!,
  };
}

const TEMPLATE = (value: string) => ({
  heat_template_version: '2015-04-30',
  parameters: { name: { type: 'string' } },
  resources: {
    network: { type: 'OS::Contrail::VirtualNetwork', properties: { name: { get_param: 'name' }, value } },
  },
  outputs: {
    name: { description: 'The name.', value: { get_attr: ['network', 'name'] } },
    bare: { value: { get_attr: ['network', 'name'] } },
  },
});
const ISO_SECONDS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;
const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

/** The table: each fine point, asserted the same way on both. */
const FINE_POINTS: [string, (api: Api) => Promise<void>][] = [
  [
    'create: 201 with the id and a self link; a look-up by name answers 302 to /stacks/<name>/<id>',
    async (api) => {
      const name = uid('fp-create');
      const created = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
      });
      expect(created.status).toBe(201);
      const id = created.body.stack.id as string;
      expect(created.body.stack.links).toEqual([
        { href: expect.stringMatching(new RegExp(`/stacks/${name}/${id}$`)), rel: 'self' },
      ]);
      const look = await api.send('GET', `/stacks/${name}`);
      expect(look.status).toBe(302);
      expect(look.location).toMatch(new RegExp(`/stacks/${name}/${id}$`));
      await api.send('DELETE', `/stacks/${name}/${id}`);
    },
  ],
  [
    'after a create: CREATE_COMPLETE, tags as a list, creation_time to the second, updated_time null, outputs {output_key, output_value, description}',
    async (api) => {
      const name = uid('fp-times');
      const tag = `esi-op=${'a'.repeat(64)}`;
      const { body } = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
        tags: tag,
      });
      const s = await api.settled(name, body.stack.id);
      expect([s.stack_status, s.tags, s.updated_time]).toEqual(['CREATE_COMPLETE', [tag], null]);
      expect(s.creation_time).toMatch(ISO_SECONDS);
      const outputs = [...(s.outputs as Record<string, unknown>[])].sort((x, y) =>
        String(x.output_key).localeCompare(String(y.output_key)),
      );
      expect(outputs).toEqual([
        { output_key: 'bare', output_value: expect.anything(), description: 'No description given' },
        { output_key: 'name', output_value: expect.anything(), description: 'The name.' },
      ]);
      const listed = await api.send('GET', `/stacks?tags=${encodeURIComponent(tag)}`);
      expect((listed.body.stacks as { stack_name: string }[]).map((x) => x.stack_name)).toContain(name);
      await api.send('DELETE', `/stacks/${name}/${body.stack.id}`);
    },
  ],
  [
    'an update: 202, then UPDATE_COMPLETE, updated_time set (not before creation_time), the tags replaced',
    async (api) => {
      const name = uid('fp-update');
      const { body } = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
        tags: 'esi-op=1',
      });
      const created = await api.settled(name, body.stack.id);
      const put = await api.send('PUT', `/stacks/${name}/${body.stack.id}`, {
        template: TEMPLATE('b'),
        parameters: { name },
        tags: 'esi-op=2',
      });
      expect(put.status).toBe(202);
      const s = (await waitFor(
        async () => {
          const v = await api.settled(name, body.stack.id);
          return v.stack_status === 'CREATE_COMPLETE' ? undefined : v;
        },
        { timeoutMs: 120_000, what: 'the update' },
      ))!;
      expect([s.stack_status, s.tags, s.creation_time]).toEqual([
        'UPDATE_COMPLETE',
        ['esi-op=2'],
        created.creation_time,
      ]);
      expect(s.updated_time).toMatch(ISO_SECONDS);
      expect(Date.parse(s.updated_time)).toBeGreaterThanOrEqual(Date.parse(created.creation_time));
      await api.send('DELETE', `/stacks/${name}/${body.stack.id}`);
    },
  ],
  [
    'errors: a second create of a name 409 StackExists, an unknown stack 404 EntityNotFound, an unknown type 400 StackValidationFailed; each {code, title, explanation, error: {type, message, traceback}}',
    async (api) => {
      const name = uid('fp-errors');
      const { body } = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
      });
      const shape = (status: number, type: string) => ({
        code: status,
        title: expect.any(String),
        explanation: expect.any(String),
        error: { type, message: expect.any(String), traceback: null },
      });
      const again = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
      });
      expect([again.status, again.body]).toEqual([409, shape(409, 'StackExists')]);
      const missing = await api.send('GET', `/stacks/${uid('fp-none')}`);
      expect([missing.status, missing.body]).toEqual([404, shape(404, 'EntityNotFound')]);
      const bad = await api.send('POST', '/stacks', {
        stack_name: uid('fp-bad'),
        template: { heat_template_version: '2015-04-30', resources: { x: { type: 'No::Such::Type' } } },
        parameters: {},
      });
      expect([bad.status, bad.body]).toEqual([400, shape(400, 'StackValidationFailed')]);
      await api.send('DELETE', `/stacks/${name}/${body.stack.id}`);
    },
  ],
  [
    'a delete: 204, then DELETE_COMPLETE by id, and by name 404 once Heat purged it',
    async (api) => {
      const name = uid('fp-delete');
      const { body } = await api.send('POST', '/stacks', {
        stack_name: name,
        template: TEMPLATE('a'),
        parameters: { name },
      });
      await api.settled(name, body.stack.id);
      expect((await api.send('DELETE', `/stacks/${name}/${body.stack.id}`)).status).toBe(204);
      const s = await api.settled(name, body.stack.id);
      expect(s.stack_status).toBe('DELETE_COMPLETE');
      // Heat marks the stack deleted in its database just after DELETE_COMPLETE: a look-up by name
      // may still find it (302 to the DELETE_COMPLETE stack) for a moment.
      await waitFor(async () => (await api.send('GET', `/stacks/${name}`)).status === 404, {
        what: `${name} gone by name`,
      });
    },
  ],
];

const targets: [string, () => Promise<{ api: Api; stop: () => Promise<void> }>][] = [
  [
    'the simulator',
    async () => {
      const sim: HeatSimulator = await startHeatSimulator({ port: 0, latencyMs: 200 });
      return { api: apiOf(sessionFor(sim)), stop: () => sim.stop() };
    },
  ],
];
if (!openStackSkipped())
  targets.push([
    'real Heat',
    async () => {
      return { api: apiOf(tierSession()), stop: async () => undefined };
    },
  ]);

describe.each(targets)('Heat fine points on %s', (_, start) => {
  let target: { api: Api; stop: () => Promise<void> };
  beforeAll(async () => {
    target = await start();
  });
  afterAll(async () => target?.stop());
  it.each(FINE_POINTS)('%s', async (_point, check) => check(target.api));
});
