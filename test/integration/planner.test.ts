/**
 * The planner Lambda on real etcd, invoked with SQS events: the five seeds through etcd, one set
 * of jobs under redelivery, stale messages, a newer version behind a pending chain, heat templates
 * read from etcd, and every bad input ending as a readable PLAN_FAILED /state without blocking
 * the batch.
 */
import { encodeGohanConfigValue } from '../../shared/gohan/config-value';
import { handler } from '../../functions/planner/handler';
import { createLogger } from '../../shared/log/logger';
import { done } from '../../shared/sqs/consumer';
import { planConfigKey } from '../../shared/work/planner';
import { cleanupChain } from '../../shared/jobs/cleanup';
import { settleWaiting } from '../../shared/jobs/settle';
import { parseJobId } from '../../shared/jobs/job-keys';
import type { Job } from '../../shared/planner/types';
import { EtcdStore } from '../../shared/store/etcd-store';
import { collectTxn, del, put } from '../../shared/store/store';
import { jobDifferences } from '../unit/planner/helpers';
import {
  expectedJobs,
  seedFixtures,
  seedKeys,
  seedResources,
  stripSuffix,
  type SeedFixture,
} from '../helpers/seed-etcd';
import { lambdaContext, sqsEvent, sqsRecord } from '../helpers/sqs-event';
import { at, only } from '../helpers/at';
import { observedStore } from '../helpers/observed-store';

const store = new EtcdStore();
afterAll(() => store.close());
const testLogger = createLogger('esi-test-planner');

