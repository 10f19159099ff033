/**
 * Monitoring collector ("collector agents") simulator, speaking the API the record captured
 * between heat-engine and the collector: POST /targets (201, echo + id, link, monitorer,
 * created_at), GET /targets/<id> (adds `values`), plus DELETE /targets/<id> and GET /targets,
 * which the record implies but did not capture. Agents are not simulated: a test (or the
 * `autoStatus` option) sets a target's status through the control endpoints under `/_sim/`.
 */
import crypto from 'node:crypto';
import type http from 'node:http';
import {
  HttpError,
  isObject,
  isoSeconds,
  type Json,
  type JsonObject,
  listen,
  readJson,
  type RunningSimulator,
  send,
  text,
} from '../http-util';
import { definedOnly } from '../../../shared/defined-only';

export interface CollectorSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Report this status for every new target after `autoStatusDelayMs` (default: no report). */
  autoStatus?: Json;
  autoStatusDelayMs?: number;
  /**
   * Statuses to report instead of `autoStatus` for the targets they match (a replay of recorded
   * /monitoring values, FAIL and status objects included); also `GET|PUT /_sim/statuses`.
   */
  statuses?: StatusFixture[];
  /**
   * The `last_changed` reported with a fixture's status (default: when it is first reported). A
   * time long past replays statuses that had settled, so a hold (`hold_options.time_seconds`) has
   * already elapsed.
   */
  statusesSince?: string;
  /** Called on every status report, e.g. to feed a local stand-in for the collector's etcd syncer. */
  onStatus?: (target: JsonObject, value: Json) => void;
  /** One line per request (method, path, status); bodies (device passwords) are never logged. */
  log?: (line: string) => void;
}

export interface CollectorSimulator extends RunningSimulator {
  /** Live targets by id (with their `values`). */
  targets(): JsonObject[];
  /** Reports a status for a target, as an agent would. */
  setStatus(
    id: string,
    value: Json,
    opts?: { key?: string; reporter?: string; failCounter?: number; lastChanged?: string },
  ): JsonObject;
}

/**
 * The status the targets of one resource report for one /monitoring field: a target matches when
 * its resource_type/resource_id are these, the field its etcd syncer writes (`syncer_properties.
 * etcd.status.key`, else `field_name`) is `field`, and its version is `version` (when given).
 */
export interface StatusFixture {
  resource_type: string;
  resource_id: string;
  field: string;
  version?: number;
  value: Json;
}

/** The /monitoring field a target's `status` goes to. */
function statusField(body: JsonObject): unknown {
  const sp = body.syncer_properties;
  const etcd = isObject(sp) ? sp.etcd : undefined;
  const status = isObject(etcd) ? etcd.status : undefined;
  return isObject(status) && typeof status.key === 'string' ? status.key : body.field_name;
}

function parseStatusFixtures(v: unknown): StatusFixture[] {
  const list: unknown = isObject(v) && Array.isArray(v.statuses) ? v.statuses : v;
  if (!Array.isArray(list) || !list.every((f) => isObject(f) && 'value' in f && typeof f.resource_id === 'string'))
    throw bad('expected [{"resource_type", "resource_id", "field", "version"?, "value"}, …]');
  return list as StatusFixture[];
}

interface Target {
  body: JsonObject;
  values: JsonObject[];
}

interface HttpFault {
  id: string;
  method?: string;
  status: number;
  times: number;
  fired: number;
}

/** Which agent reports which target type, as seen in the record. */
const REPORTERS: Record<string, string> = {
  snmp_device: 'SnmpDeviceAgent',
  snmp_device_lb: 'SnmpDeviceAgent',
  snmp_device_fw: 'SnmpDeviceAgent',
  snmp_ports: 'SNMPPortPool',
  snmp_ports_status: 'SNMPPortPool',
  snmp_ports_metric: 'SNMPPortPool',
  virtual_machine_interface: 'contrail_vmi',
  compute: 'NovaAgent',
  vrrp_pool: 'VRRPAgent',
  bgp_pool: 'BGPAgent',
};

const REQUIRED = ['type', 'resource_type', 'resource_id'];
const FILTERS = ['resource_type', 'resource_id', 'tenant_id', 'type', 'field_name'];

const bad = (message: string) => new HttpError(400, { error: message });
const missing = (id: string) => new HttpError(404, { error: `Target ${id} not found` });

