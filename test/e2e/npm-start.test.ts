/**
 * `npm start` as a newcomer uses it, on free ports and a data folder of its own:
 * - the demo plays to its end with every resource matching, saying while it waits for the held
 *   FAIL statuses what it waits for; a Ctrl-C then ends it with exit code 0;
 * - with the stack up and nothing set, `esi` finds the stack through the recorded endpoints;
 * - a Ctrl-C (SIGINT to the terminal's process group) during the demo leaves no process of the
 *   start running and every port free;
 * - a port in use stops the start before anything runs, with one line naming the port and the
 *   variable that moves it.
 *
 * @waits 210 (the held FAIL statuses' hold_options)
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { settleBudget } from '../../infra/demo/holds';
import { loadScenario } from '../../infra/demo/scenario';
import { freePort, portInUse } from '../../infra/local/ports';
import { PORT_SETTINGS } from '../../infra/stack/stack';
import { waitFor } from '../helpers/wait';

jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '..', '..');

/** The environment of a shell with none of the project's settings, plus `extra`. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(ESI_|AWS_)/.test(k)) env[k] = v;
  return { ...env, ...extra };
}

async function portEnv(): Promise<{ env: Record<string, string>; ports: number[] }> {
  const env: Record<string, string> = {};
  const ports: number[] = [];
  for (const { variable } of Object.values(PORT_SETTINGS)) {
    const port = await freePort();
    env[variable] = String(port);
    ports.push(port);
  }
  return { env, ports };
}

/** Runs `npm start` in a process group of its own, as a terminal would; output collected. */
function npmStart(env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string; exited: Promise<number | null> } {
  let out = '';
  const child = spawn('npm', ['start'], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, out: () => out, exited };
}

/** Every process descended from `pid` (by parent PID, so detached children count), from /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      /* exited meanwhile */
    }
  }
  const found: number[] = [];
  const visit = (p: number) => {
    for (const [child, ppid] of parent)
      if (ppid === p && !found.includes(child)) {
        found.push(child);
        visit(child);
      }
  };
  visit(pid);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
};

/** The node process of `npm start` itself (infra/stack/start.ts), among the start's processes. */
function launcherOf(pid: number): number | undefined {
  return descendants(pid).find((p) => {
    try {
      // Its own argument, not the `sh -c '… infra/stack/start.ts'` npm runs it through.
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').includes('infra/stack/start.ts');
    } catch {
      return false;
    }
  });
}

/**
 * Upper bounds of the default demo's phases: the stack up, its 47 writes taken in, then the
 * scenario's own wait (the ports' FAIL held 210 s by the templates, plus the chains' settle time).
 */
const STACK_UP_MS = 180_000;
const WRITES_MS = 300_000;
const DEMO_END_MS = STACK_UP_MS + WRITES_MS + settleBudget(loadScenario()).ms;

/** The dead-letter queue names serverless.yml declares for a stage, sorted. */
function declaredDeadLetterQueues(stage: string): string[] {
  const doc = YAML.parse(fs.readFileSync(path.join(ROOT, 'serverless.yml'), 'utf8')) as {
    resources: { Resources: Record<string, { Type: string; Properties?: { QueueName?: string } }> };
  };
  return Object.values(doc.resources.Resources)
    .filter((r) => r.Type === 'AWS::SQS::Queue')
    .map((r) => String(r.Properties?.QueueName).replace('${sls:stage}', stage))
    .filter((name) => /-dlq(\.fifo)?$/.test(name))
    .sort();
}

