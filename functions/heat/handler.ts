/** Heat handler: runs heat_worker jobs (heat-jobs FIFO + heat-poll queue). Logic: shared/work/heat-work.ts, job-runner.ts. */
import { queueName } from '../../shared/config';
import { defaultHeatClient } from '../../shared/clients/heat';
import { heatWork } from '../../shared/work/heat-work';
import { jobRunner } from '../../shared/work/job-runner';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-heat');

export const handler = sqsConsumer(jobRunner({ store: defaultStore, work: heatWork({ heat: defaultHeatClient }) }), {
  logger,
  // Its poll queue by the rule every queue is named by (not an environment variable, which
  // functions sharing one process would overwrite for each other: docs/decisions.md).
  retryQueueName: queueName('heat-poll', undefined, { fifo: false }),
});
