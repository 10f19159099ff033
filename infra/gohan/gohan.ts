/**
 * The upstream Gohan API server as this project's client (docs/gohan.md): the build the team
 * provides (`../shared/tools/gohan/`, a gzip of the binary, or ESI_GOHAN_DIR) is unpacked once
 * into a cache folder, configured for sqlite, `sync: etcdv3` to the given etcd, the project's
 * schemas (infra/gohan/schema.yaml) and the `watch:` route that shows the worker's /state and
 * /monitoring through Gohan, and started detached on loopback, stopped by its PID.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { outputPrefixes } from '../../shared/config';
import { spawnServer, stopProcessGroup, waitUntilServing, type OnSpawn } from '../local/processes';
import { definedOnly } from '../../shared/defined-only';

const ROOT = path.resolve(__dirname, '..', '..');
export const GOHAN_SCHEMA = path.join(ROOT, 'infra', 'gohan', 'schema.yaml');
/** The build's file name names its upstream commit. */
const BUILD = 'gohan-7249b5d8-linux-amd64';
/** Gohan's fake Keystone accepts this token as the admin's (`keystone.fake: true`). */
export const GOHAN_TOKEN = 'admin_token';

/** Where the provided build is: ESI_GOHAN_DIR, else the team kit beside the checkout. */
export const gohanDir = (): string => process.env.ESI_GOHAN_DIR || path.resolve(ROOT, '..', 'shared', 'tools', 'gohan');

/** Why Gohan cannot run here (the build or Debian's libsqlite3-0 is missing), or undefined when it can. */
export function gohanUnavailable(): string | undefined {
  const gz = path.join(gohanDir(), `${BUILD}.gz`);
  if (!fs.existsSync(gz)) return `no Gohan build at ${gz} (set ESI_GOHAN_DIR)`;
  const ldconfig = spawnSync('sh', ['-c', 'ldconfig -p 2>/dev/null || /sbin/ldconfig -p'], { encoding: 'utf8' });
  if (!/libsqlite3\.so\.0\b/.test(ldconfig.stdout ?? ''))
    return "libsqlite3-0 is not installed (Gohan's sqlite needs it: apt-get install libsqlite3-0)";
  return undefined;
}

/** The binary, unpacked once into `cacheDir` (default: the OS temp folder); unpacked again when the build changed. */
export function gohanBinary(cacheDir = path.join(os.tmpdir(), 'esi-gohan-cache')): string {
  const gz = path.join(gohanDir(), `${BUILD}.gz`);
  const bin = path.join(cacheDir, BUILD);
  const stamp = `${bin}.source`;
  const source = `${gz} ${fs.statSync(gz).size} ${fs.statSync(gz).mtimeMs}`;
  if (fs.existsSync(bin) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === source) return bin;
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const out = spawnSync('gunzip', ['-c', gz], { maxBuffer: 256 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`gunzip ${gz} failed: ${out.stderr?.toString().trim()}`);
  fs.writeFileSync(tmp, out.stdout, { mode: 0o755 });
  fs.renameSync(tmp, bin); // atomic: a concurrent unpack never runs a half-written file
  fs.writeFileSync(stamp, source);
  return bin;
}

export interface GohanOptions {
  /** etcd client URL (`http://127.0.0.1:2379`). */
  etcd: string;
  port: number;
  /** Holds gohan.yaml, the sqlite database and the log. */
  dataDir: string;
  onSpawn?: OnSpawn;
}

/**
 * gohan.yaml for this project. `watch.keys` are the worker's output prefixes (ESI_STATE_PREFIX,
 * ESI_MONITORING_PREFIX); an event name must be a prefix of the key (without its leading slash),
 * so the events are the prefixes themselves.
 */
export function gohanConfig(o: Pick<GohanOptions, 'etcd' | 'port' | 'dataDir'>): Record<string, unknown> {
  const url = `http://127.0.0.1:${o.port}`;
  const prefixes = outputPrefixes();
  const watched = [prefixes.state, prefixes.monitoring];
  return {
    // Gohan's own writes (REST, the sync writer, the extension's state updates) run concurrently:
    // deferred SQLite transactions that upgrade to writing fail at once with "database is locked"
    // (a REST 409). Immediate ones take the write lock at BEGIN and wait for it instead.
    database: {
      type: 'sqlite3',
      connection: `${path.join(o.dataDir, 'gohan.db')}?_txlock=immediate&_busy_timeout=10000`,
    },
    schemas: ['embed://etc/schema/gohan.json', GOHAN_SCHEMA],
    address: `127.0.0.1:${o.port}`,
    document_root: path.join(o.dataDir, 'www'),
    // With use_keystone false every request panics in this version: the fake Keystone instead.
    keystone: {
      use_keystone: true,
      fake: true,
      auth_url: `${url}/v2.0`,
      user_name: 'admin',
      tenant_name: 'admin',
      password: 'gohan',
    },
    sync: 'etcdv3',
    etcd: [o.etcd.replace(/^https?:\/\//, '')],
    etcd_timeout_ms: 1000,
    watch: { keys: watched.map((p) => `${p}/`), events: watched.map((p) => p.replace(/^\//, '')) },
    logging: { stderr: { enabled: true, level: 'INFO' } },
  };
}

export interface RunningGohan {
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts Gohan and resolves once it answers an authenticated request. */
export async function startGohan(o: GohanOptions): Promise<RunningGohan> {
  const bin = gohanBinary();
  fs.mkdirSync(path.join(o.dataDir, 'www'), { recursive: true });
  const configFile = path.join(o.dataDir, 'gohan.yaml');
  fs.writeFileSync(configFile, YAML.stringify(gohanConfig(o)));
  const logFile = path.join(o.dataDir, 'gohan.log');
  const p = spawnServer(
    'gohan',
    bin,
    ['server', '--config-file', configFile],
    definedOnly({ cwd: o.dataDir, logFile, onSpawn: o.onSpawn }),
  );
  await waitUntilServing(p, o.port, 20_000);
  const url = `http://127.0.0.1:${o.port}`;
  const stop = () => stopProcessGroup(p.child);
  for (let i = 0; ; i++) {
    const res = await fetch(`${url}/v2.0/networks`, { headers: { 'X-Auth-Token': GOHAN_TOKEN } }).catch(
      () => undefined,
    );
    if (res?.ok) break;
    if (i >= 100) {
      await stop();
      throw new Error(`Gohan at ${url} does not answer (${res?.status ?? 'no answer'}); see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: p.child.pid!, logFile, stop };
}
