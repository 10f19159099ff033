'use strict';
/**
 * What every function and queue of the stack gets, derived from the compiled template so a
 * function or queue added later gets it too: VPC placement, alarms, the dashboard, VPC endpoints,
 * outputs and tags. Pure: takes the template and the stage's settings, returns the template with
 * these added. Metric names are those of shared/metrics.ts (namespace `esi`, dimensions
 * `service` + `stage`).
 */

const NAMESPACE = 'esi';
/** The reconciler's repair kinds (shared/metrics.ts recordRepair, dimension `kind`). */
const REPAIR_KINDS = ['replan', 'limbo', 'settle', 'aggregate', 'cleanup'];
/** The kinds a repair into a queue can be deferred for its backlog (RepairsDeferred, dimension `kind`). */
const DEFERRABLE_KINDS = REPAIR_KINDS.filter((k) => k !== 'settle');
/** The job handlers and the functions that run them (JobsStarted/Succeeded/Failed, dimension `handler`). */
const JOB_HANDLERS = { heat_worker: 'esi-heat', monitoring_worker: 'esi-monitoring' };
/** Resource types whose CloudFormation properties take `Tags: [{Key, Value}]`. */
const TAGGABLE = new Set([
  'AWS::SQS::Queue',
  'AWS::IAM::Role',
  'AWS::Lambda::Function',
  'AWS::Logs::LogGroup',
  'AWS::CloudWatch::Alarm',
  'AWS::ECS::Cluster',
  'AWS::ECS::Service',
  'AWS::ECS::TaskDefinition',
]);
/** Interface endpoints a private subnet needs without a NAT: service suffix → logical id. */
const INTERFACE_ENDPOINTS = {
  sqs: 'VpcEndpointSqs',
  ssm: 'VpcEndpointSsm',
  logs: 'VpcEndpointLogs',
  'ecr.api': 'VpcEndpointEcrApi',
  'ecr.dkr': 'VpcEndpointEcrDkr',
};
/**
 * What Lambda needs to place a function in the VPC: its network interfaces, nothing else (the
 * managed AWSLambdaVPCAccessExecutionRole also grants log writes on every log group). EC2 takes no
 * resource-level scope for the Describe actions, and Lambda creates the interfaces itself.
 */
const vpcPolicy = (stage) => ({
  PolicyName: `esi-${stage}-vpc-interfaces`,
  PolicyDocument: {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Action: [
          'ec2:CreateNetworkInterface',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeSubnets',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ],
        Resource: '*',
      },
    ],
  },
});
/** X-Ray: the function's traces (these actions take no resource-level scope). */
const XRAY_STATEMENT = {
  Effect: 'Allow',
  Action: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
  Resource: '*',
};
/** A scheduled run is not retried nor kept waiting: the next run does the same work. */
const SCHEDULE_RETRY = { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 };
/** Throttling that pages: throttled in each of 5 consecutive minutes, not a single occurrence. */
const SUSTAINED_MINUTES = 5;

const split = (v) => ({ 'Fn::Split': [',', v] });
const getAtt = (v) => (v && v['Fn::GetAtt']) || [];

/** Functions, their queues, log groups and schedules, as the compiled template has them. */
function inventory(t) {
  const R = t.Resources;
  const byType = (type) => Object.keys(R).filter((id) => R[id].Type === type);
  const functions = byType('AWS::Lambda::Function').map((id) => {
    const p = R[id].Properties;
    const name = p.FunctionName;
    return {
      id,
      prefix: id.replace(/LambdaFunction$/, ''),
      name,
      timeout: Number(p.Timeout ?? 6),
      role: getAtt(p.Role)[0],
      logGroup: byType('AWS::Logs::LogGroup').find((g) => R[g].Properties.LogGroupName === `/aws/lambda/${name}`),
      scheduled: byType('AWS::Events::Rule').some((r) =>
        (R[r].Properties.Targets || []).some((x) => getAtt(x.Arn)[0] === id),
      ),
    };
  });
  const sources = [
    ...new Set(byType('AWS::Lambda::EventSourceMapping').map((m) => getAtt(R[m].Properties.EventSourceArn)[0])),
  ]
    .filter((q) => R[q] && R[q].Type === 'AWS::SQS::Queue')
    .sort();
  // Every queue no function consumes holds dead letters: the sources' DLQs and the relay's.
  const dlqs = byType('AWS::SQS::Queue')
    .filter((q) => !sources.includes(q))
    .sort();
  const queueName = (q) => R[q].Properties.QueueName;
  return { functions, sources, dlqs, queues: byType('AWS::SQS::Queue').sort(), queueName };
}

