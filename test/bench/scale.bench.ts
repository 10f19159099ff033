/**
 * `npm run bench:scale`: what one resource change costs — plan, claim, finish, aggregate — with
 * 0, 1,000, 10,000 and 50,000 unrelated pending jobs in etcd (and, last row, the largest backlog
 * plus unrelated waiting jobs), beside one raw etcd transaction measured at the same moment.
 *
 * Each round: a new network's v1 is planned (plan), its v2 planned while v1 runs (a waiting
 * dependent), v1 claimed (claim), finished — which promotes v2 (finish) — and its chain aggregated
 * to /state (aggregate). The backlog jobs are seed 002's load balancer job (2.3 kB), each of its
 * own resource, written as the planner writes them (a ready job is its all key alone). Figures are
 * medians (and p90) of BENCH_ROUNDS rounds, in ms. Starts its own etcd on free loopback ports.
 * Options: BENCH_ROUNDS (30), BENCH_BACKLOGS (0,1000,10000,50000), BENCH_WAITING (10000).
 * Exits 1 if anything fails, or if plan, finish or aggregate at the largest backlog costs more than
 * twice what it costs at 0 (then the figure is printed with "over 2x").
 */
import { at } from '../helpers/at';
import { startBenchEtcd } from './bench-etcd';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 30);
const BACKLOGS = (process.env.BENCH_BACKLOGS ?? '0,1000,10000,50000').split(',').map(Number);
const WAITING = Number(process.env.BENCH_WAITING ?? 10000);
const WARMUP = 5;

