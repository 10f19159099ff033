/**
 * `npm run bench:planner`: plans per second for the five seed resources, three ways, beside the
 * raw etcd transaction rate measured in the same run on the same etcd:
 *   1. pure planning (planChange over an in-memory view, no I/O);
 *   2. the planner handler on etcd: read the key, mirror, the resources' jobs, referenced resources, templates,
 *      plan, and write everything in one guarded transaction;
 *   3. raw etcd transactions of the same shape (2 compares, the same puts and sizes as (2) wrote).
 * (2) and (3) run with 1 and with BENCH_CONCURRENCY requests in flight. /jobs is emptied (untimed)
 * every BENCH_BATCH plans so the backlog stays steady.
 * Starts its own etcd on free loopback ports. Options (env): BENCH_PURE (20000), BENCH_PLANS (500),
 * BENCH_CONCURRENCY (8), BENCH_BATCH (100).
 */
import { at } from '../helpers/at';
import { startBenchEtcd } from './bench-etcd';

const PURE = Number(process.env.BENCH_PURE ?? 20000);
const PLANS = Number(process.env.BENCH_PLANS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);

async function inParallel<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(at(items, next++));
    }),
  );
}

async function main(): Promise<void> {
  const etcd = await startBenchEtcd('planner');
  process.env.ESI_LOG_LEVEL = 'ERROR';
  // Loaded after the environment points at the server above.
  const { EtcdStore } = await import('../../shared/store/etcd-store');
  const { put, delPrefix, absent, modRevisionIs } = await import('../../shared/store/store');
  const { planChange, defaultSchemaIndex, parseTemplateMappings } = await import('../../shared/planner');
  const { loadTemplates } = await import('../../shared/templates/load');
  const { planConfigKey } = await import('../../shared/work/planner');
  const { createLogger } = await import('../../shared/log/logger');
  const { seedFixtures, seedKeys } = await import('../helpers/seed-etcd');
  const { MemoryView, toConfigValue } = await import('../unit/planner/helpers');
  const store = new EtcdStore();
  const logger = createLogger('bench');
  const line = (label: string, v: string) => process.stdout.write(`${label.padEnd(44)} ${v}\n`);
  try {
    const seeds = seedFixtures();
    const shipped = loadTemplates();
    const mappings = parseTemplateMappings(shipped.templateMappings);
    const schema = defaultSchemaIndex();

    // 1. Pure planning.
    const inputs = seeds.map((seed) => {
      const view = new MemoryView();
      for (const r of seed.resources) view.setConfig(r.resource_type, r.resource_id, toConfigValue(r.value));
      if (seed.previous)
        view.setPrevious(seed.change.resource_type, seed.change.resource_id, toConfigValue(seed.previous.value));
      for (const p of seed.pending_jobs) view.addPending(p.resource_type, p.resource_id, p.job_id);
      return {
        resourceType: seed.change.resource_type,
        resourceId: seed.change.resource_id,
        value: toConfigValue(seed.change.value),
        templates: shipped.templates,
        templateMappings: mappings,
        view,
        schema,
      };
    });
    let jobs = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < PURE; i++) {
      const r = planChange(at(inputs, i % inputs.length));
      if (r.kind === 'jobs') jobs += r.jobs.length;
    }
    const pureSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

    // 2. The planner handler on etcd: copies of each seed resource under fresh ids, so every plan is new.
    const write = async (kvs: Record<string, unknown>) => {
      const entries = Object.entries(kvs);
      for (let i = 0; i < entries.length; i += 100) {
        await store
          .txn()
          .then(...entries.slice(i, i + 100).map(([k, v]) => put(k, typeof v === 'string' ? v : JSON.stringify(v))))
          .commit();
      }
    };
    const copies = (round: string, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const seed = at(seeds, i % seeds.length);
        const id = `${seed.change.resource_id}-${round}${i}`;
        const key = seed.change.key.replace(seed.change.resource_id, id);
        const kvs = seedKeys(seed, { wire: true });
        const out: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(kvs)) {
          if (k === seed.change.key) out[key] = (v as string).replace(seed.change.resource_id, id);
          else if (k.startsWith('/esi-worker/config/')) out[k.replace(seed.change.resource_id, id)] = v;
          else out[k] = v;
        }
        return { key, kvs: out };
      });
    const runPlans = async (
      round: string,
      concurrency: number,
    ): Promise<{ seconds: number; txnShape: { puts: number; bytes: number } }> => {
      const all = copies(round, PLANS);
      for (const c of all) await write(c.kvs);
      let seconds = 0;
      for (let b = 0; b < all.length; b += BATCH) {
        await store.txn().then(delPrefix('/jobs/')).commit();
        const batch = all.slice(b, b + BATCH);
        const t = process.hrtime.bigint();
        await inParallel(batch, concurrency, async (c) => {
          const out = await planConfigKey(store, { key: c.key, modRevision: 0, type: 'put' }, logger);
          if (out.kind !== 'done') throw new Error(`${c.key}: ${JSON.stringify(out)}`);
        });
        seconds += Number(process.hrtime.bigint() - t) / 1e9;
      }
      const { items } = await store.range('/jobs/');
      return {
        seconds,
        txnShape: {
          puts: items.length / Math.min(BATCH, all.length),
          bytes: items.reduce((n, kv) => n + kv.value.length, 0) / Math.min(BATCH, all.length),
        },
      };
    };
    const seq = await runPlans('s', 1);
    const par = await runPlans('p', CONCURRENCY);

    // 3. Raw etcd transactions of the same shape: 2 compares, the average number and size of puts.
    const puts = Math.round(seq.txnShape.puts);
    const payload = 'x'.repeat(Math.round(seq.txnShape.bytes / Math.max(puts, 1)));
    const rawTxn = async (i: number) => {
      const k = `/bench/raw/${i}`;
      const res = await store
        .txn()
        .when(absent(`${k}/mirror`), modRevisionIs(`${k}/config`, 0))
        .then(...Array.from({ length: puts }, (_, j) => put(`${k}/${j}`, payload)), put(`${k}/mirror`, payload))
        .commit();
      if (!res.succeeded) throw new Error('raw txn failed');
    };
    const rawRun = async (concurrency: number, base: number) => {
      const t = process.hrtime.bigint();
      await inParallel(
        Array.from({ length: PLANS }, (_, i) => base + i),
        concurrency,
        rawTxn,
      );
      return Number(process.hrtime.bigint() - t) / 1e9;
    };
    const rawSeq = await rawRun(1, 0);
    const rawPar = await rawRun(CONCURRENCY, PLANS);

    const rate = (n: number, s: number) => `${(n / s).toFixed(0)}/s (${n} in ${s.toFixed(3)} s)`;
    process.stdout.write(
      `planner benchmark: the ${seeds.length} seed resources in turn (${(jobs / PURE).toFixed(2)} jobs per plan)\n`,
    );
    line('pure planning (planChange, no I/O)', `${rate(PURE, pureSeconds)} plans`);
    line('planner on etcd, 1 in flight', `${rate(PLANS, seq.seconds)} plans`);
    line(
      'raw etcd txn, same shape, 1 in flight',
      `${rate(PLANS, rawSeq)} txns   (${puts + 1} puts, ~${payload.length} B each)`,
    );
    line(`planner on etcd, ${CONCURRENCY} in flight`, `${rate(PLANS, par.seconds)} plans`);
    line(`raw etcd txn, same shape, ${CONCURRENCY} in flight`, `${rate(PLANS, rawPar)} txns`);
    line('ratio planner / raw txn (1 in flight)', (PLANS / seq.seconds / (PLANS / rawSeq)).toFixed(3));
    line(`ratio planner / raw txn (${CONCURRENCY} in flight)`, (PLANS / par.seconds / (PLANS / rawPar)).toFixed(3));
  } finally {
    store.close();
    await etcd.stopAndRemove();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack}\n`);
  process.exit(1);
});