/** `npm run -s esi -- args` with no settings but the data folder; returns exit code and output. */
function esi(dataDir: string, ...args: string[]) {
  const res = spawnSync('npm', ['run', '-s', 'esi', '--', ...args], {
    cwd: ROOT,
    env: cleanEnv({ ESI_DATA_DIR: dataDir }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

test('esi finds the running stack by its recorded endpoints; Ctrl-C during the demo stops every process and frees every port', async () => {
  const dataDir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'npm-start-'));
  const { env, ports } = await portEnv();
  const run = npmStart(cleanEnv({ ...env, ESI_DATA_DIR: dataDir }));
  let pids: number[] = [];
  try {
    await waitFor(() => fs.existsSync(path.join(dataDir, 'endpoints.json')), {
      timeoutMs: 180_000,
      what: `the recorded endpoints (output so far:\n${run.out()})`,
    });
    const recorded = JSON.parse(fs.readFileSync(path.join(dataDir, 'endpoints.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(recorded).toEqual({
      pid: expect.any(Number),
      etcd: `http://127.0.0.1:${env.ESI_ETCD_PORT}`,
      sqs: `http://127.0.0.1:${env.ESI_SQS_PORT}`,
      lambda: `http://127.0.0.1:${env.ESI_LAMBDA_PORT}`,
      region: 'us-east-1',
      stage: 'dev',
    });

    // The demo is playing now; esi, with no settings, talks to this stack.
    const dlq = esi(dataDir, 'dlq');
    expect(dlq).toMatchObject({ code: 0 });
    // Every dead-letter queue serverless.yml declares, each empty.
    expect(dlq.stdout.trimEnd().split('\n')).toEqual(declaredDeadLetterQueues('dev').map((q) => `     0  ${q}`));
    const status = esi(dataDir, 'status', '/config/v2.0/networks/not-there');
    expect(status).toMatchObject({ code: 1, stderr: 'esi: /config/v2.0/networks/not-there: no such key\n' });
    expect(status.stdout).toMatch(/^resource +\/config\/v2\.0\/networks\/not-there\nconfig +\(no such key/);

    // A dry-run pass of the reconciler over the stack's etcd.
    const reconcile = esi(dataDir, 'reconcile', '--dry-run');
    expect(reconcile).toMatchObject({ code: 0 });
    expect(reconcile.stderr).toMatch(
      /^would repair \d+; \d+ awaiting an earlier repair; \d+ keys read at revision \d+\n$/,
    );

    await waitFor(() => /gohan +put/.test(run.out()), { timeoutMs: 120_000, what: 'the demo playing' });
    pids = descendants(run.child.pid!);
    // npm, sh, the launcher, etcd, the SQS server, serverless-offline, the relay (and their helpers).
    expect(pids.length).toBeGreaterThanOrEqual(6);
    // A terminal's Ctrl-C: SIGINT to every process of the foreground group (npm dies of it at once;
    // the launcher stops what it started, then exits).
    process.kill(-run.child.pid!, 'SIGINT');
    await waitFor(() => pids.every((p) => !alive(p)), { timeoutMs: 60_000, what: 'every process of the start gone' });
    expect(run.out()).toMatch(/stopping everything this start started \.\.\.\nStopped\.\n$/);
    for (const port of ports) expect(await portInUse(port)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'endpoints.json'))).toBe(false);
  } finally {
    // After a failure: stop the start as a Ctrl-C would, then anything of it still running, by PID.
    const left = [...pids, ...descendants(run.child.pid!)];
    if (alive(run.child.pid!)) {
      process.kill(-run.child.pid!, 'SIGINT');
      await Promise.race([run.exited, new Promise((r) => setTimeout(r, 30_000))]);
    }
    for (const p of left.filter(alive)) process.kill(p, 'SIGKILL');
  }
});

test('a port in use: one line naming the port and its variable, and nothing started', async () => {
  const dataDir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'npm-start-busy-'));
  const { env, ports } = await portEnv();
  const busy = net.createServer();
  await new Promise<void>((r) => busy.listen(Number(env.ESI_SQS_PORT), '127.0.0.1', () => r()));
  try {
    const res = spawnSync('npm', ['start'], {
      cwd: ROOT,
      env: cleanEnv({ ...env, ESI_DATA_DIR: dataDir }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect({ code: res.status, stderr: res.stderr }).toEqual({
      code: 1,
      stderr: `esi: port ${env.ESI_SQS_PORT} is in use (set ESI_SQS_PORT to move it)\n`,
    });
    expect(res.stdout).not.toMatch(/Starting/);
    const others = ports.filter((p) => p !== Number(env.ESI_SQS_PORT));
    for (const port of others) expect(await portInUse(port)).toBe(false);
    expect(fs.readdirSync(dataDir)).toEqual([]);
  } finally {
    busy.close();
  }
});

test(
  'the default demo ends with every resource matching, saying meanwhile what it waits for; Ctrl-C then exits 0',
  async () => {
    const dataDir = fs.mkdtempSync(path.join(process.env.ESI_TEST_ROOT ?? os.tmpdir(), 'npm-start-end-'));
    const { env, ports } = await portEnv();
    const started = Date.now();
    const run = npmStart(cleanEnv({ ...env, ESI_DATA_DIR: dataDir }));
    try {
      // Ends as soon as the demo's verdict is printed (or the start exits early).
      let early = false;
      void run.exited.then(() => (early = true));
      await waitFor(() => early || /^(Every resource reached|Some resources differ)/m.test(run.out()), {
        timeoutMs: DEMO_END_MS,
        intervalMs: 1000,
        what: `the demo's end (output so far:\n${run.out()})`,
      });
      const out = run.out();
      console.log(`npm start: the demo ended after ${Math.round((Date.now() - started) / 1000)} s`);
      expect(early).toBe(false);
      // Off a terminal the pending line comes once every 10 s while the held statuses are awaited.
      const waits = out.match(/^waiting for .*$/gm) ?? [];
      console.log(`pending-wait lines: ${waits.length}, e.g. ${waits[Math.floor(waits.length / 2)]}`);
      expect(waits).toContainEqual(
        expect.stringMatching(
          /^waiting for 2 \/monitoring values \(FAIL held 210 s by hold_options, released in about \d+ s\): \d+ s left$/,
        ),
      );
      expect(out).toMatch(
        /\n\/state: 29\/29 match; \/monitoring: 9\/9 match; unfinished jobs: 0\.\nEvery resource reached its recorded result\.\n/,
      );
      expect(out).toContain('Press Ctrl-C to stop everything.');

      const launcher = launcherOf(run.child.pid!);
      expect(launcher).toEqual(expect.any(Number));
      // Ctrl-C to the launcher alone: it stops what it started and exits 0, and npm with it.
      process.kill(launcher!, 'SIGINT');
      expect(await run.exited).toBe(0);
      for (const port of ports) expect(await portInUse(port)).toBe(false);
    } finally {
      const left = descendants(run.child.pid!);
      if (alive(run.child.pid!)) {
        process.kill(-run.child.pid!, 'SIGINT');
        await Promise.race([run.exited, new Promise((r) => setTimeout(r, 30_000))]);
      }
      for (const p of left.filter(alive)) process.kill(p, 'SIGKILL');
    }
  },
  DEMO_END_MS + 60_000,
);
