/** Settings of the OpenStack and collector clients: URLs and credentials only (docs/heat-handler.md "Settings"). */
import { definedOnly } from '../defined-only';

const INTERFACES = ['public', 'internal', 'admin'] as const;
type EndpointInterface = (typeof INTERFACES)[number];

export interface KeystoneSettings {
  authUrl: string;
  username: string;
  password: string;
  userDomainName: string;
  projectName: string;
  projectDomainName: string;
  /** Which catalog endpoint of Heat to use, in which region (any when unset). */
  interface: EndpointInterface;
  region?: string;
  /** Used instead of the password when set (scoped to its own project). Never log the secret. */
  applicationCredential?: { id: string; secret: string };
  /** PEM bundle of a private CA for Keystone and Heat (added to Node's). */
  caBundle?: string;
}

/** `retries` after the first attempt, within one call (the handler retries across invocations). */
export type RetrySettings = { retries: number; initialDelayMs: number; maxDelayMs: number };

export type OpenStackSettings = ReturnType<typeof httpSettings> & { keystone: KeystoneSettings };

export class SettingsError extends Error {
  override name = 'SettingsError';
}

const env = (source: NodeJS.ProcessEnv, name: string): string | undefined => source[name]?.trim() || undefined;

function int(source: NodeJS.ProcessEnv, name: string, dflt: number, min: number): number {
  const v = env(source, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new SettingsError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function url(source: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = env(source, name);
  if (v !== undefined && !URL.canParse(v)) throw new SettingsError(`${name} is not a URL`);
  return v;
}

/** Throws SettingsError naming what is missing or malformed, never echoing a secret. */
export function openstackSettings(source: NodeJS.ProcessEnv = process.env): OpenStackSettings {
  const appId = env(source, 'ESI_KEYSTONE_APP_CREDENTIAL_ID');
  const required = appId
    ? ['ESI_KEYSTONE_URL', 'ESI_KEYSTONE_APP_CREDENTIAL_SECRET']
    : ['ESI_KEYSTONE_URL', 'ESI_KEYSTONE_USERNAME', 'ESI_KEYSTONE_PASSWORD', 'ESI_KEYSTONE_PROJECT'];
  const missing = required.filter((n) => env(source, n) === undefined);
  if (missing.length) throw new SettingsError(`missing OpenStack settings: ${missing.join(', ')}`);
  const iface = (env(source, 'ESI_HEAT_INTERFACE') ?? 'public').toLowerCase() as EndpointInterface;
  if (!INTERFACES.includes(iface)) {
    throw new SettingsError(`ESI_HEAT_INTERFACE must be one of ${INTERFACES.join(', ')}, got ${JSON.stringify(iface)}`);
  }
  return {
    keystone: definedOnly({
      authUrl: url(source, 'ESI_KEYSTONE_URL')!,
      username: env(source, 'ESI_KEYSTONE_USERNAME') ?? '',
      password: source.ESI_KEYSTONE_PASSWORD ?? '',
      userDomainName: env(source, 'ESI_KEYSTONE_USER_DOMAIN') ?? 'Default',
      projectName: env(source, 'ESI_KEYSTONE_PROJECT') ?? '',
      projectDomainName: env(source, 'ESI_KEYSTONE_PROJECT_DOMAIN') ?? 'Default',
      interface: iface,
      region: env(source, 'ESI_HEAT_REGION'),
      ...(appId ? { applicationCredential: { id: appId, secret: source.ESI_KEYSTONE_APP_CREDENTIAL_SECRET! } } : {}),
      caBundle: env(source, 'ESI_OPENSTACK_CA') ? source.ESI_OPENSTACK_CA : undefined,
    }),
    ...httpSettings(source),
  };
}

/** The collector URL and HTTP settings alone (the monitoring handler and sync hold no Keystone credentials). */
export const httpSettings = (source: NodeJS.ProcessEnv = process.env) => ({
  ...definedOnly({ collectorUrl: url(source, 'ESI_COLLECTOR_URL') }),
  httpTimeoutMs: int(source, 'ESI_HTTP_TIMEOUT_MS', 10_000, 1),
  retry: {
    retries: int(source, 'ESI_HTTP_RETRIES', 3, 0),
    initialDelayMs: int(source, 'ESI_HTTP_RETRY_DELAY_MS', 200, 0),
    maxDelayMs: int(source, 'ESI_HTTP_RETRY_MAX_DELAY_MS', 2000, 0),
  } satisfies RetrySettings,
});
