/** shared/secrets.ts: which settings come from parameters, with a fake provider (no AWS calls). */
import { loadSecrets, type ParameterSource, selectSecrets } from '../../../shared/secrets';

const fake = (values: Record<string, string>) => {
  const calls: string[] = [];
  const source: ParameterSource = {
    get: async (name) => {
      calls.push(name);
      return values[name];
    },
  };
  return { source, calls };
};

test('locally (no *_PARAM) the plain variables are used and nothing is fetched', async () => {
  const env: NodeJS.ProcessEnv = { ESI_ETCD_PASSWORD: 'local-pw', ESI_KEYSTONE_PASSWORD: 'sim' };
  const { source, calls } = fake({});
  const chosen = await loadSecrets({ env, source });
  expect(calls).toEqual([]);
  expect(env).toEqual({ ESI_ETCD_PASSWORD: 'local-pw', ESI_KEYSTONE_PASSWORD: 'sim' });
  expect(chosen.find((s) => s.setting === 'ESI_ETCD_PASSWORD')).toEqual({ setting: 'ESI_ETCD_PASSWORD', from: 'env' });
  expect(chosen.find((s) => s.setting === 'ESI_ETCD_CA')).toEqual({ setting: 'ESI_ETCD_CA', from: 'unset' });
});

test('a *_PARAM wins over the plain variable; its value is fetched and put into the environment', async () => {
  const env: NodeJS.ProcessEnv = {
    ESI_ETCD_PASSWORD: 'stale',
    ESI_ETCD_PASSWORD_PARAM: '/esi/prod/etcd-password',
    ESI_KEYSTONE_PASSWORD_PARAM: '/esi/prod/keystone-password',
    ESI_ETCD_CA_PARAM: '',
  };
  const { source, calls } = fake({
    '/esi/prod/etcd-password': 'from-ssm',
    '/esi/prod/keystone-password': 'from-ssm-2',
  });
  const chosen = await loadSecrets({ env, source });
  expect(calls.sort()).toEqual(['/esi/prod/etcd-password', '/esi/prod/keystone-password']);
  expect(env.ESI_ETCD_PASSWORD).toBe('from-ssm');
  expect(env.ESI_KEYSTONE_PASSWORD).toBe('from-ssm-2');
  expect(env.ESI_ETCD_CA).toBeUndefined();
  // What was chosen names parameters, never values.
  expect(JSON.stringify(chosen)).not.toMatch(/from-ssm/);
});

test('a missing or unreadable parameter is an error that names the parameter and not any value', async () => {
  const env: NodeJS.ProcessEnv = { ESI_ETCD_PASSWORD_PARAM: '/esi/prod/etcd-password' };
  await expect(loadSecrets({ env, source: fake({}).source })).rejects.toThrow(
    /ESI_ETCD_PASSWORD: parameter \/esi\/prod\/etcd-password is empty or missing/,
  );
  const denied: ParameterSource = {
    get: async () => {
      throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    },
  };
  await expect(loadSecrets({ env, source: denied })).rejects.toThrow(
    /could not be read \(AccessDeniedException: not authorized\).*role may read it/,
  );
});

test("an unreadable parameter's error keeps the provider's error as its cause", async () => {
  const env: NodeJS.ProcessEnv = { ESI_ETCD_PASSWORD_PARAM: '/esi/prod/etcd-password' };
  const refusal = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
  const denied: ParameterSource = { get: () => Promise.reject(refusal) };
  const err = await loadSecrets({ env, source: denied }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).cause).toBe(refusal);
});

test('selection and parameter names are pure', () => {
  expect(
    selectSecrets({ ESI_ETCD_KEY_PARAM: '/k', ESI_ETCD_KEY: 'pem' }).find((s) => s.setting === 'ESI_ETCD_KEY'),
  ).toEqual({ setting: 'ESI_ETCD_KEY', from: 'parameter', parameter: '/k' });
});

test('without a source or env of its own, loadSecrets runs once per process (cold start) when nothing is configured', async () => {
  const a = loadSecrets();
  expect(loadSecrets()).toBe(a);
  await a;
});