export async function startCollectorSimulator(opts: CollectorSimulatorOptions = {}): Promise<CollectorSimulator> {
  const targets = new Map<string, Target>();
  const counts = { created: 0, deleted: 0 };
  let faults: HttpFault[] = [];
  let faultSeq = 0;
  let statusFixtures: StatusFixture[] = opts.statuses ? parseStatusFixtures(opts.statuses) : [];
  const fixtureFor = (body: JsonObject): StatusFixture | undefined =>
    statusFixtures.find(
      (f) =>
        f.resource_type === body.resource_type &&
        f.resource_id === body.resource_id &&
        f.field === statusField(body) &&
        (f.version === undefined || f.version === body.version),
    );
  const timers = new Set<NodeJS.Timeout>();
  let baseUrl = '';
  const log = opts.log ?? (() => undefined);

  const view = (t: Target, withValues = true): JsonObject =>
    withValues ? { ...t.body, values: t.values } : { ...t.body };

  function setStatus(
    id: string,
    value: Json,
    o: { key?: string; reporter?: string; failCounter?: number; lastChanged?: string } = {},
  ): JsonObject {
    const t = targets.get(id);
    if (!t) throw missing(id);
    const key = o.key ?? 'status';
    const now = isoSeconds();
    const prev = t.values.find((v) => v.key === key);
    const changed = !prev || JSON.stringify(prev.value) !== JSON.stringify(value);
    const entry: JsonObject = {
      reporter:
        o.reporter ??
        (typeof prev?.reporter === 'string' ? prev.reporter : (REPORTERS[text(t.body.type)] ?? 'SimulatedAgent')),
      last_reported: now,
      // `lastChanged`: the status has held since then (an agent that reported it long ago).
      last_changed: o.lastChanged ?? (changed ? now : (prev?.last_changed ?? now)),
      value,
      key,
      fail_counter: o.failCounter ?? 0,
    };
    t.values = prev ? t.values.map((v) => (v === prev ? entry : v)) : [...t.values, entry];
    opts.onStatus?.(view(t), value);
    return view(t);
  }

  function takeFault(method: string): HttpFault | undefined {
    const f = faults.find((x) => (x.method === undefined || x.method === method) && x.fired < x.times);
    if (f) f.fired += 1;
    return f;
  }

  async function handleControl(req: http.IncomingMessage, res: http.ServerResponse, parts: string[]): Promise<void> {
    const method = req.method ?? 'GET';
    const [what, id, sub] = parts;
    const body = method === 'POST' && what !== 'statuses' ? await readJson(req, bad) : undefined;
    if (what === 'targets' && method === 'GET' && id === undefined) {
      return send(res, 200, {
        targets: [...targets.values()].map((t) => view(t)),
        counts: { ...counts, live: targets.size },
      });
    }
    if (what === 'targets' && id && sub === 'status' && method === 'POST') {
      if (!isObject(body) || !('value' in body))
        throw bad('expected {"value": "UP"|"DOWN"|"FAIL"|<object>, "key"?, "reporter"?, "fail_counter"?}');
      return send(res, 200, setStatus(id, body.value, statusOpts(body)));
    }
    if (what === 'status' && method === 'POST') {
      // By resource: tests know the Gohan resource, not the collector's target id.
      if (!isObject(body) || typeof body.resource_id !== 'string' || !('value' in body))
        throw bad('expected {"resource_id", "resource_type"?, "value", "key"?}');
      const hits = [...targets.entries()].filter(
        ([, t]) =>
          t.body.resource_id === body.resource_id &&
          (body.resource_type === undefined || t.body.resource_type === body.resource_type),
      );
      if (hits.length === 0) throw new HttpError(404, { error: `no target for resource ${body.resource_id}` });
      const { value } = body;
      return send(res, 200, { targets: hits.map(([tid]) => setStatus(tid, value, statusOpts(body))) });
    }
    if (what === 'statuses' && method === 'GET')
      return send(res, 200, { statuses: statusFixtures as unknown as Json[] });
    if (what === 'statuses' && (method === 'PUT' || method === 'POST')) {
      const body = await readJson(req, bad);
      statusFixtures = parseStatusFixtures(body);
      return send(res, 200, { statuses: statusFixtures as unknown as Json[] });
    }
    if (what === 'faults' && method === 'POST') {
      const list = Array.isArray(body) ? body : [body ?? null];
      const added = list.map((f) => {
        if (!isObject(f)) throw bad('a fault is {"status"?: 503, "times"?: 1, "method"?: "POST"}');
        const fault: HttpFault = {
          id: `fault-${++faultSeq}`,
          status: typeof f.status === 'number' ? f.status : 503,
          times: typeof f.times === 'number' ? f.times : 1,
          fired: 0,
        };
        if (typeof f.method === 'string') fault.method = f.method.toUpperCase();
        faults.push(fault);
        return fault as unknown as JsonObject;
      });
      return send(res, 201, { faults: added });
    }
    if (what === 'faults' && method === 'GET') return send(res, 200, { faults: faults as unknown as Json[] });
    if (what === 'faults' && method === 'DELETE') return ((faults = []), send(res, 204));
    if (what === 'reset' && method === 'POST') {
      targets.clear();
      faults = [];
      Object.assign(counts, { created: 0, deleted: 0 });
      timers.forEach(clearTimeout);
      timers.clear();
      return send(res, 204);
    }
    return send(res, 404, { error: `unknown control endpoint ${method} /_sim/${parts.join('/')}` });
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    res.on('finish', () => log(`collector-sim ${method} ${url.pathname} ${res.statusCode}`));
    if (parts[0] === '_sim') return handleControl(req, res, parts.slice(1));
    if (parts[0] !== 'targets' || parts.length > 2) return send(res, 404, { error: 'not found' });
    const fault = takeFault(method);
    if (fault) return send(res, fault.status, { error: `injected failure (simulator fault ${fault.id})` });
    const id = parts[1];

    if (id === undefined && method === 'POST') {
      const body = await readJson(req, bad);
      if (!isObject(body)) throw bad('the body must be a JSON object');
      const absent = REQUIRED.filter((k) => typeof body[k] !== 'string');
      if (absent.length) throw bad(`missing or invalid field(s): ${absent.join(', ')}`);
      const tid = crypto.randomUUID();
      // The service answers with its own address as monitorer and an absolute link.
      const target: Target = {
        body: { ...body, id: tid, link: `${baseUrl}/targets/${tid}`, monitorer: baseUrl, created_at: isoSeconds() },
        values: [],
      };
      targets.set(tid, target);
      counts.created += 1;
      const fixture = fixtureFor(target.body);
      if (fixture || opts.autoStatus !== undefined) {
        const t = setTimeout(() => {
          timers.delete(t);
          // The fixture as it is when the agent reports (a test may have replaced it meanwhile).
          const f = fixtureFor(target.body);
          if (targets.has(tid))
            setStatus(
              tid,
              f ? f.value : (opts.autoStatus ?? 'UP'),
              definedOnly({ lastChanged: f ? opts.statusesSince : undefined }),
            );
        }, opts.autoStatusDelayMs ?? 1000);
        timers.add(t);
      }
      return send(res, 201, view(target, false), { Location: target.body.link as string });
    }
    if (id === undefined && method === 'GET') {
      const list = [...targets.values()].filter((t) =>
        FILTERS.every((f) => !url.searchParams.has(f) || text(t.body[f]) === url.searchParams.get(f)),
      );
      return send(
        res,
        200,
        list.map((t) => view(t)),
      );
    }
    if (id !== undefined && method === 'GET') {
      const t = targets.get(id);
      if (!t) throw missing(id);
      return send(res, 200, view(t));
    }
    if (id !== undefined && method === 'DELETE') {
      if (!targets.delete(id)) throw missing(id);
      counts.deleted += 1;
      return send(res, 204);
    }
    return send(res, 405, { error: `${method} not allowed on ${url.pathname}` });
  }

  const server = await listen(opts.port ?? 0, handle, () => {
    timers.forEach(clearTimeout);
    timers.clear();
  });
  baseUrl = server.url;
  return {
    url: server.url,
    port: server.port,
    stop: server.stop,
    targets: () => [...targets.values()].map((t) => view(t)),
    setStatus,
  };
}

function statusOpts(body: JsonObject): { key?: string; reporter?: string; failCounter?: number; lastChanged?: string } {
  return definedOnly({
    lastChanged: typeof body.last_changed === 'string' ? body.last_changed : undefined,
    key: typeof body.key === 'string' ? body.key : undefined,
    reporter: typeof body.reporter === 'string' ? body.reporter : undefined,
    failCounter: typeof body.fail_counter === 'number' ? body.fail_counter : undefined,
  });
}
