/**
 * The relay partitioned from etcd: a 3-member cluster, the real relay process given every member
 * (as production configures it), and the member carrying its watch SIGSTOPped — a half-open
 * connection: TCP stays up, nothing answers. A writer puts keys through another member before,
 * during and after. Nobody intervenes: a supervisor restarts the relay only as ECS would (the
 * process exited, or the container health check from serverless.yml, run as is, fails). Every
 * event reaches SQS (0 lost) and the recovery time (SIGSTOP → first event forwarded after it) is
 * printed. The member is SIGCONTed at the end.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startEtcdCluster, type EtcdServer } from '../../infra/local/etcd-server';
import { freePort } from '../../infra/local/ports';
import { sqsClient } from '../../shared/sqs/client';
import { EtcdStore } from '../../shared/store/etcd-store';
import { put } from '../../shared/store/store';
import { drainQueue, killed, spawnRelay } from '../helpers/relay-process';
import { createFifoQueue } from '../helpers/sqs';
import { waitFor } from '../helpers/wait';
import { at, only } from '../helpers/at';

const KEYS_PER_PHASE = 100;

jest.setTimeout(600_000);

let members: EtcdServer[] = [];
let stopped: EtcdServer | undefined;
let relay: ChildProcess | undefined;
let writer: EtcdStore | undefined;

afterAll(async () => {
  stopped?.signal('SIGCONT');
  if (relay && relay.exitCode === null && relay.signalCode === null) {
    relay.kill('SIGKILL');
    await killed(relay);
  }
  writer?.close();
  for (const m of members) await m.stop();
  sqsClient().destroy();
});

/** The relay container's health check command, exactly as serverless.yml deploys it. */
function healthCheckScript(heartbeatFile: string): string {
  const yml = fs.readFileSync(path.join(__dirname, '../../serverless.yml'), 'utf8');
  const m = /"(process\.exit\(Date\.now\(\) - require\('fs'\)\.statSync\('\/tmp\/relay-heartbeat'\)[^"]*)"/.exec(yml);
  if (!m) throw new Error('no relay health check command in serverless.yml');
  return at(m, 1).replace('/tmp/relay-heartbeat', heartbeatFile);
}

/** Watch streams a member serves (etcd's own gauge): only the relay watches in this cluster. */
async function watchStreams(m: EtcdServer): Promise<number> {
  const text = await (await fetch(`${m.clientUrl}/metrics`)).text();
  const line = /^etcd_debugging_mvcc_watch_stream_total (\S+)$/m.exec(text);
  return line ? Number(line[1]) : 0;
}

