/** Heat handler: runs heat_worker jobs (heat-jobs FIFO + heat-poll queue). Logic: shared/handlers/heat-*.ts, job-runner.ts. */
import { HeatClient } from '../../shared/clients/heat';
import { keystoneSession } from '../../shared/clients/keystone';
import { openstackSettings } from '../../shared/clients/settings';
import { heatWork } from '../../shared/handlers/heat-work';
import { jobRunner } from '../../shared/handlers/job-runner';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-heat');

let heat: HeatClient | undefined;
/** Built on first use, so missing settings fail a record (redelivered), not the module load. */
function heatClient(): HeatClient {
  if (!heat) {
    const s = openstackSettings();
    heat = new HeatClient({ session: keystoneSession(s.keystone, { timeoutMs: s.httpTimeoutMs, retry: s.retry }), timeoutMs: s.httpTimeoutMs, retry: s.retry });
  }
  return heat;
}

export const handler = sqsConsumer(jobRunner({ store: defaultStore, work: heatWork({ heat: heatClient }) }), { logger, fifo: false, retryQueueName: process.env.ESI_POLL_QUEUE });
