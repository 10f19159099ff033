/**
 * The real-OpenStack local tier: Debian's Keystone (uwsgi, one process, one thread, sqlite in WAL
 * mode, fernet tokens) and Heat (`heat-all`: API and engine in one process with in-process
 * messaging, sqlite), configured in a data folder and started on loopback ports without systemd,
 * each stopped by its PID. Every step is idempotent: a second start on the same folder reuses its
 * databases, keys and password, and brings the catalog to the new ports.
 *
 * Heat's global environment maps every custom resource type of the templates (`OS::Contrail::*`,
 * `ESI::*`) to a small plugin type (heat-plugins/esi_stub.py) that accepts any properties and
 * answers attributes from them, so the stack lifecycle is Heat's own.
 *
 * Facts behind these choices: docs/openstack-tier.md.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createHttp } from '../../shared/clients/http';
import { freePort } from '../local/ports';
import { type OnSpawn, type Spawned, spawnServer, stopProcessGroup, waitUntilReady } from '../local/processes';
import { definedOnly } from '../../shared/defined-only';

export const REGION = 'RegionOne';
const PY = '/usr/bin/python3';
const PLUGIN_DIR = path.join(__dirname, 'heat-plugins');
/** The plugin type the global environment maps the templates' custom types to. */
export const STUB_TYPE = 'Stub::ESI::Resource';
/** Custom resource types of the templates, as wildcards of Heat's resource registry. */
export const STUBBED_TYPES = ['OS::Contrail::*', 'ESI::*'];

export interface OpenStackOptions {
  /** Everything (configuration, databases, keys, logs) goes under <dataDir>. */
  dataDir: string;
  keystonePort?: number;
  heatPort?: number;
  /** Keystone's token lifetime (default one hour). */
  tokenExpirationSecs?: number;
  /** Keystone and Heat served over HTTPS with this certificate (PEM files); clients trust `caFile`. */
  tls?: TierTls;
  onSpawn?: OnSpawn;
  log?: (line: string) => void;
}

export interface TierTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface ServiceProcess {
  readonly pid: number;
  /** SIGKILL, resolved once it is gone. */
  kill(): Promise<void>;
  /** Stops it (SIGTERM, then SIGKILL), resolved once it is gone. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data, resolved once it answers. */
  start(): Promise<void>;
  logFile: string;
}

export interface OpenStackCredentials {
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
}

export interface RealOpenStack {
  dataDir: string;
  /** `http(s)://127.0.0.1:<port>/v3` */
  keystoneUrl: string;
  /** Heat's base without the project: `http(s)://127.0.0.1:<port>/v1` */
  heatUrl: string;
  /** PEM text of the CA the services' certificate chains to, when they are served over HTTPS. */
  caBundle?: string;
  region: string;
  /** The orchestrator's user (role member on its own project). */
  credentials: OpenStackCredentials;
  /** The project id of `credentials`. */
  projectId: string;
  keystone: ServiceProcess;
  heat: ServiceProcess;
  /** Seconds of configuration and start. */
  startSeconds: number;
  /** The collector the monitoring targets of Heat's stacks register with from now on (undefined: none). */
  useCollector(url: string | undefined): void;
  stop(): Promise<void>;
}

interface Secrets {
  admin: string;
  service: string;
  esi: string;
  authKey: string;
}

const randomSecret = () => crypto.randomBytes(18).toString('base64url');

function secretsOf(dir: string): Secrets {
  const file = path.join(dir, 'secrets.json');
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')) as Secrets;
  const s: Secrets = {
    admin: randomSecret(),
    service: randomSecret(),
    esi: randomSecret(),
    authKey: crypto.randomBytes(16).toString('hex'),
  };
  fs.writeFileSync(file, JSON.stringify(s), { mode: 0o600 });
  return s;
}

const ini = (sections: Record<string, Record<string, string | number>>): string =>
  Object.entries(sections)
    .map(
      ([name, kv]) =>
        `[${name}]\n${Object.entries(kv)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n')}\n`,
    )
    .join('\n');

