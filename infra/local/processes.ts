/**
 * Child processes of the local servers: each runs detached in its own process group (so a Ctrl-C
 * in the terminal reaches only the launcher, which then stops them in order) and is stopped by
 * its PID, never by name: other etcd and node processes on the machine are not ours.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import { redactText } from '../../shared/log/redact';
import { waitForPort } from './ports';
import { definedOnly } from '../../shared/defined-only';

/** How long a process gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5000;

/** A spawned server: its name (for messages), the process, where its output goes. */
export interface Spawned {
  name: string;
  child: ChildProcess;
  logFile?: string;
}

/** Called with every process as soon as it is spawned, so that whoever launches can stop it at any moment. */
export type OnSpawn = (p: Spawned) => void;

export const hasExited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** SIGTERM to the process group of `child` (its PID), SIGKILL after `graceMs`; resolves once it exited. */
export async function stopProcessGroup(child: ChildProcess, graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.pid === undefined || hasExited(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      /* the group is gone */
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
  // Whatever the leader left behind in its group (serverless-offline's workers) goes too.
  signal('SIGKILL');
}

/** Spawns `cmd` detached, output appended to `logFile` (or discarded), and reports it to `onSpawn`. */
export function spawnServer(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; logFile?: string; onSpawn?: OnSpawn },
): Spawned {
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, {
    ...definedOnly({ cwd: opts.cwd, env: opts.env }),
    detached: true,
    stdio: ['ignore', out, out],
  });
  if (typeof out === 'number') fs.closeSync(out);
  child.unref();
  const spawned: Spawned = definedOnly({ name, child, logFile: opts.logFile });
  opts.onSpawn?.(spawned);
  return spawned;
}

/** Where to look when `p` fails to start: its log file and that log's last lines (the log may be gone when it is read). */
function startFailureDetail(p: Spawned): string {
  if (!p.logFile) return '';
  let tail = '';
  try {
    const lines = fs.readFileSync(p.logFile, 'utf8').trimEnd().split('\n');
    tail = lines
      .slice(-LOG_TAIL_LINES)
      .map((line) => redactText(line))
      .join('\n');
  } catch {
    // No log yet: the path alone.
  }
  return `; see ${p.logFile}${tail ? `, which ends:\n${tail}` : ''}`;
}

/** Lines of a process's log quoted in its start error. */
const LOG_TAIL_LINES = 20;

/**
 * Resolves once `port` answers while `p` still runs. A process that exits first is an error naming
 * its log; so is one that exits right after the port answered: then the port belonged to another
 * server (the ports are checked free before the start, so this is a race with another program).
 */
export async function waitUntilServing(p: Spawned, port: number, timeoutMs = 20_000): Promise<void> {
  const exited = new Promise<never>((_, reject) =>
    p.child.once('exit', (code, signal) =>
      reject(new Error(`${p.name} exited at start (${code ?? signal})${startFailureDetail(p)}`)),
    ),
  );
  exited.catch(() => undefined);
  try {
    await Promise.race([waitForPort(port, '127.0.0.1', timeoutMs), exited]);
  } catch (err) {
    await stopProcessGroup(p.child);
    throw err;
  }
  if (hasExited(p.child)) throw new Error(`${p.name} exited at start; port ${port} is served by another program`);
}

/**
 * Everything a launcher started, in order: processes (by PID) and in-process servers. `stopAll`
 * stops them newest first, once; a process reported after `stopAll` began is stopped at once, so
 * a Ctrl-C in the middle of a start leaves nothing behind.
 */
export class Started {
  private readonly items: { name: string; stop: () => Promise<void>; child?: ChildProcess }[] = [];
  private stopping?: Promise<void>;

  /** For the servers' `onSpawn` option. */
  readonly onSpawn: OnSpawn = (p) => this.add(p.name, () => stopProcessGroup(p.child), p.child);

  add(name: string, stop: () => Promise<void>, child?: ChildProcess): void {
    this.items.push(definedOnly({ name, stop, child }));
    if (this.stopping) void stop();
  }

  /** The processes still running (name and PID). */
  running(): { name: string; pid: number }[] {
    return this.items.flatMap((i) => (i.child?.pid && !hasExited(i.child) ? [{ name: i.name, pid: i.child.pid }] : []));
  }

  get stopped(): boolean {
    return this.stopping !== undefined;
  }

  stopAll(): Promise<void> {
    this.stopping ??= (async () => {
      for (const item of [...this.items].reverse()) await item.stop().catch(() => undefined);
    })();
    return this.stopping;
  }
}

/** Resolves once `ready()` holds; rejects when the process exits first or after `timeoutMs`. */
export async function waitUntilReady(p: Spawned, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ready()) return;
    if (hasExited(p.child)) throw new Error(`${p.name} exited at start${startFailureDetail(p)}`);
    if (Date.now() > deadline)
      throw new Error(`${p.name} did not get ready in ${timeoutMs / 1000} s${startFailureDetail(p)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Resolves once `pattern` appears in what `p` wrote to its log since `fromOffset`; rejects when the
 * process exits first or after `timeoutMs`.
 */
export function waitForLogLine(p: Spawned, pattern: RegExp, fromOffset: number, timeoutMs: number): Promise<void> {
  return waitUntilReady(
    p,
    () =>
      !!p.logFile &&
      fs.existsSync(p.logFile) &&
      pattern.test(fs.readFileSync(p.logFile).subarray(fromOffset).toString('utf8')),
    timeoutMs,
  );
}

/** The size of a log file now (where a new process's lines will start). */
export const logOffset = (file: string): number => (fs.existsSync(file) ? fs.statSync(file).size : 0);
