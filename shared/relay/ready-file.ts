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

/** True when the file says the relay process `pid` is ready. */
export function relayReady(file: string, pid: number | undefined): boolean {
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<ReadyInfo>).pid === pid;
  } catch {
    return false;
  }
}