/** Runs a set-up command; its output goes to `logFile` (with its time); a failure names the command and the log. */
async function run(cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const t0 = Date.now();
  const out = fs.openSync(logFile, 'a');
  const what = `${path.basename(cmd)} ${args.join(' ')}`;
  try {
    const code = await new Promise<number | string | null>((resolve) => {
      const child = spawn(cmd, args, {
        stdio: ['ignore', out, out],
        env: { ...process.env, ...env },
        timeout: 300_000,
      });
      child.once('error', (err) => resolve(err.message));
      child.once('exit', (c, sig) => resolve(c ?? sig));
    });
    fs.appendFileSync(logFile, `[${what}: exit ${code} after ${((Date.now() - t0) / 1000).toFixed(1)} s]\n`);
    if (code !== 0) throw new Error(`${what} failed (${code}); see ${logFile}`);
  } finally {
    fs.closeSync(out);
  }
}

const wal = (db: string, logFile: string) =>
  run(PY, ['-c', `import sqlite3; sqlite3.connect(${JSON.stringify(db)}).execute('PRAGMA journal_mode=WAL')`], logFile);

interface Layout {
  dir: string;
  ks: string;
  heat: string;
  logs: string;
}

function keystoneConf(l: Layout, expiration: number): string {
  return ini({
    DEFAULT: { log_file: path.join(l.logs, 'keystone-service.log'), debug: 'false' },
    database: { connection: `sqlite:///${path.join(l.ks, 'keystone.sqlite')}` },
    token: { provider: 'fernet', expiration },
    fernet_tokens: { key_repository: path.join(l.ks, 'fernet-keys') },
    credential: { key_repository: path.join(l.ks, 'credential-keys') },
    // Cheap password checks (bcrypt's default cost is about 0.3 s each): a local tier only.
    identity: { password_hash_rounds: 4 },
  });
}

function heatConf(l: Layout, s: Secrets, keystoneUrl: string, heatPort: number, paste: string, tls?: TierTls): string {
  // Heat's own calls to Keystone trust the tier's CA.
  const ca: Record<string, string> = tls ? { cafile: tls.caFile } : {};
  const auth = {
    auth_type: 'password',
    auth_url: keystoneUrl,
    username: 'heat',
    password: s.service,
    user_domain_name: 'Default',
    ...ca,
  };
  return ini({
    DEFAULT: {
      transport_url: 'fake://',
      plugin_dirs: PLUGIN_DIR,
      environment_dir: path.join(l.heat, 'environment.d'),
      log_file: path.join(l.logs, 'heat-service.log'),
      num_engine_workers: 1,
      graceful_shutdown_timeout: 5,
      auth_encryption_key: s.authKey,
      region_name_for_services: REGION,
      max_stacks_per_tenant: 100000,
      debug: 'false',
    },
    database: { connection: `sqlite:///${path.join(l.heat, 'heat.sqlite')}` },
    heat_all: { enabled_services: 'api,engine' },
    heat_api: {
      bind_host: '127.0.0.1',
      bind_port: heatPort,
      workers: 1,
      ...(tls ? { cert_file: tls.certFile, key_file: tls.keyFile } : {}),
    },
    paste_deploy: { api_paste_config: paste },
    keystone_authtoken: {
      ...auth,
      www_authenticate_uri: keystoneUrl,
      project_name: 'service',
      project_domain_name: 'Default',
    },
    trustee: auth,
    clients_keystone: { auth_uri: keystoneUrl.replace(/\/v3$/, ''), ...(tls ? { ca_file: tls.caFile } : {}) },
    ...(tls ? { clients: { ca_file: tls.caFile } } : {}),
    ec2authtoken: { auth_uri: keystoneUrl },
    oslo_messaging_notifications: { driver: 'noop' },
  });
}

/** Heat's global environment: every custom type of the templates is the stub plugin type. */
export function globalEnvironment(): string {
  return `resource_registry:\n${STUBBED_TYPES.map((t) => `  "${t}": "${STUB_TYPE}"`).join('\n')}\n`;
}

/** Debian's api-paste.ini is shipped as a dpkg-new file on machines whose dpkg kept a config. */
function pasteConfig(l: Layout): string {
  for (const p of [
    '/etc/heat/api-paste.ini',
    '/etc/heat/api-paste.ini.dpkg-new',
    '/usr/share/heat-common/api-paste.ini',
  ])
    if (fs.existsSync(p)) return p;
  throw new Error(`no api-paste.ini of heat-api found (looked in /etc/heat); see ${l.logs}`);
}

