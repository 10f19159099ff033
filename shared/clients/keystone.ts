// Keystone v3 with project scope (docs/heat-handler.md "Keystone"). The password and token never reach an error or log.
import crypto from 'node:crypto';
import type { AxiosInstance, AxiosResponse } from 'axios';
import { fromResponse, fromThrown, RetryableError, safeUrl, TerminalError } from './errors';
import { createHttp, resilience, type Resilience } from './http';
import type { KeystoneSettings, RetrySettings } from './settings';

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; url: string; region?: string; region_id?: string }[];
}

type TokenBody = { token?: { expires_at?: unknown; project?: { id?: unknown }; catalog?: unknown } };

interface KeystoneToken {
  readonly token: string;
  /** Epoch ms of `expires_at`, and after which the session authenticates again before using it. */
  readonly expiresAt: number;
  readonly refreshAt: number;
  readonly projectId: string;
  readonly catalog: CatalogEntry[];
}

export interface KeystoneSessionOptions extends KeystoneSettings {
  timeoutMs?: number;
  /** Renew this long before `expires_at` (default 5 minutes, at most half the token's lifetime). */
  refreshMarginMs?: number;
  retry?: RetrySettings;
  now?: () => number;
}

/** Keystone prints microseconds (`2019-11-09T13:21:08.000000Z`); keep milliseconds for Date. */
export function parseKeystoneTime(s: unknown): number {
  if (typeof s !== 'string') return NaN;
  const m = /^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(s.trim());
  if (!m) return NaN;
  const frac = m[2] ? m[2].slice(0, 4) : '';
  return Date.parse(`${m[1]}${frac}${m[3] ?? 'Z'}`);
}

/** `https://ks:5000` and `https://ks:5000/v3/` both become `https://ks:5000/v3`. */
export function normalizeAuthUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

export class KeystoneSession {
  readonly authUrl: string;
  private readonly http: AxiosInstance;
  private readonly policy: Resilience;
  private readonly now = (): number => (this.opts.now ?? Date.now)();
  private current: KeystoneToken | undefined;
  private inflight: Promise<KeystoneToken> | undefined;
  authentications = 0;

  constructor(private readonly opts: KeystoneSessionOptions) {
    this.authUrl = normalizeAuthUrl(opts.authUrl);
    this.http = createHttp(opts.timeoutMs ?? 10_000, opts.caBundle);
    this.policy = resilience('keystone', this.authUrl, opts.retry);
  }

  /** A token valid for a while yet: the cached one, or a new one (one request at a time). */
  async token(): Promise<KeystoneToken> {
    if (this.current && this.now() < this.current.refreshAt) return this.current;
    this.inflight ??= this.authenticate().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** The URL of a service in the catalog, for the configured interface (and region, if set). */
  async endpoint(serviceType = 'orchestration'): Promise<string> {
    return this.endpointIn(await this.token(), serviceType);
  }

  endpointIn(t: KeystoneToken, serviceType: string): string {
    const { interface: iface, region } = this.opts;
    const ep = t.catalog
      .find((c) => c.type === serviceType)
      ?.endpoints.find((e) => e.interface === iface && (!region || e.region_id === region || e.region === region));
    if (!ep)
      throw new TerminalError(
        `keystone: no ${serviceType} endpoint with interface ${iface}${region ? ` in region ${region}` : ''} in the token's catalog`,
        { service: 'keystone' },
      );
    // Old catalogs still carry the project as a template variable.
    return ep.url.replace(/[$%]\((tenant_id|project_id)\)s/g, t.projectId).replace(/\/+$/, '');
  }

  /** One HTTP exchange with a token and the service's endpoint; a 401 drops the token and is retried once. */
  async withAuth<R extends AxiosResponse<unknown>>(
    serviceType: string,
    send: (token: string, endpoint: string) => Promise<R>,
  ): Promise<R> {
    let t = await this.token();
    let res = await send(t.token, this.endpointIn(t, serviceType));
    if (res.status === 401) {
      // Forget it unless a newer token was obtained meanwhile.
      if (this.current?.token === t.token) this.current = undefined;
      t = await this.token();
      res = await send(t.token, this.endpointIn(t, serviceType));
    }
    return res;
  }

  private async authenticate(): Promise<KeystoneToken> {
    const url = `${this.authUrl}/auth/tokens`;
    const what = `keystone POST ${safeUrl(url)}`;
    const { applicationCredential: app, username, projectName, userDomainName, projectDomainName } = this.opts;
    const user = { name: username, domain: { name: userDomainName }, password: this.opts.password };
    const body = app
      ? { auth: { identity: { methods: ['application_credential'], application_credential: app } } }
      : {
          auth: {
            identity: { methods: ['password'], password: { user } },
            scope: { project: { name: projectName, domain: { name: projectDomainName } } },
          },
        };
    const who = app ? `application credential ${app.id}` : `user ${username}, project ${projectName}`;
    const rejected = `${what}: 401: authentication rejected for ${who} (check the ESI_KEYSTONE_* settings)`;
    return this.policy(async () => {
      const res = await this.http.post<TokenBody | undefined>(url, body).catch((err: unknown) => {
        throw fromThrown('keystone', what, err);
      });
      if (res.status === 401) throw new TerminalError(rejected, { service: 'keystone', status: 401 });
      if (res.status !== 201 && res.status !== 200) throw fromResponse('keystone', what, res.status, res.data);
      const subject: unknown = res.headers['x-subject-token'];
      const tok = res.data?.token;
      const incomplete = `${what}: ${res.status} without X-Subject-Token or token body`;
      if (typeof subject !== 'string' || subject === '' || !tok)
        throw new RetryableError(incomplete, { service: 'keystone', status: res.status });
      const now = this.now();
      const parsed = parseKeystoneTime(tok.expires_at);
      const expiresAt = Number.isFinite(parsed) ? parsed : now;
      const margin = Math.min(this.opts.refreshMarginMs ?? 300_000, (expiresAt - now) / 2);
      this.current = {
        token: subject,
        expiresAt,
        refreshAt: expiresAt - Math.max(0, margin),
        projectId: typeof tok.project?.id === 'string' ? tok.project.id : '',
        catalog: Array.isArray(tok.catalog) ? (tok.catalog as CatalogEntry[]) : [],
      };
      this.authentications += 1;
      return this.current;
    });
  }
}

const sessions = new Map<string, KeystoneSession>();

/** The container's session for these settings (one authentication per token lifetime). */
export function keystoneSession(s: KeystoneSettings, extra: { timeoutMs?: number; retry?: RetrySettings } = {}) {
  // Keyed by a hash: the secrets stay out of the key.
  const key = crypto
    .createHash('sha256')
    .update(JSON.stringify([s, extra]))
    .digest('hex');
  if (!sessions.has(key)) sessions.set(key, new KeystoneSession({ ...s, ...extra }));
  return sessions.get(key)!;
}
