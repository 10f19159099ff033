/** Monitoring handler: runs monitoring_worker jobs (monitoring-jobs FIFO + monitoring-poll queue). Logic: shared/work/monitoring-work.ts, job-runner.ts. */
import { queueName } from '../../shared/config';
import { defaultCollectorClient } from '../../shared/clients/collector';
import { jobRunner } from '../../shared/work/job-runner';
import { monitoringWork } from '../../shared/work/monitoring-work';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-monitoring');

export const handler = sqsConsumer(
  jobRunner({ store: defaultStore, work: monitoringWork({ collector: defaultCollectorClient }) }),
  // Its poll queue by the rule every queue is named by (docs/decisions.md).
  { logger, retryQueueName: queueName('monitoring-poll', undefined, { fifo: false }) },
);