/** The CA (PEM) each HTTPS tier's origin is served under, for the tier's own calls to it. */
const tierCas = new Map<string, string>();

async function http(
  method: string,
  url: string,
  body?: unknown,
  token?: string,
  timeoutMs = 30_000,
): Promise<{ status: number; header: (name: string) => string | undefined; json: Record<string, unknown> }> {
  const res = await createHttp(timeoutMs, tierCas.get(new URL(url).origin)).request<string>({
    method,
    url,
    headers: { 'Content-Type': 'application/json', ...(token ? { 'X-Auth-Token': token } : {}) },
    data: body === undefined ? undefined : JSON.stringify(body),
    responseType: 'text',
    transformResponse: (x: string) => x,
  });
  let json: Record<string, unknown>;
  try {
    json = res.data ? (JSON.parse(res.data) as Record<string, unknown>) : {};
  } catch {
    json = { text: res.data };
  }
  const header = (name: string) => {
    const v: unknown = res.headers[name.toLowerCase()];
    return typeof v === 'string' ? v : undefined;
  };
  return { status: res.status, header, json };
}

/** A project-scoped token of a user in the Default domain. */
export async function passwordToken(
  keystoneUrl: string,
  user: string,
  password: string,
  project: string,
): Promise<{ token: string; body: Record<string, unknown> }> {
  const r = await http('POST', `${keystoneUrl}/auth/tokens`, {
    auth: {
      identity: { methods: ['password'], password: { user: { name: user, domain: { id: 'default' }, password } } },
      scope: { project: { name: project, domain: { id: 'default' } } },
    },
  });
  const token = r.header('x-subject-token');
  if (r.status !== 201 || !token)
    throw new Error(`keystone: token for ${user} answered ${r.status} ${JSON.stringify(r.json)}`);
  return { token, body: r.json.token as Record<string, unknown> };
}

/** Finds an entity by name (or filter) in a Keystone collection, or creates it. */
async function ensure(
  base: string,
  token: string,
  collection: string,
  key: string,
  query: string,
  create: Record<string, unknown>,
): Promise<string> {
  const found = await http('GET', `${base}/${collection}?${query}`, undefined, token);
  const list = found.json[collection] as { id: string }[] | undefined;
  const [first] = list ?? [];
  if (first) return first.id;
  const made = await http('POST', `${base}/${collection}`, { [key]: create }, token);
  const id = (made.json[key] as { id?: string } | undefined)?.id;
  if (made.status !== 201 || !id)
    throw new Error(`keystone: creating ${key} answered ${made.status} ${JSON.stringify(made.json)}`);
  return id;
}

/**
 * The catalog and users Heat and the orchestrator need: a `service` project with the `heat` user
 * (admin), the orchestrator's project and user `esi` (member), the orchestration service and its
 * three endpoints at `heatUrl` (replaced when the port changed).
 */
async function configureCatalog(keystoneUrl: string, s: Secrets, heatOrigin: string): Promise<string> {
  const { token } = await passwordToken(keystoneUrl, 'admin', s.admin, 'admin');
  const base = keystoneUrl;
  const role = (name: string) => ensure(base, token, 'roles', 'role', `name=${name}`, { name });
  const [admin, member] = [await role('admin'), await role('member')];
  const project = (name: string) =>
    ensure(base, token, 'projects', 'project', `name=${name}&domain_id=default`, { name, domain_id: 'default' });
  const [service, esi] = [await project('service'), await project('esi')];
  const user = async (name: string, password: string, projectId: string, roleId: string) => {
    const id = await ensure(base, token, 'users', 'user', `name=${name}&domain_id=default`, {
      name,
      password,
      domain_id: 'default',
      default_project_id: projectId,
    });
    const r = await http('PUT', `${base}/projects/${projectId}/users/${id}/roles/${roleId}`, undefined, token);
    if (r.status !== 204) throw new Error(`keystone: role assignment for ${name} answered ${r.status}`);
  };
  await user('heat', s.service, service, admin);
  await user('esi', s.esi, esi, member);
  const svc = await ensure(base, token, 'services', 'service', 'type=orchestration', {
    name: 'heat',
    type: 'orchestration',
    enabled: true,
  });
  const url = `${heatOrigin}/v1/%(tenant_id)s`;
  const eps = await http('GET', `${base}/endpoints?service_id=${svc}`, undefined, token);
  for (const ep of (eps.json.endpoints as { id: string; url: string }[] | undefined) ?? [])
    if (ep.url !== url) await http('DELETE', `${base}/endpoints/${ep.id}`, undefined, token);
  const current = ((eps.json.endpoints as { url: string; interface: string }[] | undefined) ?? []).filter(
    (e) => e.url === url,
  );
  for (const iface of ['public', 'internal', 'admin'])
    if (!current.some((e) => e.interface === iface)) {
      const r = await http(
        'POST',
        `${base}/endpoints`,
        {
          endpoint: { service_id: svc, interface: iface, url, region_id: REGION, enabled: true },
        },
        token,
      );
      if (r.status !== 201) throw new Error(`keystone: creating the ${iface} Heat endpoint answered ${r.status}`);
    }
  return esi;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await http('GET', url, undefined, undefined, 2000)).status < 500;
  } catch {
    return false;
  }
}

