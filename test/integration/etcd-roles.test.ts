/**
 * `esi etcd-roles` against a real etcd with authentication on: the command (run as root) creates
 * one role per component; a user with each role may read and write exactly its prefixes and is
 * refused everywhere else. The expected access is written out here, key by key, not taken from
 * the command's table.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { EtcdServer } from '../../infra/local/etcd-server';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put } from '../../shared/store/store';
import { startAuthEtcd } from '../helpers/secure-etcd';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..', '..');
const run = `roles${Date.now()}`;
const dir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'etcd-roles-'));
const users = { rootPassword: `root-Pw-${run}`, user: 'esi-any', password: `Any-s3cret-${run}` };
let etcd: EtcdServer;
let root: EtcdStore;

/** One key under every prefix the system uses, and one outside them all. */
const KEYS = {
  config: '/config/v2.0/networks/n1',
  template: '/config/v2.0/heat_templates/t1',
  mirror: '/esi-worker/config/v2.0/networks/n1',
  mappings: '/esi-worker/template_mappings',
  stack: '/esi-worker/heat_stacks/v2.0/networks/n1',
  jobState: '/esi-worker/job_state/v2.0/networks/n1',
  job: '/jobs/all/create:heat_worker:network:n1:1:abcde',
  state: '/state/v2.0/networks/n1',
  monitoring: '/monitoring/v2.0/networks/n1',
  checkpoint: '/esi-relay/checkpoints/prod',
  memory: '/esi-reconciler/memory',
  other: '/other/key',
} as const;
type Name = keyof typeof KEYS;
const ALL = Object.keys(KEYS) as Name[];

/** Per component: the keys it may read, and those it may write; everything else is refused. */
const EXPECTED: Record<string, { read: Name[]; write: Name[] }> = {
  relay: { read: ['config', 'template', 'job', 'checkpoint'], write: ['checkpoint'] },
  planner: {
    read: ['config', 'template', 'mirror', 'mappings', 'stack', 'jobState', 'job', 'state'],
    write: ['mirror', 'mappings', 'stack', 'jobState', 'job', 'state'],
  },
  heat: {
    read: ['config', 'template', 'mirror', 'mappings', 'stack', 'jobState', 'job'],
    write: ['stack', 'jobState', 'job'],
  },
  monitoring: {
    read: ['config', 'template', 'mirror', 'mappings', 'stack', 'jobState', 'job'],
    write: ['jobState', 'job'],
  },
  aggregator: {
    read: ['config', 'template', 'mirror', 'mappings', 'stack', 'jobState', 'job', 'state', 'monitoring'],
    write: ['jobState', 'job', 'state', 'monitoring'],
  },
  'monitoring-sync': { read: ['monitoring'], write: ['monitoring'] },
  reconciler: {
    read: ['config', 'template', 'mirror', 'mappings', 'stack', 'jobState', 'job', 'state', 'checkpoint', 'memory'],
    write: ['job', 'memory'],
  },
};

function esi(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve) =>
    execFile(
      'npx',
      ['--no-install', 'tsx', 'cli/main.ts', ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    ),
  );
}

const refused = (p: Promise<unknown>) =>
  p.then(
    () => 'allowed',
    (err: Error) => (/permission denied/i.test(err.message) ? 'refused' : `error: ${err.message}`),
  );

beforeAll(async () => {
  etcd = await startAuthEtcd(path.join(dir, 'auth'), users);
  root = new EtcdStore({ endpoints: [etcd.clientUrl], auth: { username: 'root', password: users.rootPassword } });
  for (const component of Object.keys(EXPECTED)) await root.client.user(`u-${component}`).create(`${component}-${run}`);
  let txn = root.txn();
  for (const key of Object.values(KEYS)) txn = txn.then(put(key, 'seed'));
  await txn.commit();
});

afterAll(async () => {
  root?.close();
  await etcd?.stop();
});

test('esi etcd-roles creates one role per component; each may read and write only its prefixes', async () => {
  const grants = Object.keys(EXPECTED).flatMap((c) => ['--grant', `${c}=u-${c}`]);
  const env = { ESI_ETCD_ENDPOINTS: etcd.clientUrl, ESI_ETCD_USERNAME: 'root', ESI_ETCD_PASSWORD: users.rootPassword };
  const res = await esi(['etcd-roles', ...grants], env);
  console.log(res.output.trim());
  expect(res.code).toBe(0);
  // Run twice: the second converges to the same permissions (nothing duplicated, nothing left).
  expect((await esi(['etcd-roles', ...grants], env)).code).toBe(0);

  for (const [component, expected] of Object.entries(EXPECTED)) {
    const store = new EtcdStore({
      endpoints: [etcd.clientUrl],
      auth: { username: `u-${component}`, password: `${component}-${run}` },
    });
    try {
      // Every component asks for the current revision.
      expect({ component, revision: await refused(store.revision()) }).toEqual({ component, revision: 'allowed' });
      const seen: Record<string, { read: string; write: string }> = {};
      for (const name of ALL) {
        const key = KEYS[name];
        seen[name] = {
          read: await refused(store.get(key)),
          write: await refused(
            store
              .txn()
              .then(put(key, `by ${component}`))
              .commit(),
          ),
        };
      }
      const want = Object.fromEntries(
        ALL.map((name) => [
          name,
          {
            read: expected.read.includes(name) ? 'allowed' : 'refused',
            write: expected.write.includes(name) ? 'allowed' : 'refused',
          },
        ]),
      );
      expect({ component, access: seen }).toEqual({ component, access: want });
      // A prefix read (range) outside its prefixes is refused too.
      expect({ component, range: await refused(store.range('/')) }).toEqual({ component, range: 'refused' });
    } finally {
      store.close();
    }
  }
  // A write is a write: deleting outside the prefixes is refused as well (the relay and /state).
  const relay = new EtcdStore({ endpoints: [etcd.clientUrl], auth: { username: 'u-relay', password: `relay-${run}` } });
  try {
    expect(await refused(relay.txn().then(del(KEYS.state)).commit())).toBe('refused');
  } finally {
    relay.close();
  }
});
