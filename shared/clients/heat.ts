// Heat v1 client (docs/heat-handler.md "Heat"): retried with backoff behind the stack's circuit breaker (http.ts).
// A look-up by name answers 302: the client reads `Location`, axios never follows.
import type { AxiosInstance, AxiosResponse, Method } from 'axios';
import { fromResponse, fromThrown, str, TerminalError } from './errors';
import { type BreakerSettings, createHttp, resilience } from './http';
import type { HeatOutput } from '../heat/types';
import { normalizeOutputs } from '../heat/records';
import { keystoneSession, type KeystoneSession } from './keystone';
import { openstackSettings, type OpenStackSettings, type RetrySettings } from './settings';
import { definedOnly } from '../defined-only';

/** `href`: `<heat endpoint>/stacks/<name>/<id>`. */
export type StackRef = { id: string; name: string; href: string };

export interface StackView extends StackRef {
  /** `<ACTION>_<STATE>`, e.g. `CREATE_COMPLETE`. */
  status: string;
  statusReason: string;
  outputs: HeatOutput[];
  timeoutMins?: number;
  /** Heat's `creation_time`, and `updated_time`: when the latest update (or convergence delete) started. */
  creationTime?: string;
  updatedTime?: string;
  tags: string[];
}

interface StackSpec {
  name: string;
  /** A HOT document or its text. */
  template: Record<string, unknown> | string;
  parameters: Record<string, unknown>;
  timeoutMins?: number;
  /** Each without a comma, at most 80 characters; an update replaces them. */
  tags?: readonly string[];
}

/** The fields of a create or update body; heat-api takes tags as one comma-separated string. */
const specBody = (spec: StackSpec) => ({
  template: spec.template,
  parameters: spec.parameters,
  ...(spec.timeoutMins !== undefined ? { timeout_mins: spec.timeoutMins } : {}),
  ...(spec.tags?.length ? { tags: spec.tags.join(',') } : {}),
  // A failed stack stays as it is, for inspection.
  disable_rollback: true,
});

/** `started`: poll showStack(ref) for DELETE_COMPLETE; `in_progress`: a delete was already running. */
type DeleteResult = { result: 'started' | 'in_progress'; ref: StackRef } | { result: 'absent' };

type HeatResponse = AxiosResponse<{ stack?: unknown } | undefined>;
type StackLinks = { id?: unknown; links?: { href?: unknown; rel?: unknown }[] };
const selfLink = (s: StackLinks) => str(s.links?.find((l) => l.rel === 'self')?.href);
const terminal = (message: string, status: number, type?: string) =>
  new TerminalError(message, { service: 'heat', status, type });

export class HeatClient {
  private readonly http: AxiosInstance;

  constructor(
    private readonly opts: {
      session: KeystoneSession;
      timeoutMs?: number;
      retry?: RetrySettings;
      breaker?: BreakerSettings;
      caBundle?: string | undefined;
    },
  ) {
    this.http = createHttp(opts.timeoutMs ?? 10_000, opts.caBundle);
  }

