// Secrets: `<SETTING>_PARAM` names the SSM SecureString holding a setting, else `<SETTING>` is used as it is
// (docs/decisions.md). Fetched once per cold start into `process.env`, before any client is made; never logged.
import { errorMessage } from './errors';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';

const SECRET_SETTINGS = [
  'ESI_ETCD_USERNAME',
  'ESI_ETCD_PASSWORD',
  'ESI_ETCD_CA',
  'ESI_ETCD_CERT',
  'ESI_ETCD_KEY',
  'ESI_KEYSTONE_PASSWORD',
  'ESI_KEYSTONE_APP_CREDENTIAL_SECRET',
  'ESI_OPENSTACK_CA',
] as const;
type SecretSetting = (typeof SECRET_SETTINGS)[number];

/** Where a parameter's value comes from; the default is SSM through Powertools. */
export type ParameterSource = { get(name: string): Promise<string | undefined> };

type SecretSelection = { setting: SecretSetting; from: 'parameter' | 'env' | 'unset'; parameter?: string };

export class SecretLoadError extends Error {
  override name = 'SecretLoadError';
}

const value = (env: NodeJS.ProcessEnv, name: string) => (env[name] === '' ? undefined : env[name]);

/** Pure: for each setting, whether it comes from a parameter, the environment, or nowhere. */
export function selectSecrets(env: NodeJS.ProcessEnv = process.env): SecretSelection[] {
  return SECRET_SETTINGS.map((setting) => {
    const param = value(env, `${setting}_PARAM`);
    if (param) return { setting, from: 'parameter', parameter: param };
    return { setting, from: value(env, setting) !== undefined ? 'env' : 'unset' };
  });
}

/** Fetches one selected parameter; a failure names the setting and the parameter, never a value. */
async function fetchSecret(s: SecretSelection, source: ParameterSource): Promise<string> {
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
  return v;
}

/** SSM through Powertools: SecureStrings decrypted, cached by the provider for the container's life. */
const ssmSource: ParameterSource = { get: (name) => getParameter(name, { decrypt: true, maxAge: 24 * 3600 }) };

let loading: Promise<SecretSelection[]> | undefined;

/** Once per process: parameters into `env`, what was chosen returned (names only); a failure is retried next call. */
export function loadSecrets(opts: { env?: NodeJS.ProcessEnv; source?: ParameterSource } = {}) {
  const env = opts.env ?? process.env;
  const run = async () => {
    const selection = selectSecrets(env);
    const fetched = selection.filter((s) => s.from === 'parameter');
    const values = await Promise.all(fetched.map((s) => fetchSecret(s, opts.source ?? ssmSource)));
    fetched.forEach((s, i) => (env[s.setting] = values[i]));
    return selection;
  };
  if (opts.env || opts.source) return run();
  loading ??= run().catch((err) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
