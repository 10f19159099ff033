/**
 * Heat v1 client: the stack calls the heat handler needs, nothing more. Every call authenticates
 * through the Keystone session (re-authenticating once on 401), retries RetryableError with
 * bounded exponential backoff and goes through its stack's circuit breaker (and the endpoint's,
 * which only an unreachable endpoint opens); errors come out
 * as RetryableError / TerminalError (errors.ts). Giving up across invocations is the handler's
 * decision, not the client's.
 *
 * Heat answers a look-up by name (`GET /stacks/<name>`) with 302 to `/stacks/<name>/<id>`; axios
 * never follows it (`maxRedirects: 0`), the client reads `Location` itself.
 */
import type { AxiosInstance, AxiosResponse, Method } from 'axios';
import { fromResponse, fromThrown, TerminalError } from './errors';
import { type BreakerSettings, createHttp, DEFAULT_RETRY, resilience } from './http';
import type { HeatOutput } from '../heat/types';
import { splitStackStatus } from '../heat/operation';
import { keystoneSession, type KeystoneSession } from './keystone';
import { openstackSettings, type OpenStackSettings, type RetrySettings } from './settings';
import { definedOnly } from '../defined-only';

export type { HeatOutput };
/** Re-exported for the clients' users; the pure definition lives with the stack operation logic (shared/heat/operation.ts). */
export { splitStackStatus };

/** A stack's canonical address. */
export interface StackRef {
  id: string;
  name: string;
  /** `<heat endpoint>/stacks/<name>/<id>` */
  href: string;
}

export interface StackView {
  id: string;
  name: string;
  /** `<ACTION>_<STATE>`, e.g. `CREATE_COMPLETE`, `UPDATE_IN_PROGRESS`, `DELETE_FAILED`. */
  status: string;
  statusReason: string;
  outputs: HeatOutput[];
  timeoutMins?: number;
  href: string;
  /** Heat's `creation_time` (ISO, e.g. `2026-12-01T18:00:00Z`). */
  creationTime?: string;
  /** Heat's `updated_time`: when the latest update (or, in the convergence engine, delete) started; absent before one. */
  updatedTime?: string;
  /** The stack's tags (Heat shows null for none: []). */
  tags: string[];
}

export interface StackSpec {
  name: string;
  /** A HOT document (object) or its text. */
  template: Record<string, unknown> | string;
  parameters: Record<string, unknown>;
  timeoutMins?: number;
  /** The stack's tags (each without a comma, at most 80 characters); an update replaces them. */
  tags?: readonly string[];
}

/** The spec's fields of a create or update body that are the same for both. */
const specBody = (spec: StackSpec, disableRollback: boolean) => ({
  template: spec.template,
  parameters: spec.parameters,
  ...(spec.timeoutMins !== undefined ? { timeout_mins: spec.timeoutMins } : {}),
  // heat-api takes tags as one comma-separated string and shows them as a list.
  ...(spec.tags?.length ? { tags: spec.tags.join(',') } : {}),
  disable_rollback: disableRollback,
});

export type DeleteResult =
  /** Heat accepted the delete (DELETE_IN_PROGRESS); poll showStack(ref) for DELETE_COMPLETE. */
  | { result: 'started'; ref: StackRef }
  /** A delete was already running. */
  | { result: 'in_progress'; ref: StackRef }
  /** No such stack (never created, or already deleted): done. */
  | { result: 'absent' };

export interface HeatClientOptions {
  session: KeystoneSession;
  timeoutMs?: number;
  retry?: RetrySettings;
  breaker?: BreakerSettings;
  /** PEM bundle of a private CA that signed Heat's certificate. */
  caBundle?: string;
  /** Sent on create and update (default true: a failed stack stays as it is for inspection). */
  disableRollback?: boolean;
}

/** Heat's outputs reduced to the three fields the record stores, in Heat's order. */
export function normalizeOutputs(raw: unknown): HeatOutput[] {
  if (!Array.isArray(raw)) return [];
  return raw
    .filter(
      (o): o is Record<string, unknown> =>
        typeof o === 'object' && o !== null && typeof (o as Record<string, unknown>).output_key === 'string',
    )
    .map((o) => ({
      output_key: o.output_key as string,
      output_value: o.output_value === undefined ? null : o.output_value,
      description: typeof o.description === 'string' ? o.description : 'No description given',
    }));
}

