/** Planner: consumes /config events from the config queue. Logic lives in shared/work/planner.ts. */
import { planConfigKey } from '../../shared/work/planner';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-planner');

// The records of a batch are planned at the same time (each key in order): a plan is fenced on the
// mirrors of the resources whose unfinished jobs it read, so related keys planned at once cannot
// miss each other's jobs (docs/planner.md, "Fences").
export const handler = sqsConsumer((message, ctx) => planConfigKey(defaultStore(), message, ctx.logger), {
  logger,
});