/** Waits until `check` holds while `p` runs (polling); stops it and rejects naming its log otherwise. */
async function waitAnswering(p: Spawned, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  let ok = false;
  let polling = false;
  const poll = () => {
    if (polling) return;
    polling = true;
    void check().then((v) => {
      ok = v;
      polling = false;
    });
  };
  await waitUntilReady(
    p,
    () => {
      poll();
      return ok;
    },
    timeoutMs,
  ).catch(async (err: Error) => {
    await stopProcessGroup(p.child);
    throw err;
  });
}

/** What a running tier is: kept in <dataDir>/state.json, so any process (a test worker) can control it. */
export interface TierState {
  keystonePort: number;
  heatPort: number;
  projectId: string;
  keystonePid?: number;
  heatPid?: number;
  tls?: TierTls;
}

/**
 * The services' addresses (HTTPS when the tier has a certificate); the tier's own calls to an
 * HTTPS tier trust its CA.
 */
function urlsOf(st: Pick<TierState, 'keystonePort' | 'heatPort' | 'tls'>): { keystone: string; heat: string } {
  const scheme = st.tls ? 'https' : 'http';
  const u = { keystone: `${scheme}://127.0.0.1:${st.keystonePort}`, heat: `${scheme}://127.0.0.1:${st.heatPort}` };
  if (st.tls) {
    const ca = fs.readFileSync(st.tls.caFile, 'utf8');
    for (const origin of Object.values(u)) tierCas.set(origin, ca);
  }
  return { keystone: `${u.keystone}/v3`, heat: u.heat };
}

const collectorFile = (dir: string) => path.join(dir, 'heat', 'collector-url');
const stateFile = (dir: string) => path.join(dir, 'state.json');
export const readState = (dir: string): TierState => JSON.parse(fs.readFileSync(stateFile(dir), 'utf8')) as TierState;
/** Merges `patch` into the state file; a field given as undefined is removed. */
const writeState = (dir: string, patch: { [K in keyof TierState]?: TierState[K] | undefined }) => {
  const current = fs.existsSync(stateFile(dir)) ? readState(dir) : {};
  fs.writeFileSync(stateFile(dir), JSON.stringify({ ...current, ...patch }, null, 2));
};

