/**
 * The Gohan tier: the upstream Gohan server (infra/gohan/) as the client of the whole local stack
 * (test/helpers/stack.ts), driven through Gohan's REST API only, as production does. A network, a
 * subnet and two ports are created; one port is updated twice quickly; one port is deleted; then
 * everything is. Through Gohan's REST API each resource must show what the worker reported
 * (worker_state, version, error); through etcd and the Heat simulator, stacks must exist exactly
 * for the live resources, and nothing of the worker is left at the end. Each REST call is printed
 * with the time until its outcome showed (p50 and max), and the final counts.
 *
 * Skipped, with one line saying why, where the Gohan build or libsqlite3-0 is missing.
 */
import path from 'node:path';
import { freePort } from '../../infra/local/ports';
import { GOHAN_TOKEN, gohanUnavailable, startGohan, type RunningGohan } from '../../infra/gohan/gohan';
import type { RunningStack } from '../../infra/stack/stack';
import { stackNameOf } from '../../shared/heat/records';
import { EtcdStore } from '../../shared/store/etcd-store';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';
import { definedOnly } from '../../shared/defined-only';
import { get } from '../helpers/at';

jest.setTimeout(300_000);

const unavailable = gohanUnavailable();
if (unavailable) process.stdout.write(`gohan tier: SKIPPED: ${unavailable}\n`);
const maybe = unavailable ? describe.skip : describe;

type Resource = Record<string, unknown> & { id: string; worker_state: string; version: number; error: string };
const SINGULAR: Record<string, string> = { networks: 'network', subnets: 'subnet', ports: 'port' };
/** The worker's keys of resources (the reconciler's memory and the relay's checkpoint are not per resource). */
const WORKER_PREFIXES = ['/esi-worker/', '/jobs/', '/state/', '/monitoring/'];

