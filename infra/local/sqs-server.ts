import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { waitForPort } from './ports';

export interface LocalSqsServer {
  endpoint: string;
  /** The server process (its own process group). */
  readonly pid: number;
  stop(): Promise<void>;
  /** Stops the server and starts an empty one on the same port (every queue and message gone). */
  restart(): Promise<void>;
}

export interface SqsServerOptions {
  /** Where the server's output goes (appended); discarded when unset. */
  logFile?: string;
}

const ENTRY = path.join(__dirname, 'sqs-server-process.ts');

/**
 * Starts the SQS server from npm (fauxqs, see sqs-server-process.ts) as a process of its own on
 * loopback, so that it can be killed and restarted like any real server.
 */
export async function startSqsServer(port: number, opts: SqsServerOptions = {}): Promise<LocalSqsServer> {
  let child = await spawnServer(port, opts.logFile);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get pid() {
      return child.pid!;
    },
    stop: () => stopServer(child),
    async restart() {
      await stopServer(child);
      child = await spawnServer(port, opts.logFile);
    },
  };
}

async function spawnServer(port: number, logFile?: string): Promise<ChildProcess> {
  const out = logFile ? fs.openSync(logFile, 'a') : 'ignore';
  // `node --import tsx` keeps the server in this one process (the tsx CLI would fork a child).
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY, String(port)], {
    cwd: path.resolve(__dirname, '..', '..'),
    detached: true,
    stdio: ['ignore', out, out],
  });
  if (typeof out === 'number') fs.closeSync(out);
  child.unref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`the SQS server exited at start${logFile ? `; see ${logFile}` : ''}`);
      }),
    ]);
  } catch (err) {
    await stopServer(child);
    throw err;
  }
  return child;
}

/** SIGTERM to the server's process group, SIGKILL after 5 s. */
async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      /* gone */
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
