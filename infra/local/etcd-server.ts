import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitForPort } from './ports';

export interface EtcdServer {
  clientUrl: string;
  dataDir: string;
  pid: number;
  stop(): Promise<void>;
}

export interface EtcdServerOptions {
  clientPort: number;
  peerPort: number;
  dataDir: string;
  name?: string;
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
  // Debian's package may start a system service on :2379; the project runs its own etcd.
  spawnSync(
    'sh',
    ['-c', 'systemctl stop etcd 2>/dev/null; systemctl disable etcd 2>/dev/null; pkill -x etcd 2>/dev/null || true'],
    { stdio: 'ignore' },
  );
}

/** Starts etcd on loopback, detached in its own process group, and waits until it answers. */
export async function startEtcd(opts: EtcdServerOptions): Promise<EtcdServer> {
  const name = opts.name ?? 'esi-local';
  const scheme = opts.scheme ?? 'http';
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const clientUrl = `${scheme}://127.0.0.1:${opts.clientPort}`;
  const peerUrl = `http://127.0.0.1:${opts.peerPort}`;
  const logFile = opts.logFile ?? path.join(path.dirname(opts.dataDir), `etcd-${name}.log`);
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = spawn(
    'etcd',
    [
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
      `${name}=${peerUrl}`,
      '--initial-cluster-state',
      'new',
      '--logger',
      'zap',
      '--log-outputs',
      'stderr',
      ...(opts.extraArgs ?? []),
    ],
    { detached: true, stdio: ['ignore', out, out] },
  );
  fs.closeSync(out);
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(opts.clientPort),
      exited.then(() => {
        throw new Error(`etcd exited at start; see ${logFile}`);
      }),
    ]);
  } catch (err) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
    throw err;
  }
  return {
    clientUrl,
    dataDir: opts.dataDir,
    pid: child.pid!,
    async stop() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        return;
      }
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    },
  };
}
