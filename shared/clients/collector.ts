// Collector client, `/targets` as the record captured it (docs/PROTOCOL-NOTES.md §e). GET /targets?filters is not
// in the record: a collector without it fails findTargets with a TerminalError (404/405).
import type { AxiosInstance, AxiosResponse, Method } from 'axios';
import { type ClientError, fromResponse, fromThrown, TerminalError } from './errors';
import { createHttp, resilience, type Resilience } from './http';
import { httpSettings, SettingsError, type RetrySettings } from './settings';
import { definedOnly } from '../defined-only';

/** The body of POST /targets (what the templates' MonitoringTarget resources declared). */
export interface TargetSpec {
  type: string;
  resource_type: string;
  resource_id: string;
  field_name?: string;
  tenant_id?: string;
  version?: number;
  properties?: Record<string, unknown>;
  syncer_properties?: Record<string, unknown>;
  [extra: string]: unknown;
}

export interface TargetValue {
  key: string;
  value: unknown;
  reporter?: string;
  last_reported?: string;
  last_changed?: string;
  fail_counter?: number;
}

export interface Target extends TargetSpec {
  id: string;
  link: string;
  monitorer?: string;
  created_at?: string;
  /** Empty until an agent reports. */
  values?: TargetValue[];
}

/** Carries an attempt's error past the retry policy, which must not repeat it. */
class NoRetry extends Error {
  constructor(readonly error: unknown) {
    super('not retried');
  }
}

export class CollectorClient {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly policy: Resilience;

  constructor(opts: { baseUrl: string; timeoutMs?: number; retry?: RetrySettings }) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.http = createHttp(opts.timeoutMs ?? 10_000);
    this.policy = resilience('collector', this.baseUrl, opts.retry);
  }

  /** Retried in-process only when the collector certainly did not act: a blind repeat could register it twice. */
  async createTarget(body: TargetSpec): Promise<Target> {
    const res = await this.call('POST', '/targets', {
      body,
      ok: [201, 200],
      // 429 and 503 say nothing was created; a refused connection reached nobody.
      safeToRepeat: (e) => (e.status !== undefined ? [429, 503].includes(e.status) : e.code === 'ECONNREFUSED'),
    });
    return res.data as Target;
  }

  async deleteTarget(id: string): Promise<'deleted' | 'absent'> {
    const res = await this.call('DELETE', `/targets/${encodeURIComponent(id)}`, { ok: [204, 200, 404] });
    return res.status === 404 ? 'absent' : 'deleted';
  }

  /** Targets matching every given field. */
  async findTargets(
    filter: Partial<Pick<TargetSpec, 'resource_type' | 'resource_id' | 'tenant_id' | 'type' | 'field_name'>>,
  ): Promise<Target[]> {
    const q = new URLSearchParams(definedOnly(filter)).toString();
    const data = (await this.call('GET', `/targets${q ? `?${q}` : ''}`, { ok: [200] })).data as unknown;
    const list = Array.isArray(data) ? data : (data as { targets?: unknown })?.targets;
    const notList = 'collector GET /targets: 200 without a list of targets';
    if (!Array.isArray(list)) throw new TerminalError(notList, { service: 'collector', status: 200 });
    return list as Target[];
  }

  private async call(
    method: Method,
    path: string,
    o: { body?: unknown; ok: number[]; safeToRepeat?: (e: ClientError) => boolean },
  ): Promise<AxiosResponse> {
    const what = `collector ${method} ${path.split('?')[0]}`;
    const attempt = async (): Promise<AxiosResponse> => {
      try {
        const res = await this.http.request({ method, url: `${this.baseUrl}${path}`, data: o.body });
        if (o.ok.includes(res.status)) return res;
        throw fromResponse('collector', what, res.status, res.data);
      } catch (err) {
        const e = fromThrown('collector', what, err);
        // An error not safe to repeat passes the policy unretried (and uncounted by the breaker).
        throw e.retryable && o.safeToRepeat && !o.safeToRepeat(e) ? new NoRetry(e) : e;
      }
    };
    return this.policy(attempt).catch((err: unknown) => {
      throw err instanceof NoRetry ? err.error : err;
    });
  }
}

let shared: CollectorClient | undefined;

/** The container's collector client from the environment (ESI_COLLECTOR_URL, ESI_HTTP_*). */
export function defaultCollectorClient(): CollectorClient {
  if (!shared) {
    const s = httpSettings();
    if (!s.collectorUrl) throw new SettingsError('ESI_COLLECTOR_URL is not set: the collector agents URL is needed');
    shared = new CollectorClient({ baseUrl: s.collectorUrl, timeoutMs: s.httpTimeoutMs, retry: s.retry });
  }
  return shared;
}