  /** The stack's canonical address, or undefined if no live stack has that name. */
  async findStack(name: string): Promise<StackRef | undefined> {
    const res = await this.call('GET', `/stacks/${encodeURIComponent(name)}`, { stack: name, ok: [302, 200, 404] });
    if (res.status === 404) return undefined;
    const location = str(res.headers.location);
    if (res.status === 302 && location !== undefined) {
      const [, stackName, stackId] = /\/stacks\/([^/]+)\/([^/?#]+)\/?(?:[?#].*)?$/.exec(location) ?? [];
      if (stackName === undefined || stackId === undefined)
        throw terminal(`heat GET /stacks/${name}: 302 to an unexpected location`, 302);
      return { name: decodeURIComponent(stackName), id: decodeURIComponent(stackId), href: location };
    }
    const s = (res.data?.stack ?? {}) as StackLinks;
    const self = selfLink(s);
    if (res.status === 200 && typeof s.id === 'string' && self !== undefined) return { id: s.id, name, href: self };
    throw terminal(`heat GET /stacks/${name}: ${res.status} without a stack location`, res.status);
  }

  /** POST /stacks; a StackExists after a failed attempt of this call (applied, answer lost) returns that stack. */
  async createStack(spec: StackSpec): Promise<StackRef> {
    let failedBefore = false;
    const res = await this.call('POST', '/stacks', {
      stack: spec.name,
      body: { stack_name: spec.name, ...specBody(spec) },
      ok: [201, 409],
      onAttemptError: () => (failedBefore = true),
    });
    if (res.status === 409) {
      const err = fromResponse('heat', `heat POST /stacks (${spec.name})`, res.status, res.data);
      const ref = failedBefore && err.type === 'StackExists' ? await this.findStack(spec.name) : undefined;
      if (ref) return ref;
      throw err;
    }
    const stack = (res.data?.stack ?? {}) as StackLinks;
    const id = str(stack.id) ?? '';
    const href =
      str(res.headers.location) ??
      selfLink(stack) ??
      `${await this.opts.session.endpoint()}/stacks/${encodeURIComponent(spec.name)}/${encodeURIComponent(id)}`;
    return { id, name: spec.name, href };
  }

  /** PUT on the stack (template and parameters replaced). No such stack: TerminalError 404. */
  async updateStack(spec: StackSpec & { ref?: StackRef }): Promise<StackRef> {
    const ref = spec.ref ?? (await this.findStack(spec.name));
    const notFound = `heat PUT /stacks/${spec.name}: 404 StackNotFound: The Stack (${spec.name}) could not be found.`;
    if (!ref) throw terminal(notFound, 404, 'StackNotFound');
    await this.call('PUT', ref.href, { stack: ref.name, body: specBody(spec), ok: [202] });
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

  /** By name: the live stack. By ref: that very stack, deleted ones included (DELETE_COMPLETE). 404: undefined. */
  async showStack(stack: string | StackRef): Promise<StackView | undefined> {
    const ref = typeof stack === 'string' ? await this.findStack(stack) : stack;
    if (!ref) return undefined;
    const res = await this.call('GET', ref.href, { stack: ref.name, ok: [200, 404] });
    if (res.status === 404) return undefined;
    const s = (res.data?.stack ?? {}) as Record<string, unknown>;
    return {
      id: str(s.id) ?? ref.id,
      name: str(s.stack_name) ?? ref.name,
      status: str(s.stack_status) ?? '',
      statusReason: str(s.stack_status_reason) ?? '',
      outputs: normalizeOutputs(s.outputs),
      ...(typeof s.timeout_mins === 'number' ? { timeoutMins: s.timeout_mins } : {}),
      href: ref.href,
      ...definedOnly({ creationTime: str(s.creation_time), updatedTime: str(s.updated_time) }),
      // Heat shows null for no tags.
      tags: Array.isArray(s.tags) ? s.tags.filter((t): t is string => typeof t === 'string') : [],
    };
  }

  /** One exchange about one stack, on its circuit breaker; `target`: a path under the endpoint or an absolute URL. */
  private async call(
    method: Method,
    target: string,
    o: { stack: string; body?: unknown; ok: number[]; onAttemptError?: () => void },
  ): Promise<HeatResponse> {
    const endpoint = await this.opts.session.endpoint();
    const policy = resilience('heat', endpoint, this.opts.retry, this.opts.breaker, o.stack);
    return policy(async () => {
      let what = `heat ${method} ${target}`;
      try {
        const res: HeatResponse = await this.opts.session.withAuth('orchestration', (token, ep) => {
          const url = /^https?:\/\//.test(target) ? target : `${ep}${target}`;
          what = `heat ${method} ${new URL(url).pathname}`;
          return this.http.request({ method, url, data: o.body, headers: { 'X-Auth-Token': token } });
        });
        if (o.ok.includes(res.status)) return res;
        throw fromResponse('heat', what, res.status, res.data);
      } catch (err) {
        o.onAttemptError?.();
        throw fromThrown('heat', what, err);
      }
    });
  }
}

let shared: HeatClient | undefined;

/** The container's Heat client, built on first use: missing settings fail a record, not the module load. */
export const defaultHeatClient = (): HeatClient => (shared ??= heatClientFrom(openstackSettings()));

/** A Heat client with these settings, its Keystone session the container's one for them. */
export const heatClientFrom = (s: OpenStackSettings): HeatClient =>
  new HeatClient({
    session: keystoneSession(s.keystone, { timeoutMs: s.httpTimeoutMs, retry: s.retry }),
    timeoutMs: s.httpTimeoutMs,
    retry: s.retry,
    caBundle: s.keystone.caBundle,
  });
