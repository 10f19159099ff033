/**
 * `npm run bench:e2e`: the whole local stack (etcd, SQS server, relay, serverless-offline running
 * the real handlers, Heat simulator answering at once), on free loopback ports.
 *
 * 1. Sequential changes (`--changes`, 20): one new network at a time, each a single-job chain.
 *    Per-hop latency percentiles from a watch of the whole keyspace (times of receipt):
 *      put → /jobs/all → claimed (/jobs/working) → stack done (/esi-worker/heat_stacks, written when
 *      the handler sees the stack complete) → finished (/jobs/finished) → /state.
 * 2. Keys written by one change: every put and delete from the config put until the pipeline is
 *    quiet again, per key (the config put itself is Gohan's, not counted), and the mean over all
 *    changes. The reconciler's memory, written on its own schedule whatever the changes, is
 *    counted apart.
 * 3. A burst (`--burst`, 1000) of networks written at once: resources/s until every /state is
 *    there, stuck count (no /state by the deadline), beside the raw etcd transaction rate of this
 *    etcd measured in the same run (single-put transactions, 8 in flight) as the ceiling; what the
 *    burst cost: etcd requests per resource by method (etcd's own metrics) and CPU time per
 *    resource of each process of the stack (Linux /proc), so the stage that burns it is named.
 *    After the burst: each process's resident memory, the functions host's threads, how many
 *    invocations of each function ran at once at most (serverless-offline starts a function
 *    instance for each; the local SQS event source logs each new peak), and the lines the
 *    functions host logged per resource during the burst.
 * Options: --changes N, --burst N (0 skips it), --heat-latency MS (0), --quiet-ms MS (2500),
 * --log-level LEVEL (WARN: the functions' and the relay's ESI_LOG_LEVEL),
 * --concurrency N (10: pollers per event source, as Lambda's maximum concurrency would allow),
 * --warm N (20 per poller: networks written first, not measured, so every function instance is
 * started before the measures, as in a service that has been taking traffic).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { freeStackPorts, startStack, type RunningStack } from '../../infra/stack/stack';
import { RECONCILER_MEMORY_KEY } from '../../shared/keys';
import type { Op, Store } from '../../shared/store/store';
import { at } from '../helpers/at';

const cli = new Command()
  .option('--changes <n>', 'sequential single-job changes', '20')
  .option('--burst <n>', 'resources written at once (0: no burst)', '1000')
  .option('--heat-latency <ms>', 'how long the Heat simulator takes per stack operation', '0')
  .option('--quiet-ms <ms>', 'no event for this long ends a change', '2500')
  .option('--concurrency <n>', "each event source's maximum concurrency (pollers)", '10')
  .option('--log-level <level>', "the functions' and the relay's log level", 'WARN')
  .option('--warm <n>', 'networks written before measuring, to start every function instance (default: 20 per poller)')
  .parse();
const opt = cli.opts<{
  changes: string;
  burst: string;
  heatLatency: string;
  quietMs: string;
  concurrency: string;
  logLevel: string;
  warm?: string;
}>();
const CHANGES = Number(opt.changes);
/** Keys written on a schedule of their own, not by a change (docs/reconciler.md). */
const BACKGROUND_PREFIX = RECONCILER_MEMORY_KEY;
const BURST = Number(opt.burst);
const QUIET_MS = Number(opt.quietMs);
const WARM = Number(opt.warm ?? 20 * Number(opt.concurrency));

