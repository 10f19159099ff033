import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { type OnSpawn, spawnServer, stopProcessGroup, waitUntilServing } from './processes';
import { definedOnly } from '../../shared/defined-only';

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
  /** Told of the process as soon as it is spawned (so a launcher can stop it while it starts). */
  onSpawn?: OnSpawn;
}

const ENTRY = path.join(__dirname, 'sqs-server-process.ts');

/**
 * Starts the SQS server from npm (fauxqs, see sqs-server-process.ts) as a process of its own on
 * loopback, so that it can be killed and restarted like any real server.
 */
export async function startSqsServer(port: number, opts: SqsServerOptions = {}): Promise<LocalSqsServer> {
  let child = await start(port, opts);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get pid() {
      return child.pid!;
    },
    stop: () => stopProcessGroup(child),
    async restart() {
      await stopProcessGroup(child);
      child = await start(port, opts);
    },
  };
}

async function start(port: number, opts: SqsServerOptions): Promise<ChildProcess> {
  // `node --import tsx` keeps the server in this one process (the tsx CLI would fork a child).
  const server = spawnServer(
    'the SQS server',
    process.execPath,
    ['--import', 'tsx', ENTRY, String(port)],
    definedOnly({ cwd: path.resolve(__dirname, '..', '..'), logFile: opts.logFile, onSpawn: opts.onSpawn }),
  );
  await waitUntilServing(server, port);
  return server.child;
}
