/**
 * etcd with TLS (client certificates) and with username/password authentication, for real: a
 * second and third etcd started by this file, certificates made with openssl. The store, the
 * real relay process, the planner function's handler and the `esi` CLI are configured only
 * through the environment (ESI_ETCD_*), as in AWS; each works with the right settings and fails
 * with a readable message (what to check, never a password) with wrong ones.
 */
import { type ChildProcess, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SQSBatchResponse } from 'aws-lambda';
import { decodeEventMessage } from '../../shared/events/etcd-event-message';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdAccessError, EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import type { EtcdServer } from '../../infra/local/etcd-server';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { killed, spawnRelay } from '../helpers/relay-process';
import { startAuthEtcd, startTlsEtcd } from '../helpers/secure-etcd';
import { createFifoQueue, receiveAll } from '../helpers/sqs';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/sqs-event';
import { makeTestPki, type TestPki } from '../helpers/tls-certs';
import { waitFor } from '../helpers/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const run = `sec${Date.now()}`;
const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'etcd-security-'));
const users = { rootPassword: `root-Pw-${run}`, user: 'esi-fn', password: `Fn-s3cret-${run}` };
const WRONG_PASSWORD = `Wr0ng-${run}`;
let pki: TestPki;
let tlsEtcd: EtcdServer;
let authEtcd: EtcdServer;

type EtcdEnv = Record<
  'ESI_ETCD_ENDPOINTS' | 'ESI_ETCD_CA' | 'ESI_ETCD_CERT' | 'ESI_ETCD_KEY' | 'ESI_ETCD_USERNAME' | 'ESI_ETCD_PASSWORD',
  string
>;
const noEtcdSecurity = {
  ESI_ETCD_CA: '',
  ESI_ETCD_CERT: '',
  ESI_ETCD_KEY: '',
  ESI_ETCD_USERNAME: '',
  ESI_ETCD_PASSWORD: '',
};
const tlsEnv = (over: Partial<EtcdEnv> = {}): EtcdEnv => ({
  ...noEtcdSecurity,
  ESI_ETCD_ENDPOINTS: tlsEtcd.clientUrl,
  ESI_ETCD_CA: pki.ca,
  ESI_ETCD_CERT: pki.clientCert,
  ESI_ETCD_KEY: pki.clientKey,
  ...over,
});
const authEnv = (over: Partial<EtcdEnv> = {}): EtcdEnv => ({
  ...noEtcdSecurity,
  ESI_ETCD_ENDPOINTS: authEtcd.clientUrl,
  ESI_ETCD_USERNAME: users.user,
  ESI_ETCD_PASSWORD: users.password,
  ...over,
});

/** Runs fn with the ESI_ETCD_* variables set to env (empty = unset), then restores them. */
async function withEnv<T>(env: EtcdEnv, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/** A store made the way the functions make theirs: from the environment. */
const storeFromEnv = (env: EtcdEnv) => withEnv(env, async () => new EtcdStore());

/** The error a failing store call rejects with. */
async function storeError(env: EtcdEnv): Promise<Error> {
  const store = await storeFromEnv(env);
  try {
    await store.get('/anything');
  } catch (err) {
    return err as Error;
  } finally {
    store.close();
  }
  throw new Error('the store call succeeded with wrong settings');
}

beforeAll(async () => {
  pki = makeTestPki(path.join(dir, 'pki'));
  [tlsEtcd, authEtcd] = await Promise.all([
    startTlsEtcd(path.join(dir, 'tls'), pki),
    startAuthEtcd(path.join(dir, 'auth'), users),
  ]);
});

afterAll(async () => {
  await Promise.all([tlsEtcd?.stop(), authEtcd?.stop()]);
  sqsClient().destroy();
});

// ---------------------------------------------------------------------------------------------
// The relay (the real process) and the planner's handler, with the right and the wrong settings.

const relays: ChildProcess[] = [];
afterEach(async () => {
  for (const child of relays.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await killed(child);
  }
});

/** Writes n keys under a fresh prefix, runs the relay process with env, returns the keys SQS got. */
async function relayThrough(
  env: EtcdEnv,
  name: string,
  n: number,
): Promise<{ written: string[]; received: Set<string> }> {
  const prefix = `/${run}-${name}/`;
  const queue = `${run}-${name}.fifo`;
  const url = await createFifoQueue(queue);
  const store = await storeFromEnv(env);
  const written: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      await store
        .txn()
        .then(put(`${prefix}k${i}`, `v${i}`))
        .commit();
      written.push(`${prefix}k${i}`);
    }
  } finally {
    store.close();
  }
  const child = spawnRelay(
    { ...env, ESI_RELAY_ROUTES: `${prefix}=${queue}`, ESI_RELAY_NAME: name, ESI_LOG_LEVEL: 'INFO' },
    path.join(dir, `relay-${name}.log`),
  );
  relays.push(child);
  const received = new Set<string>();
  await waitFor(
    async () => {
      for (const body of await receiveAll(url)) received.add(decodeEventMessage(body).key);
      return received.size >= n;
    },
    { timeoutMs: 30_000, what: `${n} relayed events` },
  );
  child.kill('SIGTERM');
  await killed(child);
  expect(child.exitCode).toBe(0);
  return { written, received };
}

