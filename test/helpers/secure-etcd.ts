/**
 * Extra etcd servers for the TLS and authentication tests, on free loopback ports under the test
 * run's root: one that speaks only TLS and requires a client certificate, one with
 * username/password authentication enabled. Each is stopped by the test that started it.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { type EtcdServer, startEtcd } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import type { TestPki } from './tls-certs';

/** etcd on https://127.0.0.1:<port>, serving pki's server certificate, trusting only pki's CA. */
export async function startTlsEtcd(dir: string, pki: TestPki): Promise<EtcdServer> {
  return startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(dir, 'data'),
    logFile: path.join(dir, 'etcd.log'),
    name: 'esi-tls',
    scheme: 'https',
    extraArgs: [
      '--cert-file',
      pki.serverCert,
      '--key-file',
      pki.serverKey,
      '--trusted-ca-file',
      pki.ca,
      '--client-cert-auth',
    ],
  });
}

export interface AuthUsers {
  rootPassword: string;
  /** A user for the functions, with a role that may read and write every key. */
  user: string;
  password: string;
}

/**
 * etcd with authentication: creates root (with the root role) and a least-privileged user whose
 * role reads and writes every key (but cannot change users, roles or auth), then enables auth.
 */
export async function startAuthEtcd(dir: string, users: AuthUsers): Promise<EtcdServer> {
  const server = await startEtcd({
    clientPort: await freePort(),
    peerPort: await freePort(),
    dataDir: path.join(dir, 'data'),
    logFile: path.join(dir, 'etcd.log'),
    name: 'esi-auth',
  });
  try {
    const ctl = (...args: string[]) =>
      execFileSync('etcdctl', ['--endpoints', server.clientUrl, '--command-timeout', '10s', ...args], {
        env: { ...process.env, ETCDCTL_API: '3' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    ctl('user', 'add', 'root', '--new-user-password', users.rootPassword, '--interactive=false');
    ctl('user', 'grant-role', 'root', 'root');
    ctl('role', 'add', 'esi-functions');
    // Empty key with --prefix: the whole key space.
    ctl('role', 'grant-permission', 'esi-functions', 'readwrite', '--prefix=true', '');
    ctl('user', 'add', users.user, '--new-user-password', users.password, '--interactive=false');
    ctl('user', 'grant-role', users.user, 'esi-functions');
    ctl('auth', 'enable');
  } catch (err) {
    await server.stop();
    // etcdctl's stderr names what failed; the command line (with passwords) is not repeated.
    throw new Error(
      `etcdctl could not set up authentication: ${String((err as { stderr?: Buffer }).stderr ?? '').trim()}`,
      { cause: err },
    );
  }
  return server;
}
