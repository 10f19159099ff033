import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type OnSpawn, spawnServer, stopProcessGroup, waitUntilServing } from './processes';
import { definedOnly } from '../../shared/defined-only';

export interface EtcdServer {
  clientUrl: string;
  dataDir: string;
  /** The etcd process now (a restart gives a new one). */
  readonly pid: number;
  stop(): Promise<void>;
  /** Sends a signal to this etcd only (SIGSTOP/SIGCONT to freeze and thaw it); false if it is gone. */
  signal(sig: NodeJS.Signals): boolean;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
  /** SIGKILL if running, then the same etcd again (same data, ports and flags), resolved once it listens. */
  restart(): Promise<void>;
}

export interface EtcdServerOptions {
  clientPort: number;
  peerPort: number;
  dataDir: string;
  name?: string;
  /** Told of each etcd process as soon as it is spawned (so a launcher can stop it while it starts). */
  onSpawn?: OnSpawn;
  /** Extra command-line flags (TLS, auth tests). */
  extraArgs?: string[];
  /** Where etcd's own log goes; defaults to <dataDir>/../etcd-<name>.log */
  logFile?: string;
  scheme?: 'http' | 'https';
}

/** True when an `etcd` binary is on PATH. */
export function etcdAvailable(): boolean {
  return spawnSync('sh', ['-c', 'command -v etcd'], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure Debian's etcd-server is installed: installs it with apt when running as root,
 * otherwise fails with the command to run.
 */
export function ensureEtcdInstalled(log: (line: string) => void = console.error): void {
  if (etcdAvailable()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(
      "etcd is not installed. Install Debian's etcd server and client first:\n  sudo apt-get update && sudo apt-get install -y etcd-server etcd-client",
    );
  }
  log('etcd not found on PATH: installing etcd-server and etcd-client with apt-get (one time) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const install =
    update.status === 0
      ? spawnSync('apt-get', ['install', '-y', '-qq', 'etcd-server', 'etcd-client'], { stdio: 'inherit', env })
      : update;
  if (install.status !== 0 || !etcdAvailable())
    throw new Error(
      'apt-get could not install etcd-server; install it by hand: apt-get install -y etcd-server etcd-client',
    );
  // Debian's package starts its own etcd service on :2379; the project runs its own etcd, so that
  // service (and only it: other etcd processes on the machine are not ours) is stopped through systemd.
  spawnSync('sh', ['-c', 'systemctl stop etcd 2>/dev/null; systemctl disable etcd 2>/dev/null; true'], {
    stdio: 'ignore',
  });
}

/** Starts etcd on loopback, detached in its own process group, and waits until it answers. */
export async function startEtcd(opts: EtcdServerOptions): Promise<EtcdServer> {
  const name = opts.name ?? 'esi-local';
  const peerUrl = `http://127.0.0.1:${opts.peerPort}`;
  return startMember(opts, `${name}=${peerUrl}`);
}

/** A member of a cluster (one member: its own cluster), restartable on the same data and ports. */
async function startMember(opts: EtcdServerOptions, initialCluster: string): Promise<EtcdServer> {
  const name = opts.name ?? 'esi-local';
  const scheme = opts.scheme ?? 'http';
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const clientUrl = `${scheme}://127.0.0.1:${opts.clientPort}`;
  const peerUrl = `http://127.0.0.1:${opts.peerPort}`;
  const logFile = opts.logFile ?? path.join(path.dirname(opts.dataDir), `etcd-${name}.log`);
  const args = [
    '--name',
    name,
    '--data-dir',
    opts.dataDir,
    '--listen-client-urls',
    clientUrl,
    '--advertise-client-urls',
    clientUrl,
    '--listen-peer-urls',
    peerUrl,
    '--initial-advertise-peer-urls',
    peerUrl,
    '--initial-cluster',
    initialCluster,
    '--initial-cluster-state',
    'new',
    '--logger',
    'zap',
    '--log-outputs',
    'stderr',
    ...(opts.extraArgs ?? []),
  ];

  let child!: ChildProcess;
  let exited!: Promise<void>;
  const groupSignal = (signal: NodeJS.Signals): boolean => {
    try {
      process.kill(-child.pid!, signal);
      return true;
    } catch {
      return false;
    }
  };
  const launch = async (): Promise<void> => {
    const etcd = spawnServer('etcd', 'etcd', args, definedOnly({ logFile, onSpawn: opts.onSpawn }));
    child = etcd.child;
    exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await waitUntilServing(etcd, opts.clientPort);
  };
  await launch();

  const server: EtcdServer = {
    clientUrl,
    dataDir: opts.dataDir,
    get pid() {
      return child.pid!;
    },
    stop: () => stopProcessGroup(child),
    signal: (sig) => groupSignal(sig),
    async kill() {
      groupSignal('SIGKILL');
      await exited;
    },
    async restart() {
      await server.kill();
      await launch();
    },
  };
  return server;
}

export interface EtcdClusterOptions {
  /** Client and peer port of each member. */
  members: { clientPort: number; peerPort: number }[];
  /** Each member's data goes to <dataDir>/<name>, its log to <logDir>/<name>.log. */
  dataDir: string;
  logDir: string;
  onSpawn?: OnSpawn;
}

/**
 * A cluster of etcd members on loopback, as production runs it (three members tolerate the loss
 * of one). Every member is started before any is waited for: none answers before a quorum forms.
 */
export async function startEtcdCluster(opts: EtcdClusterOptions): Promise<EtcdServer[]> {
  const named = opts.members.map((m, i) => ({ ...m, name: `esi-etcd-${i}` }));
  const initialCluster = named.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const members = await Promise.all(
    named.map((m) =>
      startMember(
        definedOnly({
          clientPort: m.clientPort,
          peerPort: m.peerPort,
          name: m.name,
          dataDir: path.join(opts.dataDir, m.name),
          logFile: path.join(opts.logDir, `${m.name}.log`),
          onSpawn: opts.onSpawn,
        }),
        initialCluster,
      ),
    ),
  );
  return members;
}
