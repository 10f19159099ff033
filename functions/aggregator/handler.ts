/** Aggregator: consumes finished-job events; writes /state when a chain completes. Logic in shared/work. */
import { aggregateFinishedJob } from '../../shared/work/aggregator';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-aggregator');

export const handler = sqsConsumer((message, ctx) => aggregateFinishedJob(defaultStore(), message, ctx.logger), {
  logger,
});
