/**
 * Settings of the OpenStack (Keystone + Heat) and monitoring-collector clients, read from the
 * environment. Kept apart from shared/config.ts (etcd, SQS, stage) so the clients can be
 * configured and tested on their own; docs/heat-handler.md lists every name.
 *
 * Only URLs and credentials: nothing here (or in the clients) knows whether it talks to the
 * simulators of infra/sim or to a real cloud.
 */

import { definedOnly } from '../defined-only';

export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface KeystoneSettings {
  /** Keystone v3 base, e.g. `https://keystone.example:5000/v3` (a missing `/v3` is added). */
  authUrl: string;
  username: string;
  password: string;
  userDomainName: string;
  projectName: string;
  projectDomainName: string;
  /** Which catalog endpoint of Heat to use. */
  interface: EndpointInterface;
  /** Catalog region; any region when unset. */
  region?: string;
  /**
   * A Keystone application credential (scoped to its project when it was made): used instead of
   * the user's password when set. Never log the secret.
   */
  applicationCredential?: { id: string; secret: string };
  /** PEM bundle of the private CA that signed Keystone's and Heat's certificates (added to Node's). */
  caBundle?: string;
}

export interface RetrySettings {
  /** Retries after the first attempt, within one call (the handler retries across invocations). */
  retries: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

export interface OpenStackSettings {
  keystone: KeystoneSettings;
  /** Collector agents base URL (`http://collector-agents:7070`); undefined when not configured. */
  collectorUrl?: string;
  /** Per HTTP request. */
  httpTimeoutMs: number;
  retry: RetrySettings;
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function env(source: NodeJS.ProcessEnv, name: string): string | undefined {
  const v = source[name];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

function int(source: NodeJS.ProcessEnv, name: string, dflt: number, min: number): number {
  const v = env(source, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min)
    throw new SettingsError(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const INTERFACES: EndpointInterface[] = ['public', 'internal', 'admin'];

/**
 * Reads:
 *   ESI_KEYSTONE_URL, ESI_KEYSTONE_USERNAME, ESI_KEYSTONE_PASSWORD, ESI_KEYSTONE_PROJECT  (required)
 *   or ESI_KEYSTONE_URL, ESI_KEYSTONE_APP_CREDENTIAL_ID, ESI_KEYSTONE_APP_CREDENTIAL_SECRET (an application credential)
 *   ESI_OPENSTACK_CA (PEM text of a private CA for Keystone and Heat; from SSM with ESI_OPENSTACK_CA_PARAM)
 *   ESI_KEYSTONE_USER_DOMAIN, ESI_KEYSTONE_PROJECT_DOMAIN                                 (Default)
 *   ESI_HEAT_INTERFACE (public), ESI_HEAT_REGION (any)
 *   ESI_COLLECTOR_URL
 *   ESI_HTTP_TIMEOUT_MS (10000), ESI_HTTP_RETRIES (3), ESI_HTTP_RETRY_DELAY_MS (200), ESI_HTTP_RETRY_MAX_DELAY_MS (2000)
 * Throws SettingsError naming the missing variables (never echoing a value of a secret).
 */
export function openstackSettings(source: NodeJS.ProcessEnv = process.env): OpenStackSettings {
  const appId = env(source, 'ESI_KEYSTONE_APP_CREDENTIAL_ID');
  const required = appId
    ? ['ESI_KEYSTONE_URL', 'ESI_KEYSTONE_APP_CREDENTIAL_SECRET']
    : ['ESI_KEYSTONE_URL', 'ESI_KEYSTONE_USERNAME', 'ESI_KEYSTONE_PASSWORD', 'ESI_KEYSTONE_PROJECT'];
  const missing = required.filter((n) => env(source, n) === undefined);
  if (missing.length) throw new SettingsError(`missing OpenStack settings: ${missing.join(', ')}`);
  const iface = (env(source, 'ESI_HEAT_INTERFACE') ?? 'public').toLowerCase();
  if (!INTERFACES.includes(iface as EndpointInterface)) {
    throw new SettingsError(`ESI_HEAT_INTERFACE must be one of ${INTERFACES.join(', ')}, got ${JSON.stringify(iface)}`);
  }
  const authUrl = env(source, 'ESI_KEYSTONE_URL')!;
  try {
    new URL(authUrl);
  } catch {
    throw new SettingsError('ESI_KEYSTONE_URL is not a URL');
  }
  return {
    keystone: definedOnly({
      authUrl,
      username: env(source, 'ESI_KEYSTONE_USERNAME') ?? '',
      password: source.ESI_KEYSTONE_PASSWORD ?? '',
      userDomainName: env(source, 'ESI_KEYSTONE_USER_DOMAIN') ?? 'Default',
      projectName: env(source, 'ESI_KEYSTONE_PROJECT') ?? '',
      projectDomainName: env(source, 'ESI_KEYSTONE_PROJECT_DOMAIN') ?? 'Default',
      interface: iface as EndpointInterface,
      region: env(source, 'ESI_HEAT_REGION'),
      ...(appId ? { applicationCredential: { id: appId, secret: source.ESI_KEYSTONE_APP_CREDENTIAL_SECRET! } } : {}),
      caBundle: env(source, 'ESI_OPENSTACK_CA') ? source.ESI_OPENSTACK_CA : undefined,
    }),
    ...httpSettings(source),
  };
}

/**
 * The collector URL and the HTTP settings alone: what the monitoring handler and the monitoring
 * sync need (they hold no Keystone credentials).
 */
export function httpSettings(
  source: NodeJS.ProcessEnv = process.env,
): Pick<OpenStackSettings, 'collectorUrl' | 'httpTimeoutMs' | 'retry'> {
  const collectorUrl = env(source, 'ESI_COLLECTOR_URL');
  if (collectorUrl !== undefined) {
    try {
      new URL(collectorUrl);
    } catch {
      throw new SettingsError('ESI_COLLECTOR_URL is not a URL');
    }
  }
  return {
    ...definedOnly({ collectorUrl }),
    httpTimeoutMs: int(source, 'ESI_HTTP_TIMEOUT_MS', 10_000, 1),
    retry: {
      retries: int(source, 'ESI_HTTP_RETRIES', 3, 0),
      initialDelayMs: int(source, 'ESI_HTTP_RETRY_DELAY_MS', 200, 0),
      maxDelayMs: int(source, 'ESI_HTTP_RETRY_MAX_DELAY_MS', 2000, 0),
    },
  };
}