maybe('Gohan as the client', () => {
  let stack: RunningStack;
  let gohan: RunningGohan;
  let store: EtcdStore;
  const timings: { call: string; ms: number; inEtcd?: number }[] = [];

  beforeAll(async () => {
    // Gohan deletes a resource's row at once: nothing reads its /state again.
    stack = await startTestStack('gohan', { ESI_KEY_DELETE_STATE: 'remove' });
    store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });
    gohan = await startGohan({
      etcd: stack.env.ESI_ETCD_ENDPOINTS,
      port: await freePort(),
      dataDir: path.join(process.env.ESI_TEST_ROOT!, 'gohan'),
    });
    process.stdout.write(`Gohan ${gohan.url} (pid ${gohan.pid}, log ${gohan.logFile})\n`);
  });
  afterAll(async () => {
    await gohan?.stop();
    store?.close();
    await stack?.stop();
  });

  /** One REST call, printed; the parsed body (undefined for an empty one) and the time it was made. */
  async function rest(method: string, url: string, body?: unknown) {
    const at = Date.now();
    const res = await fetch(`${gohan.url}/v2.0/${url}`, {
      method,
      headers: { 'X-Auth-Token': GOHAN_TOKEN, 'Content-Type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await res.text();
    const said = res.ok ? '' : ` ${text}`;
    process.stdout.write(`${method} /v2.0/${url}${body ? ` ${JSON.stringify(body)}` : ''} → ${res.status}${said}\n`);
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, Resource>) : undefined, at };
  }
  async function create(plural: string, body: Record<string, unknown>) {
    const r = await rest('POST', plural, body);
    expect(r.status).toBe(201);
    return { id: get(r.json!, get(SINGULAR, plural)).id, at: r.at, call: `POST /v2.0/${plural}` };
  }
  async function show(plural: string, id: string): Promise<Resource | undefined> {
    const r = await fetch(`${gohan.url}/v2.0/${plural}/${id}`, { headers: { 'X-Auth-Token': GOHAN_TOKEN } });
    if (r.status === 404) return undefined;
    return ((await r.json()) as Record<string, Resource>)[get(SINGULAR, plural)];
  }
  /**
   * Waits until Gohan shows the worker's state for the version; records the time since the call,
   * and when the worker's /state in etcd had it (what Gohan's watch adds comes after that).
   */
  async function shown(
    plural: string,
    id: string,
    version: number,
    workerState: string,
    call: { at: number; call: string },
  ): Promise<Resource> {
    let inEtcd: number | undefined;
    const r = (await waitFor(
      async () => {
        if (inEtcd === undefined) {
          const kv = await store.get(`/state/v2.0/${plural}/${id}`);
          const st = kv ? (JSON.parse(kv.value) as { version: number; state: { worker_state: string } }) : undefined;
          if (st && st.version >= version && st.state.worker_state === workerState) inEtcd = Date.now() - call.at;
        }
        const got = await show(plural, id);
        return got && got.version >= version && got.worker_state === workerState ? got : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 25, what: `${plural}/${id} showing ${workerState} for version ${version}` },
    )) as Resource;
    timings.push(
      definedOnly({ call: `${call.call} (${workerState} v${r.version})`, ms: Date.now() - call.at, inEtcd }),
    );
    return r;
  }
  const liveStacks = () =>
    stack.heat.engine.stacks
      .filter((s) => !s.deleted)
      .map((s) => s.name)
      .sort();
  async function workerKeys(): Promise<string[]> {
    const found: string[] = [];
    for (const prefix of WORKER_PREFIXES)
      found.push(...(await store.range(prefix, { keysOnly: true })).items.map((kv) => kv.key));
    return found;
  }
  /** Stacks exactly for these resources, and worker keys of no other resource. */
  async function onlyLive(live: [string, string][]): Promise<boolean> {
    const names = live.map(([plural, id]) => stackNameOf(get(SINGULAR, plural), id)).sort();
    const ids = live.map(([, id]) => id);
    const stray = (await workerKeys()).filter((k) => !ids.some((id) => k.endsWith(`/${id}`) || k.includes(`:${id}:`)));
    if (JSON.stringify(liveStacks()) !== JSON.stringify(names) || stray.length)
      throw new Error(`stacks ${liveStacks().join(', ')}; stray keys ${stray.join(', ')}`);
    return true;
  }

  let net: string, subnet: string, portA: string, portB: string;

  test('a network, a subnet and two ports created through Gohan show CREATE_COMPLETED, version 1, no error', async () => {
    const n = await create('networks', { name: 'gohan-net' });
    const s = await create('subnets', {
      name: 'gohan-subnet',
      network_id: n.id,
      cidr: '10.20.0.0/24',
      gateway_ip: '10.20.0.1',
    });
    const port = (name: string, ip: string) => ({
      name,
      network_id: n.id,
      device_owner: 'compute:nova',
      device_id: `vm-${name}`,
      fixed_ips: [{ subnet_id: s.id, ip_address: ip }],
    });
    const a = await create('ports', port('port-a', '10.20.0.10'));
    const b = await create('ports', port('port-b', '10.20.0.11'));
    [net, subnet, portA, portB] = [n.id, s.id, a.id, b.id];
    for (const [plural, c] of [
      ['networks', n],
      ['subnets', s],
      ['ports', a],
      ['ports', b],
    ] as const) {
      const got = await shown(plural, c.id, 1, 'CREATE_COMPLETED', c);
      expect([got.worker_state, got.version, got.error]).toEqual(['CREATE_COMPLETED', 1, '']);
    }
    await waitFor(
      () =>
        onlyLive([
          ['networks', net],
          ['subnets', subnet],
          ['ports', portA],
          ['ports', portB],
        ]),
      {
        what: 'a stack for each live resource',
      },
    );
  });

  test('a port updated twice quickly shows MODIFY_COMPLETED for the last version', async () => {
    const first = await rest('PUT', `ports/${portA}`, { name: 'port-a-1' });
    const second = await rest('PUT', `ports/${portA}`, { name: 'port-a-2' });
    expect([first.status, second.status]).toEqual([200, 200]);
    await shown('ports', portA, 2, 'MODIFY_COMPLETED', { at: first.at, call: `PUT /v2.0/ports (1st)` });
    const got = await shown('ports', portA, 3, 'MODIFY_COMPLETED', { at: second.at, call: `PUT /v2.0/ports (2nd)` });
    expect([got.worker_state, got.version, got.error, got.name]).toEqual(['MODIFY_COMPLETED', 3, '', 'port-a-2']);
  });

  test('a port deleted through Gohan: its stack and every key of it go', async () => {
    const del = await rest('DELETE', `ports/${portB}`);
    expect(del.status).toBe(204);
    expect(await show('ports', portB)).toBeUndefined();
    await waitFor(
      () =>
        onlyLive([
          ['networks', net],
          ['subnets', subnet],
          ['ports', portA],
        ]),
      {
        timeoutMs: 60_000,
        what: "the deleted port's stack and keys to go",
      },
    );
    timings.push({ call: 'DELETE /v2.0/ports (stack and keys gone)', ms: Date.now() - del.at });
    for (const [plural, id] of [
      ['networks', net],
      ['subnets', subnet],
      ['ports', portA],
    ] as const)
      expect((await show(plural, id))?.error).toBe('');
  });

  test('everything deleted through Gohan: no stack and no worker key left', async () => {
    const at = Date.now();
    for (const [plural, id] of [
      ['ports', portA],
      ['subnets', subnet],
      ['networks', net],
    ] as const)
      expect((await rest('DELETE', `${plural}/${id}`)).status).toBe(204);
    for (const plural of ['networks', 'subnets', 'ports']) {
      const list = await fetch(`${gohan.url}/v2.0/${plural}`, { headers: { 'X-Auth-Token': GOHAN_TOKEN } });
      expect(((await list.json()) as Record<string, unknown[]>)[plural]).toEqual([]);
    }
    await waitFor(() => onlyLive([]), { timeoutMs: 60_000, what: 'every stack and worker key to go' });
    timings.push({ call: 'DELETE everything (stacks and keys gone)', ms: Date.now() - at });
    expect(liveStacks()).toEqual([]);
    expect(await workerKeys()).toEqual([]);
    expect((await store.range('/config/', { keysOnly: true })).items).toEqual([]);

    const ms = timings.map((t) => t.ms).sort((x, y) => x - y);
    const shownMs = timings
      .filter((t) => !t.call.startsWith('DELETE'))
      .map((t) => t.ms)
      .sort((x, y) => x - y);
    process.stdout.write(
      [
        'Gohan tier: time from each REST call to its outcome',
        ...timings.map(
          (t) =>
            `  ${t.call.padEnd(48)} ${t.ms} ms${t.inEtcd === undefined ? '' : ` (in etcd's /state at ${t.inEtcd} ms)`}`,
        ),
        `  state shown through Gohan: p50 ${shownMs[Math.floor((shownMs.length - 1) / 2)]} ms, max ${shownMs.at(-1)} ms (${shownMs.length} calls)`,
        `  all outcomes: p50 ${ms[Math.floor((ms.length - 1) / 2)]} ms, max ${ms.at(-1)} ms`,
        `  left at the end: ${liveStacks().length} stacks, ${(await workerKeys()).length} worker keys`,
        '',
      ].join('\n'),
    );
  });
});
