'use strict';
/** Reads queues and SQS event sources from the resolved serverless service definition. */
const { CreateQueueCommand, GetQueueAttributesCommand } = require('@aws-sdk/client-sqs');

const QUEUE_ATTRIBUTES = [
  'FifoQueue',
  'ContentBasedDeduplication',
  'VisibilityTimeout',
  'MessageRetentionPeriod',
  'DelaySeconds',
  'ReceiveMessageWaitTimeSeconds',
  'MaximumMessageSize',
  'DeduplicationScope',
  'FifoThroughputLimit',
];

/** `{"Fn::GetAtt": [Name, "Arn"]}` or `!GetAtt Name.Arn` (as the framework parses it) → Name. */
function getAttTarget(ref) {
  const att = ref && (ref['Fn::GetAtt'] || ref.GetAtt);
  if (Array.isArray(att)) return att[0];
  if (typeof att === 'string') return att.split('.')[0];
  return undefined;
}

/** Creates every AWS::SQS::Queue resource, dead-letter targets first. Returns logical id → queue. */
async function createQueues(sqs, resources) {
  const defs = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::SQS::Queue');
  const created = new Map();
  const create = async (logicalId, seen = new Set()) => {
    if (created.has(logicalId)) return created.get(logicalId);
    if (seen.has(logicalId)) throw new Error(`redrive cycle at ${logicalId}`);
    seen.add(logicalId);
    const props = resources[logicalId].Properties || {};
    const attributes = {};
    for (const k of QUEUE_ATTRIBUTES) if (props[k] !== undefined) attributes[k] = String(props[k]);
    let redrive;
    if (props.RedrivePolicy) {
      const dlqId = getAttTarget(props.RedrivePolicy.deadLetterTargetArn);
      if (!dlqId) throw new Error(`${logicalId}: deadLetterTargetArn must be Fn::GetAtt of a queue in this stack`);
      const dlq = await create(dlqId, seen);
      redrive = { dlq: dlq.name, maxReceiveCount: Number(props.RedrivePolicy.maxReceiveCount) };
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: dlq.arn,
        maxReceiveCount: redrive.maxReceiveCount,
      });
    }
    const name = props.QueueName || logicalId;
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
    const queue = { logicalId, name, url: QueueUrl, arn: Attributes.QueueArn, redrive };
    created.set(logicalId, queue);
    return queue;
  };
  for (const [logicalId] of defs) await create(logicalId);
  return created;
}

/** Every enabled `sqs` event of every function, resolved to a created queue. */
function eventSources(service, queues) {
  const sources = [];
  for (const [fnKey, fn] of Object.entries(service.functions || {})) {
    for (const ev of fn.events || []) {
      if (!ev.sqs) continue;
      const sqs = typeof ev.sqs === 'string' || ev.sqs['Fn::GetAtt'] ? { arn: ev.sqs } : ev.sqs;
      if (sqs.enabled === false) continue;
      const logicalId = getAttTarget(sqs.arn);
      const queue = logicalId
        ? queues.get(logicalId)
        : [...queues.values()].find((q) => q.arn === sqs.arn || sqs.arn?.endsWith(`:${q.name}`));
      if (!queue)
        throw new Error(`function ${fnKey}: sqs event ${JSON.stringify(sqs.arn)} names no queue of this stack`);
      sources.push({
        functionName: fn.name || `${service.service}-${service.provider.stage}-${fnKey}`,
        queue,
        batchSize: Math.min(Number(sqs.batchSize || 10), 10),
        // Lambda runs up to maximumConcurrency invocations per source, within the function's
        // reserved concurrency (all its sources together).
        concurrency: positive(sqs.maximumConcurrency) ?? positive(fn.reservedConcurrency),
        reserved: positive(fn.reservedConcurrency),
        reportFailures: sqs.functionResponseType === 'ReportBatchItemFailures',
      });
    }
  }
  return sources;
}

function positive(v) {
  const n = Number(v);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

module.exports = { createQueues, eventSources, getAttTarget };
