'use strict';
/**
 * The settings a deployed stage must have, checked at package time (before anything is bundled),
 * so a missing value stops `serverless package` / `deploy` with its name instead of becoming a
 * loopback address or a simulator password inside AWS. Nothing turns the checks off: `local=true`
 * is for `serverless offline` and `serverless invoke local` only, which never package; a package
 * or deploy with it is refused. Fail closed: a stage deploys a relay (relayImage, in the VPC) or
 * says `relay=none` (a warning, printed by the plugin).
 */

/** Required for every deployed stage: name → what it is (for the message). */
const REQUIRED = {
  etcdEndpoints: 'etcd endpoints, e.g. https://10.0.1.10:2379,https://10.0.2.10:2379',
  keystoneUrl: 'Keystone v3, e.g. https://keystone.internal:5000/v3',
  keystoneUsername: 'the Keystone user the heat function signs in as, or keystoneAppCredentialId',
  keystoneProject: "that user's project",
  keystonePasswordParam: "the SSM SecureString holding that user's password, e.g. /esi/prod/keystone-password",
  collectorUrl: 'the monitoring collector, e.g. https://collector.internal:7070',
};
/** A user and password sign in; an application credential (id + secret) replaces all three. */
const KEYSTONE_USER = ['keystoneUsername', 'keystoneProject', 'keystonePasswordParam'];
/** Settings that name SSM parameters. */
const PARAMS = [
  'keystonePasswordParam',
  'keystoneAppCredentialSecretParam',
  'openstackCaParam',
  'etcdUsernameParam',
  'etcdPasswordParam',
  'etcdCaParam',
  'etcdCertParam',
  'etcdKeyParam',
];
/** Settings that go together: both or neither. */
const PAIRS = [
  ['etcdUsernameParam', 'etcdPasswordParam', 'an etcd user and its password'],
  ['etcdCertParam', 'etcdKeyParam', 'a client certificate and its key'],
  ['keystoneAppCredentialId', 'keystoneAppCredentialSecretParam', 'a Keystone application credential and its secret'],
  ['vpcSubnetIds', 'vpcSecurityGroupIds', 'the functions are placed in the VPC with both'],
];
const LOOPBACK = /\/\/(127\.|localhost\b|\[::1\]|0\.0\.0\.0)/i;
const set = (v) => v !== undefined && v !== null && String(v).trim() !== '';

/**
 * Pure: the problems of one stage's settings (empty = deployable). `s` holds the resolved params
 * (serverless.yml `custom.settings`).
 */
