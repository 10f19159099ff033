/**
 * Keystone v3 + Heat v1 simulator on one loopback port. The Heat endpoint in the token's catalog
 * is this server's `/v1/<project_id>`, so a client configured with only the Keystone URL finds
 * Heat the way it would in a real cloud. Control endpoints under `/_sim/` are for tests only.
 */
import fs from 'node:fs';
import type http from 'node:http';
import {
  delay,
  HttpError,
  isObject,
  type Json,
  type JsonObject,
  listen,
  readJson,
  type RunningSimulator,
  send,
} from '../http-util';
import { type FaultOp, Faults, type FaultSpec, loadFaultsFile, parseFault } from './faults';
import { heatError } from './hot';
import { DEFAULT_CREDENTIALS, Keystone, type KeystoneCredentials, unauthorized } from './keystone';
import { CollectorRegistrar, LocalRegistrar } from './monitoring';
import { HeatEngine, type Stack } from './stacks';
import { definedOnly } from '../../../shared/defined-only';

export interface HeatSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Time a stack operation stays *_IN_PROGRESS (default 300 ms). */
  latencyMs?: number;
  /** Length of one `timeout_mins` minute (default 60000; tests shrink it to see "Timed out"). */
  minuteMs?: number;
  /** Token lifetime (default one hour). */
  tokenTtlMs?: number;
  credentials?: Partial<KeystoneCredentials>;
  /** `{stack name: [{output_key, output_value, description}]}` or the path of such a JSON file. */
  fixtures?: Record<string, JsonObject[]> | string;
  /** Fault rules, or the path of a JSON file holding them (see faults.ts). */
  faults?: FaultSpec[] | string;
  /** Register MonitoringTarget resources with this (loopback) collector. */
  collectorUrl?: string;
  /** Base of invented monitoring links when there is no collector (default http://127.0.0.1:7070). */
  monitorer?: string;
  /** One line per request (method, path, status); bodies are never logged. */
  log?: (line: string) => void;
}

export interface HeatSimulator extends RunningSimulator {
  /** Keystone v3 base (`<url>/v3`): what the handlers are configured with. */
  keystoneUrl: string;
  /** The orchestration endpoint the catalog advertises (`<url>/v1/<project_id>`). */
  heatUrl: string;
  credentials: KeystoneCredentials;
  engine: HeatEngine;
  faults: Faults;
  keystone: Keystone;
}

const ERROR_TYPES: Record<number, string> = {
  500: 'HTTPInternalServerError',
  502: 'HTTPBadGateway',
  503: 'HTTPServiceUnavailable',
  504: 'HTTPGatewayTimeout',
};
const REDIRECT_SUBPATHS = new Set(['resources', 'events', 'template', 'outputs', 'environment', 'files', 'actions']);

function loadFixtures(f: HeatSimulatorOptions['fixtures']): Record<string, JsonObject[]> {
  const data = typeof f === 'string' ? (JSON.parse(fs.readFileSync(f, 'utf8')) as Json) : (f ?? {});
  if (!isObject(data) || !Object.values(data).every(Array.isArray))
    throw new Error('fixtures: expected {"<stack name>": [{output_key, output_value, description}, ...]}');
  return data as unknown as Record<string, JsonObject[]>;
}

const badJson = (msg: string) => heatError(400, 'HTTPBadRequest', msg);
const controlError = (msg: string) => new HttpError(400, { error: msg });
// Heat (Zed) names a missing stack EntityNotFound.
const notFound = (name: string) => heatError(404, 'EntityNotFound', `The Stack (${name}) could not be found.`);

