/** Planner: consumes /config events from the config queue. Logic lives in shared/work/planner.ts. */
import { planConfigKey } from '../../shared/work/planner';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-planner');

export const handler = sqsConsumer((message, ctx) => planConfigKey(defaultStore(), message, ctx.logger), { logger });
