/**
 * Secrets from SSM Parameter Store in AWS, plain environment variables locally.
 *
 * For each setting below, `<SETTING>_PARAM` (set by serverless.yml per stage) names the SSM
 * parameter (a SecureString) that holds its value, e.g.
 * `ESI_KEYSTONE_PASSWORD_PARAM=/esi/prod/keystone-password`. Only SSM: the roles, the relay's ECS
 * secrets and the package-time checks all speak of parameter names (docs/decisions.md).
 * When `<SETTING>_PARAM` is empty or unset the plain variable `<SETTING>` is used as it is (local
 * runs, tests). Values are fetched once per cold start (the first invocation, before any etcd or
 * Keystone client is made), decrypted, and put into `process.env[<SETTING>]`, where
 * shared/config.ts and the clients read them; a rotated secret is picked up by new containers.
 * Nothing here logs a value.
 */
import { errorMessage } from './errors';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';

/** Settings that may be secret and may come from a parameter. */
export const SECRET_SETTINGS = [
  'ESI_ETCD_USERNAME',
  'ESI_ETCD_PASSWORD',
  'ESI_ETCD_CA',
  'ESI_ETCD_CERT',
  'ESI_ETCD_KEY',
  'ESI_KEYSTONE_PASSWORD',
  'ESI_KEYSTONE_APP_CREDENTIAL_SECRET',
  'ESI_OPENSTACK_CA',
] as const;
export type SecretSetting = (typeof SECRET_SETTINGS)[number];

/** Where a parameter's value comes from; the default is SSM through Powertools. */
export interface ParameterSource {
  get(name: string): Promise<string | undefined>;
}

export interface SecretSelection {
  setting: SecretSetting;
  /** `parameter`: fetched from `parameter`; `env`: the plain variable as set; `unset`: neither. */
  from: 'parameter' | 'env' | 'unset';
  parameter?: string;
}

const value = (env: NodeJS.ProcessEnv, name: string) =>
  env[name] === undefined || env[name] === '' ? undefined : env[name];

/** Pure: for each setting, whether it comes from a parameter, the environment, or nowhere. */
export function selectSecrets(env: NodeJS.ProcessEnv = process.env): SecretSelection[] {
  return SECRET_SETTINGS.map((setting) => {
    const param = value(env, `${setting}_PARAM`);
    if (param) return { setting, from: 'parameter', parameter: param };
    return { setting, from: value(env, setting) !== undefined ? 'env' : 'unset' };
  });
}

export class SecretLoadError extends Error {
  override name = 'SecretLoadError';
}

/** Fetches every selected parameter (in parallel) and returns the values by setting. */
export async function resolveSecrets(
  selection: SecretSelection[],
  source: ParameterSource,
): Promise<Partial<Record<SecretSetting, string>>> {
  const fetched = await Promise.all(
    selection
      .filter((s) => s.from === 'parameter')
      .map(async (s) => {
        let v: string | undefined;
        try {
          v = await source.get(s.parameter!);
        } catch (err) {
          throw new SecretLoadError(
            `${s.setting}: parameter ${s.parameter} could not be read (${err instanceof Error ? err.name : 'error'}: ${errorMessage(err)}); check that it exists and that the function's role may read it`,
            { cause: err },
          );
        }
        if (v === undefined || v === '')
          throw new SecretLoadError(`${s.setting}: parameter ${s.parameter} is empty or missing`);
        return [s.setting, v] as const;
      }),
  );
  return Object.fromEntries(fetched);
}

/** SSM through Powertools: SecureStrings decrypted, cached by the provider for the container's life. */
export const ssmSource: ParameterSource = {
  get: (name) => getParameter(name, { decrypt: true, maxAge: 24 * 3600 }),
};

let loading: Promise<SecretSelection[]> | undefined;

/**
 * Once per process: resolves the configured parameters into `env` and returns what was chosen
 * (names only, never values). A failure is thrown to the caller and retried on the next call.
 */
export function loadSecrets(
  opts: { env?: NodeJS.ProcessEnv; source?: ParameterSource } = {},
): Promise<SecretSelection[]> {
  const env = opts.env ?? process.env;
  const run = async () => {
    const selection = selectSecrets(env);
    const values = await resolveSecrets(selection, opts.source ?? ssmSource);
    for (const [setting, v] of Object.entries(values)) env[setting] = v;
    return selection;
  };
  // A caller with its own env or source (tests) is not cached.
  if (opts.env || opts.source) return run();
  loading ??= run().catch((err) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
