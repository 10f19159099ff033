/** infra/deploy/settings.js: what a deployed stage must have, as plain objects; shared/config.ts at run time. */
import { etcdSettings, MissingSettingError } from '../../../shared/config';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { settingsProblems, relayWarning } = require('../../../infra/deploy/settings') as {
  settingsProblems: (s: Record<string, string>) => string[];
  relayWarning: (s: Record<string, string>) => string | undefined;
};

const complete = {
  local: 'false',
  etcdEndpoints: 'https://10.0.1.10:2379',
  etcdCaParam: '/esi/prod/etcd-ca',
  keystoneUrl: 'https://keystone.internal:5000/v3',
  keystoneUsername: 'esi',
  keystoneProject: 'admin',
  keystonePasswordParam: '/esi/prod/keystone-password',
  collectorUrl: 'https://collector.internal:7070',
  relayImage: '123456789012.dkr.ecr.us-east-1.amazonaws.com/esi-relay:1.4.0',
  vpcSubnetIds: 'subnet-aaa',
  vpcSecurityGroupIds: 'sg-ccc',
};

test('a complete deployed stage has no problem; local=true (offline, invoke local) is refused for a package', () => {
  expect(settingsProblems(complete)).toEqual([]);
  expect(settingsProblems({ ...complete, local: 'true' })).toEqual([
    'local is true: it is for `serverless offline` and `serverless invoke local` (the local stack) only; a package or deploy is always checked',
  ]);
});

test('etcd credentials over plain http:// are refused', () => {
  expect(
    settingsProblems({
      ...complete,
      etcdEndpoints: 'https://10.0.1.10:2379,http://10.0.2.10:2379',
      etcdUsernameParam: '/esi/prod/etcd-username',
      etcdPasswordParam: '/esi/prod/etcd-password',
    }),
  ).toEqual([
    'etcdEndpoints is plain http:// while etcd credentials are set (etcdUsernameParam / etcdCertParam): they would cross the network in clear; use https:// (and etcdCaParam)',
  ]);
  expect(settingsProblems({ ...complete, etcdEndpoints: 'http://10.0.1.10:2379' })).toEqual([]);
});

test('a deployed stage without a relay image or VPC is refused unless it says relay=none (then warned)', () => {
  const { relayImage: _, vpcSubnetIds: __, vpcSecurityGroupIds: ___, ...noRelay } = complete;
  expect(settingsProblems(noRelay)).toEqual([
    'relayImage is not set (the relay container image, an ECR URI); without a relay nothing reaches the queues. Set it, or relay=none to deploy without one on purpose',
    'vpcSubnetIds is not set (the relay runs in the VPC, next to etcd); or relay=none to deploy without a relay',
    'vpcSecurityGroupIds is not set (the relay runs in the VPC, next to etcd); or relay=none to deploy without a relay',
  ]);
  expect(settingsProblems({ ...noRelay, relay: 'none' })).toEqual([]);
  expect(relayWarning({ ...noRelay, relay: 'none', stage: 'ci' })).toMatch(/^Stage "ci" is packaged with relay=none/);
  expect(relayWarning(complete)).toBeUndefined();
  expect(settingsProblems({ ...complete, relay: 'lambda' })).toEqual([
    'relay is "lambda": it is "ecs" (the default: the relay runs as an ECS service) or "none"',
  ]);
});

test('an empty deployed stage names every required setting', () => {
  expect(settingsProblems({ local: 'false' }).map((p) => p.split(' ')[0])).toEqual([
    'etcdEndpoints',
    'keystoneUrl',
    'keystoneUsername',
    'keystoneProject',
    'keystonePasswordParam',
    'collectorUrl',
    'relayImage',
    'vpcSubnetIds',
    'vpcSecurityGroupIds',
  ]);
});

test('a Keystone application credential (id + secret in SSM) replaces the user, project and password', () => {
  const { keystoneUsername: _, keystoneProject: __, keystonePasswordParam: ___, ...noUser } = complete;
  const appCredential = {
    ...noUser,
    keystoneAppCredentialId: 'f3a9c0d2e1b84c5d9e7f6a5b4c3d2e1f',
    keystoneAppCredentialSecretParam: '/esi/prod/keystone-app-credential-secret',
    openstackCaParam: '/esi/prod/openstack-ca',
  };
  expect(settingsProblems(appCredential)).toEqual([]);
  expect(settingsProblems({ ...appCredential, keystoneAppCredentialSecretParam: '' })).toEqual([
    'keystoneAppCredentialId is set without keystoneAppCredentialSecretParam (a Keystone application credential and its secret)',
  ]);
  expect(
    settingsProblems({ ...appCredential, keystoneAppCredentialSecretParam: 'secret', openstackCaParam: 'ca' }),
  ).toEqual([
    'keystoneAppCredentialSecretParam (secret) is not an SSM parameter name (it starts with /)',
    'openstackCaParam (ca) is not an SSM parameter name (it starts with /)',
  ]);
});

test('simulator values, half pairs and malformed names are refused', () => {
  expect(
    settingsProblems({
      ...complete,
      collectorUrl: 'http://localhost:7070',
      keystonePassword: 'esi-sim-password',
      sqsEndpoint: 'http://127.0.0.1:4566',
      etcdUsernameParam: '/esi/prod/etcd-username',
      etcdKeyParam: 'etcd-key',
      vpcEndpoints: 'true',
      relay: 'none',
      vpcSubnetIds: '',
      vpcSecurityGroupIds: '',
    }),
  ).toEqual([
    'collectorUrl points at the deploying machine (http://localhost:7070); a deployed function cannot reach it',
    'keystonePassword is set: a plain password would be written into the template; put it into SSM as a SecureString and name it in keystonePasswordParam',
    'sqsEndpoint is set (http://127.0.0.1:4566): it is for the local SQS server; a deployed stage uses SQS',
    'etcdKeyParam (etcd-key) is not an SSM parameter name (it starts with /)',
    'etcdUsernameParam is set without etcdPasswordParam (an etcd user and its password)',
    'etcdKeyParam is set without etcdCertParam (a client certificate and its key)',
    'vpcEndpoints is true but the functions are not in a VPC (vpcSubnetIds)',
    'vpcEndpoints is true but vpcId is not set',
    'vpcEndpoints is true but vpcRouteTableIds is not set',
  ]);
});

test('at run time a missing etcd endpoint is a start-up error naming ESI_ETCD_ENDPOINTS, never a loopback default', () => {
  const saved = process.env.ESI_ETCD_ENDPOINTS;
  try {
    for (const unset of [undefined, '', ' ']) {
      if (unset === undefined) delete process.env.ESI_ETCD_ENDPOINTS;
      else process.env.ESI_ETCD_ENDPOINTS = unset;
      expect(() => etcdSettings()).toThrow(
        new MissingSettingError(
          'ESI_ETCD_ENDPOINTS',
          'the etcd endpoints, e.g. https://10.0.1.10:2379,https://10.0.2.10:2379',
        ),
      );
      expect(() => etcdSettings()).toThrow(
        /^ESI_ETCD_ENDPOINTS is not set .*nothing falls back to a loopback address$/,
      );
    }
    process.env.ESI_ETCD_ENDPOINTS = 'https://10.0.1.10:2379, https://10.0.2.10:2379';
    expect(etcdSettings().endpoints).toEqual(['https://10.0.1.10:2379', 'https://10.0.2.10:2379']);
  } finally {
    process.env.ESI_ETCD_ENDPOINTS = saved;
  }
});