const out = (s = '') => process.stdout.write(`${s}\n`);
const pct = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Seen {
  type: 'put' | 'delete';
  key: string;
  at: number;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'esi-bench-e2e-'));
  out(`bench:e2e — starting the local stack (data ${dataDir})`);
  const stack: RunningStack = await startStack({
    dataDir,
    stage: 'bench',
    ports: await freeStackPorts(),
    env: {
      ESI_LOG_LEVEL: opt.logLevel,
      // A burst is what concurrency is for: as many pollers as Lambda would run in parallel here.
      ESI_PLANNER_CONCURRENCY: opt.concurrency,
      ESI_HEAT_JOBS_CONCURRENCY: opt.concurrency,
      ESI_HEAT_POLL_CONCURRENCY: opt.concurrency,
      ESI_AGGREGATOR_CONCURRENCY: opt.concurrency,
    },
    simulators: { heatLatencyMs: Number(opt.heatLatency) },
  });
  process.env.ESI_ETCD_ENDPOINTS = stack.env.ESI_ETCD_ENDPOINTS;
  const { EtcdStore } = await import('../../shared/store/etcd-store');
  const { put } = await import('../../shared/store/store');
  const { encodeGohanConfigValue } = await import('../../shared/gohan/config-value');
  const store = new EtcdStore({ endpoints: [stack.env.ESI_ETCD_ENDPOINTS] });

  // Every event of the keyspace, with the time it was received.
  const events: Seen[] = [];
  const listeners = new Set<(e: Seen) => void>();
  const watch = await store.watch('/', (await store.revision()) + 1, {
    onEvents: (evs) => {
      const at = performance.now();
      for (const e of evs) {
        const seen = { type: e.type, key: e.key, at };
        events.push(seen);
        listeners.forEach((l) => l(seen));
      }
    },
    onError: (err) => out(`watch error: ${err.message}`),
  });
  const until = (pred: (e: Seen) => boolean, timeoutMs: number) =>
    new Promise<Seen | undefined>((resolve) => {
      const l = (e: Seen) => {
        if (!pred(e)) return;
        listeners.delete(l);
        clearTimeout(t);
        resolve(e);
      };
      const t = setTimeout(() => {
        listeners.delete(l);
        resolve(undefined);
      }, timeoutMs);
      listeners.add(l);
    });
  const quiet = async () => {
    for (;;) {
      const last = events.at(-1)?.at ?? 0;
      const wait = last + QUIET_MS - performance.now();
      if (wait <= 0) return;
      await sleep(wait);
    }
  };
  const network = (id: string) => encodeGohanConfigValue({ id, name: id, admin_state_up: true }, 1);
  /** Puts a new network per id, 100 per transaction (etcd's default limit is 128 operations). */
  const writeNetworks = async (ids: string[]) => {
    for (let i = 0; i < ids.length; i += 100)
      await store
        .txn()
        .then(...ids.slice(i, i + 100).map((id) => put(`/config/v2.0/networks/${id}`, network(id))))
        .commit();
  };
  let failures = 0;

  try {
    // Warm-up, not measured: every function instance the burst will use is started first (a cold
    // start loads the handler and its modules), as a service that has been taking traffic has
    // them: a burst of `--warm` networks (enough to keep every poller busy with full batches),
    // then one change alone.
    const warm = Array.from({ length: WARM }, (_, i) => `bench-warm-${i}`);
    const warmed = Promise.all(
      warm.map((id) => until((e) => e.type === 'put' && e.key === `/state/v2.0/networks/${id}`, 300_000)),
    );
    await writeNetworks(warm);
    if ((await warmed).some((e) => !e)) throw new Error(`the warm-up networks did not all reach /state in 300 s`);
    await quiet();

    // 1 + 2. Sequential changes.
    const hops = [
      'put → /jobs/all',
      '/jobs/all → claimed',
      'claimed → stack done',
      'stack done → finished',
      'finished → /state',
      'stack done → /state',
      'put → /state',
    ] as const;
    const times: Record<(typeof hops)[number], number[]> = Object.fromEntries(hops.map((h) => [h, []])) as never;
    let written: Map<string, { puts: number; deletes: number }> | undefined;
    const perChange: number[] = [];
    const seqFrom = events.length;
    const seqStart = performance.now();
    for (let i = 0; i < CHANGES; i++) {
      const id = `bench-seq-${i}`;
      const configKey = `/config/v2.0/networks/${id}`;
      await quiet();
      const from = events.length;
      const t0 = performance.now();
      await store
        .txn()
        .then(put(configKey, network(id)))
        .commit();
      const state = await until((e) => e.key === `/state/v2.0/networks/${id}`, 60_000);
      if (!state) {
        failures++;
        out(`  change ${id}: no /state within 60 s`);
        continue;
      }
      await quiet();
      const mine = events.slice(from);
      const first = (re: RegExp, type: 'put' | 'delete' = 'put') =>
        mine.find((e) => e.type === type && re.test(e.key))?.at ?? NaN;
      const all = first(new RegExp(`^/jobs/all/.*:network:${id}:`));
      const claimed = first(new RegExp(`^/jobs/working/.*:network:${id}:`));
      const stackDone = first(new RegExp(`^/esi-worker/heat_stacks/v2.0/networks/${id}$`));
      const finished = first(new RegExp(`^/jobs/finished/.*:network:${id}:`));
      times['put → /jobs/all'].push(all - t0);
      times['/jobs/all → claimed'].push(claimed - all);
      times['claimed → stack done'].push(stackDone - claimed);
      times['stack done → finished'].push(finished - stackDone);
      times['finished → /state'].push(state.at - finished);
      times['stack done → /state'].push(state.at - stackDone);
      times['put → /state'].push(state.at - t0);
      // The reconciler's memory is written on its own schedule (a time mark at most every half
      // grace period while etcd moves), not because of a change: counted apart.
      const byChange = mine.filter((e) => e.key !== configKey && !e.key.startsWith(BACKGROUND_PREFIX));
      perChange.push(byChange.length);
      if (i === 0) {
        written = new Map();
        for (const e of byChange) {
          const w = written.get(e.key) ?? { puts: 0, deletes: 0 };
          if (e.type === 'put') w.puts++;
          else w.deletes++;
          written.set(e.key, w);
        }
      }
    }
    if (CHANGES > 0) {
      out();
      out(`${CHANGES} sequential single-job changes (ms, times of receipt of a watch of the whole keyspace):`);
      out(`  ${'hop'.padEnd(24)}${'p50'.padStart(9)}${'p90'.padStart(9)}${'max'.padStart(9)}`);
      for (const h of hops) {
        const xs = times[h].filter((x) => Number.isFinite(x));
        out(
          `  ${h.padEnd(24)}${pct(xs, 0.5).toFixed(1).padStart(9)}${pct(xs, 0.9).toFixed(1).padStart(9)}${Math.max(
            ...xs,
          )
            .toFixed(1)
            .padStart(9)}`,
        );
      }
      out(`  goals (idle machine): put → /jobs/all p50 ≤ 50, stack done → /state p50 ≤ 15, put → /state p50 ≤ 100`);
    }

    if (written) {
      const total = [...written.values()].reduce((n, w) => n + w.puts + w.deletes, 0);
      out();
      out(
        `keys written by one single-job change (bench-seq-0; the config put is Gohan's, not counted): ${total} (goal ≤ 12)`,
      );
      for (const [key, w] of [...written].sort(([a], [b]) => (a < b ? -1 : 1)))
        out(`  ${String(w.puts).padStart(2)} put ${String(w.deletes).padStart(2)} delete  ${key}`);
      const mean = perChange.reduce((a, b) => a + b, 0) / perChange.length;
      out(
        `  over all ${perChange.length} changes: min ${Math.min(...perChange)}, mean ${mean.toFixed(1)}, max ${Math.max(...perChange)} keys per change`,
      );
      const marks = events.slice(seqFrom).filter((e) => e.key.startsWith(BACKGROUND_PREFIX)).length;
      out(
        `  not caused by a change: ${marks} write(s) of ${BACKGROUND_PREFIX} (the reconciler's own schedule) in the ${((performance.now() - seqStart) / 1000).toFixed(1)} s of these changes`,
      );
    }

    // 3. Burst, and the raw etcd transaction rate beside it.
    if (BURST > 0) {
      await quiet();
      const raw = await rawTxnRate(store, put);
      const ids = Array.from({ length: BURST }, (_, i) => `bench-burst-${String(i).padStart(5, '0')}`);
      const pending = new Set(ids.map((id) => `/state/v2.0/networks/${id}`));
      const done = new Promise<void>((resolve) => {
        const l = (e: Seen) => {
          if (e.type === 'put' && pending.delete(e.key) && pending.size === 0) {
            listeners.delete(l);
            resolve();
          }
        };
        listeners.add(l);
      });
      const fromEvent = events.length;
      const functionsLog = stack.processes.find((p) => p.name === 'serverless-offline')!.logFile;
      const logFrom = fs.statSync(functionsLog).size;
      const rpcs0 = await etcdRpcs(stack.env.ESI_ETCD_ENDPOINTS);
      const cpu0 = cpuSeconds(stack);
      const t0 = performance.now();
      await writeNetworks(ids);
      const deadlineMs = 120_000 + BURST * 100;
      await Promise.race([done, sleep(deadlineMs)]);
      const elapsed = (performance.now() - t0) / 1000;
      const rpcs = diff(await etcdRpcs(stack.env.ESI_ETCD_ENDPOINTS), rpcs0);
      const cpu = diff(cpuSeconds(stack), cpu0);
      const writes = events.length - fromEvent;
      // When each stage had seen its last resource: which one paces the burst.
      const burstEvents = events.slice(fromEvent).filter((e) => e.type === 'put' && e.key.includes('bench-burst-'));
      const lastOf = (re: RegExp) => {
        const xs = burstEvents.filter((e) => re.test(e.key));
        const last = xs.at(-1);
        return last ? `${((last.at - t0) / 1000).toFixed(1)} s (${xs.length})` : '-';
      };
      out();
      out(`burst of ${BURST} networks written at once:`);
      out(
        `  all reached /state: ${pending.size === 0 ? 'yes' : 'no'}; stuck (no /state after ${(deadlineMs / 1000).toFixed(0)} s): ${pending.size}`,
      );
      out(
        `  ${(BURST - pending.size) / elapsed >= 0 ? ((BURST - pending.size) / elapsed).toFixed(1) : '-'} resources/s (${elapsed.toFixed(1)} s); goal ≥ 100`,
      );
      out(
        `  last of each stage after: /jobs/all ${lastOf(/^\/jobs\/all\//)}, claimed ${lastOf(/^\/jobs\/working\//)}, ` +
          `stack done ${lastOf(/^\/esi-worker\/heat_stacks\//)}, finished ${lastOf(/^\/jobs\/finished\//)}, /state ${lastOf(/^\/state\//)}`,
      );
      out(
        `  etcd key writes during the burst: ${writes} (${(writes / BURST).toFixed(1)} per resource, ${(writes / elapsed).toFixed(0)}/s)`,
      );
      out(
        `  ceiling: raw etcd transactions on this etcd, same run: ${raw.toFixed(0)}/s (single put, 8 in flight) = ${(raw / (writes / BURST)).toFixed(0)} resources/s at this many writes per resource`,
      );
      const perResource = (m: Map<string, number>, unit: number, digits: number) =>
        [...m]
          .filter(([, n]) => n > 0)
          .sort(([, a], [, b]) => b - a)
          .map(([k, n]) => `${k} ${((n * unit) / BURST).toFixed(digits)}`)
          .join(', ');
      const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
      out(`  etcd requests per resource: ${total(rpcs) / BURST} (${perResource(rpcs, 1, 2)})`);
      if (cpu.size)
        out(
          `  CPU ms per resource (all cores; ${((1000 * total(cpu)) / BURST).toFixed(1)} in all): ${perResource(cpu, 1000, 1)}`,
        );
      const logged = fs.readFileSync(functionsLog, 'utf8').slice(logFrom).split('\n').filter(Boolean);
      const ownLines = logged.filter((l) => /^\(λ: /.test(l)).length;
      out(
        `  lines the functions host logged: ${(logged.length / BURST).toFixed(2)} per resource at ${opt.logLevel} ` +
          `(of which serverless-offline's own per invocation: ${(ownLines / BURST).toFixed(2)})`,
      );
      out(`  resident memory after the burst (MB): ${[...rssMb(stack)].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      const peaks = invocationPeaks(fs.readFileSync(functionsLog, 'utf8'));
      out(
        `  function instances (invocations at once at most, since start): ${[...peaks.values()].reduce((a, b) => a + b, 0)} ` +
          `(${[...peaks].map(([k, v]) => `${k.replace(/^esi-bench-/, '')} ${v}`).join(', ')}); functions host threads: ${threadsOf(stack)}`,
      );
      if (pending.size) failures++;
    }
  } finally {
    await watch.cancel().catch(() => undefined);
    store.close();
    await stack.stop();
  }
  out(failures ? `${failures} failure(s)` : 'nothing failed');
  process.exit(failures ? 1 : 0);
}

/** etcd's count of handled gRPC requests by method (its /metrics), e.g. Txn, Range, LeaseGrant. */
async function etcdRpcs(endpoint: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${endpoint.split(',')[0]}/metrics`)).text();
  const counts = new Map<string, number>();
  for (const [, method = '', n] of text.matchAll(
    /^grpc_server_handled_total\{[^}]*grpc_method="(\w+)"[^}]*\} (\S+)$/gm,
  ))
    counts.set(method, (counts.get(method) ?? 0) + Number(n));
  return counts;
}