function settingsProblems(s) {
  if (String(s.local) === 'true')
    return [
      'local is true: it is for `serverless offline` and `serverless invoke local` (the local stack) only; a package or deploy is always checked',
    ];
  const problems = [];
  const appCredential = set(s.keystoneAppCredentialId) || set(s.keystoneAppCredentialSecretParam);
  for (const [name, what] of Object.entries(REQUIRED))
    if (!set(s[name]) && !(appCredential && KEYSTONE_USER.includes(name)))
      problems.push(`${name} is not set (${what})`);
  for (const name of ['etcdEndpoints', 'keystoneUrl', 'collectorUrl'])
    if (set(s[name]) && LOOPBACK.test(String(s[name])))
      problems.push(`${name} points at the deploying machine (${s[name]}); a deployed function cannot reach it`);
  if (set(s.etcdEndpoints))
    for (const e of String(s.etcdEndpoints).split(','))
      if (!/^https?:\/\/[^/\s]+:\d+$/.test(e.trim()))
        problems.push(`etcdEndpoints: "${e.trim()}" is not http(s)://host:port`);
  if (set(s.keystonePassword))
    problems.push(
      'keystonePassword is set: a plain password would be written into the template; put it into SSM as a SecureString and name it in keystonePasswordParam',
    );
  if (set(s.sqsEndpoint))
    problems.push(`sqsEndpoint is set (${s.sqsEndpoint}): it is for the local SQS server; a deployed stage uses SQS`);
  if (
    (set(s.etcdUsernameParam) || set(s.etcdCertParam)) &&
    String(s.etcdEndpoints ?? '')
      .split(',')
      .some((e) => /^http:\/\//.test(e.trim()))
  )
    problems.push(
      'etcdEndpoints is plain http:// while etcd credentials are set (etcdUsernameParam / etcdCertParam): they would cross the network in clear; use https:// (and etcdCaParam)',
    );
  if (/https:\/\//.test(String(s.etcdEndpoints ?? '')) && !set(s.etcdCaParam))
    problems.push(
      "etcdEndpoints asks for TLS (https://) but etcdCaParam is not set (the SSM parameter holding the CA that signed etcd's certificate)",
    );
  for (const name of PARAMS)
    if (set(s[name]) && !String(s[name]).startsWith('/'))
      problems.push(`${name} (${s[name]}) is not an SSM parameter name (it starts with /)`);
  if (set(s.secretsKmsKeyArn) && !/^arn:aws[\w-]*:kms:[\w-]+:\d{12}:key\/[\w-]+$/.test(String(s.secretsKmsKeyArn)))
    problems.push(
      `secretsKmsKeyArn (${s.secretsKmsKeyArn}) is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)`,
    );
  for (const [a, b, why] of PAIRS)
    if (set(s[a]) !== set(s[b])) problems.push(`${set(s[a]) ? a : b} is set without ${set(s[a]) ? b : a} (${why})`);
  problems.push(...relayProblems(s));
  if (String(s.vpcEndpoints) === 'true') {
    if (!set(s.vpcSubnetIds)) problems.push('vpcEndpoints is true but the functions are not in a VPC (vpcSubnetIds)');
    for (const name of ['vpcId', 'vpcRouteTableIds'])
      if (!set(s[name])) problems.push(`vpcEndpoints is true but ${name} is not set`);
  }
  return problems;
}

/**
 * A deployed stage runs the relay (without it nothing reaches the queues): relayImage and the VPC
 * settings are required, unless the stage says `relay=none` on purpose (then `relayWarning`).
 */
function relayProblems(s) {
  const relay = String(s.relay ?? 'ecs');
  if (relay === 'none') return [];
  if (relay !== 'ecs')
    return [`relay is "${relay}": it is "ecs" (the default: the relay runs as an ECS service) or "none"`];
  const problems = [];
  if (!set(s.relayImage))
    problems.push(
      'relayImage is not set (the relay container image, an ECR URI); without a relay nothing reaches the queues. Set it, or relay=none to deploy without one on purpose',
    );
  for (const name of ['vpcSubnetIds', 'vpcSecurityGroupIds'])
    if (!set(s[name]))
      problems.push(
        `${name} is not set (the relay runs in the VPC, next to etcd); or relay=none to deploy without a relay`,
      );
  return problems;
}

/** The warning for a stage deployed without a relay on purpose (undefined when it has one). */
function relayWarning(s) {
  if (String(s.relay ?? 'ecs') !== 'none' || String(s.local) === 'true') return undefined;
  return `Stage "${s.stage}" is packaged with relay=none: no relay service and no relay alarms; etcd changes reach the queues only through the reconciler's repairs (every pass, after its grace) or a relay run elsewhere.`;
}

/** The message for a stage that cannot be deployed, naming every problem. */
function settingsMessage(stage, problems) {
  return [
    `Stage "${stage}" cannot be packaged for AWS; its settings (serverless.yml params.${stage}, or --param="name=value"):`,
    ...problems.map((p) => `  - ${p}`),
    'Only the local stack (local=true: `serverless offline`, `serverless invoke local`) runs with loopback and simulator values.',
  ].join('\n');
}

module.exports = { settingsProblems, settingsMessage, relayWarning, REQUIRED };
