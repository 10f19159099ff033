/**
 * `serverless invoke local -f planner --path test/fixtures/events/planner-network.json`, as a user
 * runs it: the real handler (loaded from its .ts source), no AWS, pointed at this run's etcd by
 * --param. The config value the sample event names is planned: its mirror and its job in etcd.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { EtcdStore } from '../../shared/store/etcd-store';
import { del, put } from '../../shared/store/store';

jest.setTimeout(120_000);

const ROOT = path.resolve(__dirname, '..', '..');
const KEY = '/config/v2.0/networks/invoke-local-net';
const store = new EtcdStore();

afterAll(() => store.close());

const clean = () => store.txn().then(del(KEY)).then(del('/esi-worker/config/v2.0/networks/invoke-local-net')).commit();

test('serverless invoke local runs the planner on the sample event, offline, against the etcd it is given', async () => {
  await clean();
  const body = { id: 'invoke-local-net', name: 'invoke local', admin_state_up: true };
  await store
    .txn()
    .then(put(KEY, encodeGohanConfigValue(body, 1)))
    .commit();

  const args = [
    '--no-install',
    'serverless',
    'invoke',
    'local',
    '-f',
    'planner',
    '--path',
    'test/fixtures/events/planner-network.json',
  ];
  const params = [
    '--param=local=true',
    `--param=etcdEndpoints=${process.env.ESI_ETCD_ENDPOINTS}`,
    '--param=logLevel=WARN',
  ];
  // No AWS credentials and nothing of this shell but PATH: the planner needs only etcd.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME };
  const res = await new Promise<{ code: number; output: string }>((resolve) =>
    execFile('npx', [...args, ...params], { cwd: ROOT, env, timeout: 100_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` }),
    ),
  );
  console.log(`npx ${[...args, ...params].join(' ')}\n${res.output.trim()}`);
  expect(res.code).toBe(0);
  expect(res.output).toContain('"batchItemFailures": []');

  const mirror = await store.get('/esi-worker/config/v2.0/networks/invoke-local-net');
  expect(JSON.parse(mirror!.value)).toEqual({ body, deleted: false, version: 1 });
  const jobs = (await store.range('/jobs/all/')).items
    .map((kv) => kv.key)
    .filter((k) => k.includes(':invoke-local-net:'));
  expect(jobs).toEqual([
    expect.stringMatching(/^\/jobs\/all\/create:heat_worker:network:invoke-local-net:1:[a-z0-9]{5}$/),
  ]);
});