/** Alive and not a zombie (a process whose parent is gone may stay one under a PID 1 that does not reap). */
export function running(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const signalGroup = (pid: number, sig: NodeJS.Signals) => {
  try {
    process.kill(-pid, sig);
  } catch {
    /* the group is gone */
  }
};

/** SIGTERM to the process group of `pid`, SIGKILL after `graceMs`; resolved once the process is gone. */
export async function stopPid(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (!running(pid)) return;
  signalGroup(pid!, graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (running(pid)) {
    if (Date.now() > deadline) signalGroup(pid!, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 50));
  }
  signalGroup(pid!, 'SIGKILL');
}

type Which = 'keystone' | 'heat';

function launcher(dir: string, which: Which): { spawn: () => Spawned; ready: () => Promise<boolean> } {
  const st = readState(dir);
  const s = secretsOf(dir);
  const urls = urlsOf(st);
  const keystoneUrl = urls.keystone;
  const logs = path.join(dir, 'logs');
  if (which === 'keystone')
    return {
      spawn: () =>
        spawnServer(
          'keystone',
          '/usr/bin/uwsgi',
          [
            '--plugin',
            'python3',
            ...(st.tls
              ? ['--https-socket', `127.0.0.1:${st.keystonePort},${st.tls.certFile},${st.tls.keyFile}`]
              : ['--http-socket', `127.0.0.1:${st.keystonePort}`]),
            '--wsgi-file',
            '/usr/bin/keystone-wsgi-public',
            // sqlite: one process, one thread.
            '--processes',
            '1',
            '--threads',
            '1',
            '--die-on-term',
            '--need-app',
            // uwsgi's http-socket does not keep connections alive: say so, so pooling clients do not reuse them.
            '--add-header',
            'Connection: close',
            '--env',
            `OS_KEYSTONE_CONFIG_FILES=${path.join(dir, 'keystone', 'keystone.conf')}`,
          ],
          { logFile: path.join(logs, 'keystone.log') },
        ),
      ready: () => answers(keystoneUrl),
    };
  const heatUrl = `${urls.heat}/v1`;
  return {
    spawn: () =>
      spawnServer('heat-all', '/usr/bin/heat-all', ['--config-file', path.join(dir, 'heat', 'heat.conf')], {
        logFile: path.join(logs, 'heat.log'),
        env: { ...process.env, ESI_STUB_COLLECTOR_FILE: collectorFile(dir) },
      }),
    ready: async () => {
      if (!(await answers(`${urls.heat}/`))) return false;
      // The engine answers through the API: a stack list is a round trip to both.
      const token = await passwordToken(keystoneUrl, 'esi', s.esi, 'esi').then(
        (t) => t.token,
        () => '',
      );
      if (!token) return false;
      const r = await http('GET', `${heatUrl}/${st.projectId}/stacks`, undefined, token).catch(() => ({ status: 0 }));
      return r.status === 200;
    },
  };
}

/** Starts one service of a configured tier (unless it runs), resolved once it answers; its PID goes to state.json. */
async function launch(dir: string, which: Which, onSpawn?: OnSpawn, timeoutMs = 120_000): Promise<number> {
  const pidKey = which === 'keystone' ? 'keystonePid' : 'heatPid';
  const old = readState(dir)[pidKey];
  if (running(old)) return old!;
  const l = launcher(dir, which);
  const p = l.spawn();
  onSpawn?.(p);
  writeState(dir, { [pidKey]: p.child.pid });
  await waitAnswering(p, l.ready, timeoutMs);
  return p.child.pid!;
}

function serviceOf(dir: string, which: Which): ServiceProcess {
  const pidKey = which === 'keystone' ? 'keystonePid' : 'heatPid';
  const pid = () => readState(dir)[pidKey];
  return {
    get pid() {
      return pid() ?? 0;
    },
    logFile: path.join(dir, 'logs', which === 'keystone' ? 'keystone.log' : 'heat.log'),
    start: async () => {
      await launch(dir, which);
    },
    kill: () => stopPid(pid(), 0),
    stop: () => stopPid(pid()),
  };
}

/** The tier configured and started in `dataDir` (by this process or another), controlled through its state.json. */
export function attachOpenStack(dataDir: string): RealOpenStack {
  const dir = path.resolve(dataDir);
  const st = readState(dir);
  const urls = urlsOf(st);
  const s = secretsOf(dir);
  const keystone = serviceOf(dir, 'keystone');
  const heat = serviceOf(dir, 'heat');
  return {
    dataDir: dir,
    keystoneUrl: urls.keystone,
    heatUrl: `${urls.heat}/v1`,
    ...(st.tls ? { caBundle: fs.readFileSync(st.tls.caFile, 'utf8') } : {}),
    region: REGION,
    credentials: {
      username: 'esi',
      password: s.esi,
      projectName: 'esi',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    },
    projectId: st.projectId,
    keystone,
    heat,
    startSeconds: 0,
    useCollector: (url) => fs.writeFileSync(collectorFile(dir), url ?? ''),
    async stop() {
      await heat.stop();
      await keystone.stop();
    },
  };
}

/**
 * Configures (idempotently) and starts Keystone then Heat under `<dataDir>`, each on a free loopback
 * port unless given, resolved once Heat lists stacks for the orchestrator's user. A tier already
 * running there is stopped first (the ports and token lifetime may change).
 */
export async function startOpenStack(opts: OpenStackOptions): Promise<RealOpenStack> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const dir = path.resolve(opts.dataDir);
  const l: Layout = { dir, ks: path.join(dir, 'keystone'), heat: path.join(dir, 'heat'), logs: path.join(dir, 'logs') };
  for (const d of [l.ks, l.heat, l.logs, path.join(l.heat, 'environment.d')]) fs.mkdirSync(d, { recursive: true });
  if (fs.existsSync(stateFile(dir))) await attachOpenStack(dir).stop();
  const s = secretsOf(dir);
  const keystonePort = opts.keystonePort ?? (await freePort());
  const heatPort = opts.heatPort ?? (await freePort());
  const urls = urlsOf(definedOnly({ keystonePort, heatPort, tls: opts.tls }));
  const keystoneUrl = urls.keystone;
  const setupLog = path.join(l.logs, 'setup.log');

  writeState(dir, { keystonePort, heatPort, keystonePid: undefined, heatPid: undefined, tls: opts.tls });
  const ksConf = path.join(l.ks, 'keystone.conf');
  fs.writeFileSync(ksConf, keystoneConf(l, opts.tokenExpirationSecs ?? 3600));
  const heatConfFile = path.join(l.heat, 'heat.conf');
  fs.writeFileSync(heatConfFile, heatConf(l, s, keystoneUrl, heatPort, pasteConfig(l), opts.tls));
  fs.writeFileSync(path.join(l.heat, 'environment.d', 'esi-stubs.yaml'), globalEnvironment());
  // The admin password goes through the environment, never on a command line or in the log.
  const km = (...args: string[]) =>
    run('/usr/bin/keystone-manage', ['--config-file', ksConf, ...args], setupLog, { OS_BOOTSTRAP_PASSWORD: s.admin });
  const keyDir = (name: string) => fs.existsSync(path.join(l.ks, name, '0'));
  // Keystone (keys, schema, bootstrap: admin, region, identity endpoints; then the catalog) and
  // Heat's schema at the same time.
  const keystoneReady = async (): Promise<string> => {
    await Promise.all([
      keyDir('fernet-keys') ? undefined : km('fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root'),
      keyDir('credential-keys')
        ? undefined
        : km('credential_setup', '--keystone-user', 'root', '--keystone-group', 'root'),
      km('db_sync').then(() => wal(path.join(l.ks, 'keystone.sqlite'), setupLog)),
    ]);
    await km(
      'bootstrap',
      '--bootstrap-region-id',
      REGION,
      '--bootstrap-public-url',
      keystoneUrl,
      '--bootstrap-internal-url',
      keystoneUrl,
      '--bootstrap-admin-url',
      keystoneUrl,
    );
    const keystonePid = await launch(dir, 'keystone', opts.onSpawn);
    log(`Keystone    ${keystoneUrl}  (pid ${keystonePid})`);
    return configureCatalog(keystoneUrl, s, urls.heat);
  };
  const heatSchema = run('/usr/bin/heat-manage', ['--config-file', heatConfFile, 'db_sync'], setupLog).then(() =>
    wal(path.join(l.heat, 'heat.sqlite'), setupLog),
  );
  try {
    const [projectId] = await Promise.all([keystoneReady(), heatSchema]);
    writeState(dir, { projectId });
    const heatPid = await launch(dir, 'heat', opts.onSpawn);
    log(`Heat        ${urls.heat}/v1  (heat-all, pid ${heatPid})`);
  } catch (err) {
    await heatSchema.catch(() => undefined);
    await attachOpenStack(dir).stop();
    throw err;
  }
  return { ...attachOpenStack(dir), startSeconds: (Date.now() - t0) / 1000 };
}

/** RSS in MB of a process and its descendants (Linux /proc). */
export function rssMb(pid: number): number {
  const kids = (p: number): number[] => {
    try {
      const text = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim();
      return text ? text.split(/\s+/).map(Number) : [];
    } catch {
      return [];
    }
  };
  let total = 0;
  const walk = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      total += m ? Number(m[1]) : 0;
    } catch {
      return;
    }
    for (const k of kids(p)) walk(k);
  };
  walk(pid);
  return Math.round(total / 1024);
}
