/** The relay's readiness file for a local supervisor, written whole; a reader matches the pid (not a killed one's). */
import fs from 'node:fs';

type ReadyInfo = { pid: number; relay: string };

export function writeReadyFile(file: string, info: ReadyInfo): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info));
  fs.renameSync(tmp, file);
}

export const removeReadyFile = (file: string): void => fs.rmSync(file, { force: true });

/** The ECS health check's signal: touches `file` while every watch spoke within `stallMs` (0: always). */
export function startHeartbeat(file: string, silentMs: () => number[], opts: { everyMs: number; stallMs: number }) {
  const beat = () => {
    if (opts.stallMs === 0 || silentMs().every((ms) => ms < opts.stallMs))
      writeReadyFile(file, { pid: process.pid, relay: 'heartbeat' });
  };
  beat();
  return setInterval(beat, opts.everyMs).unref();
}

export function relayReady(file: string, pid: number | undefined): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ReadyInfo>).pid === pid;
  } catch {
    return false;
  }
}