test('the member the relay watches SIGSTOPped (half-open): the relay recovers by itself, 0 events lost', async () => {
  const root = process.env.ESI_TEST_ROOT!;
  const run = `chaospartition${Date.now()}`;
  const ports = [];
  for (let i = 0; i < 3; i++) ports.push({ clientPort: await freePort(), peerPort: await freePort() });
  members = await startEtcdCluster({ members: ports, dataDir: path.join(root, run), logDir: path.join(root, run) });
  const endpoints = members.map((m) => m.clientUrl);

  const prefix = `/${run}/`;
  const queue = `${run}.fifo`;
  const url = await createFifoQueue(queue, { VisibilityTimeout: '5' });
  const heartbeatFile = path.join(root, `${run}-heartbeat`);
  const env = {
    ESI_ETCD_ENDPOINTS: endpoints.join(','),
    ESI_RELAY_ROUTES: `${prefix}=${queue}`,
    ESI_RELAY_NAME: run,
    ESI_RELAY_HEARTBEAT_FILE: heartbeatFile,
    ESI_LOG_LEVEL: process.env.ESI_PARTITION_LOG_LEVEL ?? 'WARN',
  };
  const logFile = process.env.ESI_PARTITION_LOG ?? path.join(root, `${run}-relay.log`);
  const drain = drainQueue(url);
  const check = healthCheckScript(heartbeatFile);

  // The supervisor: what ECS does, nothing more — a new task when the process exits or the
  // container health check fails.
  const restarts: { at: number; why: string }[] = [];
  let supervising = true;
  relay = spawnRelay(env, logFile);
  const supervisor = (async () => {
    while (supervising) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!supervising) break;
      const exited = relay.exitCode !== null || relay.signalCode !== null;
      const unhealthy =
        !exited && fs.existsSync(heartbeatFile) && spawnSync(process.execPath, ['-e', check]).status !== 0;
      if (!exited && !unhealthy) continue;
      if (unhealthy) {
        relay.kill('SIGKILL');
        await killed(relay);
      }
      restarts.push({ at: Date.now(), why: exited ? `exited (${relay.exitCode ?? relay.signalCode})` : 'unhealthy' });
      relay = spawnRelay(env, logFile);
    }
  })();

  const expected: string[] = [];
  const forwardedAt = new Map<string, number>();
  const seenAt = setInterval(() => {
    for (const id of drain.seen.keys()) if (!forwardedAt.has(id)) forwardedAt.set(id, Date.now());
  }, 50);
  let n = 0;
  const writePhase = async (through: EtcdStore) => {
    for (let i = 0; i < KEYS_PER_PHASE; i++, n++) {
      const key = `${prefix}k${n}`;
      const res = await through
        .txn()
        .then(put(key, `v${n}`))
        .commit();
      expected.push(`${key}@${res.revision}`);
    }
  };
  const allForwarded = (what: string, timeoutMs: number) =>
    waitFor(() => expected.every((id) => drain.seen.has(id)), { timeoutMs, intervalMs: 200, what });

  try {
    // Before: the relay forwards; its watch sits on one member, the one to cut off.
    const firstWriter = new EtcdStore({ endpoints });
    await writePhase(firstWriter);
    firstWriter.close();
    await allForwarded('the first keys forwarded', 60_000);
    const streams = await Promise.all(members.map(watchStreams));
    const cut = only(
      members.filter((_, i) => at(streams, i) > 0),
      'members serving the relay watch',
    );
    stopped = cut;
    const healthy = members.find((m) => m !== cut)!;
    writer = new EtcdStore({ endpoints: [healthy.clientUrl] });

    // During: the watched member stops answering; writes go on through a healthy member.
    const stoppedAt = Date.now();
    expect(cut.signal('SIGSTOP')).toBe(true);
    const before = new Set(expected);
    await writePhase(writer);
    const firstAfter = await waitFor(
      () => {
        const times = expected.filter((id) => !before.has(id) && forwardedAt.has(id)).map((id) => forwardedAt.get(id)!);
        return times.length ? Math.min(...times) : 0;
      },
      { timeoutMs: 240_000, intervalMs: 100, what: 'an event written after the partition to be forwarded' },
    );
    const recoverySeconds = (firstAfter - stoppedAt) / 1000;

    // After: more writes, still through the healthy member; the stopped one stays stopped.
    await writePhase(writer);
    await allForwarded('every event forwarded', 240_000).catch((err: Error) => {
      const missing = expected.filter((id) => !drain.seen.has(id));
      throw new Error(`${err.message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
    });

    const lost = expected.filter((id) => !drain.seen.has(id)).length;
    const duplicates = [...drain.seen.values()].reduce((sum, c) => sum + c - 1, 0);
    console.log(
      `chaos relay partition: member ${cut.clientUrl} (the relay's watch) SIGSTOPped, relay given all 3 endpoints; ` +
        `${expected.length} events (${KEYS_PER_PHASE} before, ${KEYS_PER_PHASE} during, ${KEYS_PER_PHASE} after), ` +
        `${lost} lost, ${duplicates} duplicate deliveries; recovery ${recoverySeconds.toFixed(1)} s ` +
        `(SIGSTOP → first event forwarded after it), no person; supervisor restarts: ` +
        `${restarts.length ? restarts.map((r) => `${r.why} at +${((r.at - stoppedAt) / 1000).toFixed(1)} s`).join(', ') : 'none'}`,
    );
    expect(lost).toBe(0);
    expect(new Set(expected).size).toBe(3 * KEYS_PER_PHASE);
    expect(drain.seen.size).toBe(expected.length);
  } finally {
    clearInterval(seenAt);
    supervising = false;
    await supervisor;
    await drain.stop();
    stopped?.signal('SIGCONT');
  }
});
