import { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

/** Starts the real relay process (functions/relay/main.ts) with the given environment. */
export function spawnRelay(env: Record<string, string>, logFile: string): ChildProcess {
  const out = fs.openSync(logFile, 'a');
  // `node --import tsx` runs the relay in this one process; the tsx CLI would run it in a child
  // process, and a SIGKILL of the wrapper would leave the real relay running.
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'functions/relay/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  return child;
}

export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
}