/** Runs the relay process with env; it must exit on its own. Returns its exit code and log. */
async function relayFailure(env: EtcdEnv, name: string): Promise<{ code: number | null; log: string }> {
  const logFile = path.join(dir, `relay-${name}.log`);
  const child = spawnRelay(
    { ...env, ESI_RELAY_ROUTES: `/${run}-${name}/=${run}-${name}.fifo`, ESI_RELAY_NAME: name, ESI_LOG_LEVEL: 'INFO' },
    logFile,
  );
  relays.push(child);
  await waitFor(() => child.exitCode !== null || child.signalCode !== null, {
    timeoutMs: 30_000,
    what: 'the relay to exit',
  });
  return { code: child.exitCode, log: fs.readFileSync(logFile, 'utf8') };
}

/**
 * Loads a fresh copy of the planner's handler (its etcd connection is made on first use from the
 * environment) and invokes it with one record for key, capturing everything it logs.
 */
async function invokePlanner(
  env: EtcdEnv,
  key: string,
  modRevision: number,
): Promise<{ res: SQSBatchResponse; logs: string }> {
  let handler!: typeof import('../../functions/planner/handler').handler;
  let store!: typeof import('../../shared/store/default-store');
  await jest.isolateModulesAsync(async () => {
    handler = (await import('../../functions/planner/handler')).handler;
    store = await import('../../shared/store/default-store');
  });
  const chunks: string[] = [];
  const capture = (chunk: unknown) => {
    chunks.push(String(chunk));
    return true;
  };
  const out = jest.spyOn(process.stdout, 'write').mockImplementation(capture);
  const err = jest.spyOn(process.stderr, 'write').mockImplementation(capture);
  try {
    const res = await withEnv(
      env,
      async () =>
        await handler(sqsEvent(sqsRecord({ key, modRevision, type: 'put' })), lambdaContext('esi-sec-planner')),
    );
    return { res, logs: chunks.join('') };
  } finally {
    out.mockRestore();
    err.mockRestore();
    // The handler's connection, made on first use; it would stay open otherwise.
    store.defaultStore().close();
  }
}

/** Writes a Gohan network to /config with env's store; returns its key and revision. */
async function writeNetwork(env: EtcdEnv, name: string): Promise<{ key: string; revision: number; id: string }> {
  const id = `${run}-${name}`;
  const key = `/config/v2.0/networks/${id}`;
  const store = await storeFromEnv(env);
  try {
    const { revision } = await store
      .txn()
      .then(put(key, encodeGohanConfigValue({ id, name, admin_state_up: true, shared: false, tenant_id: 't1' }, 1)))
      .commit();
    return { key, revision, id };
  } finally {
    store.close();
  }
}

async function readKey(env: EtcdEnv, key: string): Promise<string | undefined> {
  const store = await storeFromEnv(env);
  try {
    return (await store.get(key))?.value;
  } finally {
    store.close();
  }
}

