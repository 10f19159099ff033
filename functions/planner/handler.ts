/** Planner: consumes /config events from the config queue. Logic lives in shared/work/planner.ts. */
import { planConfigKey } from '../../shared/work/planner';
import { createLogger } from '../../shared/log/logger';
import { sqsConsumer } from '../../shared/sqs/consumer';
import { defaultStore } from '../../shared/store/default-store';

const logger = createLogger('esi-planner');

// One record at a time: a plan reads which jobs of the resources it references are unfinished, and
// those reads are not fenced, so two related keys planned at once (a subnet and its network, sent
// together by Gohan) could miss each other's jobs (docs/decisions.md, "Handlers and their queues").
export const handler = sqsConsumer((message, ctx) => planConfigKey(defaultStore(), message, ctx.logger), {
  logger,
  oneAtATime: true,
});
