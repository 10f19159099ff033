/**
 * A minimal Keystone/Heat client for the simulator tests: every call returns the raw axios
 * response (no throwing on 4xx/5xx, no redirect following), so tests assert status codes and
 * bodies exactly as a product client would see them.
 */
import axios, { type AxiosResponse } from 'axios';
import { waitFor } from '../../helpers/wait';
import type { HeatSimulator } from '../../../infra/sim/main';

export const http = axios.create({ validateStatus: () => true, maxRedirects: 0, timeout: 10_000 });

export function passwordAuth(user: string, password: string, project: { id?: string; name?: string }): unknown {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
      scope: { project: project.id ? { id: project.id } : { name: project.name, domain: { name: 'Default' } } },
    },
  };
}

/** Authenticates like a product client: token from X-Subject-Token, Heat URL from the catalog. */
export async function login(sim: HeatSimulator): Promise<{ token: string; heatUrl: string; res: AxiosResponse }> {
  const c = sim.credentials;
  const res = await http.post(
    `${sim.keystoneUrl}/auth/tokens`,
    passwordAuth(c.username, c.password, { name: c.projectName }),
  );
  if (res.status !== 201) throw new Error(`auth failed: ${res.status}`);
  const catalog = res.data.token.catalog as { type: string; endpoints: { interface: string; url: string }[] }[];
  const heatUrl = catalog.find((s) => s.type === 'orchestration')!.endpoints.find((e) => e.interface === 'public')!.url;
  return { token: res.headers['x-subject-token'] as string, heatUrl, res };
}

export class HeatTestClient {
  constructor(
    readonly heatUrl: string,
    private token: string,
  ) {}

  private get headers() {
    return { 'X-Auth-Token': this.token, 'Content-Type': 'application/json' };
  }

  create(body: Record<string, unknown>) {
    return http.post(`${this.heatUrl}/stacks`, body, { headers: this.headers });
  }

  lookup(name: string, sub = '') {
    return http.get(`${this.heatUrl}/stacks/${name}${sub}`, { headers: this.headers });
  }

  /** Resolves the canonical stack URL through the 302 Heat answers a lookup by name with (docs/simulators.md). */
  async canonical(name: string): Promise<string> {
    const res = await this.lookup(name);
    if (res.status !== 302) throw new Error(`look-up of ${name}: ${res.status}`);
    return res.headers.location as string;
  }

  get(url: string) {
    return http.get(url, { headers: this.headers });
  }

  put(url: string, body: Record<string, unknown>) {
    return http.put(url, body, { headers: this.headers });
  }

  patch(url: string, body: Record<string, unknown>) {
    return http.patch(url, body, { headers: this.headers });
  }

  del(url: string) {
    return http.delete(url, { headers: this.headers });
  }

  /** Polls stack-show until stack_status is `status` (deadline-bound, no blind sleeps). */
  async waitStatus(url: string, status: string, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const stack = await waitFor(
      async () => {
        const res = await this.get(url);
        return res.status === 200 && res.data.stack.stack_status === status
          ? (res.data.stack as Record<string, unknown>)
          : undefined;
      },
      { timeoutMs, intervalMs: 25, what: `${url} to reach ${status}` },
    );
    return stack as Record<string, unknown>;
  }
}

export async function client(sim: HeatSimulator): Promise<HeatTestClient> {
  const { token, heatUrl } = await login(sim);
  return new HeatTestClient(heatUrl, token);
}

export const outputsByKey = (outputs: { output_key: string; output_value: unknown }[]): Record<string, unknown> =>
  Object.fromEntries(outputs.map((o) => [o.output_key, o.output_value]));
