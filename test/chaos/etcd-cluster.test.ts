/**
 * etcd as a 3-member cluster on loopback, as production runs it (ESI_ETCD_ENDPOINTS lists every
 * member): its leader SIGKILLed while the recorded scenario's jobs run. The functions and the
 * relay carry on through the two members left (the etcd3 client fails over between the endpoints
 * it was given; the relay's watch is re-created on another member from its checkpoint). Every
 * resource reaches its recorded /state; the recovery time (kill → settled) is printed beside its
 * 60 s ceiling. The killed member is started again at the end and catches up.
 */
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import type { EtcdServer } from '../../infra/local/etcd-server';
import type { RunningStack } from '../../infra/stack/stack';
import type { EtcdStore } from '../../shared/store/etcd-store';
import { chaosStore, persist, scenarioThroughFault } from '../helpers/chaos-run';
import { startTestStack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(600_000);

let stack: RunningStack;
let store: EtcdStore;
beforeAll(async () => {
  stack = await startTestStack(
    'chaos-etcd-cluster',
    { ESI_JOB_LEASE_SECONDS: '20' },
    { heatFixtures: path.join(__dirname, '../fixtures/e2e/heat-outputs.seeds.json') },
    { etcdMembers: 3 },
  );
  store = chaosStore(stack.env.ESI_ETCD_ENDPOINTS);
});
afterAll(async () => {
  store?.close();
  await stack?.stop();
});

/** The member the cluster elected, asked of each member itself. */
async function leaderOf(members: EtcdServer[]): Promise<EtcdServer> {
  for (const m of members) {
    const client = new Etcd3({ hosts: m.clientUrl });
    try {
      const s = await client.maintenance.status();
      if (s.leader === s.header.member_id) return m;
    } catch {
      // A member that does not answer is not the leader we want to kill.
    } finally {
      client.close();
    }
  }
  throw new Error('no member says it is the leader');
}

test('the leader of a 3-member etcd cluster SIGKILLed mid-scenario: every resource at its recorded /state', async () => {
  expect(stack.env.ESI_ETCD_ENDPOINTS.split(',')).toHaveLength(3);
  let killed: EtcdServer | undefined;
  let pid = 0;
  const r = await scenarioThroughFault(store, async () => {
    killed = await persist(() => leaderOf(stack.etcdMembers), 'the leader');
    pid = killed.pid;
    await killed.kill();
  });
  console.log(
    `chaos etcd leader kill: leader ${killed!.clientUrl} (pid ${pid}) of 3 members SIGKILLed; ` +
      `${r.checks.length} resources at their recorded /state, no pending job key, no orphan; ` +
      `every /state after ${r.statesSeconds.toFixed(1)} s, recovery ${r.seconds.toFixed(1)} s (ceiling 60 s, job lease 20 s)`,
  );
  expect(r.checks.length).toBe(29);
  expect(r.checks.filter((c) => !c.ok)).toEqual([]);

  // The member back: it rejoins and serves the same data.
  await killed!.restart();
  const back = new Etcd3({ hosts: killed!.clientUrl });
  try {
    const rev = await store.revision();
    await waitFor(async () => Number((await back.maintenance.status()).header.revision) >= rev, {
      timeoutMs: 60_000,
      what: 'the restarted member to catch up',
    });
  } finally {
    back.close();
  }
});