export async function startHeatSimulator(opts: HeatSimulatorOptions = {}): Promise<HeatSimulator> {
  const credentials: KeystoneCredentials = { ...DEFAULT_CREDENTIALS, ...opts.credentials };
  const initialFaults =
    typeof opts.faults === 'string'
      ? loadFaultsFile(opts.faults)
      : (opts.faults ?? []).map((f) => parseFault(f as unknown as Json));
  const initialFixtures = loadFixtures(opts.fixtures);
  const initialTiming = { latencyMs: opts.latencyMs ?? 300, minuteMs: opts.minuteMs ?? 60_000 };
  const faults = new Faults();
  initialFaults.forEach((f) => faults.add(f));
  const monitoring = opts.collectorUrl
    ? new CollectorRegistrar(opts.collectorUrl)
    : new LocalRegistrar(opts.monitorer ?? 'http://127.0.0.1:7070');
  const engine = new HeatEngine({
    ...initialTiming,
    projectName: credentials.projectName,
    fixtures: { ...initialFixtures },
    faults,
    monitoring,
  });
  let baseUrl = '';
  const keystone = new Keystone(credentials, opts.tokenTtlMs ?? 3_600_000, () => baseUrl);
  const log = opts.log ?? (() => undefined);

  const stackUrl = (s: Stack) => `${baseUrl}/v1/${s.tenant}/stacks/${s.name}/${s.id}`;
  const links = (s: Stack): Json => [{ href: stackUrl(s), rel: 'self' }];
  const status = (s: Stack) => `${s.action}_${s.status}`;
  const description = (s: Stack) =>
    typeof s.template.description === 'string' ? s.template.description : 'No description';
  const outputsOf = (s: Stack): JsonObject[] => {
    if (s.outputs) return s.outputs;
    // No values yet (create in progress or failed): keys from the template, values null.
    const outs = isObject(s.template.outputs) ? s.template.outputs : {};
    return Object.entries(outs).map(([k, d]) => ({
      output_key: k,
      output_value: null,
      description: isObject(d) && typeof d.description === 'string' ? d.description : 'No description given',
    }));
  };
  const summary = (s: Stack): JsonObject => ({
    creation_time: s.creationTime,
    deletion_time: s.deletionTime,
    description: description(s),
    id: s.id,
    links: links(s),
    parent: null,
    stack_name: s.name,
    stack_owner: credentials.username,
    stack_status: status(s),
    stack_status_reason: s.reason,
    stack_user_project_id: s.tenant,
    tags: s.tags,
    updated_time: s.updatedTime,
    project: s.tenant,
  });
  const showBody = (s: Stack): JsonObject => ({
    stack: {
      ...summary(s),
      capabilities: [],
      disable_rollback: s.disableRollback,
      notification_topics: [],
      outputs: s.outputs ?? [],
      parameters: s.params.shown,
      template_description: description(s),
      timeout_mins: s.timeoutMins ?? null,
    },
  });
  const control = (s: Stack): JsonObject => ({
    id: s.id,
    stack_name: s.name,
    tenant: s.tenant,
    stack_status: status(s),
    stack_status_reason: s.reason,
    deleted: s.deleted,
    timeout_mins: s.timeoutMins ?? null,
    parameters: s.params.shown,
    outputs: s.outputs,
    resources: Object.fromEntries(
      Object.entries(s.resources).map(([n, r]) => [
        n,
        { type: r.type, physical_resource_id: r.id, ...(r.link ? { link: r.link } : {}) },
      ]),
    ),
    counts: { ...engine.count(s.name) },
  });

  async function handleControl(req: http.IncomingMessage, res: http.ServerResponse, parts: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'DELETE' ? undefined : await readJson(req, controlError);
    const [what, arg] = parts;
    if (what === 'stacks' && method === 'GET') {
      if (arg !== undefined) {
        // The latest stack of that name, deleted or not: tests look at what happened to it.
        const s = [...engine.stacks].reverse().find((x) => x.name === arg);
        return s
          ? send(res, 200, control(s))
          : send(res, 404, { error: `no stack named ${arg}`, counts: { ...engine.count(arg) } });
      }
      return send(res, 200, {
        stacks: engine.stacks.map(control),
        counts: Object.fromEntries([...engine.counts].map(([k, v]) => [k, { ...v }])),
      });
    }
    if (what === 'faults') {
      if (method === 'GET') return send(res, 200, { faults: faults.list() });
      if (method === 'DELETE' && arg)
        return faults.remove(arg) ? send(res, 204) : send(res, 404, { error: `no fault ${arg}` });
      if (method === 'DELETE') return (faults.clear(), send(res, 204));
      if (method === 'POST') {
        const list = Array.isArray(body)
          ? body
          : isObject(body) && Array.isArray(body.faults)
            ? body.faults
            : [body ?? null];
        let specs: FaultSpec[];
        try {
          specs = list.map(parseFault);
        } catch (err) {
          throw controlError((err as Error).message);
        }
        return send(res, 201, { faults: specs.map((f) => faults.add(f) as unknown as JsonObject) });
      }
    }
    if (what === 'tokens' && method === 'GET') return send(res, 200, keystone.stats());
    if (what === 'tokens' && arg === 'expire' && method === 'POST') {
      const token = isObject(body) && typeof body.token === 'string' ? body.token : undefined;
      return send(res, 200, { expired: keystone.expire(token) });
    }
    if (what === 'fixtures' && method === 'GET') return send(res, 200, engine.opts.fixtures);
    if (what === 'fixtures' && method === 'PUT') {
      try {
        engine.opts.fixtures = loadFixtures(body as unknown as Record<string, JsonObject[]>);
      } catch (err) {
        throw controlError((err as Error).message);
      }
      return send(res, 204);
    }
    if (what === 'config' && method === 'POST' && isObject(body)) {
      if (typeof body.latency_ms === 'number') engine.opts.latencyMs = body.latency_ms;
      if (typeof body.minute_ms === 'number') engine.opts.minuteMs = body.minute_ms;
      return send(res, 200, { latency_ms: engine.opts.latencyMs, minute_ms: engine.opts.minuteMs });
    }
    if (what === 'reset' && method === 'POST') {
      engine.reset();
      keystone.reset();
      faults.clear();
      initialFaults.forEach((f) => faults.add(f));
      Object.assign(engine.opts, initialTiming, { fixtures: { ...initialFixtures } });
      return send(res, 204);
    }
    return send(res, 404, { error: `unknown control endpoint ${method} /_sim/${parts.join('/')}` });
  }

  /** Latency and HTTP-error faults wrap the real work; `committed` ones come after it. */
  async function withFaults(name: string, op: FaultOp, work: () => void): Promise<void> {
    const slow = faults.take('latency', name, op);
    if (slow?.ms && !slow.committed) await delay(slow.ms);
    const err = faults.take('http_error', name, op);
    const injected = () => {
      const code = err?.status ?? 503;
      return heatError(
        code,
        ERROR_TYPES[code] ?? 'HTTPError',
        `Injected failure for stack ${name} (simulator fault ${err?.id})`,
      );
    };
    if (err && !err.committed) throw injected();
    work();
    if (slow?.ms && slow.committed) await delay(slow.ms);
    if (err) throw injected();
  }

  async function handleHeat(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    tenant: string,
    parts: string[],
  ): Promise<void> {
    keystone.check(req.headers['x-auth-token'] as string | undefined);
    if (tenant !== keystone.projectId) throw heatError(403, 'Forbidden', 'Access was denied to this resource.');
    const method = req.method ?? 'GET';
    if (parts[0] !== 'stacks') throw heatError(404, 'HTTPNotFound', 'The resource could not be found.');
    const [, a, b, c, d] = parts;
    let out: { status: number; body?: JsonObject; headers?: Record<string, string> } = { status: 500 };

    if (a === undefined) {
      if (method === 'GET') {
        const url = new URL(req.url ?? '/', baseUrl);
        const name = url.searchParams.get('stack_name');
        const list = engine.stacks.filter((s) => !s.deleted && (name === null || s.name === name));
        return send(res, 200, { stacks: list.map(summary) });
      }
      if (method === 'POST') {
        const body = await readJson(req, badJson);
        if (!isObject(body)) throw heatError(400, 'HTTPBadRequest', 'The request body must be a JSON object.');
        const name = typeof body.stack_name === 'string' ? body.stack_name : '';
        await withFaults(name, 'create', () => {
          const s = engine.create(tenant, body);
          out = { status: 201, body: { stack: { id: s.id, links: links(s) } }, headers: { Location: stackUrl(s) } };
        });
        return send(res, out.status, out.body, out.headers);
      }
      throw heatError(405, 'HTTPMethodNotAllowed', 'The method is not allowed for this resource.');
    }

    if (b === undefined || (REDIRECT_SUBPATHS.has(b) && c === undefined)) {
      // Look-up by name (or id): 302 to the canonical /stacks/<name>/<id>[/<sub>], like heat-api.
      const s = engine.lookup(a);
      await withFaults(s?.name ?? a, 'show', () => undefined);
      if (!s) throw notFound(a);
      const location = `${stackUrl(s)}${b ? `/${b}` : ''}`;
      return send(res, 302, `The resource was found at ${location}; you should be redirected automatically.`, {
        Location: location,
      });
    }

    const s = engine.get(a, b);
    if (!s) throw notFound(a);
    const op: FaultOp = method === 'DELETE' ? 'delete' : method === 'PUT' || method === 'PATCH' ? 'update' : 'show';
    if (c === undefined) {
      if (method === 'GET') {
        await withFaults(s.name, 'show', () => undefined);
        return send(res, 200, showBody(s));
      }
      if (s.deleted) throw notFound(a);
      if (method === 'PUT' || method === 'PATCH') {
        const body = await readJson(req, badJson);
        await withFaults(s.name, op, () => engine.update(s, isObject(body) ? body : {}, method === 'PATCH'));
        return send(res, 202);
      }
      if (method === 'DELETE') {
        await withFaults(s.name, op, () => engine.delete(s));
        return send(res, 204);
      }
      throw heatError(405, 'HTTPMethodNotAllowed', 'The method is not allowed for this resource.');
    }

    if (s.deleted || method !== 'GET') throw notFound(a);
    await withFaults(s.name, 'show', () => undefined);
    if (c === 'outputs' && d === undefined)
      return send(res, 200, {
        outputs: outputsOf(s).map((o) => definedOnly({ output_key: o.output_key, description: o.description })),
      });
    if (c === 'outputs') {
      const o = outputsOf(s).find((x) => x.output_key === d);
      if (!o) throw heatError(404, 'NotFound', `Specified output key ${d} not found.`);
      return send(res, 200, { output: o });
    }
    if (c === 'template') return send(res, 200, s.template);
    if (c === 'resources') {
      return send(res, 200, {
        resources: Object.entries(s.resources).map(([n, r]) => ({
          resource_name: n,
          physical_resource_id: r.id,
          resource_type: r.type,
          resource_status: status(s),
          updated_time: s.updatedTime ?? s.creationTime,
        })),
      });
    }
    throw heatError(404, 'HTTPNotFound', 'The resource could not be found.');
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    res.on('finish', () => log(`heat-sim ${req.method} ${url.pathname} ${res.statusCode}`));
    const method = req.method ?? 'GET';
    if (parts[0] === '_sim') return handleControl(req, res, parts.slice(1));
    if (parts[0] === 'v3') {
      if (parts[1] === 'auth' && parts[2] === 'tokens' && parts.length === 3) {
        if (method === 'POST') {
          const r = keystone.issue(
            await readJson(req, (m) => new HttpError(400, { error: { code: 400, message: m, title: 'Bad Request' } })),
          );
          return send(res, 201, r.body, r.headers);
        }
        if (method === 'GET') {
          const r = keystone.validate(
            req.headers['x-auth-token'] as string | undefined,
            req.headers['x-subject-token'] as string | undefined,
          );
          return send(res, 200, r.body, r.headers);
        }
      }
      if (parts.length === 1 && method === 'GET') {
        return send(res, 200, {
          version: {
            id: 'v3.14',
            status: 'stable',
            updated: '2020-04-07T00:00:00Z',
            links: [{ rel: 'self', href: `${baseUrl}/v3/` }],
            'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
          },
        });
      }
      return send(res, 404, { error: { code: 404, message: 'The resource could not be found.', title: 'Not Found' } });
    }
    if (parts[0] === 'v1' && parts[1]) {
      try {
        return await handleHeat(req, res, parts[1], parts.slice(2));
      } catch (err) {
        // heat-api's auth middleware points clients at Keystone on a 401.
        if (err instanceof HttpError && err.status === 401)
          throw new HttpError(401, unauthorized().body, { 'WWW-Authenticate': `Keystone uri="${baseUrl}/v3"` });
        throw err;
      }
    }
    return send(res, 404, { error: `nothing here: ${method} ${url.pathname}` });
  }

  const server = await listen(opts.port ?? 0, handle, () => engine.stop());
  baseUrl = server.url;
  return {
    url: server.url,
    port: server.port,
    stop: server.stop,
    keystoneUrl: `${server.url}/v3`,
    heatUrl: `${server.url}/v1/${credentials.projectId}`,
    credentials,
    engine,
    faults,
    keystone,
  };
}
