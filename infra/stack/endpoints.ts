/**
 * The local stack's endpoints, recorded by `npm start` in its data folder so that `esi` (and any
 * other tool) finds the stack without settings. The file exists while the stack runs: `npm start`
 * writes it once every server answers and removes it when it stops; a file left by a launcher
 * that was killed outright names a process that is gone and is ignored.
 */
import fs from 'node:fs';
import path from 'node:path';

export interface LocalEndpoints {
  /** The `npm start` process that wrote the file. */
  pid: number;
  etcd: string;
  sqs: string;
  lambda: string;
  region: string;
  stage: string;
}

/** `ESI_DATA_DIR`, or `.esi-local` at the repository root. */
export const dataDirOf = (env: NodeJS.ProcessEnv = process.env): string =>
  path.resolve(env.ESI_DATA_DIR || path.join(__dirname, '..', '..', '.esi-local'));

export const endpointsFile = (dataDir: string): string => path.join(dataDir, 'endpoints.json');

export function writeEndpoints(dataDir: string, e: LocalEndpoints): void {
  fs.writeFileSync(endpointsFile(dataDir), `${JSON.stringify(e, null, 2)}\n`);
}

export function removeEndpoints(dataDir: string, pid = process.pid): void {
  if (readEndpoints(dataDir)?.pid === pid) fs.rmSync(endpointsFile(dataDir), { force: true });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The endpoints of the stack running on `dataDir`, or undefined when none runs there. */
export function readEndpoints(dataDir: string): LocalEndpoints | undefined {
  let e: Partial<LocalEndpoints>;
  try {
    e = JSON.parse(fs.readFileSync(endpointsFile(dataDir), 'utf8')) as Partial<LocalEndpoints>;
  } catch {
    return undefined;
  }
  const complete =
    typeof e.pid === 'number' && [e.etcd, e.sqs, e.lambda, e.region, e.stage].every((v) => typeof v === 'string');
  return complete && alive(e.pid!) ? (e as LocalEndpoints) : undefined;
}