/**
 * @param t the compiled template (modified and returned)
 * @param s the stage's settings: stage, alarmTopicArn, queueAgeThresholdSeconds, tags
 */
function addOperations(t, s) {
  const R = t.Resources;
  t.Conditions = t.Conditions || {};
  t.Outputs = t.Outputs || {};
  const inv = inventory(t);
  const actions = { 'Fn::If': ['HasAlarmTopic', [s.alarmTopicArn], { Ref: 'AWS::NoValue' }] };
  const alarm = (id, props) => {
    R[id] = {
      Type: 'AWS::CloudWatch::Alarm',
      Properties: { TreatMissingData: 'notBreaching', AlarmActions: actions, ...props },
    };
  };
  const stageDim = { Name: 'stage', Value: s.stage };

  for (const f of inv.functions) {
    // Every function reaches etcd (and heat/monitoring Keystone, Heat, the collector): in the VPC
    // whenever the VPC settings are given, with the role that lets Lambda make its interfaces.
    R[f.id].Properties.VpcConfig = {
      'Fn::If': [
        'HasVpc',
        { SubnetIds: split(s.vpcSubnetIds), SecurityGroupIds: split(s.vpcSecurityGroupIds) },
        { Ref: 'AWS::NoValue' },
      ],
    };
    const role = R[f.role];
    if (role && role.Type === 'AWS::IAM::Role')
      role.Properties.Policies = [
        ...(role.Properties.Policies || []),
        { 'Fn::If': ['HasVpc', vpcPolicy(s.stage), { Ref: 'AWS::NoValue' }] },
        {
          PolicyName: `esi-${s.stage}-xray`,
          PolicyDocument: { Version: '2012-10-17', Statement: [{ ...XRAY_STATEMENT }] },
        },
      ];

    const dims = [{ Name: 'FunctionName', Value: { Ref: f.id } }];
    const lambda = (metric, stat) => ({
      Namespace: 'AWS/Lambda',
      MetricName: metric,
      Dimensions: dims,
      Statistic: stat,
    });
    // Fires on a single occurrence in five minutes.
    const anyIn5Minutes = (metric) => ({
      ...lambda(metric, 'Sum'),
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    alarm(`${f.prefix}ErrorsAlarm`, {
      AlarmName: `${f.name}-errors`,
      AlarmDescription: `${f.name} threw (an invocation failed: records are redelivered, a scheduled run is lost); see docs/operations.md "Alarms".`,
      ...anyIn5Minutes('Errors'),
    });
    alarm(`${f.prefix}ThrottlesAlarm`, {
      AlarmName: `${f.name}-throttles`,
      AlarmDescription: `${f.name} was throttled in each of ${SUSTAINED_MINUTES} consecutive minutes (reserved concurrency below its sources' maximum concurrency, or the account limit); a single throttle is retried and does not page.`,
      ...lambda('Throttles', 'Sum'),
      Period: 60,
      EvaluationPeriods: SUSTAINED_MINUTES,
      DatapointsToAlarm: SUSTAINED_MINUTES,
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    alarm(`${f.prefix}DurationAlarm`, {
      AlarmName: `${f.name}-near-timeout`,
      AlarmDescription: `${f.name} ran for more than 80% of its ${f.timeout} s timeout (a slow etcd, Heat or collector).`,
      ...lambda('Duration', 'Maximum'),
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: Math.round(f.timeout * 1000 * 0.8),
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    if (f.scheduled)
      alarm(`${f.prefix}NotRunningAlarm`, {
        AlarmName: `${f.name}-not-running`,
        AlarmDescription: `${f.name} (scheduled every minute) was not invoked for 5 minutes (rule disabled, function deleted or throttled).`,
        ...lambda('Invocations', 'Sum'),
        Period: 300,
        EvaluationPeriods: 1,
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
        TreatMissingData: 'breaching',
      });
    if (f.logGroup)
      t.Outputs[`${f.prefix}LogGroupName`] = {
        Description: `Log group of ${f.name}`,
        Value: { Ref: f.logGroup },
      };
  }

  // The retry cap (serverless.yml params; docs/operations.md "Retry budget"): deployed stages only,
  // the local stack keeps the functions' 60 s. maxReceiveCount is in the queues' template already.
  for (const f of inv.functions) {
    const env = (R[f.id].Properties.Environment = R[f.id].Properties.Environment || { Variables: {} });
    env.Variables.ESI_RETRY_MAX_DELAY_SECONDS = String(s.retryMaxDelaySeconds);
  }

  for (const r of Object.values(R))
    if (r.Type === 'AWS::Events::Rule')
      for (const target of r.Properties.Targets || []) target.RetryPolicy = { ...SCHEDULE_RETRY };

  for (const q of inv.sources)
    alarm(`${q}AgeAlarm`, {
      AlarmName: `esi-${s.stage}-${pascalToKebab(q)}-oldest-message`,
      AlarmDescription: `The oldest message in ${inv.queueName(q)} waited more than ${s.queueAgeThresholdSeconds} s (its function is failing, throttled or too slow).`,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [q, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: Number(s.queueAgeThresholdSeconds),
      ComparisonOperator: 'GreaterThanThreshold',
    });

  alarm('RepairsAlarm', {
    AlarmName: `esi-${s.stage}-repairs`,
    AlarmDescription:
      'The reconciler repaired something (a message the pipeline lost: Repairs by kind); see docs/operations.md "Alarms".',
    Metrics: [
      ...REPAIR_KINDS.map((kind) => ({
        Id: kind,
        ReturnData: false,
        MetricStat: {
          Metric: {
            Namespace: NAMESPACE,
            MetricName: 'Repairs',
            Dimensions: [{ Name: 'service', Value: 'esi-reconciler' }, stageDim, { Name: 'kind', Value: kind }],
          },
          Period: 300,
          Stat: 'Sum',
        },
      })),
      {
        Id: 'repairs',
        Label: 'repairs',
        Expression: REPAIR_KINDS.map((k) => `FILL(${k}, 0)`).join(' + '),
        ReturnData: true,
      },
    ],
    EvaluationPeriods: 1,
    Threshold: 0,
    ComparisonOperator: 'GreaterThanThreshold',
  });

  R.Dashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `esi-${s.stage}`,
      DashboardBody: { 'Fn::Sub': JSON.stringify(dashboard(inv, s.stage)) },
    },
  };
  t.Outputs.DashboardUrl = {
    Description: 'The CloudWatch dashboard of the stack',
    Value: {
      'Fn::Sub':
        'https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}',
    },
  };
  for (const q of inv.queues)
    t.Outputs[`${q}Url`] = {
      Description: `${inv.dlqs.includes(q) ? 'Dead-letter queue' : 'Queue'} ${inv.queueName(q)}`,
      Value: { Ref: q },
    };
  if (R.RelayLogGroup)
    t.Outputs.RelayLogGroupName = { Description: 'Log group of the relay', Value: { Ref: 'RelayLogGroup' } };

  addVpcEndpoints(t, s);
  addSecretsKey(t, s);

  // An alarm that clears says so on the same topic (an operator sees the incident end).
  for (const r of Object.values(R))
    if (r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.AlarmActions && !r.Properties.OKActions)
      r.Properties.OKActions = r.Properties.AlarmActions;

  const tags = Object.entries(s.tags).map(([Key, Value]) => ({ Key, Value: String(Value) }));
  for (const r of Object.values(R)) {
    if (!TAGGABLE.has(r.Type)) continue;
    const own = (r.Properties.Tags || []).filter((x) => !s.tags[x.Key]);
    r.Properties.Tags = [...tags, ...own];
  }
  return t;
}

/**
 * With a customer-managed KMS key for the SecureStrings: every role that reads SSM parameters (the
 * functions', the relay's execution role) may decrypt with that key, and only through SSM.
 */
function addSecretsKey(t, s) {
  t.Conditions.HasSecretsKmsKey = { 'Fn::Not': [{ 'Fn::Equals': [String(s.secretsKmsKeyArn ?? ''), ''] }] };
  for (const r of Object.values(t.Resources)) {
    if (r.Type !== 'AWS::IAM::Role') continue;
    for (const policy of r.Properties.Policies || []) {
      if (!policy.PolicyDocument) continue; // conditional (the VPC interfaces): no SSM
      const statements = policy.PolicyDocument.Statement;
      const readsSsm = statements.some((x) => [].concat(x.Action).some((a) => /^ssm:GetParameters?$/.test(a)));
      if (!readsSsm) continue;
      statements.push({
        'Fn::If': [
          'HasSecretsKmsKey',
          {
            Effect: 'Allow',
            Action: ['kms:Decrypt'],
            Resource: [s.secretsKmsKeyArn],
            Condition: { StringEquals: { 'kms:ViaService': { 'Fn::Sub': 'ssm.${AWS::Region}.amazonaws.com' } } },
          },
          { Ref: 'AWS::NoValue' },
        ],
      });
    }
  }
}

function addVpcEndpoints(t, s) {
  t.Conditions.CreateVpcEndpoints = {
    'Fn::And': [{ Condition: 'HasVpc' }, { 'Fn::Equals': [String(s.vpcEndpoints), 'true'] }],
  };
  for (const [service, id] of Object.entries(INTERFACE_ENDPOINTS))
    t.Resources[id] = {
      Type: 'AWS::EC2::VPCEndpoint',
      Condition: 'CreateVpcEndpoints',
      Properties: {
        VpcEndpointType: 'Interface',
        ServiceName: { 'Fn::Sub': `com.amazonaws.\${AWS::Region}.${service}` },
        VpcId: s.vpcId,
        SubnetIds: split(s.vpcSubnetIds),
        // The functions' own groups: they must admit TCP 443 from themselves (docs/deploying.md, "Prerequisites").
        SecurityGroupIds: split(s.vpcSecurityGroupIds),
        PrivateDnsEnabled: true,
      },
    };
  t.Resources.VpcEndpointS3 = {
    Type: 'AWS::EC2::VPCEndpoint',
    Condition: 'CreateVpcEndpoints',
    Properties: {
      VpcEndpointType: 'Gateway',
      ServiceName: { 'Fn::Sub': 'com.amazonaws.${AWS::Region}.s3' },
      VpcId: s.vpcId,
      RouteTableIds: split(s.vpcRouteTableIds),
    },
  };
}

const pascalToKebab = (id) =>
  id
    .replace(/Queue$/, '')
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase();

/** The dashboard an operator opens first: flow (relay, queues), outcomes (plans, jobs), then trouble (DLQs, errors). */
function dashboard(inv, stage) {
  const region = '${AWS::Region}';
  const esi = (metric, service, extra = [], opts = {}) => [
    NAMESPACE,
    metric,
    'service',
    service,
    'stage',
    stage,
    ...extra,
    opts,
  ];
  const perQueue = (metric, queues) =>
    queues.map((q) => ['AWS/SQS', metric, 'QueueName', inv.queueName(q), { label: inv.queueName(q) }]);
  const widget = (title, metrics, props = {}) => ({
    type: 'metric',
    width: 12,
    height: 6,
    properties: { title, region, view: 'timeSeries', stat: 'Sum', period: 60, metrics, ...props },
  });
  const widgets = [
    widget('Relay lag (etcd revisions behind)', [esi('RelayLag', 'esi-relay', [], { stat: 'Maximum' })]),
    widget('Queue depth (messages visible)', perQueue('ApproximateNumberOfMessagesVisible', inv.sources), {
      stat: 'Maximum',
    }),
    widget('Oldest message age per queue (s)', perQueue('ApproximateAgeOfOldestMessage', inv.sources), {
      stat: 'Maximum',
    }),
    widget('Plans', [
      esi('RecordsSucceeded', 'esi-planner', [], { label: 'plans written' }),
      esi('RecordsFailed', 'esi-planner', [], { label: 'plans failed' }),
    ]),
    widget(
      'Jobs started / succeeded / failed',
      Object.entries(JOB_HANDLERS).flatMap(([handler, service]) =>
        ['JobsStarted', 'JobsSucceeded', 'JobsFailed'].map((m) =>
          esi(m, service, ['handler', handler], { label: `${handler} ${m.replace('Jobs', '').toLowerCase()}` }),
        ),
      ),
    ),
    widget('Stack operation duration (ms)', [
      esi('StackOperationDuration', 'esi-heat', [], { stat: 'p50', label: 'p50' }),
      esi('StackOperationDuration', 'esi-heat', [], { stat: 'p90', label: 'p90' }),
      esi('StackOperationDuration', 'esi-heat', [], { stat: 'Maximum', label: 'max' }),
    ]),
    widget(
      'Function duration (ms, p99 and max)',
      inv.functions.flatMap((f) => [
        ['AWS/Lambda', 'Duration', 'FunctionName', f.name, { stat: 'p99', label: `${f.name} p99` }],
        ['AWS/Lambda', 'Duration', 'FunctionName', f.name, { stat: 'Maximum', label: `${f.name} max` }],
      ]),
    ),
    widget(
      'Concurrent executions per function',
      inv.functions.map((f) => [
        'AWS/Lambda',
        'ConcurrentExecutions',
        'FunctionName',
        f.name,
        { stat: 'Maximum', label: f.name },
      ]),
    ),
    widget('Dead-letter queue depth', perQueue('ApproximateNumberOfMessagesVisible', inv.dlqs), { stat: 'Maximum' }),
    widget(
      'Function errors and throttles',
      inv.functions.flatMap((f) => [
        ['AWS/Lambda', 'Errors', 'FunctionName', f.name, { label: `${f.name} errors` }],
        ['AWS/Lambda', 'Throttles', 'FunctionName', f.name, { label: `${f.name} throttles` }],
      ]),
    ),
    widget('Reconciler repairs by kind (and deferred to a queue backlog)', [
      ...REPAIR_KINDS.map((kind) => esi('Repairs', 'esi-reconciler', ['kind', kind], { label: kind })),
      // Not repairs, so not in the repairs alarm: a settlement has no queue and is never deferred.
      ...DEFERRABLE_KINDS.map((kind) =>
        esi('RepairsDeferred', 'esi-reconciler', ['kind', kind], { label: `${kind} deferred` }),
      ),
    ]),
  ];
  widgets.forEach((w, i) => Object.assign(w, { x: (i % 2) * 12, y: Math.floor(i / 2) * 6 }));
  return { widgets };
}

module.exports = { addOperations, inventory, REPAIR_KINDS, TAGGABLE, INTERFACE_ENDPOINTS, SCHEDULE_RETRY };
