/** Planner: consumes /config events from the config queue. Logic lives in shared/handlers. */
import { reconcileConfigKey } from '../../shared/handlers/config-reconciler';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-planner');

export const handler = sqsConsumer((message) => reconcileConfigKey(defaultStore(), message, logger), { logger, fifo: true });