/** Every process of the stack, and this one (the watch, the simulators). */
const stackProcesses = (stack: RunningStack) => [
  { name: 'etcd', pid: stack.etcd.pid },
  { name: 'sqs-server', pid: stack.sqs.pid },
  ...stack.processes.map((p) => ({ name: p.name, pid: p.pid })),
  { name: 'bench (watch, simulators)', pid: process.pid },
];

/**
 * CPU seconds used so far by each process of the stack (Linux /proc; empty elsewhere). The
 * functions' host is split in two: its main thread (the functions, which serverless-offline runs
 * in its own process; its Lambda endpoint; the local SQS event source) and its other threads
 * (V8's and libuv's helpers, and worker threads if the functions ran in them).
 */
function cpuSeconds(stack: RunningStack): Map<string, number> {
  const ticks = 100; // USER_HZ, 100 on every Linux Node supports
  const read = (file: string) => {
    const fields = at(fs.readFileSync(file, 'utf8').split(') '), 1, file).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticks;
  };
  const cpu = new Map<string, number>();
  for (const { name, pid } of stackProcesses(stack)) {
    try {
      const all = read(`/proc/${pid}/stat`);
      if (name !== 'serverless-offline') cpu.set(name, all);
      else {
        const main = read(`/proc/${pid}/task/${pid}/stat`);
        cpu.set('functions host main thread', main);
        cpu.set('functions host other threads', all - main);
      }
    } catch {
      // not Linux, or the process is gone
    }
  }
  return cpu;
}

