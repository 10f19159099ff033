'use strict';
/**
 * Local SQS event source for `serverless offline start`.
 *
 * It does what Lambda's event source mapping does in AWS, against the SQS server on loopback:
 * creates the queues (and dead-letter queues) exactly as serverless.yml's resources declare them,
 * then for every function `sqs` event long-polls its queue with several pollers, builds a real
 * SQSEvent of up to `batchSize` records, invokes the function through serverless-offline's Lambda
 * endpoint, and deletes only the records that succeeded: with `functionResponseType:
 * ReportBatchItemFailures` the ones listed in `batchItemFailures` stay; on a thrown error all stay.
 * What stays comes back after the visibility timeout and moves to the DLQ after the redrive
 * policy's maxReceiveCount.
 *
 * - Pollers per event source: `maximumConcurrency` of the event, else the function's
 *   `reservedConcurrency`, else 5 (what Lambda starts with); FIFO order holds because the SQS
 *   server hands out no message of a group while one of that group is in flight.
 * - A function with `reservedConcurrency` runs at most that many invocations at once from all its
 *   sources together (a batch waits, in flight, for a free one), so serverless-offline never starts
 *   more function instances than the function may have in AWS.
 * - The SQS server answers a long poll as soon as a message arrives, so a hop costs what it costs
 *   in AWS; the long poll only bounds how often an idle queue is asked.
 * - If the SQS server comes back empty (restart) or is unreachable, the queues are re-created as
 *   declared once it answers again, and polling goes on.
 *
 * Settings (custom.localSqs): endpoint (SQS server URL), waitTimeSeconds (long-poll length, 20),
 * lambdaPort (defaults to serverless-offline's lambdaPort), pollers (per event source; overrides
 * the concurrency above).
 */
const { SQSClient, ReceiveMessageCommand, DeleteMessageBatchCommand } = require('@aws-sdk/client-sqs');
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const { createQueues, eventSources } = require('./resources');

/**
 * Lambda's event source mapping retries an invocation the service itself refused or dropped
 * (throttling, a host that reset the connection) with backoff while the batch stays in flight;
 * only a function error returns records to the queue. Locally that is a serverless-offline that
 * dropped the connection under load: retried for up to INVOKE_RETRY_MS, then the batch is left to
 * its visibility timeout (a host that stays down is the reconciler's to recover from).
 */
const INVOKE_RETRY_MS = 15_000;

class LocalSqsPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.pollers = [];
    this.stopping = false;
    this.abort = new AbortController();
    /** By function: its reserved concurrency's free slots, invocations running now, and their peak. */
    this.slots = new Map();
    this.running = new Map();
    this.peaks = new Map();
    this.hooks = {
      'offline:start:init': () => this.start(),
      'offline:start:end': () => this.stop(),
    };
  }

  log(msg) {
    process.stderr.write(`[local-sqs] ${msg}\n`);
  }

  settings() {
    const custom = this.serverless.service.custom || {};
    const local = custom.localSqs || {};
    const offline = custom['serverless-offline'] || {};
    const credentials = {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID || 'local',
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY || 'local',
    };
    return {
      endpoint: local.endpoint || process.env.ESI_SQS_ENDPOINT || 'http://127.0.0.1:4566',
      waitTimeSeconds: Number(local.waitTimeSeconds ?? 20),
      pollers: local.pollers === undefined ? undefined : Number(local.pollers),
      lambdaEndpoint: `http://127.0.0.1:${local.lambdaPort || offline.lambdaPort || 3002}`,
      region: this.serverless.service.provider.region || 'us-east-1',
      credentials,
    };
  }

  async start() {
    const s = this.settings();
    this.sqs = new SQSClient({ region: s.region, endpoint: s.endpoint, credentials: s.credentials });
    this.lambda = new LambdaClient({
      region: s.region,
      endpoint: s.lambdaEndpoint,
      credentials: s.credentials,
      maxAttempts: 1,
    });
    const service = this.serverless.service;
    this.resources = service.resources?.Resources || {};
    const queues = await createQueues(this.sqs, this.resources);
    for (const q of queues.values())
      this.log(
        `queue ${q.name} ready${q.redrive ? ` (dead letters to ${q.redrive.dlq} after ${q.redrive.maxReceiveCount} receives)` : ''}`,
      );
    for (const source of eventSources(service, queues)) {
      const pollers = s.pollers ?? source.concurrency ?? 5;
      if (source.reserved && !this.slots.has(source.functionName))
        this.slots.set(source.functionName, new Slots(source.reserved));
      for (let i = 0; i < pollers; i++) this.pollers.push(this.poll(source, s));
      this.log(
        `${source.functionName} <- ${source.queue.name} (batch ${source.batchSize}, ${pollers} poller(s)${source.reportFailures ? ', ReportBatchItemFailures' : ''})`,
      );
    }
    // After serverless-offline's Lambda endpoint is up (this plugin starts after it): the stack's
    // sign that the functions host is ready, whatever serverless-offline's own log level.
    this.log(`${this.pollers.length} poller(s) started`);
  }

  async stop() {
    this.stopping = true;
    this.abort.abort();
    await Promise.allSettled(this.pollers);
  }

  /**
   * Re-creates every declared queue (CreateQueue is idempotent); one attempt at a time for all
   * pollers. Resolves false while the SQS server cannot be reached.
   */
  recreateQueues() {
    if (!this.recreating) {
      this.recreating = createQueues(this.sqs, this.resources)
        .then(() => {
          this.log('queues re-created as declared (the SQS server came back empty or was unreachable)');
          this.outage = false;
          return true;
        })
        .catch((err) => {
          if (!this.outage) this.log(`SQS server unreachable; re-creating the queues once it answers (${err.message})`);
          this.outage = true;
          return false;
        })
        .finally(() => {
          this.recreating = undefined;
        });
    }
    return this.recreating;
  }

  async poll(source, s) {
    let lost = false;
    while (!this.stopping) {
      try {
        if (lost && !(await this.recreateQueues())) throw new Error('SQS server unreachable');
        lost = false;
        const res = await this.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: source.queue.url,
            MaxNumberOfMessages: source.batchSize,
            WaitTimeSeconds: s.waitTimeSeconds,
            AttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
          { abortSignal: this.abort.signal },
        );
        const messages = res.Messages || [];
        if (messages.length) await this.deliver(source, messages, s.region);
      } catch (err) {
        if (this.stopping) return;
        // The queue is gone (the SQS server restarted empty) or the server is unreachable.
        lost = lost || isQueueGone(err);
        if (!lost) this.log(`poll of ${source.queue.name} failed: ${err.message}`);
        await new Promise((r) => setTimeout(r, lost ? 500 : 1000));
      }
    }
  }

  /**
   * One invocation within the function's reserved concurrency, if it has one. Each new peak of
   * invocations at once is logged: serverless-offline starts a function instance for each.
   */
  async invoke(functionName, event) {
    const slots = this.slots.get(functionName);
    await slots?.take();
    const running = (this.running.get(functionName) ?? 0) + 1;
    this.running.set(functionName, running);
    if (running > (this.peaks.get(functionName) ?? 0)) {
      this.peaks.set(functionName, running);
      this.log(`${functionName}: ${running} invocation(s) at once`);
    }
    try {
      return await this.invokeNow(functionName, event);
    } finally {
      this.running.set(functionName, this.running.get(functionName) - 1);
      slots?.give();
    }
  }

  async invokeNow(functionName, event) {
    const payload = Buffer.from(JSON.stringify(event));
    const started = Date.now();
    for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
      try {
        return await this.lambda.send(new InvokeCommand({ FunctionName: functionName, Payload: payload }));
      } catch (err) {
        if (this.stopping || Date.now() - started + delay > INVOKE_RETRY_MS) throw err;
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  async deliver(source, messages, region) {
    const event = { Records: messages.map((m) => toRecord(m, source.queue.arn, region)) };
    let keep;
    try {
      const out = await this.invoke(source.functionName, event);
      const payload = out.Payload ? Buffer.from(out.Payload).toString() : '';
      if (out.FunctionError) {
        this.log(
          `${source.functionName} threw (${out.FunctionError}); ${messages.length} record(s) stay on ${source.queue.name}`,
        );
        keep = new Set(messages.map((m) => m.MessageId));
      } else if (source.reportFailures) {
        const failures = (payload ? JSON.parse(payload) : {})?.batchItemFailures || [];
        keep = new Set(failures.map((f) => f.itemIdentifier));
      } else {
        keep = new Set();
      }
    } catch (err) {
      if (this.stopping) return;
      this.log(`invoke of ${source.functionName} failed: ${err.message}; ${messages.length} record(s) stay in flight`);
      return; // all stay; they come back after the visibility timeout
    }
    const toDelete = messages.filter((m) => !keep.has(m.MessageId));
    if (toDelete.length) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: source.queue.url,
          Entries: toDelete.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
  }
}

/** A counting semaphore: at most `n` holders at once, the others served in arrival order. */
class Slots {
  constructor(n) {
    this.free = n;
    this.waiting = [];
  }

  take() {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  give() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** QueueDoesNotExist, or no SQS server answering at all. */
function isQueueGone(err) {
  const name = err?.name || '';
  const code = err?.code || err?.cause?.code || '';
  return (
    /QueueDoesNotExist|NonExistentQueue/.test(name) ||
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT'].includes(code) ||
    /socket hang up|ECONNREFUSED|ECONNRESET/.test(err?.message || '')
  );
}

function toRecord(m, arn, region) {
  return {
    messageId: m.MessageId,
    receiptHandle: m.ReceiptHandle,
    body: m.Body,
    attributes: m.Attributes || {},
    messageAttributes: Object.fromEntries(
      Object.entries(m.MessageAttributes || {}).map(([k, v]) => [
        k,
        {
          stringValue: v.StringValue,
          binaryValue: v.BinaryValue,
          stringListValues: [],
          binaryListValues: [],
          dataType: v.DataType,
        },
      ]),
    ),
    md5OfBody: m.MD5OfBody,
    eventSource: 'aws:sqs',
    eventSourceARN: arn,
    awsRegion: region,
  };
}

module.exports = LocalSqsPlugin;