/**
 * What the planner wrote for network id: its mirror of the config value (planned) or its /state
 * (planned with no template, or a planning failure). Either proves it read /config and wrote
 * its result through this etcd; which one depends on the planner's rules, not on TLS or auth.
 */
async function plannerOutcome(env: EtcdEnv, id: string): Promise<string | undefined> {
  const mirror = await readKey(env, `/esi-worker/config/v2.0/networks/${id}`);
  const state = await readKey(env, `/state/v2.0/networks/${id}`);
  return mirror ?? state;
}

function cli(env: EtcdEnv, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [path.join(ROOT, 'bin/esi.cjs'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('etcd with TLS and client certificates', () => {
  test('the store works with ESI_ETCD_CA/CERT/KEY as paths and as PEM text', async () => {
    for (const env of [
      tlsEnv(),
      tlsEnv({
        ESI_ETCD_CA: fs.readFileSync(pki.ca, 'utf8'),
        ESI_ETCD_CERT: fs.readFileSync(pki.clientCert, 'utf8'),
        ESI_ETCD_KEY: fs.readFileSync(pki.clientKey, 'utf8'),
      }),
    ]) {
      const store = await storeFromEnv(env);
      try {
        const key = `/${run}/tls/${Math.random().toString(36).slice(2)}`;
        const { revision } = await store.txn().then(put(key, 'over tls')).commit();
        expect(await store.get(key)).toMatchObject({ value: 'over tls', modRevision: revision });
        expect(await store.revision()).toBeGreaterThanOrEqual(revision);
      } finally {
        store.close();
      }
    }
  });

  test('the relay process forwards every event to SQS over TLS', async () => {
    const { written, received } = await relayThrough(tlsEnv(), 'tls-relay', 20);
    expect([...received].sort()).toEqual([...written].sort());
  });

  test('the planner handler reads and writes etcd over TLS', async () => {
    const { key, revision, id } = await writeNetwork(tlsEnv(), 'tls-net');
    const { res, logs } = await invokePlanner(tlsEnv(), key, revision);
    expect(res).toEqual({ batchItemFailures: [] });
    expect(JSON.parse((await plannerOutcome(tlsEnv(), id)) ?? 'null')).toMatchObject({ version: 1 });
    expect(logs).not.toMatch(/certificate|UNAVAILABLE/);
  });

  test('a wrong CA: the store, the relay, the planner and the CLI say the server certificate was not accepted', async () => {
    const env = tlsEnv({ ESI_ETCD_CA: pki.otherCa });
    const err = await storeError(env);
    expect(err).toBeInstanceOf(EtcdAccessError);
    expect((err as EtcdAccessError).problem).toBe('server-certificate');
    expect(err.message).toMatch(
      /server's TLS certificate was not accepted \(unable to verify the first certificate[;)].*ESI_ETCD_CA/,
    );
    expect(err.message).toContain(tlsEtcd.clientUrl);

    const relay = await relayFailure(env, 'tls-wrong-ca');
    expect(relay.code).toBe(1);
    expect(relay.log).toMatch(/relay could not start.*server's TLS certificate was not accepted/);

    const { key, revision } = await writeNetwork(tlsEnv(), 'tls-wrong-ca');
    const planner = await invokePlanner(env, key, revision);
    expect(planner.res.batchItemFailures).toHaveLength(1);
    expect(planner.logs).toMatch(/record failed; SQS will redeliver it.*server's TLS certificate was not accepted/);

    const out = cli(env, 'get', key);
    expect(out.status).toBe(1);
    expect(out.stderr).toMatch(
      /^esi: etcd at https:\/\/127\.0\.0\.1:\d+: the server's TLS certificate was not accepted/m,
    );
  });

  test('a client certificate from another CA, or none: etcd rejects it and the message says so', async () => {
    const wrong = await storeError(tlsEnv({ ESI_ETCD_CERT: pki.otherClientCert, ESI_ETCD_KEY: pki.otherClientKey }));
    expect(wrong).toBeInstanceOf(EtcdAccessError);
    expect(wrong.message).toMatch(
      /rejected the client certificate \(TLS alert: bad certificate\).*ESI_ETCD_CERT and ESI_ETCD_KEY/,
    );
    expect(wrong.cause).toBeInstanceOf(Error);

    const none = await storeError(tlsEnv({ ESI_ETCD_CERT: '', ESI_ETCD_KEY: '' }));
    expect(none.message).toMatch(
      /rejected the client certificate .*etcd requires one; set ESI_ETCD_CERT and ESI_ETCD_KEY/,
    );

    const relay = await relayFailure(
      tlsEnv({ ESI_ETCD_CERT: pki.otherClientCert, ESI_ETCD_KEY: pki.otherClientKey }),
      'tls-wrong-cert',
    );
    expect(relay.code).toBe(1);
    expect(relay.log).toMatch(/relay could not start.*rejected the client certificate/);
  });
});

describe('etcd with username/password authentication', () => {
  test('the store works as a least-privileged user; without credentials etcd refuses', async () => {
    const store = await storeFromEnv(authEnv());
    try {
      const key = `/${run}/auth/k`;
      const { revision } = await store.txn().then(put(key, 'authenticated')).commit();
      expect(await store.get(key)).toMatchObject({ value: 'authenticated', modRevision: revision });
    } finally {
      store.close();
    }
    const anonymous = await storeError(authEnv({ ESI_ETCD_USERNAME: '', ESI_ETCD_PASSWORD: '' }));
    expect(anonymous).toBeInstanceOf(EtcdAccessError);
    expect(anonymous.message).toMatch(
      /requires authentication and no user is set: set ESI_ETCD_USERNAME and ESI_ETCD_PASSWORD/,
    );
  });

  test('the relay process forwards every event to SQS as that user', async () => {
    const { written, received } = await relayThrough(authEnv(), 'auth-relay', 20);
    expect([...received].sort()).toEqual([...written].sort());
    // The relay logs its settings nowhere: its log never holds the password.
    expect(fs.readFileSync(path.join(dir, 'relay-auth-relay.log'), 'utf8')).not.toContain(users.password);
  });

  test('the planner handler reads and writes etcd as that user', async () => {
    const { key, revision, id } = await writeNetwork(authEnv(), 'auth-net');
    const { res, logs } = await invokePlanner(authEnv(), key, revision);
    expect(res).toEqual({ batchItemFailures: [] });
    expect(logs).not.toContain(users.password);
    expect(JSON.parse((await plannerOutcome(authEnv(), id)) ?? 'null')).toMatchObject({ version: 1 });
  });

  test('a wrong password: the store, the relay, the planner and the CLI say authentication failed, without the password', async () => {
    const env = authEnv({ ESI_ETCD_PASSWORD: WRONG_PASSWORD });
    const err = await storeError(env);
    expect(err).toBeInstanceOf(EtcdAccessError);
    expect((err as EtcdAccessError).problem).toBe('authentication');
    expect(err.message).toBe(
      `etcd at ${authEtcd.clientUrl}: authentication failed for user "${users.user}" (invalid user name or password): check ESI_ETCD_USERNAME and ESI_ETCD_PASSWORD`,
    );
    expect(`${err.message}\n${err.stack}\n${String(err.cause)}`).not.toContain(WRONG_PASSWORD);

    const relay = await relayFailure(env, 'auth-wrong-pw');
    expect(relay.code).toBe(1);
    expect(relay.log).toMatch(/relay could not start.*authentication failed for user/);
    expect(relay.log).not.toContain(WRONG_PASSWORD);

    const { key, revision } = await writeNetwork(authEnv(), 'auth-wrong-pw');
    const planner = await invokePlanner(env, key, revision);
    expect(planner.res.batchItemFailures).toHaveLength(1);
    expect(planner.logs).toMatch(/record failed; SQS will redeliver it.*authentication failed for user/);
    expect(planner.logs).not.toContain(WRONG_PASSWORD);

    const out = cli(env, 'get', key);
    expect(out.status).toBe(1);
    expect(out.stderr).toContain(`esi: etcd at ${authEtcd.clientUrl}: authentication failed for user "${users.user}"`);
    expect(out.stdout + out.stderr).not.toContain(WRONG_PASSWORD);
  });
});
