/**
 * The relay's readiness signal for a local supervisor (the local stack, tests), independent of the
 * log level: with `ESI_RELAY_READY_FILE` set, the relay writes `{"pid", "relay"}` there once every
 * route watches and removes it on a clean stop. The file is written whole (a rename), so a reader
 * never sees half of it; a reader matches the pid, so a file left by a killed process does not count.
 * In AWS it is unset: ECS supervises the process itself.
 */
import fs from 'node:fs';

export interface ReadyInfo {
  pid: number;
  relay: string;
}

export function writeReadyFile(file: string, info: ReadyInfo): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info));
  fs.renameSync(tmp, file);
}

export function removeReadyFile(file: string): void {
  fs.rmSync(file, { force: true });
}

/**
 * The container health check's signal (ECS): the relay touches `file` every `everyMs` while every
 * route's watch has said something (events or a progress notification) within `stallMs`; a watch
 * stalled on a member cut off from its cluster stops the beats, the health check fails and ECS
 * replaces the task. stallMs 0: beats whatever the watches say (no progress notifications).
 */
export function startHeartbeat(
  file: string,
  silentMs: () => number[],
  opts: { everyMs: number; stallMs: number },
): NodeJS.Timeout {
  const beat = () => {
    if (opts.stallMs === 0 || silentMs().every((ms) => ms < opts.stallMs))
      writeReadyFile(file, { pid: process.pid, relay: 'heartbeat' });
  };
  beat();
  const timer = setInterval(beat, opts.everyMs);
  timer.unref();
  return timer;
}

/** True when the file says the relay process `pid` is ready. */
export function relayReady(file: string, pid: number | undefined): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ReadyInfo>).pid === pid;
  } catch {
    return false;
  }
}