/** Resident memory (VmRSS, MB) of each process of the stack (Linux /proc; empty elsewhere). */
function rssMb(stack: RunningStack): Map<string, number> {
  const rss = new Map<string, number>();
  for (const { name, pid } of stackProcesses(stack)) {
    try {
      const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (kb) rss.set(name, Math.round(Number(kb) / 1024));
    } catch {
      // not Linux, or the process is gone
    }
  }
  return rss;
}

/** The functions host's threads by name (Node names a worker thread `WorkerThread`). */
function threadsOf(stack: RunningStack): string {
  const pid = stack.processes.find((p) => p.name === 'serverless-offline')?.pid;
  try {
    const names = new Map<string, number>();
    for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
      const name = fs.readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim();
      names.set(name, (names.get(name) ?? 0) + 1);
    }
    return [...names].map(([k, v]) => `${v} ${k}`).join(', ');
  } catch {
    return '-';
  }
}

/**
 * Each function's most invocations at once, from the local SQS event source's log lines; the
 * scheduled functions (monitoring-sync, the reconciler) are invoked one at a time by the local
 * schedule (infra/stack/scheduler.ts): one instance each.
 */
function invocationPeaks(log: string): Map<string, number> {
  const peaks = new Map<string, number>();
  for (const [, name = '', n] of log.matchAll(/^\[local-sqs\] (\S+): (\d+) invocation\(s\) at once$/gm))
    peaks.set(name, Math.max(peaks.get(name) ?? 0, Number(n)));
  for (const name of ['monitoring-sync', 'reconciler']) peaks.set(name, 1);
  return peaks;
}

const diff = (after: Map<string, number>, before: Map<string, number>) =>
  new Map([...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]));

/** Single-put transactions per second with 8 in flight, for 2 s: what this etcd can take. */
async function rawTxnRate(store: Store, put: (k: string, v: string) => Op): Promise<number> {
  let n = 0;
  const end = performance.now() + 2000;
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      while (performance.now() < end) {
        await store
          .txn()
          .then(put(`/bench-raw/${w}`, String(n)))
          .commit();
        n++;
      }
    }),
  );
  return n / 2;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
