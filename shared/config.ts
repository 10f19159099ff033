// Settings from the environment (docs/configuration.md): the shared ones here; a module reads its own
// through `setting` / `numberSetting`, so unset, empty and invalid values are treated alike everywhere.
import fs from 'node:fs';
import { definedOnly } from './defined-only';

export interface EtcdSettings {
  endpoints: string[];
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
}

/** A setting's text; undefined when it is unset or empty. */
export function setting(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/** A numeric setting: `dflt` when it is unset, empty, not a number, or not accepted (default: 0 or more). */
export function numberSetting(name: string, dflt: number, accept: (n: number) => boolean = (n) => n >= 0): number {
  const n = Number(setting(name) ?? NaN);
  return Number.isFinite(n) && accept(n) ? n : dflt;
}

/** A PEM, or a path to one. */
function pem(name: string): Buffer | undefined {
  const v = setting(name);
  return v === undefined ? undefined : Buffer.from(v.includes('-----BEGIN') ? v : fs.readFileSync(v, 'utf8'));
}

/** A setting every process needs is missing: a start-up error that names it, never a default. */
export class MissingSettingError extends Error {
  override name = 'MissingSettingError';
  constructor(
    readonly setting: string,
    what: string,
  ) {
    super(`${setting} is not set (${what}); nothing falls back to a loopback address`);
  }
}

export function etcdSettings(): EtcdSettings {
  const endpoints = (setting('ESI_ETCD_ENDPOINTS') ?? '').trim();
  if (!endpoints)
    throw new MissingSettingError(
      'ESI_ETCD_ENDPOINTS',
      'the etcd endpoints, e.g. https://10.0.1.10:2379,https://10.0.2.10:2379',
    );
  const ca = pem('ESI_ETCD_CA');
  const username = setting('ESI_ETCD_USERNAME');
  return {
    endpoints: endpoints.split(/\s*,\s*/).filter(Boolean),
    ...(ca ? { tls: definedOnly({ ca, cert: pem('ESI_ETCD_CERT'), key: pem('ESI_ETCD_KEY') }) } : {}),
    ...(username ? { auth: { username, password: setting('ESI_ETCD_PASSWORD') ?? '' } } : {}),
  };
}

/** The endpoints are set locally only (the SQS server, serverless-offline); `hasCredentials`: keys or a profile. */
export function awsSettings() {
  return {
    region: setting('AWS_REGION') ?? 'us-east-1',
    ...definedOnly({ sqsEndpoint: setting('ESI_SQS_ENDPOINT'), lambdaEndpoint: setting('ESI_LAMBDA_ENDPOINT') }),
    hasCredentials: [
      'AWS_ACCESS_KEY_ID',
      'AWS_PROFILE',
      'AWS_WEB_IDENTITY_TOKEN_FILE',
      'AWS_CONTAINER_CREDENTIALS_FULL_URI',
      'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
    ].some((n) => setting(n) !== undefined),
  };
}

/** The deployment stage; names every queue. */
export function stage(): string {
  return setting('ESI_STAGE') ?? 'dev';
}

/** Queue names as serverless.yml makes them: FIFO queues the relay feeds, standard ones for delayed messages. */
export function queueName(name: string, stageName = stage(), opts: { fifo?: boolean } = {}): string {
  return opts.fifo === false ? `esi-${stageName}-${name}` : `esi-${stageName}-${name}.fifo`;
}

/** Where the relay sends ready jobs, by the handler their id names (shared/relay/routes.ts). */
export const JOB_QUEUES: Record<string, string> = { heat_worker: 'heat-jobs', monitoring_worker: 'monitoring-jobs' };

export function jobQueueName(handler: string, stageName = stage()): string | undefined {
  return Object.hasOwn(JOB_QUEUES, handler) ? queueName(JOB_QUEUES[handler]!, stageName) : undefined;
}

/** What a finished delete of a key-deleted resource leaves in /state (docs/gohan.md "Deletes"). */
export function keyDeleteState(): 'keep' | 'remove' {
  const v = setting('ESI_KEY_DELETE_STATE') ?? 'keep';
  if (v !== 'keep' && v !== 'remove') throw new Error(`ESI_KEY_DELETE_STATE is ${JSON.stringify(v)}: keep or remove`);
  return v;
}

/** Output key prefixes Gohan reads back (docs/keys.md), written with or without a trailing slash. */
export function outputPrefixes(): { state: string; monitoring: string } {
  const prefix = (name: string, dflt: string) => (setting(name) ?? dflt).replace(/\/+$/, '') || dflt;
  return { state: prefix('ESI_STATE_PREFIX', '/state'), monitoring: prefix('ESI_MONITORING_PREFIX', '/monitoring') };
}