const uid = (p: string) => `${p}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const write = async (key: string, value: string) => (await store.txn().then(put(key, value)).commit()).revision;
const invoke = (...records: ReturnType<typeof sqsRecord>[]) =>
  handler(sqsEvent(...records), lambdaContext('esi-test-planner'));
const message = (key: string, modRevision: number) => sqsRecord({ key, modRevision, type: 'put' });
const json = async (key: string) => {
  const kv = await store.get(key);
  return kv ? JSON.parse(kv.value) : undefined;
};

interface StoredJobEntry {
  key: string;
  id: string;
  handler: string;
  job: Job;
  counter: number;
}

/** The /jobs/all entries of one resource (any version). */
async function jobsOf(type: string, id: string): Promise<StoredJobEntry[]> {
  const { items } = await store.range('/jobs/all/');
  return items
    .filter((kv) => {
      const p = parseJobId(kv.key.slice('/jobs/all/'.length));
      return p?.resourceType === type && p.resourceId === id;
    })
    .map((kv) => {
      const [h, job, counter] = JSON.parse(kv.value) as [string, Job, number];
      return { key: kv.key, id: job.id, handler: h, job, counter };
    });
}

/** Removes every key a seed touches, so each seed starts from exactly its own etcd state. */
async function clearSeed(seed: SeedFixture): Promise<void> {
  const touched = seedResources(seed);
  const { items } = await store.range('/jobs/');
  const jobKeys = items.filter((kv) => {
    const id = kv.key.split('/').pop() ?? '';
    const p = parseJobId(id);
    return p && touched.has(`${p.resourceType}:${p.resourceId}`);
  });
  const keys = [
    ...Object.keys(seedKeys(seed, { wire: true })),
    seed.change.key.replace('/config/', '/esi-worker/config/'),
    seed.change.key.replace('/config/', '/state/'),
    ...jobKeys.map((kv) => kv.key),
  ];
  await store
    .txn()
    .then(...keys.map((k) => del(k)))
    .commit();
}

async function writeSeed(seed: SeedFixture): Promise<number> {
  await clearSeed(seed);
  const entries = Object.entries(seedKeys(seed, { wire: true }));
  // point (1) last: the message carries its revision.
  await store
    .txn()
    .then(...entries.slice(0, -1).map(([k, v]) => put(k, typeof v === 'string' ? v : JSON.stringify(v))))
    .commit();
  const [key, value] = at(entries, -1, 'seed keys');
  return write(key, value as string);
}

const seeds = seedFixtures();
const matched: string[] = [];
afterAll(() =>
  console.log(
    `planner through etcd: ${matched.length}/${seeds.length} seeds matched point (2) (${matched.join(', ')})`,
  ),
);

describe.each(seeds.map((s) => [s.seed, s] as const))('seed %s through etcd', (name, seed) => {
  it('writes the point (2) jobs, waiting keys for jobs that must wait, and the mirror; redelivery changes nothing', async () => {
    const rev = await writeSeed(seed);
    expect(await invoke(message(seed.change.key, rev))).toEqual({ batchItemFailures: [] });

    const expected = expectedJobs(seed);
    const own = (await jobsOf(seed.change.resource_type, seed.change.resource_id)).filter(
      (j) => j.job.version === seed.change.value.version,
    );
    const byStripped = new Map(own.map((j) => [stripSuffix(j.key), j]));
    expect([...byStripped.keys()].sort()).toEqual(expected.map((e) => stripSuffix(e.key)).sort());
    const diffs: string[] = [];
    for (const e of expected) {
      const actual = byStripped.get(stripSuffix(e.key))!;
      expect([actual.handler, actual.counter]).toEqual([e.handler, e.counter]);
      diffs.push(...jobDifferences(actual.job, e.job).map((d) => `${e.key}: ${d}`));
      // A ready job is its all key alone; one with dependencies (unfinished here) waits.
      const waiting = await store.get(`/jobs/waiting/${actual.id}`);
      expect(waiting?.value).toBe(e.job.dependency.length === 0 ? undefined : e.handler);
    }
    expect(diffs).toEqual([]);
    const mirror = await json(seed.change.key.replace('/config/', '/esi-worker/config/'));
    expect(mirror).toEqual({
      body: seed.change.value.body,
      deleted: seed.change.value.marked_for_deletion === true,
      version: seed.change.value.version,
    });
    matched.push(name);

    // Redelivered twice (as SQS may): still one set of jobs.
    const before = (await store.range('/jobs/')).items
      .filter((kv) => /^\/jobs\/(all|waiting)\//.test(kv.key) && kv.key.includes(`:${seed.change.resource_id}:`))
      .map((kv) => `${kv.key}@${kv.modRevision}`);
    expect(await invoke(message(seed.change.key, rev))).toEqual({ batchItemFailures: [] });
    expect(await invoke(sqsRecord({ key: seed.change.key, modRevision: rev, type: 'put' }, 3))).toEqual({
      batchItemFailures: [],
    });
    const after = (await store.range('/jobs/')).items
      .filter((kv) => /^\/jobs\/(all|waiting)\//.test(kv.key) && kv.key.includes(`:${seed.change.resource_id}:`))
      .map((kv) => `${kv.key}@${kv.modRevision}`);
    expect(after).toEqual(before);
    expect(after).toHaveLength(expected.length + expected.filter((e) => e.job.dependency.length > 0).length);
    expect((await store.range('/jobs/ready/')).items).toEqual([]);
  });
});

describe('level-triggered planning', () => {
  /** A new network at version 1 in /config, and the ids and key of a subnet of it (not written). */
  const networkWritten = async () => {
    const net = uid('net');
    const sub = uid('sub');
    const netKey = `/config/v2.0/networks/${net}`;
    await write(netKey, network(net, 1));
    return { net, sub, netKey, subKey: `/config/v2.0/subnets/${sub}` };
  };
  const subnetValue = (id: string, net: string) =>
    encodeGohanConfigValue(
      {
        id,
        network_id: net,
        cidr: '10.0.0.0/24',
        enable_dhcp: true,
        gateway_ip: '10.0.0.1',
        dhcp_server_address: '10.0.0.2',
        dns_nameservers: [],
        ntp_servers: [],
        allocation_pools: [],
        host_routes: [],
      },
      1,
    );
  const network = (id: string, version: number, extra: Record<string, unknown> = {}) =>
    encodeGohanConfigValue({ id, name: id, admin_state_up: true, ...extra }, version);

  it('a stale message plans the current value, once', async () => {
    const id = uid('net');
    const key = `/config/v2.0/networks/${id}`;
    const oldRev = await write(key, network(id, 1));
    await write(key, network(id, 2, { admin_state_up: false }));
    expect(await invoke(message(key, oldRev))).toEqual({ batchItemFailures: [] });
    const jobs = await jobsOf('network', id);
    expect(jobs.map((j) => stripSuffix(j.id))).toEqual([`modify:heat_worker:network:${id}:2`]);
    expect(only(jobs).job.params.find((p) => p.param === 'admin_state_up')?.value).toBe(false);
    expect(await invoke(message(key, oldRev + 1))).toEqual({ batchItemFailures: [] });
    expect(await jobsOf('network', id)).toHaveLength(1);
  });

  it('a newer version while the older job is unfinished waits for it (docs/planner.md)', async () => {
    const id = uid('net');
    const key = `/config/v2.0/networks/${id}`;
    await invoke(message(key, await write(key, network(id, 1))));
    const create = only(await jobsOf('network', id), 'network jobs');
    expect(await store.get(`/jobs/waiting/${create.id}`)).toBeUndefined();

    await invoke(message(key, await write(key, network(id, 2, { admin_state_up: false }))));
    const modify = (await jobsOf('network', id)).find((j) => j.job.version === 2)!;
    expect(stripSuffix(modify.id)).toBe(`modify:heat_worker:network:${id}:2`);
    expect(modify.job.dependency).toEqual([create.id]);
    expect((await store.get(`/jobs/waiting/${modify.id}`))?.value).toBe('heat_worker');

    // Once the older job is finished, a later version no longer depends on it.
    await write(`/jobs/finished/${create.id}`, '{"ok": true}');
    await write(`/jobs/finished/${modify.id}`, '{"ok": true}');
    await invoke(message(key, await write(key, network(id, 3))));
    const v3 = (await jobsOf('network', id)).find((j) => j.job.version === 3)!;
    expect(v3.job.dependency).toEqual([]);
    expect(await store.get(`/jobs/all/${v3.id}`)).toBeDefined();
    expect(await store.get(`/jobs/waiting/${v3.id}`)).toBeUndefined();
  });

  it('a change waits for the unfinished jobs of the resources that reference it, read through the referencing index', async () => {
    const dev = uid('dev');
    const pp = uid('pp');
    const devKey = `/config/v2.0/ese_devices/${dev}`;
    const ppKey = `/config/v2.0/ese_physical_ports/${pp}`;
    const device = (v: number, name = 'sw') =>
      encodeGohanConfigValue(
        { id: dev, name, hostname: 'QFX', tenant_id: 't', management_ip_address: '10.0.0.1', existing: 'existing' },
        v,
      );
    await invoke(message(devKey, await write(devKey, device(1))));
    const physicalPort = encodeGohanConfigValue(
      { id: pp, name: 'xe-0/0/1', tenant_id: 't', ese_device_id: dev, existing: 'existing' },
      1,
    );
    await invoke(message(ppKey, await write(ppKey, physicalPort)));
    const devCreate = only(await jobsOf('ese_device', dev), 'ese_device jobs');
    const ppCreate = only(await jobsOf('ese_physical_port', pp), 'ese_physical_port jobs');
    // The physical port reads the device's body (hostname, management ip): it references the device.
    expect(ppCreate.job.dependency).toEqual([devCreate.id]);
    const listed = (await store.range(`/jobs/referencing/ese_device/${dev}/`)).items.map((kv) => kv.key);
    expect(listed).toEqual([`/jobs/referencing/ese_device/${dev}/${ppCreate.id}`]);

    // The device changes while the physical port's job (planned before) is unfinished: it waits for it.
    await invoke(message(devKey, await write(devKey, device(2, 'sw2'))));
    const modify = (await jobsOf('ese_device', dev)).find((j) => j.job.version === 2)!;
    expect([...modify.job.dependency].sort()).toEqual([devCreate.id, ppCreate.id].sort());

    // The physical port's chain completes and is cleaned up: its index entry goes with it.
    // Each finished as a finish does: its finished key, then its dependents settled (the modify promoted).
    for (const id of [ppCreate.id, devCreate.id, modify.id]) {
      await write(`/jobs/finished/${id}`, '{"ok": true}');
      await settleWaiting(store, { of: [id] });
    }
    expect(
      await cleanupChain(store, { resource_type: 'ese_physical_port', resource_id: pp, version: 1 }),
    ).toMatchObject({
      cleaned: true,
    });
    expect((await store.range(`/jobs/referencing/ese_device/${dev}/`)).items).toEqual([]);
    await invoke(message(devKey, await write(devKey, device(3, 'sw3'))));
    const v3 = (await jobsOf('ese_device', dev)).find((j) => j.job.version === 3)!;
    expect(v3.job.dependency).toEqual([]);
  });

  it('a resource whose stack outputs a job reads is not a referencing one, and is planned first when its change is not planned yet', async () => {
    const { net, sub, netKey, subKey } = await networkWritten();
    const subnet = subnetValue(sub, net);
    // The subnet's message is handled before the network's (another message group): the
    // network's change is planned first, and the subnet's job waits for it.
    expect(await invoke(message(subKey, await write(subKey, subnet)))).toEqual({ batchItemFailures: [] });
    const netCreate = only(await jobsOf('network', net), 'network jobs');
    const subCreate = only(await jobsOf('subnet', sub), 'subnet jobs');
    expect(stripSuffix(netCreate.id)).toBe(`create:heat_worker:network:${net}:1`);
    expect(subCreate.job.dependency).toEqual([netCreate.id]);
    expect(await json(`/esi-worker/config/v2.0/networks/${net}`)).toMatchObject({ version: 1 });
    // The subnet reads the network's outputs: no referencing entry, so the network never waits for it.
    expect((await store.range(`/jobs/referencing/network/${net}/`)).items).toEqual([]);
    // The network's own message later finds its change planned.
    await invoke(message(netKey, (await store.get(netKey))!.modRevision));
    expect(await jobsOf('network', net)).toHaveLength(1);
  });

  it("a subnet planned before its network: the network is planned first, and the subnet's own inputs are read once", async () => {
    const { net, sub, subKey } = await networkWritten();
    await write(subKey, subnetValue(sub, net));
    let subReads = 0;
    const counting = observedStore(store, {
      get: (key) => (subReads += key === subKey ? 1 : 0),
      txn: (parts) => (subReads += parts.then.filter((op) => op.kind === 'get' && op.key === subKey).length),
    });
    expect(await planConfigKey(counting, { key: subKey }, testLogger)).toEqual(done(expect.any(String)));
    const netCreate = only(await jobsOf('network', net), 'network jobs');
    const subCreate = only(await jobsOf('subnet', sub), 'subnet jobs');
    expect(subCreate.job.dependency).toEqual([netCreate.id]);
    expect(await store.get(`/jobs/waiting/${subCreate.id}`)).toMatchObject({ value: 'heat_worker' });
    expect(subReads).toBe(1);
  });

  it("a network planned between its subnet's read of the network's jobs and the subnet's write: the subnet is planned again and waits for the network's job", async () => {
    const { net, sub, netKey, subKey } = await networkWritten();
    await write(subKey, subnetValue(sub, net));
    // The network's own plan (its message, another invocation) commits right after the subnet's
    // plan has read the network's unfinished jobs (none yet), and before the subnet's write.
    const netJobsPrefix = `/jobs/all/create:heat_worker:network:${net}:`;
    let racing: Promise<unknown> | undefined;
    const raceAfter = async <T>(read: unknown, result: T): Promise<T> => {
      if (!racing && JSON.stringify(read).includes(netJobsPrefix)) {
        racing = planConfigKey(store, { key: netKey }, testLogger);
        await racing;
      }
      return result;
    };
    const racingStore = new Proxy(store, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        // The jobs are ranged by range ops of a read-only transaction (or by ranges).
        if (prop === 'txn')
          return () =>
            collectTxn(async (parts) =>
              raceAfter(
                parts,
                await target
                  .txn()
                  .when(...parts.when)
                  .then(...parts.then)
                  .otherwise(...parts.otherwise)
                  .commit(),
              ),
            );
        if (prop !== 'range') return (value as () => unknown).bind(target);
        return async (...args: unknown[]) =>
          raceAfter(args, await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      },
    });
    expect(await planConfigKey(racingStore, { key: subKey }, testLogger)).toEqual(done(expect.any(String)));
    expect(racing).toBeDefined();
    const netCreate = only(await jobsOf('network', net), 'network jobs');
    const subCreate = only(await jobsOf('subnet', sub), 'subnet jobs');
    expect(await jobsOf('network', net)).toHaveLength(1);
    expect(await jobsOf('subnet', sub)).toHaveLength(1);
    expect(subCreate.job.dependency).toEqual([netCreate.id]);
    expect(await store.get(`/jobs/waiting/${subCreate.id}`)).toMatchObject({ value: 'heat_worker' });
  });

  it('an index entry whose job is gone (removed without the clean-up) is dropped by the next plan of the resource', async () => {
    const net = uid('net');
    const netKey = `/config/v2.0/networks/${net}`;
    const ghost = `create:heat_worker:subnet:${uid('sub')}:1:zzzzz`;
    await write(`/jobs/referencing/network/${net}/${ghost}`, '');
    await invoke(message(netKey, await write(netKey, network(net, 1))));
    const create = only(await jobsOf('network', net), 'network jobs');
    expect(create.job.dependency).toEqual([]);
    expect(await store.get(`/jobs/referencing/network/${net}/${ghost}`)).toBeUndefined();
  });

  it("a key deleted after a logical delete plans nothing and removes the worker's own keys (mirror, stack record, job state), not /state", async () => {
    const id = uid('net');
    const key = `/config/v2.0/networks/${id}`;
    await invoke(message(key, await write(key, network(id, 1))));
    const create = only(await jobsOf('network', id), 'network jobs');
    // The logical delete was planned and its chain aggregated: the mirror says deleted, no job is left.
    await store
      .txn()
      .then(
        del(create.key),
        put(`/esi-worker/config/v2.0/networks/${id}`, JSON.stringify({ body: { id }, deleted: true, version: 2 })),
        put(
          `/esi-worker/heat_stacks/v2.0/networks/${id}`,
          '{"id": "network:x", "output": [], "stack_id": "", "stack_status": "DELETE_COMPLETE", "status_reason": "", "tenant_id": "t"}',
        ),
        put(`/esi-worker/job_state/v2.0/networks/${id}`, '{}'),
        put(`/state/v2.0/networks/${id}`, '{"error": "", "state": {"worker_state": "DELETE_COMPLETED"}, "version": 2}'),
      )
      .commit();
    const rev = (await store.txn().then(del(key)).commit()).revision;
    expect(await invoke(sqsRecord({ key, modRevision: rev, type: 'delete' }))).toEqual({ batchItemFailures: [] });
    expect(await store.get(`/esi-worker/config/v2.0/networks/${id}`)).toBeUndefined();
    expect(await store.get(`/esi-worker/heat_stacks/v2.0/networks/${id}`)).toBeUndefined();
    expect(await store.get(`/esi-worker/job_state/v2.0/networks/${id}`)).toBeUndefined();
    expect(await json(`/state/v2.0/networks/${id}`)).toEqual({
      error: '',
      state: { worker_state: 'DELETE_COMPLETED' },
      version: 2,
    });
    expect(await jobsOf('network', id)).toEqual([]);
  });

  it('a key deleted without a logical delete plans the teardown from the mirror; a redelivery changes nothing', async () => {
    const id = uid('net');
    const key = `/config/v2.0/networks/${id}`;
    await invoke(message(key, await write(key, network(id, 1))));
    const create = only(await jobsOf('network', id), 'network jobs');
    const mirrorKey = `/esi-worker/config/v2.0/networks/${id}`;
    const before = await json(mirrorKey);
    const rev = (await store.txn().then(del(key)).commit()).revision;
    expect(await invoke(sqsRecord({ key, modRevision: rev, type: 'delete' }))).toEqual({ batchItemFailures: [] });
    const jobs = await jobsOf('network', id);
    expect(jobs.map((j) => [stripSuffix(j.id), j.job.version, j.job.action, j.job.dependency])).toEqual([
      [`create:heat_worker:network:${id}:1`, 1, 'create', []],
      [`delete:heat_worker:network:${id}:2`, 2, 'delete', [create.id]],
    ]);
    expect(at(jobs, 1).job.resource_input).toEqual((before as { body: unknown }).body);
    expect(await json(mirrorKey)).toEqual({ ...(before as object), deleted: true, version: 2 });
    // The delete message again (or the reconciler's clean-up): the teardown is planned, its chain still runs.
    const mirrorRev = (await store.get(mirrorKey))!.modRevision;
    expect(await invoke(sqsRecord({ key, modRevision: rev, type: 'delete' }))).toEqual({ batchItemFailures: [] });
    expect((await store.get(mirrorKey))!.modRevision).toBe(mirrorRev);
    expect(await jobsOf('network', id)).toHaveLength(2);
  });

  it('a resource without a template gets READ_COMPLETE and the mirror, in one step', async () => {
    const id = uid('quota');
    const key = `/config/v2.0/quotas/${id}`;
    expect(await invoke(message(key, await write(key, encodeGohanConfigValue({ id, tenant_id: 't' }, 1))))).toEqual({
      batchItemFailures: [],
    });
    expect(await store.get(`/state/v2.0/quotas/${id}`).then((kv) => kv?.value)).toBe(
      '{"error": "", "state": {"worker_state": "READ_COMPLETE"}, "version": 1}',
    );
    expect(await json(`/esi-worker/config/v2.0/quotas/${id}`)).toEqual({
      body: { id, tenant_id: 't' },
      deleted: false,
      version: 1,
    });
    expect(await jobsOf('quota', id)).toEqual([]);
  });

  it('heat templates are read from etcd on each plan: a template change applies without a restart', async () => {
    const service = uid('svc').replace(/-/g, '_');
    const templateKey = `/config/v2.0/heat_templates/static_route_${service}`;
    const template = (timeout: string) => ({
      id: `static_route_${service}`,
      handler: 'heat_worker',
      watch: [],
      template_file: 'heat_template_version: 2013-05-23\nresources: {}\n',
      parameter_mappings: { name: 'Pid', heat_timeout: timeout },
    });
    await write(
      templateKey,
      JSON.stringify({ body: JSON.stringify(template('C7')), marked_for_deletion: false, version: 1 }),
    );
    const id = uid('route');
    const key = `/config/v2.0/static_routes/${id}`;
    await invoke(message(key, await write(key, encodeGohanConfigValue({ id, service_type: service }, 1))));
    await write(
      templateKey,
      JSON.stringify({ body: JSON.stringify(template('C9')), marked_for_deletion: false, version: 2 }),
    );
    await invoke(message(key, await write(key, encodeGohanConfigValue({ id, service_type: service }, 2))));
    const jobs = await jobsOf('static_route', id);
    const timeout = (v: number) =>
      jobs.find((j) => j.job.version === v)?.job.params.find((p) => p.param === 'heat_timeout')?.value;
    expect([timeout(1), timeout(2)]).toEqual(['7', '9']);
  });
});

describe('bad inputs: a readable PLAN_FAILED /state, the record acknowledged, the batch goes on', () => {
  it('each bad input in one batch, then a good record that is still planned', async () => {
    const ids = {
      notJson: uid('net'),
      missingField: uid('port'),
      unknownType: uid('w'),
      noTemplate: uid('route'),
      badOperator: uid('route'),
      missingRef: uid('port'),
      good: uid('net'),
    };
    const opService = uid('op').replace(/-/g, '_');
    await write(
      `/config/v2.0/heat_templates/static_route_${opService}`,
      JSON.stringify({
        body: JSON.stringify({
          id: `static_route_${opService}`,
          handler: 'heat_worker',
          watch: [],
          template_file: '',
          parameter_mappings: {
            name: 'Pid',
            nexthop: {
              if_mapping: { contains: [{ field: 'id' }, { constant: 'x' }] },
              then_mapping: { constant: 1 },
              else_mapping: { constant: 2 },
            },
          },
        }),
        marked_for_deletion: false,
        version: 1,
      }),
    );
    const port = (id: string, extra: Record<string, unknown>) => ({
      id,
      attached: true,
      device_id: '',
      admin_state_up: true,
      tenant_id: 't',
      allowed_address_pairs: [],
      mac_address: 'fa:16:3e:00:00:01',
      device_owner: 'compute:nova',
      security_groups: [],
      fixed_ips: [],
      ...extra,
    });
    const inputs: Array<[string, string, RegExp]> = [
      [
        `/config/v2.0/networks/${ids.notJson}`,
        '{"body": "{not json", "marked_for_deletion": false, "version": 1}',
        /^config body is a string but not JSON \(version 1\) at \/config\/v2\.0\/networks\/\S+ \(revision \d+\)$/,
      ],
      [
        `/config/v2.0/ports/${ids.missingField}`,
        encodeGohanConfigValue(port(ids.missingField, {}), 1),
        /template "port": param "virtual_network": .*field "network_id" is missing.* at \/config\/v2\.0\/ports\/\S+ \(revision \d+, version 1\)$/,
      ],
      [
        `/config/v2.0/widgets/${ids.unknownType}`,
        encodeGohanConfigValue({ id: ids.unknownType }, 1),
        /^unknown resource type: no Gohan schema has the plural "widgets" at \/config\/v2\.0\/widgets\/\S+ \(revision \d+, version 1\)$/,
      ],
      [
        `/config/v2.0/static_routes/${ids.noTemplate}`,
        encodeGohanConfigValue({ id: ids.noTemplate, service_type: 'nosuch' }, 1),
        /^template_mappings\.heat_worker\.static_route selects template "static_route_nosuch", which does not exist at \/config\/v2\.0\/static_routes\/\S+ \(revision \d+, version 1\)$/,
      ],
      [
        `/config/v2.0/static_routes/${ids.badOperator}`,
        encodeGohanConfigValue({ id: ids.badOperator, service_type: opService }, 1),
        /template "static_route_op\S+": param "nexthop": .*contains.* at \/config\/v2\.0\/static_routes\/\S+ \(revision \d+, version 1\)$/,
      ],
      [
        `/config/v2.0/ports/${ids.missingRef}`,
        encodeGohanConfigValue(port(ids.missingRef, { network_id: `gone-${ids.missingRef}` }), 1),
        /template "port": param "virtual_network": .*referenced network gone-\S+ \(from field "network_id"\) does not exist at \/config\/v2\.0\/ports\/\S+ \(revision \d+, version 1\)$/,
      ],
    ];
    const records = [];
    for (const [key, value] of inputs) records.push(message(key, await write(key, value)));
    const goodKey = `/config/v2.0/networks/${ids.good}`;
    records.push(
      message(
        goodKey,
        await write(goodKey, encodeGohanConfigValue({ id: ids.good, name: 'good', admin_state_up: true }, 1)),
      ),
    );

    expect(await invoke(...records)).toEqual({ batchItemFailures: [] });

    for (const [key, , error] of inputs) {
      const state = await json(key.replace('/config/', '/state/'));
      expect({ key, state }).toEqual({
        key,
        state: { error: expect.stringMatching(error), state: { worker_state: 'PLAN_FAILED' }, version: 1 },
      });
      expect(await store.get(key.replace('/config/', '/esi-worker/config/'))).toBeUndefined();
    }
    expect((await jobsOf('network', ids.good)).map((j) => stripSuffix(j.id))).toEqual([
      `create:heat_worker:network:${ids.good}:1`,
    ]);

    // A redelivered failure leaves /state as it is.
    const [failedKey] = at(inputs, 1);
    const stateKey = failedKey.replace('/config/', '/state/');
    const before = (await store.get(stateKey))!.modRevision;
    expect(await invoke(message(failedKey, 1))).toEqual({ batchItemFailures: [] });
    expect((await store.get(stateKey))!.modRevision).toBe(before);
  });

  it('an unreadable template_mappings override is a PLAN_FAILED naming the key', async () => {
    // Exercised on the pure read side with a snapshot, so the shared etcd's override key stays untouched.
    const { preparePlan, SnapshotSource } = await import('../../shared/work/planning/inputs');
    const key = '/config/v2.0/networks/n1';
    const source = new SnapshotSource({
      [key]: { body: { id: 'n1', admin_state_up: true }, version: 1, marked_for_deletion: false },
      '/esi-worker/template_mappings': { heat_worker: 'not a section' },
    });
    const prepared = await preparePlan(source, key);
    expect(
      prepared.kind === 'planned' && prepared.result.kind === 'error' ? prepared.result.error.message : prepared.kind,
    ).toBe(
      'template_mappings override at /esi-worker/template_mappings (revision 1) is invalid: handler section "heat_worker" must be an object of resource type → mapping',
    );
  });
});