const enc = encodeURIComponent;

/** What Heat's stack answers carry that the client reads (the rest is checked field by field). */
interface HeatBody {
  stack?: unknown;
}
type HeatResponse = AxiosResponse<HeatBody | undefined>;

export class HeatClient {
  private readonly http: AxiosInstance;

  constructor(private readonly opts: HeatClientOptions) {
    this.http = createHttp(opts.timeoutMs ?? 10_000, opts.caBundle);
  }

  /** The stack's canonical address, or undefined if no live stack has that name. */
  async findStack(name: string): Promise<StackRef | undefined> {
    const res = await this.call('GET', `/stacks/${enc(name)}`, { stack: name, ok: [302, 200, 404] });
    if (res.status === 404) return undefined;
    return this.refFrom(res, name);
  }

  /** POST /stacks. A StackExists after a failed attempt of this same call (the earlier attempt
   *  was applied but its answer lost) returns the existing stack; otherwise it is a TerminalError
   *  with type `StackExists`. */
  async createStack(spec: StackSpec): Promise<StackRef> {
    let failedBefore = false;
    const body = { stack_name: spec.name, ...specBody(spec, this.opts.disableRollback ?? true) };
    const res = await this.call('POST', '/stacks', {
      stack: spec.name,
      body,
      ok: [201, 409],
      onAttemptError: () => {
        failedBefore = true;
      },
    });
    if (res.status === 409) {
      const err = fromResponse('heat', `heat POST /stacks (${spec.name})`, res.status, res.data);
      if (failedBefore && err.type === 'StackExists') {
        const ref = await this.findStack(spec.name);
        if (ref) return ref;
      }
      throw err;
    }
    const stack = (res.data?.stack ?? {}) as { id?: unknown; links?: { href?: unknown; rel?: unknown }[] };
    const self = stack.links?.find((l) => l.rel === 'self')?.href;
    const location =
      typeof res.headers.location === 'string' ? res.headers.location : typeof self === 'string' ? self : undefined;
    const id = typeof stack.id === 'string' ? stack.id : '';
    return { id, name: spec.name, href: location ?? `${await this.endpoint()}/stacks/${enc(spec.name)}/${enc(id)}` };
  }

  /** PUT on the stack (template and parameters replaced). No such stack: TerminalError 404. */
  async updateStack(spec: StackSpec & { ref?: StackRef }): Promise<StackRef> {
    const ref = spec.ref ?? (await this.findStack(spec.name));
    if (!ref)
      throw new TerminalError(
        `heat PUT /stacks/${spec.name}: 404 StackNotFound: The Stack (${spec.name}) could not be found.`,
        { service: 'heat', status: 404, type: 'StackNotFound' },
      );
    await this.call('PUT', ref.href, {
      stack: ref.name,
      body: specBody(spec, this.opts.disableRollback ?? true),
      ok: [202],
    });
    return ref;
  }

  /** DELETE; a stack that does not exist (any more) is success (`absent`). */
  async deleteStack(name: string): Promise<DeleteResult> {
    const ref = await this.findStack(name);
    if (!ref) return { result: 'absent' };
    const res = await this.call('DELETE', ref.href, { stack: name, ok: [204, 200, 404, 409] });
    if (res.status === 404) return { result: 'absent' };
    if (res.status === 409) {
      const view = await this.showStack(ref);
      if (!view || view.status === 'DELETE_COMPLETE') return { result: 'absent' };
      if (view.status === 'DELETE_IN_PROGRESS') return { result: 'in_progress', ref };
      throw fromResponse('heat', `heat DELETE /stacks/${name}`, res.status, res.data);
    }
    return { result: 'started', ref };
  }

