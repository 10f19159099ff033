// CloudWatch metrics in EMF (docs/operations.md "Metrics for handlers"; serverless.yml's alarms use these names).
// Stored ones are flushed per invocation; the others published at once.
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricUnit as Unit } from '@aws-lambda-powertools/metrics/types';

/** By service and extra dimensions (`esi-heat handler=heat_worker`). */
const instances = new Map<string, Metrics>();

function metricsFor(service: string, dimensions: Record<string, string> = {}): Metrics {
  const key = [service, ...Object.entries(dimensions).map(([k, v]) => `${k}=${v}`)].join(' ');
  let metrics = instances.get(key);
  if (!metrics) {
    const defaultDimensions = { stage: process.env.ESI_STAGE || 'dev', ...dimensions };
    metrics = new Metrics({ namespace: 'esi', serviceName: service, defaultDimensions });
    instances.set(key, metrics);
  }
  return metrics;
}

/** Writes whatever the service has stored (one EMF line per set of dimensions). */
export function flushMetrics(service: string): void {
  for (const [key, metrics] of instances) {
    if (key.split(' ')[0] === service && metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}

const RECORD_METRICS = {
  done: 'RecordsSucceeded',
  failed: 'RecordsFailed',
  retryLater: 'RecordsRetried',
  error: 'RecordsErrored',
};

/** One record's outcome under the result policy (shared/sqs/consumer.ts). */
export function recordOutcome(service: string, kind: keyof typeof RECORD_METRICS): void {
  metricsFor(service).addMetric(RECORD_METRICS[kind], MetricUnit.Count, 1);
}

const JOB_METRICS = { started: 'JobsStarted', succeeded: 'JobsSucceeded', failed: 'JobsFailed' };
export type JobOutcome = keyof typeof JOB_METRICS;

/** A job's transition that actually happened (not a duplicate delivery), with the dimension `handler`. */
export function recordJobOutcome(service: string, handler: string, outcome: JobOutcome): void {
  metricsFor(service, { handler }).addMetric(JOB_METRICS[outcome], MetricUnit.Count, 1);
}

/** How long a stack operation took, from the request to Heat to a final state (the job's log line says which). */
export function recordStackOperation(service: string, durationMs: number): void {
  metricsFor(service).addMetric('StackOperationDuration', MetricUnit.Milliseconds, Math.max(0, durationMs));
}

type Extra = { dimensions?: Record<string, string>; metadata?: Record<string, string> };

function publish(service: string, name: string, unit: Unit, value: number, extra: Extra = {}): void {
  const single = metricsFor(service).singleMetric();
  for (const [k, v] of Object.entries(extra.dimensions ?? {})) single.addDimension(k, v);
  for (const [k, v] of Object.entries(extra.metadata ?? {})) single.addMetadata(k, v);
  single.addMetric(name, unit, value);
}

/** The relay's lag for one prefix: etcd revisions not yet known to be in SQS. */
export function recordRelayLag(
  service: string,
  position: { prefix: string; relay: string; etcdRevision: number; checkpoint: number },
): number {
  const { prefix, relay, etcdRevision, checkpoint } = position;
  const metadata = { prefix, relay, etcd_revision: String(etcdRevision), checkpoint: String(checkpoint) };
  const lag = Math.max(0, etcdRevision - checkpoint);
  publish(service, 'RelayLag', MetricUnit.Count, lag, { metadata });
  return lag;
}

/** One event SQS refused for good, which the relay dead-lettered and passed over. */
export function recordRelayDeadLetter(service: string, queue: string): void {
  publish(service, 'RelayDeadLetters', MetricUnit.Count, 1, { metadata: { queue } });
}

/** The service name a Powertools Logger was created with. */
export function serviceOf(logger: object): string {
  const data = (logger as { powertoolsLogData?: { serviceName?: string } }).powertoolsLogData;
  return data?.serviceName || process.env.POWERTOOLS_SERVICE_NAME || 'esi';
}

/** One repair made by the reconciler, by kind (replan, limbo, settle, aggregate, cleanup). */
export function recordRepair(service: string, kind: string): void {
  publish(service, 'Repairs', MetricUnit.Count, 1, { dimensions: { kind } });
}

/** Stranded keys a pass left to their queue's backlog (not repairs: no alarm), by kind. */
export function recordDeferredRepairs(service: string, byKind: Record<string, number>): void {
  for (const [kind, count] of Object.entries(byKind)) {
    publish(service, 'RepairsDeferred', MetricUnit.Count, count, { dimensions: { kind } });
  }
}

/** How long, at least, the relay has been behind a change the reconciler saw, the largest over its prefixes. */
export function recordRelayBehind(service: string, seconds: number, metadata: { prefix?: string } = {}): void {
  publish(service, 'RelayBehindSeconds', MetricUnit.Seconds, Math.max(0, seconds), { metadata });
}
