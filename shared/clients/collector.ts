/**
 * Monitoring collector ("collector agents") client: `/targets` as the record captured it between
 * heat-engine and the collector (docs/PROTOCOL-NOTES.md §e, from the record's collector_agents captures): POST /targets → 201 with
 * the body echoed plus `id`, `link`, `monitorer`, `created_at`; GET /targets/<id> adds `values`;
 * DELETE /targets/<id> (implied by stack deletes; 404 = already gone). `GET /targets?filters`
 * is not in the record: findTargets works against the simulator and against a collector that
 * implements it, and fails with a TerminalError (404/405) against one that does not.
 */
import type { AxiosInstance, AxiosResponse, Method } from 'axios';
import { fromResponse, fromThrown, TerminalError } from './errors';
import { type BreakerSettings, createHttp, DEFAULT_RETRY, resilience, type Resilience } from './http';
import { httpSettings, SettingsError, type RetrySettings } from './settings';

/** The body of POST /targets (what the templates' MonitoringTarget resources declared). */
export interface TargetSpec {
  type: string;
  /** Gohan plural, e.g. `ports`, `vnf_instances`. */
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
  /** Present on GET (empty until an agent reports). */
  values?: TargetValue[];
}

export interface CollectorClientOptions {
  baseUrl: string;
  timeoutMs?: number;
  retry?: RetrySettings;
  breaker?: BreakerSettings;
}

/** Statuses after which a POST certainly did not create anything, so retrying cannot duplicate. */
const POST_SAFE_TO_RETRY = new Set([429, 503]);

export class CollectorClient {
  readonly baseUrl: string;
  private readonly http: AxiosInstance;
  private readonly policy: Resilience;

  constructor(opts: CollectorClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.http = createHttp(opts.timeoutMs ?? 10_000);
    this.policy = resilience('collector', this.baseUrl, opts.retry ?? DEFAULT_RETRY, opts.breaker);
  }

  /**
   * Registers a target. Retried in-process only when the collector certainly did not act on the
   * request (connection refused, 429, 503); other retryable failures are returned at once as
   * RetryableError, since a blind repeat could register the target twice: the handler looks
   * with findTargets before creating again.
   */
  async createTarget(body: TargetSpec): Promise<Target> {
    const res = await this.call('POST', '/targets', {
      body,
      ok: [201, 200],
      retryWhen: (status, code) => (status !== undefined ? POST_SAFE_TO_RETRY.has(status) : code === 'ECONNREFUSED'),
    });
    return res.data as Target;
  }

  /** The target with its reported values, or undefined if the collector does not know it. */
  async getTarget(id: string): Promise<Target | undefined> {
    const res = await this.call('GET', `/targets/${encodeURIComponent(id)}`, { ok: [200, 404] });
    return res.status === 404 ? undefined : (res.data as Target);
  }

  /** Removes a target; `absent` when it was already gone. */
  async deleteTarget(id: string): Promise<'deleted' | 'absent'> {
    const res = await this.call('DELETE', `/targets/${encodeURIComponent(id)}`, { ok: [204, 200, 404] });
    return res.status === 404 ? 'absent' : 'deleted';
  }

  /** Targets matching every given field (GET /targets?…; see the note at the top). */
  async findTargets(filter: {
    resource_type?: string;
    resource_id?: string;
    tenant_id?: string;
    type?: string;
    field_name?: string;
  }): Promise<Target[]> {
    const q = new URLSearchParams(
      Object.entries<string | undefined>(filter).filter((e): e is [string, string] => e[1] !== undefined),
    ).toString();
    const res = await this.call('GET', `/targets${q ? `?${q}` : ''}`, { ok: [200] });
    const data = res.data as unknown;
    const list = Array.isArray(data)
      ? data
      : Array.isArray((data as { targets?: unknown })?.targets)
        ? (data as { targets: unknown[] }).targets
        : undefined;
    if (!list)
      throw new TerminalError('collector GET /targets: 200 without a list of targets', {
        service: 'collector',
        status: 200,
      });
    return list as Target[];
  }

  private async call(
    method: Method,
    path: string,
    o: { body?: unknown; ok: number[]; retryWhen?: (status: number | undefined, code: string | undefined) => boolean },
  ): Promise<AxiosResponse> {
    const what = `collector ${method} ${path.split('?')[0]}`;
    const once = async (): Promise<AxiosResponse> => {
      let res: AxiosResponse;
      try {
        res = await this.http.request({
          method,
          url: `${this.baseUrl}${path}`,
          data: o.body,
          headers: o.body !== undefined ? { 'Content-Type': 'application/json' } : {},
        });
      } catch (err) {
        throw fromThrown('collector', what, err);
      }
      if (o.ok.includes(res.status)) return res;
      throw fromResponse('collector', what, res.status, res.data);
    };
    if (!o.retryWhen) return this.policy.execute(once);
    // Selective retry: attempts whose error is not safe to repeat are returned as they are.
    const retryWhen = o.retryWhen;
    let final: unknown;
    try {
      return await this.policy.execute(async () => {
        try {
          return await once();
        } catch (err) {
          const e = err as { retryable?: boolean; status?: number; code?: string };
          if (e.retryable && !retryWhen(e.status, e.code)) {
            final = err;
            throw new NoRetry();
          }
          throw err;
        }
      });
    } catch (err) {
      if (err instanceof NoRetry) throw final;
      throw err;
    }
  }
}

/** Marks an attempt the retry policy must not repeat (a TerminalError-like sentinel). */
class NoRetry extends Error {
  override name = 'NoRetry';
}

let shared: CollectorClient | undefined;

/** One collector client per container, configured from the environment (ESI_COLLECTOR_URL, ESI_HTTP_*). */
export function defaultCollectorClient(): CollectorClient {
  if (!shared) {
    const s = httpSettings();
    if (!s.collectorUrl) throw new SettingsError('ESI_COLLECTOR_URL is not set: the collector agents URL is needed');
    shared = new CollectorClient({ baseUrl: s.collectorUrl, timeoutMs: s.httpTimeoutMs, retry: s.retry });
  }
  return shared;
}