  /**
   * The stack as Heat shows it. By name: the live stack, undefined if none. By ref: that very
   * stack, deleted ones included (Heat shows them as DELETE_COMPLETE); undefined on 404.
   */
  async showStack(stack: string | StackRef): Promise<StackView | undefined> {
    const ref = typeof stack === 'string' ? await this.findStack(stack) : stack;
    if (!ref) return undefined;
    const res = await this.call('GET', ref.href, { stack: ref.name, ok: [200, 404] });
    if (res.status === 404) return undefined;
    const s = (res.data?.stack ?? {}) as Record<string, unknown>;
    return {
      id: typeof s.id === 'string' ? s.id : ref.id,
      name: typeof s.stack_name === 'string' ? s.stack_name : ref.name,
      status: typeof s.stack_status === 'string' ? s.stack_status : '',
      statusReason: typeof s.stack_status_reason === 'string' ? s.stack_status_reason : '',
      outputs: normalizeOutputs(s.outputs),
      ...(typeof s.timeout_mins === 'number' ? { timeoutMins: s.timeout_mins } : {}),
      href: ref.href,
      ...(typeof s.creation_time === 'string' ? { creationTime: s.creation_time } : {}),
      ...(typeof s.updated_time === 'string' ? { updatedTime: s.updated_time } : {}),
      tags: Array.isArray(s.tags) ? s.tags.filter((t): t is string => typeof t === 'string') : [],
    };
  }

  // ---- internals ------------------------------------------------------------------------------

  private async endpoint(): Promise<string> {
    return this.opts.session.endpoint('orchestration');
  }

  private refFrom(res: HeatResponse, name: string): StackRef {
    const location: unknown = res.headers.location;
    if (res.status === 302 && typeof location === 'string') {
      const [, stackName, stackId] = /\/stacks\/([^/]+)\/([^/?#]+)\/?(?:[?#].*)?$/.exec(location) ?? [];
      if (stackName === undefined || stackId === undefined)
        throw new TerminalError(`heat GET /stacks/${name}: 302 to an unexpected location`, {
          service: 'heat',
          status: 302,
        });
      return { name: decodeURIComponent(stackName), id: decodeURIComponent(stackId), href: location };
    }
    const s = (res.data?.stack ?? {}) as { id?: unknown; links?: { href?: unknown; rel?: unknown }[] };
    const self = s.links?.find((l) => l.rel === 'self')?.href;
    if (res.status === 200 && typeof s.id === 'string' && typeof self === 'string')
      return { id: s.id, name, href: self };
    throw new TerminalError(`heat GET /stacks/${name}: ${res.status} without a stack location`, {
      service: 'heat',
      status: res.status,
    });
  }

  /**
   * One Heat exchange about one stack: `target` is a path under the endpoint or an absolute
   * canonical URL; the stack names the circuit breaker the call counts on (shared/clients/http.ts).
   * Statuses in `ok` are returned; any other becomes an error (retried when retryable).
   */
  private async call(
    method: Method,
    target: string,
    o: { stack: string; body?: unknown; ok: number[]; onAttemptError?: () => void },
  ): Promise<HeatResponse> {
    const endpoint = await this.endpoint();
    const policy = resilience('heat', endpoint, this.opts.retry ?? DEFAULT_RETRY, this.opts.breaker, o.stack);
    return policy.execute(async () => {
      let what = `heat ${method} ${target}`;
      let res: HeatResponse;
      try {
        res = await this.opts.session.withAuth('orchestration', (token, ep) => {
          const url = /^https?:\/\//.test(target) ? target : `${ep}${target}`;
          what = `heat ${method} ${new URL(url).pathname}`;
          return this.http.request<HeatBody | undefined>({
            method,
            url,
            data: o.body,
            headers: { 'X-Auth-Token': token, ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
          });
        });
      } catch (err) {
        o.onAttemptError?.();
        throw fromThrown('heat', what, err);
      }
      if (o.ok.includes(res.status)) return res;
      o.onAttemptError?.();
      throw fromResponse('heat', what, res.status, res.data);
    });
  }
}

let shared: HeatClient | undefined;

/**
 * One Heat client per container, configured from the environment (ESI_KEYSTONE_*, ESI_HEAT_*,
 * ESI_HTTP_*). Built on first use, so missing settings fail a record (redelivered), not the
 * module load.
 */
export function defaultHeatClient(): HeatClient {
  shared ??= heatClientFrom(openstackSettings());
  return shared;
}

/** A Heat client with these settings, its Keystone session the container's one for them. */
export const heatClientFrom = (s: OpenStackSettings): HeatClient =>
  new HeatClient(
    definedOnly({
      session: keystoneSession(s.keystone, { timeoutMs: s.httpTimeoutMs, retry: s.retry }),
      timeoutMs: s.httpTimeoutMs,
      retry: s.retry,
      caBundle: s.keystone.caBundle,
    }),
  );