const OPS = ['plan', 'claim', 'finish', 'aggregate', 'raw txn'] as const;
type Op = (typeof OPS)[number];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function main(): Promise<void> {
  const etcd = await startBenchEtcd('scale');
  process.env.ESI_LOG_LEVEL = 'ERROR';
  // Loaded after the environment points at the server above.
  const { EtcdStore } = await import('../../shared/store/etcd-store');
  const { put } = await import('../../shared/store/store');
  const { encodeGohanConfigValue } = await import('../../shared/gohan/config-value');
  const { planConfigKey } = await import('../../shared/work/planner');
  const { aggregateFinishedJob } = await import('../../shared/work/aggregator');
  const jobs = await import('../../shared/jobs');
  const { createLogger } = await import('../../shared/log/logger');
  const { seedFixtures } = await import('../helpers/seed-etcd');
  const store = new EtcdStore();
  const logger = createLogger('bench');
  const keys = jobs.defaultJobKeys;
  const out = (s: string) => process.stdout.write(`${s}\n`);
  let failures = 0;

  const template = at(seedFixtures().find((s) => s.seed.startsWith('002'))!.expected, 0).value[1];
  let written = 0;
  /** Unrelated jobs up to `total`, each of its own resource: job (and for a waiting one, its waiting and dependents keys). */
  async function backlogTo(total: number, kind: 'ready' | 'waiting', blocker?: string): Promise<void> {
    const PER_TXN = 30;
    const batches: number[][] = [];
    for (let n = written; n < total; n += PER_TXN)
      batches.push(Array.from({ length: Math.min(PER_TXN, total - n) }, (_, i) => n + i));
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < batches.length) {
          const batch = at(batches, next++);
          const ops = batch.flatMap((n) => {
            const rid = `backlog-${kind}-${String(n).padStart(6, '0')}`;
            const id = `create:heat_worker:load_balancer:${rid}:1:bklog`;
            const job = {
              ...template,
              id,
              resource_id: rid,
              job_name: `load_balancer:${rid}:1`,
              version: 1,
              dependency: blocker ? [blocker] : [],
            };
            return [
              put(keys.all(id), JSON.stringify(['heat_worker', job, 0])),
              ...(kind === 'waiting' ? [put(keys.waiting(id), 'heat_worker')] : []),
              ...(blocker ? [put(keys.dependent(blocker, id), '')] : []),
            ];
          });
          await store
            .txn()
            .then(...ops)
            .commit();
        }
      }),
    );
    written = total;
  }

  const config = (id: string, version: number) =>
    encodeGohanConfigValue({ id, name: id, admin_state_up: version % 2 === 1 }, version);
  const write = async (key: string, value: string) => (await store.txn().then(put(key, value)).commit()).revision;
  const plan = async (key: string, value: string) => {
    const rev = await write(key, value);
    const outcome = await planConfigKey(store, { key, modRevision: rev, type: 'put' }, logger);
    if (outcome.kind !== 'done') throw new Error(`plan of ${key}: ${JSON.stringify(outcome)}`);
  };
  const jobOf = async (resourceId: string, version: number): Promise<string> => {
    const [id] = (await jobs.readJobIds(store, keys, [{ type: 'network', id: resourceId, version }])).ids[0]!;
    if (!id) throw new Error(`no job planned for network ${resourceId} v${version}`);
    return id;
  };

  let round = 0;
  async function measure(label: string): Promise<Record<Op, number[]>> {
    const t: Record<Op, number[]> = { plan: [], claim: [], finish: [], aggregate: [], 'raw txn': [] };
    let timed = false;
    const time = async <T>(op: Op, fn: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      const r = await fn();
      if (timed) t[op].push(performance.now() - start);
      return r;
    };
    // Warm-up rounds, not timed: etcd is still committing the backlog just written (and, before
    // the first row, the code is not compiled yet).
    const warmup = round === 0 ? 4 * WARMUP : WARMUP;
    for (let i = -warmup; i < ROUNDS; i++) {
      timed = i >= 0;
      const id = `bench-net-${label}-${++round}`;
      const key = `/config/v2.0/networks/${id}`;
      try {
        await time('raw txn', () =>
          store
            .txn()
            .then(put(`/bench/raw/${id}`, 'x'))
            .commit(),
        );
        await time('plan', () => plan(key, config(id, 1)));
        const v1 = await jobOf(id, 1);
        await plan(key, config(id, 2));
        const v2 = await jobOf(id, 2);
        if (!(await store.get(keys.waiting(v2)))) throw new Error(`${v2} is not waiting for ${v1}`);
        const claim = await time('claim', () =>
          jobs.tryClaimJob(store, v1, 'bench', 60).then((a) => (a.kind === 'claimed' ? a.claim : undefined)),
        );
        if (!claim) throw new Error(`could not claim ${v1}`);
        const fin = await time('finish', () => jobs.finishJob(store, claim, { ok: true }));
        if (!fin.promoted.includes(v2)) throw new Error(`finishing ${v1} did not promote ${v2}`);
        await time('aggregate', () =>
          aggregateFinishedJob(store, { key: keys.finished(v1), modRevision: 0, type: 'put' }, logger),
        );
        if (await store.get(keys.all(v1))) throw new Error(`chain of ${v1} not aggregated`);
        if (!(await store.get(`/state/v2.0/networks/${id}`))) throw new Error(`no /state for ${id}`);
      } catch (err) {
        failures++;
        out(`  FAILED at ${label}, round ${i + warmup + 1}: ${(err as Error).message}`);
      }
    }
    return t;
  }

  try {
    out(`bench:scale — ms per operation, median (p90) of ${ROUNDS} rounds; etcd ${etcd.clientUrl}`);
    const header = ['backlog'.padEnd(28), ...OPS.map((o) => o.padStart(16))].join('');
    out(header);
    const rows: { label: string; t: Record<Op, number[]> }[] = [];
    const row = (label: string, t: Record<Op, number[]>) => {
      rows.push({ label, t });
      out(
        [
          label.padEnd(28),
          ...OPS.map((o) =>
            (t[o].length ? `${quantile(t[o], 0.5).toFixed(1)} (${quantile(t[o], 0.9).toFixed(1)})` : '-').padStart(16),
          ),
        ].join(''),
      );
    };
    for (const n of BACKLOGS) {
      await backlogTo(n, 'ready');
      row(`${n} pending`, await measure(`p${n}`));
    }
    const largest = Math.max(...BACKLOGS);
    if (WAITING > 0) {
      const blocker = 'create:heat_worker:network:backlog-blocker:1:block';
      written = 0;
      await backlogTo(WAITING, 'waiting', blocker);
      row(`${largest} pending + ${WAITING} waiting`, await measure('w'));
    }

    const base = rows.find((r) => r.label === `${Math.min(...BACKLOGS)} pending`)!;
    const top = rows.find((r) => r.label === `${largest} pending`)!;
    out('');
    out(`at ${largest} pending vs ${Math.min(...BACKLOGS)} (median; goal: within 2x for plan, finish, aggregate):`);
    for (const op of ['plan', 'claim', 'finish', 'aggregate', 'raw txn'] as const) {
      const ratio = quantile(top.t[op], 0.5) / quantile(base.t[op], 0.5);
      const gated = op === 'plan' || op === 'finish' || op === 'aggregate';
      const verdict = gated ? (ratio <= 2 ? 'within 2x' : 'over 2x') : '';
      if (gated && ratio > 2) failures++;
      out(`  ${op.padEnd(10)} ${ratio.toFixed(2)}x ${verdict}`);
    }
    out(failures ? `${failures} failure(s)` : 'nothing failed');
  } finally {
    store.close();
    await etcd.stopAndRemove();
  }
  process.exit(failures ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
