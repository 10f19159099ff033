import { type HeatSimulator, startHeatSimulator } from '../../../infra/sim/main';
import { client, http, login, passwordAuth } from './sim-client';

describe('Keystone v3 simulator', () => {
  let sim: HeatSimulator;

  beforeAll(async () => {
    sim = await startHeatSimulator({ port: 0, latencyMs: 50 });
  });
  afterAll(() => sim.stop());
  beforeEach(() => http.post(`${sim.url}/_sim/reset`));

  it('issues a project-scoped token in X-Subject-Token with a catalog pointing at its own Heat', async () => {
    const before = Date.now();
    const { token, heatUrl, res } = await login(sim);
    expect(res.status).toBe(201);
    expect(token).toMatch(/^gAAAAA/);
    // The token is in the header only, as in Keystone.
    expect(JSON.stringify(res.data)).not.toContain(token);
    const t = res.data.token;
    expect(Date.parse(t.expires_at)).toBeGreaterThan(before);
    expect(t.expires_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(t.methods).toEqual(['password']);
    expect(t.project).toEqual({
      domain: { id: 'default', name: 'Default' },
      id: sim.credentials.projectId,
      name: 'admin',
    });
    expect(heatUrl).toBe(`${sim.url}/v1/${sim.credentials.projectId}`);
    expect(heatUrl).toBe(sim.heatUrl);
    const types = t.catalog.map((s: { type: string }) => s.type).sort();
    expect(types).toEqual(['identity', 'orchestration']);
    // The response never carries the password back.
    expect(JSON.stringify(res.data)).not.toContain(sim.credentials.password);
  });

  it('scopes by project id as well as by name', async () => {
    const c = sim.credentials;
    const res = await http.post(
      `${sim.keystoneUrl}/auth/tokens`,
      passwordAuth(c.username, c.password, { id: c.projectId }),
    );
    expect(res.status).toBe(201);
  });

  it('answers 401 to a wrong password, an unknown user and an unknown project', async () => {
    const c = sim.credentials;
    for (const body of [
      passwordAuth(c.username, 'wrong', { name: c.projectName }),
      passwordAuth('nobody', c.password, { name: c.projectName }),
      passwordAuth(c.username, c.password, { name: 'other-project' }),
    ]) {
      const res = await http.post(`${sim.keystoneUrl}/auth/tokens`, body);
      expect(res.status).toBe(401);
      expect(res.data).toEqual({
        error: { code: 401, message: 'The request you have made requires authentication.', title: 'Unauthorized' },
      });
      expect(res.headers['x-subject-token']).toBeUndefined();
    }
  });

  it('answers 400 when a user given by name has no domain', async () => {
    const res = await http.post(`${sim.keystoneUrl}/auth/tokens`, {
      auth: {
        identity: { methods: ['password'], password: { user: { name: 'admin', password: 'x' } } },
        scope: { project: { id: sim.credentials.projectId } },
      },
    });
    expect(res.status).toBe(400);
    expect(res.data.error.message).toMatch(/^Expecting to find domain in user/);
  });

  it('validates tokens with GET /v3/auth/tokens', async () => {
    const { token } = await login(sim);
    const ok = await http.get(`${sim.keystoneUrl}/auth/tokens`, {
      headers: { 'X-Auth-Token': token, 'X-Subject-Token': token },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers['x-subject-token']).toBe(token);
    const gone = await http.get(`${sim.keystoneUrl}/auth/tokens`, {
      headers: { 'X-Auth-Token': token, 'X-Subject-Token': 'gAAAAAnope' },
    });
    expect(gone.status).toBe(404);
  });

  it('rejects Heat calls without a valid token and accepts them again after re-authentication', async () => {
    const none = await http.get(`${sim.heatUrl}/stacks`);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(`Keystone uri="${sim.url}/v3"`);
    const bogus = await http.get(`${sim.heatUrl}/stacks`, { headers: { 'X-Auth-Token': 'gAAAAAbogus' } });
    expect(bogus.status).toBe(401);

    const heat = await client(sim);
    expect((await heat.get(`${heat.heatUrl}/stacks`)).status).toBe(200);
    const { token } = await login(sim);
    const expired = await http.post(`${sim.url}/_sim/tokens/expire`, { token });
    expect(expired.data).toEqual({ expired: 1 });
    // Only that token died; the first client's is still good.
    expect((await http.get(`${sim.heatUrl}/stacks`, { headers: { 'X-Auth-Token': token } })).status).toBe(401);
    expect((await heat.get(`${heat.heatUrl}/stacks`)).status).toBe(200);

    // Expire everything: the client sees 401, logs in again and carries on.
    await http.post(`${sim.url}/_sim/tokens/expire`, {});
    expect((await heat.get(`${heat.heatUrl}/stacks`)).status).toBe(401);
    const again = await client(sim);
    expect((await again.get(`${again.heatUrl}/stacks`)).status).toBe(200);
    expect((await http.get(`${sim.url}/_sim/tokens`)).data).toEqual({ issued: 3, live: 1 });
  });

  it('expires tokens by lifetime too', async () => {
    const short = await startHeatSimulator({ tokenTtlMs: 1 });
    try {
      const { token } = await login(short);
      const { waitFor } = await import('../../helpers/wait');
      await waitFor(
        async () => (await http.get(`${short.heatUrl}/stacks`, { headers: { 'X-Auth-Token': token } })).status === 401,
        { timeoutMs: 2_000, what: 'token expiry' },
      );
    } finally {
      await short.stop();
    }
  });

  it('refuses a tenant in the URL other than the token project', async () => {
    const heat = await client(sim);
    const res = await heat.get(`${sim.url}/v1/0123456789abcdef0123456789abcdef/stacks`);
    expect(res.status).toBe(403);
  });
});
