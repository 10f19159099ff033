/** infra/deploy/settings.js: what a deployed stage must have, as plain objects. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { settingsProblems } = require('../../../infra/deploy/settings') as {
  settingsProblems: (s: Record<string, string>) => string[];
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
};

test('a complete deployed stage has no problem; the local stack is never checked', () => {
  expect(settingsProblems(complete)).toEqual([]);
  expect(settingsProblems({ local: 'true', etcdEndpoints: 'http://127.0.0.1:2379' })).toEqual([]);
});

test('an empty deployed stage names every required setting', () => {
  expect(settingsProblems({ local: 'false' }).map((p) => p.split(' ')[0])).toEqual([
    'etcdEndpoints',
    'keystoneUrl',
    'keystoneUsername',
    'keystoneProject',
    'keystonePasswordParam',
    'collectorUrl',
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
