/** Monitoring handler: runs monitoring_worker jobs (monitoring-jobs FIFO + monitoring-poll queue). Logic: shared/handlers/monitoring-work.ts, job-runner.ts. */
import { CollectorClient } from '../../shared/clients/collector';
import { openstackSettings } from '../../shared/clients/settings';
import { jobRunner } from '../../shared/handlers/job-runner';
import { monitoringWork } from '../../shared/handlers/monitoring-work';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-monitoring');

let collector: CollectorClient | undefined;
function collectorClient(): CollectorClient {
  if (!collector) {
    const url = process.env.ESI_COLLECTOR_URL;
    if (!url) throw new Error('ESI_COLLECTOR_URL is not set: the monitoring handler needs the collector agents URL');
    // The HTTP settings are shared with the OpenStack clients; Keystone settings are not needed here.
    let http: { timeoutMs?: number; retry?: ReturnType<typeof openstackSettings>['retry'] } = {};
    try {
      const s = openstackSettings();
      http = { timeoutMs: s.httpTimeoutMs, retry: s.retry };
    } catch {
      /* defaults */
    }
    collector = new CollectorClient({ baseUrl: url, ...http });
  }
  return collector;
}

export const handler = sqsConsumer(jobRunner({ store: defaultStore, work: monitoringWork({ collector: collectorClient }) }), { logger, fifo: false, retryQueueName: process.env.ESI_POLL_QUEUE });
