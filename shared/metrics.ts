/**
 * CloudWatch metrics in the embedded metric format (EMF): Powertools Metrics writes one JSON line
 * per flush to stdout, and CloudWatch turns it into metrics — automatically for Lambda; for the
 * relay container serverless.yml adds a metric filter on the same lines (the awslogs driver does
 * not extract EMF by itself). Namespace `esi`, dimensions `service` and `stage`; every metric, its
 * unit and emitter: docs/operations.md "Metrics for handlers". The alarms in serverless.yml use
 * these names; keep them in step. In a Lambda the consumer flushes after each invocation; anything
 * else that records metrics (the relay) calls flushMetrics() or uses the helpers that publish at once.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const METRICS_NAMESPACE = 'esi';
export { MetricUnit };

/** Stored metrics by service, and by service and extra dimensions (`esi-heat handler=heat_worker`). */
const instances = new Map<string, { service: string; metrics: Metrics }>();

/** The Metrics of one service (a function or the relay), created on first use; `dimensions` beside service and stage. */
export function metricsFor(service: string, dimensions: Record<string, string> = {}): Metrics {
  const key = [service, ...Object.entries(dimensions).map(([k, v]) => `${k}=${v}`)].join(' ');
  let entry = instances.get(key);
  if (!entry) {
    const metrics = new Metrics({
      namespace: METRICS_NAMESPACE,
      serviceName: service,
      defaultDimensions: { stage: process.env.ESI_STAGE || 'dev', ...dimensions },
    });
    entry = { service, metrics };
    instances.set(key, entry);
  }
  return entry.metrics;
}

/** Writes whatever the service has stored (one EMF line per set of dimensions); a no-op when nothing is stored. */
export function flushMetrics(service?: string): void {
  for (const { service: name, metrics } of instances.values()) {
    if (service && name !== service) continue;
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

export type RecordOutcomeKind = 'done' | 'failed' | 'retryLater' | 'error';
const RECORD_METRICS: Record<RecordOutcomeKind, string> = {
  done: 'RecordsSucceeded',
  failed: 'RecordsFailed',
  retryLater: 'RecordsRetried',
  error: 'RecordsErrored',
};

/** One record's outcome under the result policy (shared/sqs/consumer.ts calls it; flushed per invocation). */
export function recordOutcome(service: string, kind: RecordOutcomeKind): void {
  metricsFor(service).addMetric(RECORD_METRICS[kind], MetricUnit.Count, 1);
}

export type JobOutcome = 'started' | 'succeeded' | 'failed';
const JOB_METRICS: Record<JobOutcome, string> = {
  started: 'JobsStarted',
  succeeded: 'JobsSucceeded',
  failed: 'JobsFailed',
};

/**
 * A job started (claimed), succeeded or failed for good, for the job handlers (heat_worker,
 * monitoring_worker), with the extra dimension `handler`; stored, and written with the
 * invocation's other metrics (one EMF line per handler). Call it where the job's state is written,
 * once per transition that actually happened (not for a duplicate delivery that changed nothing).
 */
export function recordJobOutcome(service: string, handler: string, outcome: JobOutcome): void {
  metricsFor(service, { handler }).addMetric(JOB_METRICS[outcome], MetricUnit.Count, 1);
}

/**
 * How long a stack operation took, from the request to Heat until the stack reached a final
 * state (or the failure), in milliseconds; stored, and written with the invocation's other
 * metrics. Which stack and operation it was is on the job's own log line (shared/work/heat-work.ts).
 */
export function recordStackOperation(service: string, durationMs: number): void {
  metricsFor(service).addMetric('StackOperationDuration', MetricUnit.Milliseconds, Math.max(0, durationMs));
}

/**
 * The relay's lag for one watched prefix: current etcd revision − its checkpoint (how many
 * revisions of etcd history are not yet known to be in SQS). Published at once.
 */
export function recordRelayLag(
  service: string,
  position: { prefix: string; relay: string; etcdRevision: number; checkpoint: number },
): number {
  const lag = Math.max(0, position.etcdRevision - position.checkpoint);
  const single = metricsFor(service).singleMetric();
  single.addMetadata('prefix', position.prefix);
  single.addMetadata('relay', position.relay);
  single.addMetadata('etcd_revision', String(position.etcdRevision));
  single.addMetadata('checkpoint', String(position.checkpoint));
  single.addMetric('RelayLag', MetricUnit.Count, lag);
  return lag;
}

/** One event SQS refused for good, which the relay dead-lettered and passed over. Published at once. */
export function recordRelayDeadLetter(service: string, queue: string): void {
  const single = metricsFor(service).singleMetric();
  single.addMetadata('queue', queue);
  single.addMetric('RelayDeadLetters', MetricUnit.Count, 1);
}

/** The service name a Powertools Logger was created with (createLogger('esi-planner') → esi-planner). */
export function serviceOf(logger: object): string {
  const data = (logger as { powertoolsLogData?: { serviceName?: string } }).powertoolsLogData;
  return data?.serviceName || process.env.POWERTOOLS_SERVICE_NAME || 'esi';
}

/** One repair made by the reconciler, by kind (replan, limbo, settle, aggregate, cleanup). Published at once. */
export function recordRepair(service: string, kind: string): void {
  const single = metricsFor(service).singleMetric();
  single.addDimension('kind', kind);
  single.addMetric('Repairs', MetricUnit.Count, 1);
}

/**
 * Stranded keys a pass left to their queue's backlog (not repairs: no alarm), by kind; only the
 * kinds with any. Published at once.
 */
export function recordDeferredRepairs(service: string, byKind: Record<string, number>): void {
  for (const [kind, count] of Object.entries(byKind)) {
    const single = metricsFor(service).singleMetric();
    single.addDimension('kind', kind);
    single.addMetric('RepairsDeferred', MetricUnit.Count, count);
  }
}

/**
 * How long, at least, the relay has been behind a change the reconciler saw (0 when it is not
 * behind), the largest over the relay's prefixes. Published at once, every reconciler pass.
 */
export function recordRelayBehind(service: string, seconds: number, details: { prefix?: string } = {}): void {
  const single = metricsFor(service).singleMetric();
  if (details.prefix) single.addMetadata('prefix', details.prefix);
  single.addMetric('RelayBehindSeconds', MetricUnit.Seconds, Math.max(0, seconds));
}
