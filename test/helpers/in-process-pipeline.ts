/**
 * The worker pipeline in the test process, on real etcd: a watch stands in for the relay (its own
 * routes, shared/relay/routes.ts) and each route's queue is the real handler's record function
 * (planner, heat and monitoring job runners, aggregator). Only keys naming one of `ids` are
 * handled, so files sharing the test etcd do not meet. A `retryLater` comes back after its delay
 * (capped), a thrown error after a short pause, as SQS would redeliver it; one key's messages are
 * handled in order (a FIFO message group).
 */
import type { SQSRecord } from 'aws-lambda';
import { jobQueueName, queueName } from '../../shared/config';
import type { EtcdEventMessage } from '../../shared/events/etcd-event-message';
import { createLogger } from '../../shared/log/logger';
import { relayRoutes } from '../../shared/relay/routes';
import type { Outcome, RecordHandler } from '../../shared/sqs/consumer';
import type { Store, WatchHandle } from '../../shared/store/store';
import { aggregateFinishedJob } from '../../shared/work/aggregator';
import type { HeatClient } from '../../shared/clients/heat';
import type { CollectorClient } from '../../shared/clients/collector';
import { heatWork } from '../../shared/work/heat-work';
import { jobRunner } from '../../shared/work/job-runner';
import { monitoringWork } from '../../shared/work/monitoring-work';
import { planConfigKey } from '../../shared/work/planner';
import { sqsRecord } from './sqs-event';

export interface InProcessPipeline {
  /** Messages handled so far, by queue name. */
  handled: Map<string, number>;
  /** Errors thrown by handlers (each redelivered). */
  errors: string[];
  stop(): Promise<void>;
}

export async function startInProcessPipeline(
  store: Store,
  o: { heat: HeatClient; collector: CollectorClient; ids: string[]; maxRetryMs?: number },
): Promise<InProcessPipeline> {
  const logger = createLogger('esi-test-pipeline');
  const runner = (work: Parameters<typeof jobRunner>[0]['work']) =>
    jobRunner({ store, work, pollDelaySeconds: 1, quickPollMs: 1000, leaseSeconds: 20 });
  const handlers = new Map<string, RecordHandler>([
    [queueName('config'), (m) => planConfigKey(store, m, logger)],
    [jobQueueName('heat_worker')!, runner(heatWork({ heat: o.heat }))],
    [jobQueueName('monitoring_worker')!, runner(monitoringWork({ collector: o.collector }))],
    [queueName('finished'), (m) => aggregateFinishedJob(store, m, logger)],
  ]);
  const routes = relayRoutes('');
  const groups = new Map<string, Promise<void>>();
  const handled = new Map<string, number>();
  const errors: string[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const maxRetryMs = o.maxRetryMs ?? 300;

  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!stopped) fn();
    }, ms);
    timers.add(t);
  };
  const deliver = (queue: string, message: EtcdEventMessage): void => {
    const group = `${queue} ${message.key}`;
    const run = async () => {
      if (stopped) return;
      const record: SQSRecord = sqsRecord(message);
      let outcome: Outcome;
      try {
        outcome = await handlers.get(queue)!(message, { record, logger });
      } catch (e) {
        errors.push(`${queue} ${message.key}: ${(e as Error).message}`);
        later(100, () => deliver(queue, message));
        return;
      }
      handled.set(queue, (handled.get(queue) ?? 0) + 1);
      if (outcome.kind === 'retryLater')
        later(Math.min(outcome.delaySeconds * 1000, maxRetryMs), () => deliver(queue, outcome.message ?? message));
    };
    const next = (groups.get(group) ?? Promise.resolve()).then(run);
    groups.set(group, next);
  };

  const watch: WatchHandle = await store.watch('/', (await store.revision()) + 1, {
    onError: () => undefined,
    onEvents: (events) => {
      for (const e of events) {
        if (!o.ids.some((id) => e.key.includes(id))) continue;
        const message: EtcdEventMessage = { key: e.key, modRevision: e.modRevision, type: e.type };
        for (const r of routes) {
          if (!e.key.startsWith(r.prefix)) continue;
          const queue = r.route(message, e.type === 'put' ? e.value : '');
          if (queue && handlers.has(queue)) deliver(queue, message);
        }
      }
    },
  });

  return {
    handled,
    errors,
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      await watch.cancel();
      await Promise.allSettled([...groups.values()]);
    },
  };
}
